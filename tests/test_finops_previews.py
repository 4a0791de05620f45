"""Preview stacks: the pure decisions on the SDK's own types, and the Automation API calls
recorded at the CLI boundary by the stand-in ``pulumi`` (tests/support/pulumi_standin.py)."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi.automation import StackSummary

from summit_platform.automation.cli import main
from summit_platform.automation.errors import UserError
from summit_platform.automation.finops import previews
from summit_platform.automation.stack_files import load_stack, project_defaults, read_stack_file
from summit_platform.stacks.config import from_values, namespace_values
from tests.support.pulumi_standin import PulumiStandin

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def summary(name: str, hours_ago: float | None, in_progress: bool = False) -> StackSummary:
    last = None if hours_ago is None else NOW - timedelta(hours=hours_ago)
    return StackSummary(name=name, current=False, update_in_progress=in_progress, last_update=last)


PREVIEW = {"preview": "true"}


def stage_values() -> dict:
    project, defaults = project_defaults(ROOT)
    return namespace_values(project, defaults, read_stack_file(ROOT, "stage"), "Pulumi.stage.yaml")


# --- pure decisions --------------------------------------------------------------------------


def test_stack_name_and_bad_pr_numbers():
    assert previews.stack_name(17) == "pr-17"
    assert previews.stack_name(previews.MAX_PR) == f"pr-{previews.MAX_PR}"
    for bad in (0, -3, True, previews.MAX_PR + 1):
        with pytest.raises(UserError, match="--pr"):
            previews.stack_name(bad)


def test_preview_values_one_region_minimal_replicas_and_valid():
    base = stage_values()
    values = previews.preview_values(base, 17)
    assert [r["name"] for r in values["regions"]] == ["us-east-1"]
    assert values["regions"][0]["naturalShare"] == 100
    assert {json.dumps(s["replicas"]) for s in values["services"]} == {'{"min": 1, "max": 1}'}
    assert values["environment"] == "preview" and values["tags"]["env"] == "preview"
    cfg = from_values(values, "preview")  # the typed model accepts it
    assert cfg.region_names == ["us-east-1"]
    assert len(base["regions"]) == 2  # the template is not modified
    assert (
        "endpointArn" in base["regions"][0] and "namespace" not in base["regions"][0]["kubernetes"]
    )
    assert base["observability"] == {"enabled": True, "namespace": "monitoring"}
    assert (
        previews.preview_values(base, 17, region="us-west-2")["regions"][0]["name"] == "us-west-2"
    )


def test_preview_values_isolate_the_preview_by_config():
    """Everything that keeps pr-17 apart from stage is a config value the model validates."""
    cfg = from_values(previews.preview_values(stage_values(), 17), "preview")
    (region,) = cfg.regions
    assert region.kubernetes.context == "summit-stage-use1"  # the template's first cluster
    assert region.kubernetes.namespace == "pr-17" and region.kubernetes.create_namespace
    assert not region.has_endpoint and cfg.traffic.mode == "none"
    assert cfg.observability.rules_namespace == "pr-17"
    assert cfg.observability.namespace == "monitoring"  # Prometheus itself stays where it is
    assert cfg.observability.service_label_prefix == "pr-17-"
    assert cfg.observability.alert_labels == {"route": "preview", "stack": "pr-17"}


def test_stack_file_config_orders_keys_and_keeps_other_namespaces():
    project, _ = project_defaults(ROOT)
    raw = {**read_stack_file(ROOT, "stage"), "aws:defaultTags": {"tags": {"a": "b"}}}
    values = previews.preview_values(stage_values(), 3)
    config = previews.stack_file_config(project, raw, values)
    keys = list(config)
    assert keys[:2] == ["aws:region", "aws:defaultTags"]
    assert keys[2:5] == [f"{project}:environment", f"{project}:regions", f"{project}:traffic"]
    assert config[f"{project}:traffic"] == {"mode": "none"}
    assert {k.split(":", 1)[1] for k in keys[2:]} == set(values)


def test_secret_paths_find_every_secure_leaf():
    config = {
        "summit-platform:kubeconfigs": {"us-east-1": {"secure": "v1:abc"}},
        "aws:secretKey": {"secure": "v1:def"},
        "x:list": [{"plain": 1}, {"odd key": {"secure": "v1:ghi"}}],
        "summit-platform:environment": "preview",
    }
    assert previews.secret_paths(config) == [
        "aws:secretKey",
        "summit-platform:kubeconfigs.us-east-1",
        'x:list[1]["odd key"]',
    ]


def test_preview_tags_keep_created_and_move_last_activity():
    first = previews.preview_tags(5, "ada", NOW, 24)
    assert first == {
        "pr": "5",
        "owner": "ada",
        "created": "2026-11-27T12:00:00Z",
        "last-activity": "2026-11-27T12:00:00Z",
        "ttl": "24h",
        "preview": "true",
    }
    later = previews.preview_tags(5, "ada", NOW + timedelta(hours=3), 24, first)
    assert later["created"] == first["created"] and later["last-activity"] == "2026-11-27T15:00:00Z"


def test_gc_selects_only_the_stack_idle_over_the_limit():
    decisions = previews.select_idle(
        [summary("pr-1", 25), summary("pr-2", 23)],
        {"pr-1": PREVIEW, "pr-2": PREVIEW},
        now=NOW,
        idle=timedelta(hours=24),
    )
    assert [(d.stack, d.action) for d in decisions] == [("pr-1", "destroy"), ("pr-2", "keep")]


def test_gc_refuses_anything_outside_pattern_and_tag_whatever_it_looks_like():
    stacks = [
        summary("prod", 1000),
        summary("pr-7-old", 1000),
        summary("org/summit-platform/pr-8", 1000),
        summary("pr-9", 1000),
        summary("xpr-10", 1000),
    ]
    tags = {"prod": PREVIEW, "pr-7-old": PREVIEW, "pr-8": PREVIEW, "pr-9": {}, "xpr-10": PREVIEW}
    got = {
        d.stack: d.action
        for d in previews.select_idle(stacks, tags, now=NOW, idle=timedelta(hours=24))
    }
    assert got == {
        "prod": "refuse",
        "pr-7-old": "refuse",
        "org/summit-platform/pr-8": "destroy",
        "pr-9": "refuse",
        "xpr-10": "refuse",
    }


def test_idle_counts_from_last_update_not_creation_and_skips_running_updates():
    created_long_ago = {"preview": "true", "created": "2026-01-01T00:00:00Z"}
    d = previews.select_idle(
        [summary("pr-1", 1), summary("pr-2", 100, in_progress=True), summary("pr-3", None)],
        {
            "pr-1": created_long_ago,
            "pr-2": PREVIEW,
            "pr-3": {**PREVIEW, "last-activity": "2026-11-25T00:00:00Z"},
        },
        now=NOW,
        idle=timedelta(hours=24),
    )
    assert [(x.stack, x.action) for x in d] == [
        ("pr-1", "keep"),
        ("pr-2", "keep"),
        ("pr-3", "destroy"),
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.from_regex(r"(pr-[0-9]{1,4}|[a-z]{1,6}(-[0-9]{1,3})?)", fullmatch=True),
            st.floats(0, 500),
            st.booleans(),
            st.booleans(),
        ),
        max_size=20,
        unique_by=lambda t: t[0],
    ),
    st.floats(1, 200),
)
def test_gc_never_destroys_outside_pattern_tag_or_limit(rows, limit):
    stacks = [summary(n, h, running) for n, h, running, _ in rows]
    tags = {n: (PREVIEW if tagged else {}) for n, _, _, tagged in rows}
    for d in previews.select_idle(stacks, tags, now=NOW, idle=timedelta(hours=limit)):
        row = next(r for r in rows if r[0] == d.stack)
        if d.action == "destroy":
            assert previews.matches_pattern(d.stack) and row[3] and not row[2]
            assert row[1] > limit


@pytest.mark.parametrize(("idle", "shown"), [("24h", "24.0h"), ("1d12h", "36.0h"), ("90m", "1.5h")])
def test_idle_is_a_duration_with_a_unit(idle, shown, tmp_path, capsys):
    f = tmp_path / "stacks.json"
    f.write_text(
        json.dumps([{"name": "pr-1", "lastUpdate": "2026-01-01T00:00:00Z", "tags": PREVIEW}])
    )
    args = ["previews", "gc", "--idle", idle, "--offline", "--stacks", str(f), "--json", "-"]
    assert main(args) == 0
    (decision,) = json.loads(capsys.readouterr().out)["decisions"]
    assert decision["reason"].endswith(f"> {shown}")


@pytest.mark.parametrize(("idle", "says"), [("soon", "expected a duration"), ("24", "unit")])
def test_idle_without_a_unit_is_exit_2(idle, says, capsys):
    assert main(["previews", "gc", "--idle", idle, "--offline", "--stacks", "x"]) == 2
    err = capsys.readouterr().err
    assert "--idle" in err and says in err and "Traceback" not in err


# --- the Automation API layer, recorded at the CLI boundary -----------------------------------


def project_copy(dst: Path, stacks: tuple[str, ...] = ("dev", "stage", "prod")) -> Path:
    """A copy of the project's stack files, program and policy packs (the program's modules
    come from the installed package); previews write their stack files here, never in ROOT."""
    dst.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*.lock")
    shutil.copytree(ROOT / "policypacks", dst / "policypacks", ignore=ignore)
    for f in ("Pulumi.yaml", "__main__.py", *(f"Pulumi.{s}.yaml" for s in stacks)):
        shutil.copy(ROOT / f, dst / f)
    return dst


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project (the stand-in and the previews write Pulumi.pr-N.yaml there)."""
    return project_copy(tmp_path / "project", stacks=("stage", "prod"))


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PulumiStandin:
    s = PulumiStandin(tmp_path / "pulumi")
    monkeypatch.setenv("SUMMIT_PULUMI_ROOT", str(s.root))
    return s


def test_up_creates_stack_with_preview_config_tags_and_enforced_packs(project, standin):
    pack = project / "policypacks" / "finops"
    result = previews.up(
        project,
        12,
        template="stage",
        owner="ada",
        now=NOW,
        ttl_hours=24,
        packs=[pack],
        pack_configs=[pack / "config" / "preview.json"],
        command=standin.command,
    )
    assert result.stack == "pr-12"
    assert standin.stack("pr-12")["tags"]["preview"] == "true"
    stack_file = (project / "Pulumi.pr-12.yaml").read_text()
    assert "summit-platform:environment: preview" in stack_file
    assert "aws:region: us-east-1" in stack_file
    # The CLI reads back the structured config it runs with (not JSON strings).
    cfg = load_stack(project, "pr-12")
    assert cfg.regions[0].kubernetes.namespace == "pr-12" and cfg.traffic.mode == "none"
    words = [c.command for c in standin.calls()]
    assert "stack tag set" in words and "config set-all" not in words
    assert words.index("preview") < words.index("up")
    for cmd in ("preview", "up"):
        call = standin.calls(cmd)[0]
        assert call.flags("--policy-pack") == [str(pack)]
        assert call.flags("--policy-pack-config") == [str(pack / "config" / "preview.json")]
    assert not standin.calls("destroy")


def test_up_collects_policy_events_and_stops_on_mandatory(project, standin):
    from summit_platform.automation.pulumi_ops import PolicyViolations

    standin.add_stack("pr-3", tags={"preview": "true"})
    standin.set_plan(
        "pr-3",
        changes={"create": 4},
        policy_events=[
            standin.policy_event(
                policy_name="preview-cost-cap",
                message="Preview exceeds cost cap: $2.37/h (cap $1.50/h); top: ...",
                enforcement_level="mandatory",
                policy_pack_name="summit-finops",
            )
        ],
    )
    with pytest.raises(PolicyViolations) as err:
        previews.up(
            project,
            3,
            template="stage",
            owner="ada",
            now=NOW,
            ttl_hours=24,
            packs=[],
            pack_configs=[],
            command=standin.command,
        )
    assert [e.policy for e in err.value.mandatory] == ["preview-cost-cap"]
    assert not standin.calls("up")


def test_gc_dry_run_shows_and_yes_destroys_only_idle_previews(project, standin):
    standin.add_stack("pr-1", last_update=NOW - timedelta(hours=25), resource_count=5, tags=PREVIEW)
    standin.add_stack("pr-2", last_update=NOW - timedelta(hours=23), resource_count=5, tags=PREVIEW)
    standin.add_stack(
        "prod", last_update=NOW - timedelta(hours=500), resource_count=9, tags=PREVIEW
    )
    standin.add_stack("pr-9", last_update=NOW - timedelta(hours=500), resource_count=9)
    standin.add_stack("stage", last_update=NOW, resource_count=9, current=True)
    dry = previews.gc(
        project, idle=timedelta(hours=24), now=NOW, apply=False, command=standin.command
    )
    assert [d.stack for d in dry if d.action == "destroy"] == ["pr-1"]
    assert not standin.calls("destroy") and not standin.calls("stack rm")
    # A dry run changes nothing, not even which stack the workspace has selected.
    assert not standin.calls("stack select") and standin.state["current"] == "stage"
    assert {c.flag("--stack") for c in standin.calls("stack tag ls")} == {"pr-1", "pr-2", "pr-9"}
    previews.gc(project, idle=timedelta(hours=24), now=NOW, apply=True, command=standin.command)
    assert [c.argv for c in standin.calls("destroy")] and len(standin.calls("destroy")) == 1
    assert standin.calls("destroy")[0].flag("--stack") in ("pr-1", None)
    names = set(standin.state["stacks"])
    assert names == {"pr-2", "prod", "pr-9", "stage"}


def test_destroy_refuses_a_stack_without_the_preview_tag(project, standin):
    standin.add_stack("pr-4", last_update=NOW, resource_count=3)
    with pytest.raises(UserError, match="preview=true"):
        previews.destroy(project, 4, command=standin.command)
    assert not standin.calls("destroy")


def test_cli_gc_offline_from_a_stack_list(tmp_path, capsys):
    rows = [
        {"name": "pr-1", "lastUpdate": "2026-01-01T00:00:00Z", "tags": PREVIEW},
        {"name": "stage", "lastUpdate": "2026-01-01T00:00:00Z", "tags": PREVIEW},
    ]
    f = tmp_path / "stacks.json"
    f.write_text(json.dumps(rows))
    assert (
        main(["previews", "gc", "--idle", "24h", "--offline", "--stacks", str(f), "--json", "-"])
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["applied"] is False
    assert {d["stack"]: d["action"] for d in doc["decisions"]} == {
        "pr-1": "destroy",
        "stage": "refuse",
    }


def test_cli_bad_idle_is_a_usage_error(capsys):
    assert main(["previews", "gc", "--idle", "whenever", "--offline", "--stacks", "x"]) == 2
    assert "--idle" in capsys.readouterr().err


def test_cli_previews_up_offline_plans_policies_and_cost(tmp_path, capsys):
    md = tmp_path / "comment.md"
    out = tmp_path / "up.json"
    proj = project_copy(tmp_path / "proj")
    code = main(
        [
            "previews",
            "up",
            "--pr",
            "5",
            "--from",
            "stage",
            "-C",
            str(proj),
            "--offline",
            "--markdown",
            str(md),
            "--json",
            str(out),
        ]
    )
    doc = json.loads(out.read_text())
    assert code == 0, doc
    assert doc["stack"] == "pr-5" and doc["offline"] is True
    assert 0 < doc["total_hourly"] < 1.5
    assert "Preview stack `pr-5`" in md.read_text()
    assert (proj / "Pulumi.pr-5.yaml").is_file() and doc["stackFile"].endswith("Pulumi.pr-5.yaml")


def test_cli_previews_up_offline_over_the_cap_exits_1_with_the_message(tmp_path, capsys):
    """A copy of the project whose preview pack config caps at $0.01/h: the three rollouts
    ($0.009/h each) exceed it, so the embedded lane exits 1 with the cost-cap message (and
    no accelerator appears among the most expensive: a preview has none)."""
    proj = project_copy(tmp_path / "proj", stacks=("stage",))
    cfg = proj / "policypacks" / "finops" / "config" / "preview.json"
    doc = json.loads(cfg.read_text())
    doc["preview-cost-cap"]["capHourly"] = 0.01
    cfg.write_text(json.dumps(doc))
    code = main(["previews", "up", "--pr", "6", "--from", "stage", "-C", str(proj), "--offline"])
    captured = capsys.readouterr()
    assert code == 1
    assert re.search(
        r"Preview exceeds cost cap: \$\d+\.\d\d/h \(cap \$0\.01/h\); top: ", captured.err
    )
    assert "gateway-us-east-1-canary-rollout (Rollout) $0.01/h" in captured.out
    assert "Accelerator" not in captured.out
    assert "preview-cost-cap" in captured.out
