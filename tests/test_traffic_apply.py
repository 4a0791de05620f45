"""Apply is safe (the production traffic issue, item 5) and every traffic write is audited:
below the floor only as a pin, every apply audited, the targeted `up` with the project's packs
and their stack configs, the GA fast path from the stack's outputs, whole-value Automation API
writes read back, a failed write that leaves the config as it was, an audit log that must be
written first. The Pulumi CLI is the recording stand-in (tests/support/pulumi_standin.py); GA
calls go through botocore's Stubber."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import fuzz
import pytest
import yaml
from botocore.stub import Stubber

from summit_platform.automation import pulumi_ops, safe_io
from summit_platform.automation.cli import main
from summit_platform.automation.stack_files import load_stack
from summit_platform.automation.traffic import actuators, audit
from tests.support.pulumi_standin import PulumiStandin

REPO = Path(__file__).resolve().parents[1]
E, W = "us-east-1", "us-west-2"
ACC = "arn:aws:globalaccelerator::123456789012:accelerator/1234abcd-abcd-1234-abcd-1234abcdefgh"
EG = {
    E: f"{ACC}/listener/6789vxyz/endpoint-group/east0001",
    W: f"{ACC}/listener/6789vxyz/endpoint-group/west0002",
}


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.stage.yaml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "policypacks", root / "policypacks")
    return root


@pytest.fixture()
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PulumiStandin:
    s = PulumiStandin(tmp_path / "pulumi")
    for name in ("prod", "stage"):
        s.add_stack(name, outputs={"endpointGroupArns": EG})
    monkeypatch.setenv(pulumi_ops.PULUMI_ROOT_ENV, str(s.root))
    return s


def weights(tmp_path: Path, east: int, west: int) -> Path:
    path = tmp_path / f"w-{east}-{west}.json"
    path.write_text(json.dumps([{"region": E, "weight": east}, {"region": W, "weight": west}]))
    return path


def entries(project: Path) -> list[dict[str, Any]]:
    return audit.read(project / ".summit" / "traffic-audit.jsonl")


def stack_config(project: Path, stack: str = "prod") -> dict[str, Any]:
    return yaml.safe_load((project / f"Pulumi.{stack}.yaml").read_text())["config"]


def dials(project: Path, stack: str = "prod") -> dict[str, int]:
    return {r.name: r.dial for r in load_stack(project, stack).regions}


# ------------------------------------------------------------------------- the floor and pins


def test_apply_below_the_floor_is_refused_unless_it_is_a_pin(project: Path, tmp_path: Path):
    w = weights(tmp_path, 90, 10)
    argv = ["traffic", "apply", "-s", "prod", "--weights", str(w), "--offline", "-C", str(project)]
    out = fuzz.run("traffic-apply", argv, watch=[project])
    fuzz.assert_clean(out, names="--weights")
    assert "below the floor of 20%" in out.err and "--reason TEXT --ttl" in out.err
    out = fuzz.run("traffic-apply", [*argv, "--ttl", "10m"], watch=[project])
    fuzz.assert_clean(out, names="--reason")  # a pin needs a reason

    assert main([*argv, "--reason", "INC-7 us-west-2 db", "--ttl", "10m", "--json", "-"]) == 0
    cfg = load_stack(project, "prod")
    assert cfg.traffic.pin is not None and cfg.traffic.pin.shares == {E: 90, W: 10}
    assert cfg.traffic.pin.reason == "INC-7 us-west-2 db"
    assert (cfg.traffic.pin.expires_at - cfg.traffic.pin.at).total_seconds() == 600
    assert dials(project) == {E: 100, W: 20}  # a dial of 20 at a natural 50% serves 10%
    intent, result = entries(project)
    assert intent["action"] == "apply" and intent["pin"]["shares"] == {E: 90, W: 10}
    assert result["before"] == {"pin": None, "dials": {E: 100, W: 100}}
    assert result["ok"] and result["after"]["dials"] == {E: 100, W: 20}


def test_apply_at_the_floor_needs_no_pin_and_is_audited(project: Path, tmp_path: Path):
    w = weights(tmp_path, 80, 20)
    argv = ["traffic", "apply", "-s", "prod", "--weights", str(w), "--offline", "-C", str(project)]
    assert main([*argv, "--reason", "rebalance"]) == 0
    assert dials(project) == {E: 100, W: 40}
    assert load_stack(project, "prod").traffic.pin is None
    intent, result = entries(project)
    assert intent["why"] == "rebalance" and intent["what"] == {E: 80, W: 20}
    assert intent["dials"] == {E: 100, W: 40} and result["id"] == intent["id"]
    assert result["after"] == {"pin": None, "dials": {E: 100, W: 40}}


# ------------------------------------------------------------- the targeted up and its packs


@pytest.mark.parametrize("stack", ["prod", "stage"])
def test_targeted_up_runs_the_projects_packs_with_their_stack_configs(
    project: Path, tmp_path: Path, standin: PulumiStandin, stack: str
):
    w = weights(tmp_path, 80, 20)
    rc = main(["traffic", "apply", "-s", stack, "--weights", str(w), "-C", str(project)])
    assert rc == 0
    (up,) = standin.calls("up")
    packs = up.flags("--policy-pack")
    configs = up.flags("--policy-pack-config")
    assert [Path(p).name for p in packs] == ["finops", "guardrails"]
    assert len(configs) == len(packs)  # the CLI wants one config per pack, by position
    assert configs[0] == str(project / "policypacks" / "finops" / "config" / f"{stack}.json")
    own = project / "policypacks" / "guardrails" / "config" / f"{stack}.json"
    if own.is_file():
        assert configs[1] == str(own)
    else:  # no guardrails config for this stack: an empty one, every policy at its default
        assert (
            Path(configs[1]).name == "guardrails.json" and project not in Path(configs[1]).parents
        )
    assert up.flags("--target") == actuators.target_urns(stack, load_stack(project, stack))
    assert dials(project, stack) == {E: 100, W: 40}
    intent, result = entries(project)
    assert intent["via"] == "Automation API" and result["ok"]
    assert result["report"]["path"] == "up" and result["report"]["consistent"]


def test_a_policy_violation_is_final_never_the_fast_path(
    project: Path, tmp_path: Path, standin: PulumiStandin, monkeypatch: pytest.MonkeyPatch
):
    standin.set_plan(
        "prod",
        policy_events=[
            standin.policy_event(
                policy_name="cost-cap", message="too dear", enforcement_level="mandatory"
            )
        ],
    )
    client = actuators.ga_client()
    monkeypatch.setattr(actuators, "ga_client", lambda session=None: client)
    w = weights(tmp_path, 80, 20)
    with Stubber(client) as stub:  # no responses queued: any AWS call would fail the test
        out = fuzz.run(
            "traffic-apply",
            ["traffic", "apply", "-s", "prod", "--weights", str(w), "-C", str(project)],
        )
        stub.assert_no_pending_responses()
    assert out.code == 1 and "policy packs refused" in out.err
    assert "Traceback" not in out.text
    (_, result) = entries(project)
    assert result["ok"] is False and result["report"]["path"] == "up"


# ------------------------------------------------------------------ the GA fast path, no flag


def _update_response(region: str, dial: float) -> dict[str, Any]:
    return {
        "EndpointGroup": {
            "EndpointGroupArn": EG[region],
            "EndpointGroupRegion": region,
            "TrafficDialPercentage": dial,
        }
    }


def test_locked_stack_takes_the_fast_path_with_arns_from_the_stack_outputs(
    project: Path, tmp_path: Path, standin: PulumiStandin, monkeypatch: pytest.MonkeyPatch
):
    standin.lock("prod")
    client = actuators.ga_client()
    monkeypatch.setattr(actuators, "ga_client", lambda session=None: client)
    w = weights(tmp_path, 80, 20)
    with Stubber(client) as stub:
        for region, dial in ((E, 100.0), (W, 40.0)):
            stub.add_response(
                "update_endpoint_group",
                _update_response(region, dial),
                {"EndpointGroupArn": EG[region], "TrafficDialPercentage": dial},
            )
        stub.add_response(
            "describe_accelerator",
            {"Accelerator": {"AcceleratorArn": ACC, "Status": "DEPLOYED"}},
            {"AcceleratorArn": ACC},
        )
        argv = ["traffic", "apply", "-s", "prod", "--weights", str(w), "-C", str(project)]
        out = fuzz.run("traffic-apply", [*argv, "--json", "-"])
        stub.assert_no_pending_responses()
    assert out.code == 0, out.err
    report = json.loads(out.out)
    assert report["path"] == "fast-path" and report["consistent"], report
    assert standin.calls("stack output")  # the ARNs came from endpointGroupArns
    assert dials(project) == {E: 100, W: 40}


@pytest.mark.parametrize(
    "arns",
    [None, "arn", {E: EG[E]}, {E: EG[E], W: "arn:aws:elasticloadbalancing:x"}, [EG[E], EG[W]]],
)
def test_bad_endpoint_group_outputs_are_not_applied_and_say_so(
    project: Path,
    tmp_path: Path,
    standin: PulumiStandin,
    monkeypatch: pytest.MonkeyPatch,
    arns: Any,
):
    standin.add_stack("prod", outputs={"endpointGroupArns": arns} if arns is not None else {})
    standin.lock("prod")
    client = actuators.ga_client()
    monkeypatch.setattr(actuators, "ga_client", lambda session=None: client)
    w = weights(tmp_path, 80, 20)
    with Stubber(client):
        out = fuzz.run(
            "traffic-apply",
            ["traffic", "apply", "-s", "prod", "--weights", str(w), "-C", str(project)],
        )
    assert out.code == 1 and "NOT APPLIED" in out.err and "endpointGroupArns" in out.err
    assert "Traceback" not in out.text


# ------------------------------------------------------------- Automation API writes and audit


def test_pin_through_the_automation_api_sets_traffic_whole_in_one_call_and_reads_it_back(
    project: Path, standin: PulumiStandin
):
    argv = ["traffic", "pin", f"{E}=100", f"{W}=0", "-s", "prod", "--reason", "drill"]
    assert main([*argv, "--ttl", "15m", "-C", str(project)]) == 0
    (write,) = standin.calls("config set-all")
    sent = json.loads(write.flag("--json") or "{}")
    assert list(sent) == ["summit-platform:traffic"]
    assert sent["summit-platform:traffic"]["objectValue"]["pin"]["shares"] == {E: 100, W: 0}
    assert not standin.calls("config rm")  # never remove-then-set
    gets = standin.calls("config get")
    assert gets and gets[-1].argv.index("get") < len(gets[-1].argv)  # read back after
    cfg = load_stack(project, "prod")
    assert cfg.traffic.pin is not None and cfg.traffic.pin.shares == {E: 100, W: 0}
    assert cfg.traffic.mode == "ga" and cfg.traffic.floor_percent == 20

    assert main(["traffic", "unpin", "-s", "prod", "-C", str(project)]) == 0
    assert load_stack(project, "prod").traffic.pin is None
    assert load_stack(project, "prod").traffic.floor_percent == 20
    assert len(standin.calls("config set-all")) == 2 and not standin.calls("config rm")


def test_failed_config_set_all_during_pin_leaves_traffic_exactly_as_it_was(
    project: Path, standin: PulumiStandin
):
    """The done-when of the production traffic issue: through the stand-in, a failed
    `config set-all` during `traffic pin` leaves the stack's traffic config as it was."""
    argv = ["traffic", "pin", f"{E}=100", f"{W}=0", "-s", "prod", "--reason", "first"]
    assert main([*argv, "-C", str(project)]) == 0  # traffic now holds a pin and the defaults
    before = stack_config(project)["summit-platform:traffic"]
    raw_before = (project / "Pulumi.prod.yaml").read_bytes()
    standin.fail_next("config set-all", stderr="error: could not save the stack file")
    argv = ["traffic", "pin", f"{E}=50", f"{W}=50", "-s", "prod", "--reason", "second"]
    out = fuzz.run("traffic-apply", [*argv, "-C", str(project)])
    assert out.code == 1 and "the stack config is unchanged" in out.err, out.err
    assert "Traceback" not in out.text
    assert stack_config(project)["summit-platform:traffic"] == before
    assert (project / "Pulumi.prod.yaml").read_bytes() == raw_before
    *_, intent, result = entries(project)
    assert intent["phase"] == "intent" and intent["why"] == "second"
    assert result["ok"] is False and "could not save" in result["error"]


@pytest.mark.parametrize("offline", [True, False], ids=["stack-file", "automation-api"])
def test_an_audit_log_that_cannot_be_written_changes_nothing(
    project: Path, tmp_path: Path, standin: PulumiStandin, offline: bool
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the audit log's folder should be")
    argv = ["traffic", "pin", f"{E}=100", f"{W}=0", "-s", "prod", "--reason", "x"]
    argv += ["-C", str(project), "--audit-log", str(blocker / "audit.jsonl")]
    out = fuzz.run("traffic-apply", argv + (["--offline"] if offline else []), watch=[project])
    fuzz.assert_clean(out, names="audit.jsonl")
    assert not standin.calls("config set-all")


def test_an_audit_entry_that_cannot_be_completed_undoes_the_change(
    project: Path, monkeypatch: pytest.MonkeyPatch
):
    real = safe_io.append_jsonl

    def append(path: Any, entry: dict[str, Any], **kw: Any) -> None:
        if entry.get("phase") == "result":
            raise safe_io.UserError(
                "cannot write the log (No space left on device)", source=str(path)
            )
        real(path, entry, **kw)

    monkeypatch.setattr(safe_io, "append_jsonl", append)
    argv = ["traffic", "pin", f"{E}=100", f"{W}=0", "-s", "prod", "--reason", "x", "--offline"]
    out = fuzz.run(
        "traffic-apply", [*argv, "-C", str(project)], watch=[project / "Pulumi.prod.yaml"]
    )
    fuzz.assert_clean(out, names="traffic-audit.jsonl")
    assert "the change was undone" in out.err
    (intent,) = entries(project)  # the intent is there; no result claims a change
    assert intent["phase"] == "intent"
    assert not audit.completed(entries(project))


# ---------------------------------------------------------------- pulumi_ops' whole-value write


def test_set_all_config_json_replaces_an_object_whole_in_one_call(
    project: Path, standin: PulumiStandin
):
    stack = pulumi_ops.open_stack(project, "prod", command=standin.command)
    pulumi_ops.set_all_config_json(
        stack, {"summit-platform:traffic": {"mode": "ga", "pin": {"reason": "x"}}}
    )
    pulumi_ops.set_all_config_json(stack, {"summit-platform:traffic": {"mode": "ga"}})
    assert stack_config(project)["summit-platform:traffic"] == {"mode": "ga"}  # pin gone
    assert len(standin.calls("config set-all")) == 2
    value = pulumi_ops.get_config(stack, "summit-platform:traffic")
    assert value is not None and json.loads(value.value) == {"mode": "ga"}
