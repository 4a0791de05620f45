"""`summit deploy`: what the flags name (and refuse), the pure plan (only what changes), the
step machine (east gated before west; the first failure restores and rolls back that region,
and with rollback-all the regions already done, then stops), the report's final version per
region, and the Automation API layer end to end through the recording `pulumi` stand-in on a
copy of the project, with the stack file's bytes checked after every run."""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from summit_platform.automation.delivery import deploy as d
from summit_platform.automation.delivery.deploy_ops import (
    PulumiDeployOps,
    StackFileVersions,
    read_raw_services,
)
from summit_platform.automation.errors import UserError
from summit_platform.automation.stack_files import load_stack
from summit_platform.stacks.delivery import region_target_urns
from tests.support.pulumi_standin import PulumiStandin

ROOT = Path(__file__).resolve().parents[1]
EAST, WEST = "us-east-1", "us-west-2"
DELIVERED = ["gateway", "web", "intelgraph"]


def _plan(project: Path = ROOT, stack: str = "prod", **kw) -> d.DeployPlan:
    cfg = load_stack(project, stack)
    key, raw = read_raw_services(project, stack, "summit-platform")
    args = dict(
        stack=stack,
        project="summit-platform",
        releases={"web": "v2.5.0"},
        raw_services=raw,
        services_key=key,
        source=str(project / f"Pulumi.{stack}.yaml"),
    )
    args.update(kw)
    return d.plan_deploy(cfg, **args)


# -- the flags ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("specs", "version", "all_services", "expected"),
    [
        (["web"], "v2.5.0", False, {"web": "v2.5.0"}),
        (["web=v2.5.0", "gateway"], "v1.3.0", False, {"web": "v2.5.0", "gateway": "v1.3.0"}),
        (["web=v2.5.0", "gateway=v1.3.0"], None, False, {"web": "v2.5.0", "gateway": "v1.3.0"}),
        (None, "v2.5.0", True, dict.fromkeys(DELIVERED, "v2.5.0")),
    ],
)
def test_releases_are_exactly_what_was_named(specs, version, all_services, expected):
    got = d.parse_releases(specs, version, all_services, DELIVERED)
    assert got == expected and list(got) == list(expected)


@pytest.mark.parametrize(
    ("specs", "version", "all_services", "key", "text"),
    [
        (None, "v2.5.0", False, "--service", "name the services to deploy"),
        ([], "v2.5.0", False, "--service", "name the services to deploy"),
        (["web"], None, False, "--version", "web has no version"),
        (["web", "web=v1"], "v2", False, "--service", "twice"),
        (["nope"], "v1", False, "--service", "expected a delivered service"),
        (["=v1"], None, False, "--service", "expected NAME or NAME=VERSION"),
        ([" "], "v1", False, "--service", "expected NAME or NAME=VERSION"),
        (["web="], None, False, "--service", "image tag"),
        (["web=v1 ; rm -rf /"], None, False, "--service", "image tag"),
        (["web=v1"], "v2", False, "--version", "would be ignored"),
        (["web"], "v2", True, "--service", "not both"),
        (None, None, True, "--version", "--all-services deploys one version"),
        (["web"], "v2\n", False, "--version", "image tag"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(specs, version, all_services, key, text):
    with pytest.raises(UserError) as err:
        d.parse_releases(specs, version, all_services, DELIVERED)
    assert err.value.key == key and text in str(err.value)


@pytest.mark.parametrize(
    "text",
    [
        ",,,",
        ",",
        "",
        " ",
        "us-east-1,",
        ",us-east-1",
        "us-east-1,,us-west-2",
        "us-east-1,us-east-1",
        "eu-west-1",
        "US-EAST-1",
        "us\u2010east\u20101",  # Unicode hyphens
    ],
)
def test_bad_regions_exit_2(text):
    with pytest.raises(UserError) as err:
        d.parse_regions(text, [EAST, WEST])
    assert err.value.key == "--regions"


@given(st.text(alphabet=", \t", max_size=12))
def test_a_regions_flag_that_names_nothing_never_means_every_region(text):
    with pytest.raises(UserError):
        d.parse_regions(text, [EAST, WEST])


def test_regions_keep_the_order_given():
    assert d.parse_regions(" us-west-2 , us-east-1", [EAST, WEST]) == [WEST, EAST]
    assert d.parse_regions(None, [EAST, WEST]) is None


# -- the plan ----------------------------------------------------------------------------------


def test_one_service_plans_only_its_regions_east_first():
    plan = _plan()
    assert [r.region for r in plan.regions] == [EAST, WEST]
    cfg = load_stack(ROOT, "prod")
    for r in plan.regions:
        assert [(e.service, e.effective_previous, e.new, e.previous) for e in r.edits] == [
            ("web", "v2.4.1", "v2.5.0", None)
        ]
        assert r.edits[0].path == f'summit-platform:services[1].regionVersions["{r.region}"]'
        assert r.rollouts == ["web"]
        # only web's CanaryRollout and its five children in that region
        every = region_target_urns(cfg, "prod", "summit-platform", r.region)
        assert r.targets == [u for u in every if f"::web-{r.region}-canary" in u]
        assert len(r.targets) == 6
    assert plan.unchanged == []
    assert [str(s) for s in d.forward_steps(plan)] == [
        f"{k} {r}" for r in (EAST, WEST) for k in d.FORWARD
    ]


def test_only_changes_are_planned(tmp_path):
    proj = _copy_project(tmp_path)
    _edit_services(proj, lambda s: s[1].update(regionVersions={EAST: "v2.5.0"}))
    plan = _plan(proj, releases={"web": "v2.5.0", "gateway": "v1.2.0"})
    # gateway already runs v1.2.0 everywhere, web already runs v2.5.0 in east
    assert [r.region for r in plan.regions] == [WEST]
    assert [e.service for e in plan.regions[0].edits] == ["web"]
    assert {(u.service, u.region) for u in plan.unchanged} == {
        ("gateway", EAST),
        ("gateway", WEST),
        ("web", EAST),
    }
    nothing = _plan(proj, releases={"gateway": "v1.2.0"})
    assert nothing.regions == []
    assert d.DeployReport(nothing, [], dry_run=True).summary.startswith("nothing to change")


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"releases": {"web": "v1.3.0 ; rm"}}, "--version"),
        ({"releases": {}}, "--service"),
        ({"releases": {"nope": "v1"}}, "--service"),
        ({"regions": ["eu-west-1"]}, "--regions"),
        ({"regions": [EAST, EAST]}, "--regions"),
        ({"regions": []}, "--regions"),
        ({"raw_services": []}, "summit-platform:services"),
    ],
)
def test_bad_input_is_rejected_before_anything_runs(kw, key):
    with pytest.raises(UserError) as err:
        _plan(**kw)
    assert err.value.key == key


def test_a_step_the_replicas_cannot_realise_is_refused_naming_the_service():
    cfg = load_stack(ROOT, "stage")
    strict = cfg.model_copy(
        update={"rollout": cfg.rollout.model_copy(update={"weight_tolerance_percent": 5.0})}
    )
    key, raw = read_raw_services(ROOT, "stage", "summit-platform")
    with pytest.raises(UserError) as err:
        d.plan_deploy(
            strict,
            stack="stage",
            project="summit-platform",
            releases={"web": "v2.5.0"},
            raw_services=raw,
            services_key=key,
            source="Pulumi.stage.yaml",
        )
    assert err.value.key == "summit-platform:services[1].replicas"
    assert "steps[0] setWeight 10: at best 20% of requests (4 replicas)" in str(err.value)
    assert "6 or more replicas" in str(err.value)
    # as the stack file states it (10 points), it plans, and prod notes its floor
    assert _plan(stack="stage").regions
    assert _plan().notes == [
        "web: setWeight 10 sends 25% of requests at its floor of 3 replicas (more replicas get"
        " closer)"
    ]


# -- the state machine -------------------------------------------------------------------------


@cache
def _prod_plan(rollback_all: bool) -> d.DeployPlan:
    return _plan(rollback_all=rollback_all)


def _simulate(plan: d.DeployPlan, outcomes: dict[tuple[str, str], bool]) -> list[d.StepResult]:
    results: list[d.StepResult] = []
    while (step := d.next_step(plan, results)) is not None:
        results.append(d.StepResult(step, outcomes.get((step.kind, step.region), True)))
        assert len(results) < 50
    return results


KINDS = (*d.FORWARD, "restore-config", "rollback-up")


@given(
    st.dictionaries(
        st.tuples(st.sampled_from(KINDS), st.sampled_from([EAST, WEST])), st.booleans()
    ),
    st.booleans(),
)
def test_step_machine_gates_each_region_and_restores_what_it_changed(outcomes, rollback_all):
    plan = _prod_plan(rollback_all)
    results = _simulate(plan, outcomes)
    kinds = [(r.step.kind, r.step.region) for r in results]
    forward = [(s.kind, s.region) for s in d.forward_steps(plan)]
    failed = next((i for i, r in enumerate(results) if not r.ok), None)
    if failed is None:
        assert kinds == forward  # every region, in order, each gated
        return
    assert kinds[: failed + 1] == forward[: failed + 1]
    region = results[failed].step.region
    undo = [region] + ([EAST] if rollback_all and region == WEST else [])
    expected = [(k, r) for r in undo for k in ("restore-config", "rollback-up")]
    after = kinds[failed + 1 :]
    # the rollback runs in that order and stops at its first failure
    assert after == expected[: len(after)]
    stopped = next((i for i, r in enumerate(results[failed + 1 :]) if not r.ok), None)
    assert len(after) == (len(expected) if stopped is None else stopped + 1)
    # west never starts unless east's gate passed
    if any(r == WEST for _, r in kinds[: failed + 1]):
        assert results[kinds.index(("gate", EAST))].ok


def test_final_versions_per_region_for_each_way_a_run_ends():
    plan = _prod_plan(False)
    ok = d.DeployReport(plan, _simulate(plan, {}))
    assert ok.ok and ok.final_versions() == {EAST: {"web": "v2.5.0"}, WEST: {"web": "v2.5.0"}}
    west_gate = d.DeployReport(plan, _simulate(plan, {("gate", WEST): False}))
    assert west_gate.final_versions() == {EAST: {"web": "v2.5.0"}, WEST: {"web": "v2.4.1"}}
    assert west_gate.summary.endswith("now us-east-1: web v2.5.0; us-west-2: web v2.4.1")
    assert "left on the new version: us-east-1" in west_gate.summary
    everywhere = _prod_plan(True)
    undone = d.DeployReport(everywhere, _simulate(everywhere, {("gate", WEST): False}))
    assert undone.final_versions() == {EAST: {"web": "v2.4.1"}, WEST: {"web": "v2.4.1"}}
    assert undone.region_status(EAST).startswith("deployed, then (--rollback-all); restored")
    lost = d.DeployReport(
        plan, _simulate(plan, {("gate", EAST): False, ("restore-config", EAST): False})
    )
    assert lost.final_versions() == {EAST: {"web": None}, WEST: {"web": "v2.4.1"}}
    assert "MANUAL ACTION: us-east-1" in lost.summary
    assert "restoring the config FAILED" in lost.region_status(EAST)
    assert [str(r.step) for r in lost.results][-1] == f"restore-config {EAST}"  # no up after it


# -- the Automation API layer through the stand-in ---------------------------------------------

PROD_HEADER = "# prod serves from us-east-1 and us-west-2 at 50/50 through Global Accelerator.\n"


def _copy_project(tmp_path: Path) -> Path:
    proj = tmp_path / "project"
    proj.mkdir(exist_ok=True)
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.stage.yaml"):
        shutil.copy(ROOT / name, proj / name)
    return proj


def _edit_services(proj: Path, change, stack: str = "prod") -> None:
    """Edit the copy's services list (test set-up only; it may reformat the file)."""
    from summit_platform.automation import safe_io

    def edit(doc):
        change(doc["config"]["summit-platform:services"])

    safe_io.update_yaml(proj / f"Pulumi.{stack}.yaml", edit)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return _copy_project(tmp_path)


@pytest.fixture
def standin(tmp_path: Path) -> PulumiStandin:
    s = PulumiStandin(tmp_path / "pulumi")
    s.add_stack("prod")
    s.add_stack("stage")
    return s


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


def _ops(project, standin, rec, stack="prod", **kw) -> PulumiDeployOps:
    return PulumiDeployOps(
        project_dir=project,
        stack_name=stack,
        services_key="summit-platform:services",
        gate_fn=rec.gate,
        phase=rec.phase,
        command=standin.command,
        sleep=lambda _s: None,
        **kw,
    )


def _lines_added(before: str, after: str) -> list[str]:
    """The lines of ``after`` that are not in ``before`` (the file is otherwise unchanged:
    removing them gives ``before`` back, byte for byte)."""
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    added = []
    i = 0
    for line in b:
        if i < len(a) and line == a[i]:
            i += 1
        else:
            added.append(line)
    assert i == len(a), "a line of the original was changed or removed"
    return [ln.rstrip("\n") for ln in added]


def test_one_service_deploy_changes_only_its_keys(project, standin):
    before = (project / "Pulumi.prod.yaml").read_text()
    rec = Recorder(standin, {})
    plan = _plan(project)
    report = d.execute(plan, _ops(project, standin, rec))
    assert report.ok, report.summary
    ups = standin.calls("up")
    assert [u.flags("--target") for u in ups] == [plan.regions[0].targets, plan.regions[1].targets]
    assert all("::web-" in t for u in ups for t in u.flags("--target"))
    gates = [e for e in rec.events if e.startswith("gate")]
    assert gates == [f"gate {EAST} after 1 up(s)", f"gate {WEST} after 2 up(s)"]
    after = (project / "Pulumi.prod.yaml").read_text()
    assert after.startswith(PROD_HEADER)  # comments kept
    assert _lines_added(before, after) == [
        "      regionVersions:",
        "        us-east-1: v2.5.0",
        "        us-west-2: v2.5.0",
    ]
    # each key was read back through the CLI after it was written
    gets = [c.argv for c in standin.calls("config get")]
    assert sum('summit-platform:services[1].regionVersions["us-east-1"]' in a for a in gets) == 1
    assert standin.calls("config set") == standin.calls("config set-all") == []
    cfg = load_stack(project, "prod")
    assert [s.region_versions for s in cfg.services] == [{}, {EAST: "v2.5.0", WEST: "v2.5.0"}, {}]


def test_failed_west_gate_leaves_west_as_it_was_and_reports_each_region(project, standin):
    before = (project / "Pulumi.prod.yaml").read_text()
    rec = Recorder(standin, {WEST: False})
    plan = _plan(project)
    report = d.execute(plan, _ops(project, standin, rec))
    assert not report.ok
    assert [str(r.step) for r in report.results][-3:] == [
        f"gate {WEST}",
        f"restore-config {WEST}",
        f"rollback-up {WEST}",
    ]
    ups = standin.calls("up")
    assert [u.flags("--target") for u in ups] == [
        plan.regions[0].targets,
        plan.regions[1].targets,
        plan.regions[1].targets,
    ]
    assert "rollback us-west-2" in ups[2].flag("--message")
    after = (project / "Pulumi.prod.yaml").read_text()
    assert _lines_added(before, after) == ["      regionVersions:", "        us-east-1: v2.5.0"]
    assert load_stack(project, "prod").services[1].region_versions == {EAST: "v2.5.0"}
    assert report.final_versions() == {EAST: {"web": "v2.5.0"}, WEST: {"web": "v2.4.1"}}
    statuses = {r.region: report.region_status(r.region) for r in plan.regions}
    assert statuses == {
        EAST: "deployed, gate passed",
        WEST: "failed at gate; restored previous version and rolled back",
    }


def test_rollback_all_restores_every_region_exactly(project, standin):
    _edit_services(project, lambda s: s[1].insert(5, "regionVersions", {WEST: "v2.4.2"}))
    before = (project / "Pulumi.prod.yaml").read_bytes()
    rec = Recorder(standin, {WEST: False})
    plan = _plan(project, rollback_all=True)
    report = d.execute(plan, _ops(project, standin, rec))
    assert [str(r.step) for r in report.results][-4:] == [
        f"restore-config {WEST}",
        f"rollback-up {WEST}",
        f"restore-config {EAST}",
        f"rollback-up {EAST}",
    ]
    assert (project / "Pulumi.prod.yaml").read_bytes() == before  # every byte as it was
    assert report.final_versions() == {EAST: {"web": "v2.4.1"}, WEST: {"web": "v2.4.2"}}


def test_restore_puts_back_the_very_scalar_in_a_flow_style_file(tmp_path, standin):
    proj = _copy_project(tmp_path)
    path = proj / "Pulumi.stage.yaml"
    text = path.read_text().replace(
        "version: v2.4.1, replicas",
        'version: v2.4.1, regionVersions: {us-west-2: "v2.4.1"}, replicas',
    )
    path.write_text(text)
    rec = Recorder(standin, {EAST: False})
    plan = _plan(proj, stack="stage", releases={"web": "v2.5.0", "intelgraph": "v1.0.0"})
    report = d.execute(plan, _ops(proj, standin, rec, stack="stage"))
    assert not report.ok
    assert path.read_text() == text  # the quotes, the flow style, the comments
    rec_ok = Recorder(standin, {})
    d.execute(plan, _ops(proj, standin, rec_ok, stack="stage"))
    edited = path.read_text()
    assert (
        'version: v2.4.1, regionVersions: {us-west-2: "v2.5.0", us-east-1: v2.5.0}, replicas'
        in edited
    )
    assert "regionVersions: {us-east-1: v1.0.0, us-west-2: v1.0.0}" in edited
    assert edited.count("\n") == text.count("\n")  # one line per service, still


def test_a_failed_up_is_rolled_back(project, standin):
    standin.fail_next("up", stderr="error: update failed", code=255)
    before = (project / "Pulumi.prod.yaml").read_bytes()
    report = d.execute(_plan(project), _ops(project, standin, Recorder(standin, {})))
    assert [str(r.step) for r in report.results] == [
        f"set-version {EAST}",
        f"up {EAST}",
        f"restore-config {EAST}",
        f"rollback-up {EAST}",
    ]
    assert report.results[-1].ok
    assert (project / "Pulumi.prod.yaml").read_bytes() == before


def test_a_value_the_cli_does_not_read_back_fails_the_step(project, standin):
    standin.fail_next("config get", stderr="error: could not read", code=255)
    before = (project / "Pulumi.prod.yaml").read_bytes()
    report = d.execute(_plan(project), _ops(project, standin, Recorder(standin, {})))
    assert [str(r.step) for r in report.results] == [
        f"set-version {EAST}",
        f"restore-config {EAST}",
        f"rollback-up {EAST}",
    ]
    assert not report.results[0].ok and "could not read" in report.results[0].message
    assert (project / "Pulumi.prod.yaml").read_bytes() == before


def test_a_failed_restore_stops_without_an_up(project, standin):
    rec = Recorder(standin, {EAST: False})
    # the restore's read back fails: the config is not known to be restored
    ops = _ops(project, standin, rec)
    original = ops.read_back

    def read_back(edits, restored):
        if restored:
            raise RuntimeError("read back through the Pulumi CLI: expected None, read 'v2.5.0'")
        return original(edits, restored)

    ops.read_back = read_back  # type: ignore[method-assign]
    report = d.execute(_plan(project), ops)
    assert [str(r.step) for r in report.results][-2:] == [f"gate {EAST}", f"restore-config {EAST}"]
    assert len(standin.calls("up")) == 1
    assert report.final_versions()[EAST] == {"web": None}
    assert "MANUAL ACTION" in report.summary


def test_a_file_changed_under_the_deploy_is_refused_and_not_written(project, standin):
    plan = _plan(project)
    _edit_services(project, lambda s: s.insert(0, {"name": "new", "team": "t", "image": "i"}))
    before = (project / "Pulumi.prod.yaml").read_bytes()
    with pytest.raises(UserError, match="expected service 'web' at this position"):
        StackFileVersions(project / "Pulumi.prod.yaml", "summit-platform:services").set(
            plan.regions[0].edits
        )
    assert (project / "Pulumi.prod.yaml").read_bytes() == before


def test_degraded_rollout_fails_the_region_without_running_its_gate(project, standin):
    rec = Recorder(standin, {}, phases={EAST: "Degraded"})
    report = d.execute(_plan(project), _ops(project, standin, rec))
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
    ok, msg, _ = ops.wait_healthy(_plan(project).regions[0])
    assert not ok and "timed out after 60s" in msg and "(Paused)" in msg


# -- the CLI -----------------------------------------------------------------------------------


def _run(args: list[str]) -> int:
    from summit_platform.automation.cli import main

    return main(["deploy", *args])


def _snapshot(project: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(project.iterdir()) if p.is_file()}


def test_cli_dry_run_lists_only_webs_regions_and_changes_nothing(
    project, standin, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("SUMMIT_PULUMI_ROOT", str(standin.root))
    before, calls = _snapshot(project), standin.calls()
    out, md = tmp_path / "plan.json", tmp_path / "plan.md"
    rc = _run(
        [
            "--stack",
            "prod",
            "--service",
            "web",
            "--version",
            "v2.5.0",
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
    changes = [ln.split()[:5] for ln in text.splitlines() if "regionVersions" in ln]
    assert changes == [
        [EAST, "web", "v2.4.1", "->", "v2.5.0"],
        [WEST, "web", "v2.4.1", "->", "v2.5.0"],
    ]
    steps = [ln.split()[1:3] for ln in text.splitlines() if ln.strip()[:2].rstrip(".").isdigit()]
    assert steps == [[k, r] for r in (EAST, WEST) for k in d.FORWARD]
    assert "gateway" not in text and "intelgraph" not in text
    # nothing changed: the project's files, byte for byte; no Pulumi CLI call; no audit log
    assert _snapshot(project) == before and standin.calls() == calls
    assert not (project / ".summit").exists()
    doc = json.loads(out.read_text())
    assert doc["dryRun"] is True and doc["releases"] == {"web": "v2.5.0"}
    assert [(r["region"], r["changes"]) for r in doc["regions"]] == [
        (EAST, [{"service": "web", "from": "v2.4.1", "to": "v2.5.0"}]),
        (WEST, [{"service": "web", "from": "v2.4.1", "to": "v2.5.0"}]),
    ]
    assert len(doc["steps"]) == 8
    assert "| us-east-1 | web | v2.4.1 -> v2.5.0 | planned |" in md.read_text()


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--version", "v2.5.0"], "--service"),
        (["--service", "web", "--version", "v2.5.0", "--regions", ",,,"], "--regions"),
        (
            ["--service", "web", "--version", "v2.5.0", "--regions", "us-east-1,us-east-1"],
            "--regions",
        ),
        (["--service", "web", "--version", "v2.5.0", "--regions", "us-east-1,,"], "--regions"),
        (["--service", "web"], "--version"),
        (["--service", "gatewya=v1"], "--service"),
    ],
)
def test_cli_bad_input_exits_2_naming_the_flag_and_changes_nothing(
    project, standin, capsys, monkeypatch, args, flag
):
    monkeypatch.setenv("SUMMIT_PULUMI_ROOT", str(standin.root))
    before, calls = _snapshot(project), standin.calls()
    for dry in ([], ["--dry-run"]):
        assert _run(["--stack", "prod", *args, *dry, "-C", str(project)]) == 2
        err = capsys.readouterr().err
        assert flag in err and "Traceback" not in err
    assert _snapshot(project) == before and standin.calls() == calls


def test_cli_refuses_without_a_prometheus_before_touching_anything(
    project, standin, capsys, monkeypatch
):
    monkeypatch.setenv("SUMMIT_PULUMI_ROOT", str(standin.root))
    before = _snapshot(project)
    assert _run(["--stack", "prod", "--service", "web", "--version", "v2", "-C", str(project)]) == 2
    assert "rollout.gatePrometheusUrl" in capsys.readouterr().err
    assert _snapshot(project) == before and standin.calls() == []


def _cli_seams(monkeypatch, standin, gate_ok):
    from summit_platform.automation.delivery import deploy_run as dcli

    rec = Recorder(standin, gate_ok)
    monkeypatch.setattr(dcli, "gate_function", lambda *a: rec.gate)
    monkeypatch.setattr(dcli, "rollout_phase", lambda: rec.phase)
    monkeypatch.setenv("SUMMIT_PULUMI_ROOT", str(standin.root))
    return rec


def test_cli_run_whose_west_gate_fails_reports_the_final_version_per_region(
    project, standin, tmp_path, capsys, monkeypatch
):
    _cli_seams(monkeypatch, standin, {WEST: False})
    before = (project / "Pulumi.prod.yaml").read_text()
    out, md = tmp_path / "run.json", tmp_path / "run.md"
    rc = _run(
        [
            "--stack",
            "prod",
            "--service",
            "web=v2.5.0",
            "--prometheus",
            "http://127.0.0.1:9",
            "-C",
            str(project),
            "--json",
            str(out),
            "--markdown",
            str(md),
        ]
    )
    assert rc == 1
    err = capsys.readouterr().err
    assert "now us-east-1: web v2.5.0; us-west-2: web v2.4.1" in " ".join(err.split())
    doc = json.loads(out.read_text())
    assert doc["ok"] is False
    assert doc["final"] == {EAST: {"web": "v2.5.0"}, WEST: {"web": "v2.4.1"}}
    assert load_stack(project, "prod").services[1].region_versions == {EAST: "v2.5.0"}
    assert _lines_added(before, (project / "Pulumi.prod.yaml").read_text()) == [
        "      regionVersions:",
        "        us-east-1: v2.5.0",
    ]
    text = md.read_text()
    assert "| us-west-2 | web | v2.4.1 | restored and rolled back |" in text
    assert "| us-east-1 | web | v2.5.0 | deployed, gate passed |" in text
    # the audit log: the start (with every key's previous value), each step, the end
    log = [
        json.loads(x) for x in (project / ".summit" / "deploy-prod.jsonl").read_text().splitlines()
    ]
    assert [e["event"] for e in log] == ["start"] + ["step"] * 10 + ["end"]
    assert log[0]["edits"][1]["previous"] is None and log[0]["edits"][1]["region"] == WEST
    assert log[-1]["final"] == doc["final"] and len({e["run"] for e in log}) == 1


def test_cli_all_services_deploys_each_delivered_service(project, standin, tmp_path, monkeypatch):
    _cli_seams(monkeypatch, standin, {})
    out = tmp_path / "run.json"
    rc = _run(
        [
            "--stack",
            "prod",
            "--all-services",
            "--version",
            "v3.0.0",
            "--regions",
            "us-east-1",
            "--prometheus",
            "http://127.0.0.1:9",
            "-C",
            str(project),
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    assert json.loads(out.read_text())["final"] == {
        EAST: {"gateway": "v3.0.0", "intelgraph": "v3.0.0", "web": "v3.0.0"}
    }
    assert [s.region_versions for s in load_stack(project, "prod").services] == [
        {EAST: "v3.0.0"}
    ] * 3


def test_cli_waits_for_another_deploy_of_the_stack_then_refuses(
    project, standin, capsys, monkeypatch
):
    from summit_platform.automation import safe_io
    from summit_platform.automation.delivery import deploy_run as dcli

    _cli_seams(monkeypatch, standin, {})
    monkeypatch.setattr(dcli, "DEPLOY_LOCK_TIMEOUT_S", 0.2)
    before = _snapshot(project)
    with safe_io.locked(project / ".summit" / "deploy-prod"):
        rc = _run(
            [
                "--stack",
                "prod",
                "--service",
                "web=v2.5.0",
                "--prometheus",
                "http://127.0.0.1:9",
                "-C",
                str(project),
            ]
        )
    assert rc == 2
    assert "another command has held the file's lock" in capsys.readouterr().err
    assert _snapshot(project) == before and standin.calls("up") == []


def test_the_workflow_inputs_become_these_flags():
    import subprocess

    script = ROOT / ".ci" / "deploy-args.sh"

    def args(services: str, version: str) -> list[str]:
        env = {"SERVICES": services, "VERSION": version, "PATH": "/usr/bin:/bin"}
        out = subprocess.run([str(script)], env=env, capture_output=True, text=True, check=True)
        return out.stdout.splitlines()

    assert args("web=v2.5.0 gateway", "v1.3.0") == [
        "--service",
        "web=v2.5.0",
        "--service",
        "gateway",
        "--version",
        "v1.3.0",
    ]
    assert args("all", "v1.3.0") == ["--all-services", "--version", "v1.3.0"]
    assert args("*", "") == ["--service", "*"]  # no file names from a pattern
    assert args("", "v1") == ["--version", "v1"]  # -> summit exits 2 naming --service
    workflow = yaml.safe_load((ROOT / ".github/workflows/deploy-multi-region.yml").read_text())
    inputs = workflow[True]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"services", "version", "stack", "gate_window"}
    assert inputs["services"]["required"] is True


class Crash(BaseException):
    """The process dying mid-run (nothing catches it, as nothing catches a SIGKILL)."""


def test_a_run_cut_short_is_continued_on_the_next_run_not_skipped(
    project, standin, tmp_path, capsys, monkeypatch
):
    rec = _cli_seams(monkeypatch, standin, {})

    def crash(region):
        raise Crash()

    monkeypatch.setattr(rec, "gate", crash)
    before = (project / "Pulumi.prod.yaml").read_text()
    args = ["--stack", "prod", "--service", "web=v2.5.0", "-C", str(project)]
    with pytest.raises(Crash):
        _run([*args, "--prometheus", "http://127.0.0.1:9"])
    capsys.readouterr()
    # east's config says v2.5.0, but its gate never passed: the next run must not skip it
    assert load_stack(project, "prod").services[1].region_versions == {EAST: "v2.5.0"}
    out = tmp_path / "plan.json"
    assert _run([*args, "--dry-run", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert [r["region"] for r in doc["regions"]] == [EAST, WEST]
    east = doc["regions"][0]["edits"][0]
    assert (east["previous"], east["effective_previous"], east["map_existed"]) == (
        None,
        "v2.4.1",
        False,
    )
    assert any("interrupted deploy set v2.5.0 and never gated it" in n for n in doc["notes"])
    # and a failing gate in east now puts the file back to what it was before the crash
    monkeypatch.setattr(rec, "gate", lambda region: (False, "gate failed", {}))
    assert _run([*args, "--prometheus", "http://127.0.0.1:9"]) == 1
    assert (project / "Pulumi.prod.yaml").read_text() == before
    capsys.readouterr()
    # that run ended (restored): nothing is left unsettled, and a clean run gates both regions
    monkeypatch.setattr(rec, "gate", lambda region: (True, "gate passed", {}))
    assert _run([*args, "--prometheus", "http://127.0.0.1:9", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["final"] == {
        EAST: {"web": "v2.5.0"},
        WEST: {"web": "v2.5.0"},
    }
