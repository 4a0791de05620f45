"""Tests of automation/pulumi_ops.py against the recording ``pulumi`` stand-in.

Each test drives the real ``pulumi.automation`` SDK, which runs ``tests/support``'s stand-in
as its CLI; the tests assert the invocations the SDK issues through our wrappers (argv, cwd,
env), how the answers are parsed, and how errors map to ``summit`` exit codes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi.automation._cmd import CommandResult
from pulumi.automation.errors import create_command_error

from summit_platform.automation import pulumi_ops as ops
from summit_platform.automation.errors import EXIT_FAIL, EXIT_USAGE, CheckFailed, UserError
from tests.support.pulumi_standin import CONFLICT_STDERR, PulumiStandin

PROJECT = "summit-platform"
URN_GA = f"urn:pulumi:dev::{PROJECT}::summit:traffic:GlobalTraffic::edge"
URN_EG = (
    f"urn:pulumi:dev::{PROJECT}::summit:traffic:GlobalTraffic$aws:globalaccelerator/"
    "endpointGroup:EndpointGroup::edge-us-east-1"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A minimal Pulumi project dir (the wrappers only need Pulumi.yaml and stack files)."""
    proj = tmp_path / "project"
    proj.mkdir()
    (proj / "Pulumi.yaml").write_text(
        f"name: {PROJECT}\nruntime:\n  name: python\n", encoding="utf-8"
    )
    (proj / "Pulumi.dev.yaml").write_text(
        f"config:\n  {PROJECT}:environment: dev\n", encoding="utf-8"
    )
    return proj


@pytest.fixture
def standin(tmp_path: Path) -> PulumiStandin:
    s = PulumiStandin(tmp_path / "pulumi")
    s.add_stack("dev")
    return s


@pytest.fixture
def dev(project: Path, standin: PulumiStandin):
    stack = ops.open_stack(project, "dev", command=standin.command)
    standin.clear_calls()
    return stack


def stack_file(project: Path, name: str = "dev") -> dict:
    return yaml.safe_load((project / f"Pulumi.{name}.yaml").read_text(encoding="utf-8"))


# -- opening stacks ----------------------------------------------------------------------------


def test_open_stack_selects_in_the_project_dir(project: Path, standin: PulumiStandin) -> None:
    stack = ops.open_stack(project, "dev", command=standin.command)

    assert stack.name == "dev"
    [select] = standin.calls("stack select")
    assert select.flag("--stack") == "dev"
    assert select.cwd == str(project.resolve())
    assert "--non-interactive" in select.raw_argv  # the SDK never lets the CLI prompt
    assert standin.calls("stack init") == []


def test_open_missing_stack_is_a_user_error_naming_it(
    project: Path, standin: PulumiStandin
) -> None:
    with pytest.raises(UserError) as caught:
        ops.open_stack(project, "qa", command=standin.command)

    assert caught.value.exit_code == EXIT_USAGE
    assert "'qa'" in str(caught.value)
    assert caught.value.key == "stack qa"
    assert caught.value.source == str(project.resolve())
    assert standin.calls("stack init") == []
    assert "qa" not in standin.state["stacks"]


def test_open_stack_create_selects_then_inits(project: Path, standin: PulumiStandin) -> None:
    ops.open_stack(project, "pr-42", create=True, command=standin.command)

    assert [c.command for c in standin.calls() if c.command != "version"] == [
        "stack select",
        "stack init",
    ]
    assert standin.calls("stack init")[0].argv[:3] == ["stack", "init", "pr-42"]
    assert standin.state["current"] == "pr-42"


def test_open_stack_without_a_project_runs_nothing(tmp_path: Path, standin: PulumiStandin) -> None:
    command = standin.command
    standin.clear_calls()
    with pytest.raises(UserError, match=r"Pulumi\.yaml"):
        ops.open_stack(tmp_path, "dev", command=command)
    assert standin.calls() == []


def test_env_is_passed_to_every_call(project: Path, standin: PulumiStandin) -> None:
    env = {"PULUMI_CONFIG_PASSPHRASE": "pw", "AWS_REGION": "us-west-2"}
    stack = ops.open_stack(project, "dev", command=standin.command, env=env)
    ops.get_tags(stack)

    for call in standin.calls("stack select") + standin.calls("stack tag ls"):
        assert call.env["PULUMI_CONFIG_PASSPHRASE"] == "pw"
        assert call.env["AWS_REGION"] == "us-west-2"
        assert call.env["PULUMI_AUTOMATION_API"] == "true"


def test_cli_root_comes_from_the_environment(
    project: Path, standin: PulumiStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ops.PULUMI_ROOT_ENV, str(standin.root))
    ops.open_stack(project, "dev")
    assert standin.calls("stack select")


def test_missing_cli_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="Pulumi CLI was not found") as caught:
        ops.pulumi_command(tmp_path / "nowhere")
    assert caught.value.exit_code == EXIT_USAGE


def test_too_old_cli_is_a_user_error(tmp_path: Path) -> None:
    old = PulumiStandin(tmp_path / "old", version="3.0.0")
    with pytest.raises(UserError, match="unusable Pulumi CLI"):
        ops.pulumi_command(old.root)


# -- config and tags ---------------------------------------------------------------------------


def test_set_config_issues_the_sdk_invocation_and_writes_the_stack_file(
    project: Path, standin: PulumiStandin, dev
) -> None:
    ops.set_config(dev, f"{PROJECT}:trafficMode", "route53")

    [call] = standin.calls("config set")
    sep = call.argv.index("--")
    assert call.argv[:3] == ["config", "set", f"{PROJECT}:trafficMode"]
    assert call.has("--plaintext") and not call.has("--secret")
    assert call.flag("--stack") == "dev"
    assert call.argv[sep + 1 :] == ["route53"]  # value after `--`, so "-5" is not a flag
    config = stack_file(project)["config"]
    assert config[f"{PROJECT}:trafficMode"] == "route53"
    assert config[f"{PROJECT}:environment"] == "dev"  # other keys kept


def test_secret_config_round_trips_and_is_never_plaintext_on_disk(
    project: Path, standin: PulumiStandin, dev
) -> None:
    ops.set_config(dev, "dbPassword", "hunter2", secret=True)

    assert standin.calls("config set")[0].has("--secret")
    raw = (project / "Pulumi.dev.yaml").read_text(encoding="utf-8")
    assert "hunter2" not in raw and "secure:" in raw
    value = ops.get_config(dev, "dbPassword")
    assert value is not None
    assert (value.value, value.secret) == ("hunter2", True)


def test_path_config_sets_nested_typed_values(project: Path, standin: PulumiStandin, dev) -> None:
    ops.set_config(dev, f"{PROJECT}:regions[1].naturalShare", 50, path=True)
    ops.set_config(dev, f"{PROJECT}:slo.enabled", True, path=True)

    assert all(c.has("--path") for c in standin.calls("config set"))
    config = stack_file(project)["config"]
    assert config[f"{PROJECT}:regions"] == [None, {"naturalShare": 50}]
    assert config[f"{PROJECT}:slo"] == {"enabled": True}
    got = ops.get_config(dev, f"{PROJECT}:regions[1].naturalShare", path=True)
    assert got is not None and got.value == "50"


def test_path_config_keeps_leading_zeros_as_strings(project: Path, dev) -> None:
    ops.set_all_config(
        dev,
        {f"{PROJECT}:ids.account": "0123", f"{PROJECT}:ids.n": "-7", f"{PROJECT}:ids.z": "0"},
        path=True,
    )
    assert stack_file(project)["config"][f"{PROJECT}:ids"] == {"account": "0123", "n": -7, "z": 0}


def test_set_all_config_is_one_call_with_secret_flags(
    project: Path, standin: PulumiStandin, dev
) -> None:
    ops.set_all_config(
        dev,
        {f"{PROJECT}:dial": 40, f"{PROJECT}:token": "s3cr3t"},
        secret_keys=[f"{PROJECT}:token"],
    )

    [call] = standin.calls("config set-all")
    assert call.flags("--plaintext") == [f"{PROJECT}:dial=40"]
    assert call.flags("--secret") == [f"{PROJECT}:token=s3cr3t"]
    config = stack_file(project)["config"]
    assert config[f"{PROJECT}:dial"] == "40"
    assert set(config[f"{PROJECT}:token"]) == {"secure"}


def test_set_all_config_rejects_unknown_secret_keys_before_any_call(
    standin: PulumiStandin, dev
) -> None:
    with pytest.raises(UserError, match="secret_keys"):
        ops.set_all_config(dev, {"a": "1"}, secret_keys=["b"])
    assert standin.calls() == []


def test_get_missing_config_is_none_and_remove_config_removes(
    project: Path, standin: PulumiStandin, dev
) -> None:
    assert ops.get_config(dev, "nothing") is None
    ops.remove_config(dev, f"{PROJECT}:environment")
    assert "config" not in stack_file(project)
    [rm] = standin.calls("config rm")
    assert rm.argv[:3] == ["config", "rm", f"{PROJECT}:environment"]


def test_other_config_failures_are_not_swallowed(standin: PulumiStandin, dev) -> None:
    standin.fail_next("config get", stderr="error: decrypting secret value: bad passphrase")
    with pytest.raises(ops.PulumiCommandFailed, match="bad passphrase"):
        ops.get_config(dev, "dbPassword")


def test_tags_set_and_list(standin: PulumiStandin, dev) -> None:
    ops.set_tags(dev, {"team": "edge", "cost-center": "cc-1234"})

    calls = standin.calls("stack tag set")
    assert [c.argv[3:5] for c in calls] == [["team", "edge"], ["cost-center", "cc-1234"]]
    tags = ops.get_tags(dev)
    assert tags["team"] == "edge" and tags["cost-center"] == "cc-1234"
    assert tags["pulumi:project"] == PROJECT


# -- engine operations -------------------------------------------------------------------------


def test_preview_passes_policy_packs_and_collects_policy_events(
    project: Path, standin: PulumiStandin, dev
) -> None:
    standin.set_plan(
        "dev",
        changes={"create": 5, "same": 2},
        policy_events=[
            standin.policy_event(
                policy_name="listener-443-only",
                message="listener allows port 80",
                resource_urn=URN_GA,
            )
        ],
    )
    seen = []

    outcome = ops.preview(
        dev,
        policy_packs=[project / "policypacks/guardrails"],
        policy_pack_configs=[project / "guardrails.json"],
        on_event=seen.append,
    )

    [call] = standin.calls("preview")
    assert call.flags("--policy-pack") == [str(project / "policypacks/guardrails")]
    assert call.flags("--policy-pack-config") == [str(project / "guardrails.json")]
    assert call.flag("--exec-kind") == "auto.local"
    assert (call.flag("--event-log") or "").startswith("tcp://127.0.0.1:")  # CLI > 3.205: gRPC
    assert outcome.changes == {"create": 5, "same": 2}
    assert outcome.policy_events == (
        ops.PolicyEventRecord(
            pack="guardrails",
            pack_version="0.1.0",
            policy="listener-443-only",
            enforcement="advisory",
            urn=URN_GA,
            message="listener allows port 80",
        ),
    )
    assert outcome.mandatory_violations == ()
    assert any(e.summary_event for e in seen) and any(e.prelude_event for e in seen)


def test_preview_over_a_file_event_log_for_older_clis(project: Path, tmp_path: Path) -> None:
    old = PulumiStandin(tmp_path / "old", version="3.200.0")
    old.add_stack("dev")
    old.set_plan(
        "dev",
        changes={"update": 1},
        policy_events=[old.policy_event(policy_name="p", message="m", resource_urn=URN_EG)],
    )
    stack = ops.open_stack(project, "dev", command=old.command)

    outcome = ops.preview(stack)

    log = old.calls("preview")[0].flag("--event-log") or ""
    assert not log.startswith("tcp://")
    assert outcome.changes == {"update": 1}
    assert [e.urn for e in outcome.policy_events] == [URN_EG]


def test_mandatory_violation_fails_with_the_events(standin: PulumiStandin, dev) -> None:
    standin.set_plan(
        "dev",
        changes={"create": 3},
        policy_events=[
            standin.policy_event(
                policy_name="cost-allocation-tags",
                message="missing tag cost-center",
                resource_urn=URN_EG,
                enforcement_level="mandatory",
                policy_pack_name="summit-finops",
            ),
            standin.policy_event(policy_name="listener-443-only", message="port 80"),
        ],
    )

    with pytest.raises(ops.PolicyViolations) as caught:
        ops.preview(dev)

    err = caught.value
    assert isinstance(err, CheckFailed) and err.exit_code == EXIT_FAIL
    assert "summit-finops/cost-allocation-tags" in str(err)
    assert [e.policy for e in err.mandatory] == ["cost-allocation-tags"]
    assert len(err.policy_events) == 2
    assert err.changes == {"create": 3}


def test_up_targets_urns_and_returns_outputs(standin: PulumiStandin, dev) -> None:
    standin.set_plan(
        "dev",
        steps=[
            {"op": "update", "urn": URN_EG, "type": "aws:globalaccelerator/endpointGroup"},
            {"op": "create", "urn": URN_GA, "type": "summit:traffic:GlobalTraffic"},
        ],
        outputs={"acceleratorDns": "a1.awsglobalaccelerator.com", "kubeconfig": "x"},
        secret_outputs=["kubeconfig"],
        resource_count=12,
    )

    outcome = ops.up(dev, targets=[URN_EG], message="dial us-east-1 to 40")

    [call] = standin.calls("up")
    assert call.has("--yes") and call.has("--skip-preview")
    assert call.flags("--target") == [URN_EG]
    assert call.flag("--message") == "dial us-east-1 to 40"
    assert outcome.changes == {"update": 1}  # only the targeted step
    assert outcome.outputs["acceleratorDns"] == "a1.awsglobalaccelerator.com"
    assert outcome.secret_outputs == frozenset({"kubeconfig"})
    assert outcome.version == 1
    assert standin.stack("dev")["resourceCount"] == 12
    # The SDK reads outputs (masked and plaintext) and the latest history entry after `up`.
    assert [c.command for c in standin.calls()][-3:] == [
        "stack output",
        "stack output",
        "stack history",
    ]


def test_failed_up_carries_the_stderr_tail(standin: PulumiStandin, dev) -> None:
    stderr = "\n".join(f"line {i}" for i in range(40)) + "\nerror: update failed"
    standin.fail_next("up", stderr=stderr)

    with pytest.raises(ops.PulumiCommandFailed) as caught:
        ops.up(dev)

    err = caught.value
    assert type(err) is ops.PulumiCommandFailed and err.exit_code == EXIT_FAIL
    assert err.cli_exit_code == 255
    assert err.stderr_tail.splitlines()[-1] == "error: update failed"
    assert "line 0\n" not in err.stderr_tail  # a tail, not the whole log
    assert "error: update failed" in str(err)
    assert ops.history(dev)[0].result == "failed"


def test_locked_stack_is_a_retryable_failure_and_changes_nothing(
    standin: PulumiStandin, dev
) -> None:
    standin.set_plan("dev", changes={"create": 1}, resource_count=1)
    standin.lock("dev")

    for run in (ops.preview, ops.up, ops.destroy):
        with pytest.raises(ops.StackLocked) as caught:
            run(dev)
        assert caught.value.exit_code == EXIT_FAIL and caught.value.retryable
        assert "locked by another update" in str(caught.value)
    assert standin.stack("dev")["history"] == []
    assert standin.stack("dev")["resourceCount"] == 0


def test_retry_when_locked_waits_then_succeeds(standin: PulumiStandin, dev) -> None:
    standin.set_plan("dev", changes={"create": 1}, resource_count=1)
    standin.fail_next("up", stderr=CONFLICT_STDERR, times=2)
    waits: list[float] = []

    outcome = ops.retry_when_locked(
        lambda: ops.up(dev), attempts=3, first_wait_seconds=2, sleep=waits.append
    )

    assert outcome.changes == {"create": 1}
    assert waits == [2, 4]  # exponential backoff between the three tries
    assert [c.exit_code for c in standin.calls("up")] == [255, 255, 0]


def test_retry_when_locked_gives_up_and_never_retries_other_failures(
    standin: PulumiStandin, dev
) -> None:
    standin.lock("dev")
    with pytest.raises(ops.StackLocked):
        ops.retry_when_locked(lambda: ops.up(dev), attempts=2, sleep=lambda _: None)
    assert len(standin.calls("up")) == 2

    standin.lock("dev", locked=False)
    standin.fail_next("up", stderr="error: provider crashed", times=5)
    with pytest.raises(ops.PulumiCommandFailed, match="provider crashed"):
        ops.retry_when_locked(lambda: ops.up(dev), attempts=5, sleep=lambda _: None)
    assert len(standin.calls("up")) == 3


def test_stacks_can_be_updated_from_several_threads(project: Path, standin: PulumiStandin) -> None:
    from concurrent.futures import ThreadPoolExecutor

    names = ["east", "west", "eu"]
    for name in names:
        standin.add_stack(name)
        standin.set_plan(name, changes={"create": 3}, outputs={"region": name}, resource_count=3)
        (project / f"Pulumi.{name}.yaml").write_text("config: {}\n", encoding="utf-8")
    command = standin.command

    def deploy(name: str) -> ops.UpOutcome:
        return ops.up(ops.open_stack(project, name, command=command))

    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(deploy, names))

    assert [o.outputs for o in outcomes] == [{"region": n} for n in names]
    assert {n: standin.stack(n)["resourceCount"] for n in names} == dict.fromkeys(names, 3)


def test_a_diy_backend_lock_is_also_stack_locked(standin: PulumiStandin, dev) -> None:
    # `pulumi login --local` / S3 backends report their lock with a different text.
    standin.fail_next(
        "up",
        stderr="error: the stack is currently locked by 1 lock(s). Either wait for the other "
        "process(es) to end or delete the lock file with `pulumi cancel`.",
    )
    with pytest.raises(ops.StackLocked, match="pulumi cancel -s dev"):
        ops.up(dev)


def test_preview_without_a_summary_is_a_failure_not_a_crash(standin: PulumiStandin, dev) -> None:
    standin.fail_next("preview", stderr="", code=0)  # exits 0 but streams no events
    with pytest.raises(ops.PulumiCommandFailed, match="without an engine summary"):
        ops.preview(dev)


def test_engine_output_streams_to_on_output(standin: PulumiStandin, dev) -> None:
    standin.set_plan("dev", changes={"create": 2})
    lines: list[str] = []
    outcome = ops.up(dev, on_output=lines.append)
    assert "Updating (dev):" in lines
    assert "    2 created" in lines
    assert outcome.stdout.splitlines() == lines


def test_the_sdk_maps_the_conflict_text_we_rely_on() -> None:
    result = CommandResult(stdout="", stderr=CONFLICT_STDERR, code=255)
    assert type(create_command_error(result)).__name__ == "ConcurrentUpdateError"


def test_destroy_then_remove_stack(project: Path, standin: PulumiStandin, dev) -> None:
    standin.set_plan("dev", changes={"create": 4}, resource_count=4)
    ops.up(dev)

    with pytest.raises(ops.PulumiCommandFailed, match="still has resources"):
        ops.remove_stack(project, "dev", command=standin.command)

    outcome = ops.destroy(dev)
    [call] = standin.calls("destroy")
    assert call.has("--yes") and call.has("--skip-preview")
    assert outcome.changes == {"delete": 4}
    assert standin.stack("dev")["resourceCount"] == 0

    ops.remove_stack(project, "dev", preserve_config=True, command=standin.command)
    assert "dev" not in standin.state["stacks"]
    assert (project / "Pulumi.dev.yaml").exists()
    assert standin.calls("stack rm")[-1].argv == [
        "stack",
        "rm",
        "--yes",
        "--preserve-config",
        "dev",
    ]


def test_remove_stack_without_preserve_config_deletes_the_stack_file(
    project: Path, standin: PulumiStandin
) -> None:
    ops.remove_stack(project, "dev", force=True, command=standin.command)
    assert standin.calls("stack rm")[0].has("--force")
    assert not (project / "Pulumi.dev.yaml").exists()


def test_remove_missing_stack_is_a_user_error(project: Path, standin: PulumiStandin) -> None:
    with pytest.raises(UserError, match="'gone'"):
        ops.remove_stack(project, "gone", command=standin.command)


# -- listing and history -----------------------------------------------------------------------


def test_list_stacks_parses_times_and_counts(project: Path, standin: PulumiStandin) -> None:
    when = datetime(2026, 11, 20, 8, 30, 15, tzinfo=UTC)
    standin.add_stack("pr-7", last_update=when, resource_count=31, current=True)
    standin.add_stack("pr-9")

    rows = ops.list_stacks(project, command=standin.command)

    assert [r.name for r in rows] == ["dev", "pr-7", "pr-9"]
    by_name = {r.name: r for r in rows}
    assert by_name["pr-7"].last_update == when
    assert by_name["pr-7"].last_update.tzinfo is not None  # comparable with now(UTC)
    assert by_name["pr-7"].resource_count == 31 and by_name["pr-7"].current
    assert by_name["pr-9"].last_update is None and by_name["pr-9"].resource_count is None
    assert standin.calls("stack ls")[0].argv == ["stack", "ls", "--json"]


def test_list_stacks_reports_an_update_in_progress_without_a_time(
    project: Path, standin: PulumiStandin
) -> None:
    standin.add_stack("pr-8", last_update=datetime(2026, 11, 1, tzinfo=UTC), resource_count=3)
    standin.lock("pr-8")

    [row] = [r for r in ops.list_stacks(project, command=standin.command) if r.name == "pr-8"]

    assert row.update_in_progress is True
    assert row.last_update is None  # as the CLI reports it: a stack GC must not collect
    assert row.resource_count == 3


def test_history_is_newest_first(standin: PulumiStandin, dev) -> None:
    standin.set_plan("dev", changes={"create": 2})
    ops.up(dev)
    standin.set_plan("dev", changes={"update": 1, "same": 1})
    ops.up(dev)

    records = ops.history(dev)

    assert [(r.version, r.kind, r.result) for r in records] == [
        (2, "update", "succeeded"),
        (1, "update", "succeeded"),
    ]
    assert records[0].resource_changes == {"update": 1, "same": 1}
    assert records[0].start_time.tzinfo is not None
    assert len(ops.history(dev, page_size=1)) == 1
    assert standin.calls("stack history")[-1].flags("--page-size") == ["1"]


def test_outputs_reveal_secrets_as_plain_values(standin: PulumiStandin, dev) -> None:
    standin.set_plan("dev", changes={"create": 1}, outputs={"token": "t"}, secret_outputs=["token"])
    ops.up(dev)
    assert ops.outputs(dev) == {"token": "t"}


# -- the stand-in's own answers (the CLI's documented JSON shapes) -------------------------------


def _run(standin: PulumiStandin, project: Path, *args: str) -> tuple[int, str, str]:
    import subprocess

    done = subprocess.run(
        [str(standin.executable), "--non-interactive", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def test_standin_stack_ls_json_shape(project: Path, standin: PulumiStandin) -> None:
    import json

    standin.add_stack("prod", last_update=datetime(2026, 11, 2, 3, 4, 5, tzinfo=UTC), current=True)
    code, out, _ = _run(standin, project, "stack", "ls", "--json")

    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["prod"] == {
        "name": "prod",
        "current": True,
        "updateInProgress": False,
        "lastUpdate": "2026-11-02T03:04:05.000Z",
        "resourceCount": 0,
    }
    assert rows["dev"] == {"name": "dev", "current": False}


def test_standin_config_get_json_shape_for_objects_and_hidden_secrets(
    project: Path, standin: PulumiStandin
) -> None:
    import json

    _run(standin, project, "config", "set", "--path", "a.b[0]", "7", "--plaintext", "-s", "dev")
    _run(standin, project, "config", "set", "pw", "x", "--secret", "--stack", "dev")

    _, out, _ = _run(standin, project, "config", "get", "a", "--json", "-s", "dev")
    assert json.loads(out) == {"value": '{"b": [7]}', "objectValue": {"b": [7]}, "secret": False}
    _, out, _ = _run(standin, project, "config", "--json", "-s", "dev")
    assert json.loads(out)[f"{PROJECT}:pw"] == {"secret": True}  # no --show-secrets: no value
    code, _, err = _run(standin, project, "config", "get", "nope", "-s", "dev")
    assert code == 255 and f"configuration key '{PROJECT}:nope' not found" in err


def test_standin_preview_json_prints_a_digest(project: Path, standin: PulumiStandin) -> None:
    import json

    standin.set_plan("dev", steps=[{"op": "create", "urn": URN_GA, "type": "t"}])
    code, out, _ = _run(standin, project, "preview", "--json", "--stack", "dev")

    assert code == 0
    digest = json.loads(out)
    assert digest["changeSummary"] == {"create": 1}
    assert [s["urn"] for s in digest["steps"]] == [URN_GA]


def test_standin_rejects_what_it_does_not_implement(project: Path, standin: PulumiStandin) -> None:
    code, _, err = _run(standin, project, "import", "aws:s3/bucket:Bucket", "b", "id")
    assert code == 255 and "does not implement" in err


# -- through the summit entry point -----------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "expected_code", "expected_text"),
    [
        (lambda s: None, 2, "no stack named 'qa'"),
        (lambda s: s.lock("qa"), 1, "locked by another update"),
        (lambda s: s.fail_next("preview", stderr="error: boom"), 1, "error: boom"),
    ],
)
def test_summit_exit_codes_and_one_line_messages(
    project: Path,
    standin: PulumiStandin,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setup,
    expected_code: int,
    expected_text: str,
) -> None:
    import typer

    from summit_platform.automation import cli

    if expected_code == 1:
        standin.add_stack("qa")
    setup(standin)
    monkeypatch.setenv(ops.PULUMI_ROOT_ENV, str(standin.root))
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.command()
    def check(stack: str) -> None:
        ops.preview(ops.open_stack(project, stack))

    @app.command()
    def other() -> None:  # a second command keeps Typer in sub-command mode
        pass

    monkeypatch.setattr(cli, "app", app)
    monkeypatch.setattr(cli, "_register", lambda: None)

    code = cli.main(["check", "qa"])

    err = capsys.readouterr().err
    assert code == expected_code
    assert expected_text in err
    assert "Traceback" not in err


# -- error parsing (property) ------------------------------------------------------------------

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60).filter(
    lambda s: "\n stderr: " not in s
)


@settings(max_examples=200, deadline=None)
@given(code=st.integers(-255, 255), stdout=_text, stderr=_text)
def test_command_errors_split_back_into_their_parts(code: int, stdout: str, stderr: str) -> None:
    err = create_command_error(CommandResult(stdout=stdout, stderr=stderr, code=code))
    assert ops._split_command_error(err) == (code, stdout, stderr)


@settings(max_examples=50, deadline=None)
@given(event=st.text(max_size=400))
def test_standin_encodes_event_requests_as_the_sdk_decodes_them(event: str) -> None:
    from pulumi.runtime.proto import events_pb2

    from tests.support.pulumi_standin import _event_request

    assert events_pb2.EventRequest.FromString(_event_request(event)).event == event


_segment = st.one_of(
    st.from_regex(r"[a-zA-Z][a-zA-Z0-9_-]{0,8}", fullmatch=True),
    st.integers(0, 3),
    st.from_regex(r"[a-z]{1,4}\.[a-z]{1,4}", fullmatch=True),  # needs ["quoted"] syntax
)


def _key_of(path: list) -> str:
    out = f"{PROJECT}:{path[0]}"
    for seg in path[1:]:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif "." in seg:
            out += f'["{seg}"]'
        else:
            out += f".{seg}"
    return out


@settings(max_examples=200, deadline=None)
@given(
    first=st.from_regex(r"[a-zA-Z][a-zA-Z0-9]{0,8}", fullmatch=True),
    rest=st.lists(_segment, max_size=4),
    value=st.one_of(st.text(max_size=10), st.integers(), st.booleans()),
)
def test_standin_property_paths_round_trip(first: str, rest: list, value: object) -> None:
    from tests.support.pulumi_standin import _parse_path, _path_get, _path_set

    path = [first, *rest]
    key = _key_of(path)
    assert _parse_path(key) == [f"{PROJECT}:{first}", *rest]
    config: dict = {}
    _path_set(config, key, value)
    assert _path_get(config, key) == value
