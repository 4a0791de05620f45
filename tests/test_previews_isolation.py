"""Preview stacks cannot touch stage: what a preview ``pr-N`` would own is disjoint from every
other stack's, by construction, and every path that creates or removes a preview acts on the
preview alone.

- property tests over random PR numbers and each template stack (the real program planned in
  the embedded lane): the objects of ``pr-N`` are disjoint from dev's, stage's, prod's and any
  other preview's; every namespaced object is in ``pr-N``; no Global Accelerator, no Route53,
  no AWS resource at all; GC of one preview destroys that stack and nothing of another;
- the issue's checks end to end: ``previews up --pr 41 --offline`` writes the stack file,
  ``summit plan --stack pr-41`` reproduces it, ``plan --stack all`` passes with it and fails on a
  stack that collides, ``previews up`` refuses a preview that would collide before creating
  anything, and the cloud lane passes a ``--policy-pack-config`` with every ``--policy-pack``;
- the config model refuses what would break isolation, the composition's preview objects
  (relabelled ServiceMonitor, prefixed rules, routed alerts), and the Alertmanager route
  checked with Debian's ``amtool``.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from summit_platform.automation.cli import main
from summit_platform.automation.finops import previews
from summit_platform.automation.plan import collisions as col
from summit_platform.automation.plan.runner import plan_stack
from summit_platform.automation.stack_files import load_stack, project_defaults, read_stack_file
from summit_platform.stacks.config import ConfigError, from_values, namespace_values
from summit_platform.stacks.traffic import traffic_target_urns
from tests.conftest import require_tool
from tests.support.pulumi_standin import PulumiStandin

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ("dev", "stage", "prod")
PR = st.integers(min_value=1, max_value=previews.MAX_PR)
PLANS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def project_copy(dst: Path, stacks: tuple[str, ...] = TEMPLATES) -> Path:
    """Stack files, program and packs in a temporary folder: previews write files there."""
    dst.mkdir(parents=True)
    shutil.copytree(
        ROOT / "policypacks", dst / "policypacks", ignore=shutil.ignore_patterns("__pycache__")
    )
    for f in ("Pulumi.yaml", "__main__.py", *(f"Pulumi.{s}.yaml" for s in stacks)):
        shutil.copy(ROOT / f, dst / f)
    return dst


def rows(result) -> list[dict]:
    return [r.to_json() for r in result.plan.resources]


@functools.cache
def stack_rows(stack: str) -> tuple[dict, ...]:
    """A committed stack's planned resources (planned once per test process)."""
    return tuple(rows(plan_stack(ROOT, stack, evaluate=False)))


def preview_rows(pr: int, template: str) -> list[dict]:
    spec = previews.preview_spec(ROOT, pr, template)
    return rows(previews.plan_preview(ROOT, spec, None))


def keys(stack: str, resources) -> set[col.ObjectKey]:
    return {o.key for o in col.owned_objects(stack, resources)}


# --- properties: disjoint by construction ---------------------------------------------------


def assert_contained(name: str, resources: list[dict]) -> None:
    """Every object of preview ``name`` is in its namespace (its Namespace aside), none is an
    AWS resource, and every alert it defines is routed as a preview's."""
    for key in keys(name, resources):
        assert key.cloud == "kubernetes", key  # no AWS resource at all
        if key.namespace:
            assert key.namespace == name, key
        else:  # the one cluster-scoped object: its own namespace
            assert (key.type, key.name) == ("v1/Namespace", name), key
    types = {r["type"] for r in resources}
    assert not {t for t in types if t.startswith(("aws:globalaccelerator/", "aws:route53/"))}
    assert not {t for t in types if t.startswith("aws:")}
    for rule in (r for r in resources if r["type"].endswith(":PrometheusRule")):
        for group in rule["inputs"]["spec"]["groups"]:
            for alert in (x for x in group["rules"] if "alert" in x):
                assert alert["labels"]["route"] == "preview", alert["labels"]
                assert alert["labels"]["slo_service"].startswith(f"{name}-")


@pytest.mark.parametrize("template", TEMPLATES)
@PLANS
@given(pr=PR, other=PR)
def test_a_preview_owns_nothing_another_stack_owns(template: str, pr: int, other: int) -> None:
    """For random PR numbers: pr-N's objects are disjoint from dev's, stage's, prod's and
    from another preview's (made from any template); the check itself finds no collision;
    and everything pr-N owns is inside its namespace."""
    name = previews.stack_name(pr)
    mine = preview_rows(pr, template)
    assert_contained(name, mine)
    owned = {name: col.owned_objects(name, mine)}
    for stack in TEMPLATES:
        owned[stack] = col.owned_objects(stack, stack_rows(stack))
    if other != pr:
        other_name = previews.stack_name(other)
        other_template = TEMPLATES[other % len(TEMPLATES)]
        owned[other_name] = col.owned_objects(other_name, preview_rows(other, other_template))
    mine_keys = {o.key for o in owned[name]}
    for stack, objects in owned.items():
        if stack != name:
            assert not mine_keys & {o.key for o in objects}, stack
    assert col.find_collisions(owned, only=name) == []
    assert len(mine_keys) > 40  # the preview does own things: the property is not vacuous


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=PR, b=PR)
def test_gc_of_one_preview_leaves_another_previews_objects_alone(
    tmp_path_factory: pytest.TempPathFactory, a: int, b: int
) -> None:
    """pr-A is idle, pr-B is not: GC with --yes destroys and removes pr-A's stack only, and
    what pr-A's destroy deletes (its objects) shares nothing with pr-B's."""
    if a == b:
        b = a % previews.MAX_PR + 1
    project = project_copy(tmp_path_factory.mktemp("gc") / "p", stacks=("stage",))
    standin = PulumiStandin(project.parent / "pulumi")
    name_a, name_b = previews.stack_name(a), previews.stack_name(b)
    idle, fresh = NOW - timedelta(hours=30), NOW - timedelta(hours=1)
    standin.add_stack(name_a, last_update=idle, resource_count=50, tags={"preview": "true"})
    standin.add_stack(name_b, last_update=fresh, resource_count=50, tags={"preview": "true"})
    standin.add_stack("stage", last_update=idle, resource_count=115, tags={"preview": "true"})
    decisions = previews.gc(
        project, idle=timedelta(hours=24), now=NOW, apply=True, command=standin.command
    )
    assert [(d.stack, d.action) for d in decisions if d.action != "refuse"] == sorted(
        [(name_a, "destroy"), (name_b, "keep")]
    )
    assert {c.flag("--stack") for c in standin.calls("destroy")} == {name_a}
    assert set(standin.state["stacks"]) == {name_b, "stage"}
    destroyed = keys(name_a, preview_rows(a, "stage"))
    assert destroyed and not destroyed & keys(name_b, preview_rows(b, "stage"))


# --- the checks, end to end -------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return project_copy(tmp_path / "project")


def test_previews_up_offline_writes_the_stack_file_that_plan_reproduces(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["previews", "up", "--pr", "41", "--offline", "-C", str(project)]) == 0
    out = capsys.readouterr().out
    assert "Preview stack `pr-41`" in out and "Estimated cost: **$" in out
    assert "- `summit-finops@" in out and "- `summit-guardrails@" in out
    assert "preview-cost-cap (mandatory)" in out and "listener-443-only (advisory)" in out
    assert "policypacks/finops/config/preview.json" in out and "No policy violations." in out
    assert str(project) not in out  # paths relative to the project
    assert "port-forward svc/gateway-stable 8080:8080" in out and "-n pr-41" in out
    assert "Accelerator" not in out
    stack_file = project / "Pulumi.pr-41.yaml"
    written = yaml.safe_load(stack_file.read_text())["config"]
    spec = previews.preview_spec(project, 41, "stage")
    assert written == spec.config  # exactly the config the cloud lane writes

    # summit plan --stack pr-41 plans the same resources and reaches the same verdicts.
    up = previews.plan_preview(
        project,
        spec,
        [(p, p / "config" / "preview.json") for p in sorted((project / "policypacks").iterdir())],
    )
    plan_json = project / "pr41.json"
    assert (
        main(["plan", "--stack", "pr-41", "-C", str(project), "--json", str(plan_json), "-q"]) == 0
    )
    planned = json.loads(plan_json.read_text())["stacks"]["pr-41"]
    assert [r["urn"] for r in planned["resources"]] == [r.urn for r in up.plan.resources]
    assert [r["inputs"] for r in planned["resources"]] == [r.inputs for r in up.plan.resources]
    assert planned["violations"] == [v.to_json() for v in up.violations]
    assert {p["name"] for p in planned["packs"]} == {p.pack for p in up.packs}


def test_plan_all_with_a_preview_passes_and_shares_no_object(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["previews", "up", "--pr", "41", "--offline", "-C", str(project), "--json", "-"]) == 0
    )
    capsys.readouterr()
    out = project / "out.json"
    assert main(["plan", "--stack", "all", "-C", str(project), "--json", str(out), "-q"]) == 0
    doc = json.loads(out.read_text())["stacks"]
    assert set(doc) == {"dev", "stage", "prod", "pr-41"}

    def k8s_objects(stack: str) -> set[tuple]:
        by_urn = {r["urn"]: r for r in doc[stack]["resources"]}
        found = set()
        for r in doc[stack]["resources"]:
            if not r["type"].startswith("kubernetes:") or not r["custom"]:
                continue
            meta = r["inputs"].get("metadata") or {}
            prov = by_urn[r["provider"].rsplit("::", 1)[0]]["inputs"]
            found.add(
                (
                    prov.get("context"),
                    r["inputs"].get("apiVersion"),
                    r["inputs"].get("kind"),
                    meta.get("namespace") or prov.get("namespace"),
                    meta.get("name"),
                )
            )
        return found

    preview = k8s_objects("pr-41")
    assert len(preview) > 40
    for stack in ("dev", "stage", "prod"):
        assert not preview & k8s_objects(stack), stack
    types = {r["type"] for r in doc["pr-41"]["resources"]}
    assert not any(t.startswith(("aws:globalaccelerator/", "aws:route53/")) for t in types)
    assert doc["pr-41"]["outputs"].get("trafficMode") == "none"


def test_previews_up_refuses_a_preview_that_would_collide_before_creating_anything(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A stack file that deploys into pr-7's namespace (a hand-made copy of what pr-7 would
    be): both lanes exit 1 naming both stacks; no stack file, no stack, no CLI call that
    creates or selects anything."""
    spec = previews.preview_spec(project, 7, "stage")
    squatter = {**spec.config, "summit-platform:environment": "dev"}
    (project / "Pulumi.squatter.yaml").write_text(yaml.safe_dump({"config": squatter}))
    code = main(["previews", "up", "--pr", "7", "--offline", "-C", str(project)])
    err = capsys.readouterr().err
    assert code == 1 and "collide with another stack; nothing was created" in err
    assert "cross-stack-collision" in err and "'pr-7'" in err and "'squatter'" in err
    assert not (project / "Pulumi.pr-7.yaml").exists()

    standin = PulumiStandin(tmp_path / "pulumi")
    monkeypatch.setenv("SUMMIT_PULUMI_ROOT", str(standin.root))
    assert main(["previews", "up", "--pr", "7", "-C", str(project)]) == 1
    assert not standin.calls("stack select") and not standin.calls("stack init")
    assert not (project / "Pulumi.pr-7.yaml").exists() and "pr-7" not in standin.state["stacks"]


def test_cloud_lane_pairs_every_policy_pack_with_its_preview_config(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    standin = PulumiStandin(tmp_path / "pulumi")
    monkeypatch.setenv("SUMMIT_PULUMI_ROOT", str(standin.root))
    assert main(["previews", "up", "--pr", "41", "-C", str(project), "--owner", "ada"]) == 0
    packs = sorted(p.parent for p in (project / "policypacks").glob("*/PulumiPolicy.yaml"))
    assert len(packs) >= 2
    for command in ("preview", "up"):
        (call,) = standin.calls(command)
        assert call.flags("--policy-pack") == [str(p) for p in packs]
        assert call.flags("--policy-pack-config") == [
            str(p / "config" / "preview.json") for p in packs
        ]
    cloud = yaml.safe_load((project / "Pulumi.pr-41.yaml").read_text())["config"]
    assert cloud == previews.preview_spec(project, 41, "stage").config
    assert standin.stack("pr-41")["tags"]["owner"] == "ada"
    comment = capsys.readouterr().out  # the PR comment prices what the preview deploys
    assert "Estimated cost: **$0.0270/h**" in comment and "Accelerator" not in comment
    assert "port-forward svc/gateway-stable" in comment


def test_every_pack_has_a_preview_config_and_a_missing_one_is_bad_input(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for pack in (ROOT / "policypacks").glob("*/PulumiPolicy.yaml"):
        assert (pack.parent / "config" / "preview.json").is_file(), pack.parent.name
    (project / "policypacks" / "guardrails" / "config" / "preview.json").unlink()
    assert main(["previews", "up", "--pr", "3", "--offline", "-C", str(project)]) == 2
    err = capsys.readouterr().err
    assert "guardrails" in err and "config/preview.json" in err
    assert not (project / "Pulumi.pr-3.yaml").exists()


def test_destroy_offline_shows_then_removes_only_a_preview_file(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["previews", "up", "--pr", "9", "--offline", "-C", str(project), "--json", "-"]) == 0
    )
    capsys.readouterr()
    path = project / "Pulumi.pr-9.yaml"
    assert main(["previews", "destroy", "--pr", "9", "--offline", "-C", str(project)]) == 0
    assert "would remove Pulumi.pr-9.yaml" in capsys.readouterr().out and path.exists()
    assert main(["previews", "destroy", "--pr", "9", "--offline", "--yes", "-C", str(project)]) == 0
    assert "removed Pulumi.pr-9.yaml" in capsys.readouterr().out and not path.exists()
    assert main(["previews", "destroy", "--pr", "9", "--offline", "--yes", "-C", str(project)]) == 2
    # A file named like a preview that is not one is refused, and stays.
    shutil.copy(project / "Pulumi.stage.yaml", project / "Pulumi.pr-10.yaml")
    assert (
        main(["previews", "destroy", "--pr", "10", "--offline", "--yes", "-C", str(project)]) == 2
    )
    assert "not a preview stack file" in capsys.readouterr().err
    assert (project / "Pulumi.pr-10.yaml").exists()


# --- the model refuses what would break isolation -------------------------------------------


def stage_values() -> dict:
    project, defaults = project_defaults(ROOT)
    return namespace_values(project, defaults, read_stack_file(ROOT, "stage"), "Pulumi.stage.yaml")


@pytest.mark.parametrize(
    ("change", "key", "says"),
    [
        (
            lambda v: v["regions"][0].update(endpointArn=v["regions"][0]["name"]),
            "summit-platform:regions[0].endpointArn",
            "expected an ARN",
        ),
        (
            lambda v: v["regions"][0].update(
                endpointArn="arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/x/1"
            ),
            "summit-platform",
            "traffic.mode none sends no traffic",
        ),
        (lambda v: v["traffic"].update(pin={"shares": {}}), "summit-platform", "traffic.pin"),
        (
            lambda v: v["traffic"].update(dnsName="a.example.com"),
            "summit-platform",
            "traffic.dnsName",
        ),
        (
            lambda v: v["observability"]["alertLabels"].update(severity="none"),
            "summit-platform:observability.alertLabels",
            "set by the SLO alerts",
        ),
        (
            lambda v: v["observability"].update(serviceLabelPrefix="pr-41"),
            "summit-platform:observability.serviceLabelPrefix",
            "ending in '-'",
        ),
        (
            lambda v: v["observability"].update(ruleNamespace="PR_41"),
            "summit-platform:observability.ruleNamespace",
            "DNS-1123",
        ),
        (
            lambda v: v["services"][0].update(name="a-very-long-service-name-here"),
            "summit-platform",
            "Grafana allows 40",
        ),
        (
            lambda v: v.update(finops={"previewCostCapHourly": 2}),
            "summit-platform:finops",
            "policypacks/finops/config/preview.json",
        ),
    ],
)
def test_the_model_refuses_what_breaks_isolation(change, key, says) -> None:
    values = previews.preview_values(stage_values(), 41)
    change(values)
    with pytest.raises(ConfigError) as err:
        from_values(values, "Pulumi.pr-41.yaml")
    assert says in str(err.value) and f"Pulumi.pr-41.yaml: {key}" in str(err.value)


def test_global_traffic_still_needs_an_endpoint_per_region() -> None:
    values = stage_values()
    del values["regions"][1]["endpointArn"]
    with pytest.raises(ConfigError, match=r"regions\[1\]: give exactly one of endpointArn"):
        from_values(values, "Pulumi.stage.yaml")


def test_traffic_commands_refuse_a_stack_without_global_traffic() -> None:
    cfg = from_values(previews.preview_values(stage_values(), 5), "Pulumi.pr-5.yaml")
    with pytest.raises(ConfigError, match=r"traffic\.mode: expected ga or route53"):
        traffic_target_urns(cfg, "pr-5")


# --- the preview's monitoring: relabelled, prefixed, routed -----------------------------------


@functools.cache
def preview_41() -> tuple[dict, ...]:
    return tuple(preview_rows(41, "stage"))


def by_type(resources, suffix: str) -> list[dict]:
    return [r for r in resources if r["type"].endswith(suffix)]


def test_service_monitor_rewrites_the_service_label_only_in_a_preview() -> None:
    (monitor,) = [
        r
        for r in by_type(preview_41(), ":ServiceMonitor")
        if r["inputs"]["metadata"]["name"] == "gateway"
    ]
    (endpoint,) = monitor["inputs"]["spec"]["endpoints"]
    assert endpoint["metricRelabelings"] == [
        {
            "action": "replace",
            "sourceLabels": ["service"],
            "regex": "gateway",
            "targetLabel": "service",
            "replacement": "pr-41-gateway",
        }
    ]
    assert monitor["inputs"]["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["inputs"]["spec"]["namespaceSelector"] == {"matchNames": ["pr-41"]}
    for r in by_type(stack_rows("stage"), ":ServiceMonitor"):
        assert "metricRelabelings" not in r["inputs"]["spec"]["endpoints"][0]


def test_preview_rules_dashboards_and_analysis_read_only_the_previews_series() -> None:
    resources = preview_41()
    (rule,) = [
        r
        for r in by_type(resources, ":PrometheusRule")
        if "gateway" in r["inputs"]["metadata"]["name"]
    ]
    assert rule["inputs"]["metadata"]["namespace"] == "pr-41"
    assert rule["inputs"]["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    text = json.dumps(rule["inputs"]["spec"])
    assert 'service=\\"pr-41-gateway\\"' in text and 'service=\\"gateway\\"' not in text
    assert 'container=\\"gateway\\", namespace=\\"pr-41\\"' in text or (
        'namespace=\\"pr-41\\", container=\\"gateway\\"' in text
    )
    boards = [
        r["inputs"]["metadata"]["name"]
        for r in by_type(resources, ":ConfigMap")
        if "grafana_dashboard" in r["inputs"]["metadata"]["labels"]
    ]
    assert "summit-pr-41-gateway-dashboards" in boards
    overview = [
        r
        for r in by_type(resources, ":ConfigMap")
        if r["inputs"]["metadata"]["name"] == "summit-overview-dashboard"
    ]
    (board,) = (json.loads(next(iter(overview[0]["inputs"]["data"].values()))),)
    assert board["uid"] == "summit-pr-41-overview-us-east-1"
    (rollout,) = [
        r for r in by_type(resources, ":Rollout") if r["inputs"]["metadata"]["name"] == "gateway"
    ]
    args = rollout["inputs"]["spec"]["strategy"]["canary"]["analysis"]["args"]
    assert {"name": "service", "value": "pr-41-gateway"} in args


def test_preview_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    groups = [
        g for r in by_type(preview_41(), ":PrometheusRule") for g in r["inputs"]["spec"]["groups"]
    ]
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": groups}))
    proc = subprocess.run(
        [promtool, "check", "rules", "rules.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _receiver(amtool: str, labels: dict[str, str]) -> str:
    config = ROOT / "docs" / "examples" / "alertmanager-previews.yaml"
    proc = subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            *(f"{k}={v}" for k, v in sorted(labels.items())),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_preview_alerts_route_to_a_receiver_that_never_pages() -> None:
    """The labels of the preview's real alert rules, through the documented Alertmanager
    route: previews go to `previews`; stage's page alerts still page."""
    amtool = require_tool("amtool")
    config = ROOT / "docs" / "examples" / "alertmanager-previews.yaml"
    check = subprocess.run([amtool, "check-config", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    def alert_labels(resources) -> list[dict[str, str]]:
        return [
            a["labels"]
            for r in by_type(resources, ":PrometheusRule")
            for g in r["inputs"]["spec"]["groups"]
            for a in g["rules"]
            if "alert" in a
        ]

    preview_alerts = alert_labels(preview_41())
    assert {a["severity"] for a in preview_alerts} == {"page", "ticket"}
    for labels in preview_alerts:
        assert _receiver(amtool, labels) == "previews", labels
    stage_pages = [a for a in alert_labels(stack_rows("stage")) if a["severity"] == "page"]
    assert stage_pages and _receiver(amtool, stage_pages[0]) == "oncall-pager"


def test_load_stack_reads_a_written_preview_file(project: Path) -> None:
    spec = previews.preview_spec(project, 12, "prod")
    previews.write_stack_file(project, spec.name, spec.config)
    assert load_stack(project, "pr-12") == spec.cfg
