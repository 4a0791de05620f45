"""`summit deploy`: the pure plan and step machine (east gated before west; a failed step
restores the previous version, rolls the region back and stops), and the Automation API layer
driven end to end through the recording `pulumi` stand-in on a copy of the project."""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from automation.cli import main
from automation.delivery import deploy as d
from automation.errors import UserError
from automation.stack_files import load_stack
from stacks.delivery import region_target_urns
from tests.support.pulumi_standin import PulumiStandin

ROOT = Path(__file__).resolve().parents[1]
EAST, WEST = "us-east-1", "us-west-2"


def _plan(**kw) -> d.DeployPlan:
    cfg = load_stack(ROOT, "prod")
    args = dict(
        stack="prod",
        project="summit-platform",
        version="v1.3.0",
        raw_services=d.read_raw_services(ROOT, "prod"),
    )
    args.update(kw)
    return d.plan_deploy(cfg, **args)


def test_plan_orders_east_first_and_edits_each_service_of_the_region():
    plan = _plan()
    assert [r.region for r in plan.regions] == [EAST, WEST]
    east = plan.regions[0]
    assert [e.path for e in east.edits] == [
        f'summit-platform:services[{i}].regionVersions["{EAST}"]' for i in range(3)
    ]
    assert [(e.service, e.previous, e.effective_previous) for e in east.edits] == [
        ("gateway", None, "v1.2.0"),
        ("web", None, "v2.4.1"),
        ("intelgraph", None, "v0.9.3"),
    ]
    cfg = load_stack(ROOT, "prod")
    assert east.targets == region_target_urns(cfg, "prod", "summit-platform", EAST)
    assert not set(east.targets) & set(plan.regions[1].targets)
    assert east.context == "summit-prod-use1" and east.namespace == "platform"
    assert [str(s) for s in d.forward_steps(plan)] == [
        f"{k} {r}" for r in (EAST, WEST) for k in d.FORWARD
    ]


def test_plan_honours_explicit_order_and_service_subset():
    plan = _plan(regions=[WEST, EAST], services=["web"])
    assert [r.region for r in plan.regions] == [WEST, EAST]
    assert [e.service for e in plan.regions[0].edits] == ["web"]
    assert all("::web-" in u for u in plan.regions[0].targets)
    assert len(plan.regions[0].targets) == 6


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"version": "v1.3.0 ; rm"}, "--version"),
        ({"regions": ["eu-west-1"]}, "--regions"),
        ({"regions": [EAST, EAST]}, "--regions"),
        ({"services": ["nope"]}, "--services"),
        ({"raw_services": []}, "summit-platform:services"),
    ],
)
def test_bad_input_is_rejected_before_anything_runs(kw, key):
    with pytest.raises(UserError) as err:
        _plan(**kw)
    assert err.value.key == key


@cache
def _prod_plan() -> d.DeployPlan:
    return _plan()


def _simulate(plan: d.DeployPlan, outcomes: dict[tuple[str, str], bool]) -> list[d.StepResult]:
    results: list[d.StepResult] = []
    while (step := d.next_step(plan, results)) is not None:
        results.append(d.StepResult(step, outcomes.get((step.kind, step.region), True)))
        assert len(results) < 50
    return results


@given(
    st.dictionaries(
        st.tuples(st.sampled_from(d.FORWARD), st.sampled_from([EAST, WEST])), st.booleans()
    )
)
def test_step_machine_gates_each_region_and_stops_after_the_first_failure(outcomes):
    plan = _prod_plan()
    results = _simulate(plan, outcomes)
    kinds = [(r.step.kind, r.step.region) for r in results]
    forward = [(s.kind, s.region) for s in d.forward_steps(plan)]
    failed = next((i for i, r in enumerate(results) if not r.ok), None)
    if failed is None:
        assert kinds == forward  # every region, in order, each gated
        return
    # everything before the failure is the forward sequence, in order
    assert kinds[: failed + 1] == forward[: failed + 1]
    region = results[failed].step.region
    # then exactly: restore the config, roll the region back, stop
    assert kinds[failed + 1 :] == [("restore-config", region), ("rollback-up", region)]
    # west never starts unless east's gate passed
    if any(r == WEST for _, r in kinds):
        east_gate = kinds.index(("gate", EAST))
        assert results[east_gate].ok
        assert all(r == EAST for _, r in kinds[: east_gate + 1])


def test_failed_restore_stops_without_an_up():
    plan = _plan()
    results = _simulate(plan, {("gate", EAST): False, ("restore-config", EAST): False})
    assert [str(r.step) for r in results][-2:] == [f"gate {EAST}", f"restore-config {EAST}"]
    report = d.DeployReport(plan, results)
    assert "restoring the config FAILED" in report.region_status(EAST)


# -- the Automation API layer through the stand-in ---------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    proj = tmp_path / "project"
    proj.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, proj / name)
    return proj


@pytest.fixture
def standin(tmp_path: Path) -> PulumiStandin:
    s = PulumiStandin(tmp_path / "pulumi")
    s.add_stack("prod")
    return s


def _services(project: Path) -> list[dict]:
    return yaml.safe_load((project / "Pulumi.prod.yaml").read_text())["config"][
        "summit-platform:services"
    ]


class Recorder:
    """Gate and Rollout-phase stand-ins that also record when they were asked."""

    def __init__(self, standin: PulumiStandin, gate_ok: dict[str, bool], phases=None):
        self.standin = standin
        self.gate_ok = gate_ok
        self.phases = phases or {}
        self.events: list[str] = []

    def gate(self, region: d.RegionPlan):
        self.events.append(f"gate {region.region} after {len(self.standin.calls('up'))} up(s)")
        ok = self.gate_ok.get(region.region, True)
        return ok, "gate passed" if ok else "gate failed: breached p95<1500ms", {}

    def phase(self, region: d.RegionPlan, name: str):
        self.events.append(f"phase {region.region} {name}")
        return self.phases.get(region.region, "Healthy")


def _ops(project, standin, rec, **kw) -> d.PulumiDeployOps:
    return d.PulumiDeployOps(
        project_dir=project,
        stack_name="prod",
        gate_fn=rec.gate,
        phase=rec.phase,
        command=standin.command,
        sleep=lambda _s: None,
        **kw,
    )


def _plan_for(project: Path) -> d.DeployPlan:
    return d.plan_deploy(
        load_stack(project, "prod"),
        stack="prod",
        project="summit-platform",
        version="v1.3.0",
        raw_services=d.read_raw_services(project, "prod"),
    )


def test_happy_path_deploys_east_then_west_each_gated(project, standin):
    rec = Recorder(standin, {})
    plan = _plan_for(project)
    report = d.execute(plan, _ops(project, standin, rec))
    assert report.ok, report.summary
    ups = standin.calls("up")
    assert [u.flags("--target") for u in ups] == [plan.regions[0].targets, plan.regions[1].targets]
    # east's gate ran after east's up and before west's up
    gates = [e for e in rec.events if e.startswith("gate")]
    assert gates == [f"gate {EAST} after 1 up(s)", f"gate {WEST} after 2 up(s)"]
    for svc in _services(project):
        assert svc["regionVersions"] == {EAST: "v1.3.0", WEST: "v1.3.0"}
    # and the program sees it: each region now runs v1.3.0
    cfg = load_stack(project, "prod")
    assert all(s.region_versions == {EAST: "v1.3.0", WEST: "v1.3.0"} for s in cfg.services)
    md = report.to_markdown()
    assert "every gate passed" in md and f"| {WEST} |" in md


def test_failed_east_gate_restores_previous_version_and_never_touches_west(project, standin):
    before = _services(project)
    rec = Recorder(standin, {EAST: False})
    plan = _plan_for(project)
    report = d.execute(plan, _ops(project, standin, rec))
    assert not report.ok
    ups = standin.calls("up")
    # the deploy up and the rollback up, both only east's workloads
    assert [u.flags("--target") for u in ups] == [plan.regions[0].targets] * 2
    assert "rollback" in ups[1].flag("--message")
    assert not any(WEST in e for e in rec.events)
    assert _services(project) == before  # config back exactly as it was
    assert [str(r.step) for r in report.results][-3:] == [
        f"gate {EAST}",
        f"restore-config {EAST}",
        f"rollback-up {EAST}",
    ]
    doc = report.to_json()
    assert doc["ok"] is False
    statuses = {r["region"]: r["status"] for r in doc["regions"]}
    assert statuses[EAST].startswith("failed at gate; restored previous version and rolled back")
    assert statuses[WEST].startswith("not started")
    assert "not touched: us-west-2" in report.summary


def test_failed_west_gate_leaves_east_on_the_new_version(project, standin):
    prod = yaml.safe_load((project / "Pulumi.prod.yaml").read_text())
    prod["config"]["summit-platform:services"][0]["regionVersions"] = {WEST: "v1.2.5"}
    (project / "Pulumi.prod.yaml").write_text(yaml.safe_dump(prod, sort_keys=False))
    rec = Recorder(standin, {WEST: False})
    report = d.execute(_plan_for(project), _ops(project, standin, rec))
    assert not report.ok
    gateway, web, _ = _services(project)
    assert gateway["regionVersions"] == {WEST: "v1.2.5", EAST: "v1.3.0"}  # explicit value back
    assert web["regionVersions"] == {EAST: "v1.3.0"}  # absent before -> removed again
    assert "left on v1.3.0: us-east-1" in report.summary


def test_degraded_rollout_fails_the_region_without_running_its_gate(project, standin):
    rec = Recorder(standin, {}, phases={EAST: "Degraded"})
    report = d.execute(_plan_for(project), _ops(project, standin, rec))
    assert [str(r.step) for r in report.results][-3:] == [
        f"wait-healthy {EAST}",
        f"restore-config {EAST}",
        f"rollback-up {EAST}",
    ]
    assert not any(e.startswith("gate") for e in rec.events)


def test_wait_healthy_times_out(project, standin):
    now = [0.0]
    rec = Recorder(standin, {}, phases={EAST: "Paused"})
    ops = _ops(
        project, standin, rec, clock=lambda: now[0], healthy_timeout_seconds=60, poll_seconds=15
    )
    ops.sleep = lambda s: now.__setitem__(0, now[0] + s)
    ok, msg, _ = ops.wait_healthy(_plan_for(project).regions[0])
    assert not ok and "timed out after 60s" in msg and "(Paused)" in msg


def test_failed_up_is_rolled_back(project, standin):
    standin.fail_next("up", stderr="error: update failed", code=255)
    rec = Recorder(standin, {})
    report = d.execute(_plan_for(project), _ops(project, standin, rec))
    assert [str(r.step) for r in report.results] == [
        f"set-version {EAST}",
        f"up {EAST}",
        f"restore-config {EAST}",
        f"rollback-up {EAST}",
    ]
    assert report.results[-1].ok


def test_cli_dry_run_prints_the_ordered_plan_and_changes_nothing(project, tmp_path, capsys):
    before = (project / "Pulumi.prod.yaml").read_text()
    out = tmp_path / "plan.json"
    md = tmp_path / "plan.md"
    rc = main(
        [
            "deploy",
            "--stack",
            "prod",
            "--version",
            "v1.3.0",
            "--dry-run",
            "-C",
            str(project),
            "--json",
            str(out),
            "--markdown",
            str(md),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    lines = [ln for ln in text.splitlines() if ln.strip()[:2].rstrip(".").isdigit()]
    assert [ln.split()[1:3] for ln in lines] == [[k, r] for r in (EAST, WEST) for k in d.FORWARD]
    assert (project / "Pulumi.prod.yaml").read_text() == before
    doc = json.loads(out.read_text())
    assert doc["dryRun"] is True and len(doc["steps"]) == 8
    assert "Deploy plan v1.3.0" in md.read_text()


def test_cli_bad_input_exits_2(project, capsys):
    assert (
        main(
            [
                "deploy",
                "--stack",
                "prod",
                "--version",
                "v1",
                "--regions",
                "eu-west-1",
                "--dry-run",
                "-C",
                str(project),
            ]
        )
        == 2
    )
    assert "--regions" in capsys.readouterr().err
    # no Prometheus configured and none given: refuse before touching anything
    assert main(["deploy", "--stack", "prod", "--version", "v1", "-C", str(project)]) == 2
