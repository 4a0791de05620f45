"""The generated service's workflow steps, run for real on a service made by
`summit service new --offline`: `previews up` (both lanes), `previews destroy`, and `deploy`
(dry run, and the Automation-API lane against the recorded Pulumi stand-in), plus the check
that every flag the generated workflows pass exists on the CLI.

Each test works on its own copy of the generated service, so none sees another's files.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from summit_platform.automation.cli import _register, app, main
from summit_platform.automation.plan.runner import plan_stack
from tests.support.pulumi_standin import PulumiStandin

NAME = "demo-svc"
EAST, WEST = "us-east-1", "us-west-2"
WORKFLOWS = ("ci.yml", "preview.yml", "deploy-stage.yml", "preview-destroy.yml")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`summit service new demo-svc --offline` once for the module (as test_service_bootstrap
    does): the service's folder."""
    work = tmp_path_factory.mktemp("svc-ops")
    old_env, old_cwd = os.environ.get("SUMMIT_TEMPLATE_REPO"), os.getcwd()
    os.environ["SUMMIT_TEMPLATE_REPO"] = str(work / "template-repo")
    os.chdir(work)
    try:
        assert main(["service", "new", NAME, "--offline", "--team", "search"]) == 0
        yield work / "services" / NAME
    finally:
        os.chdir(old_cwd)
        if old_env is None:
            os.environ.pop("SUMMIT_TEMPLATE_REPO", None)
        else:
            os.environ["SUMMIT_TEMPLATE_REPO"] = old_env


@pytest.fixture
def svc(generated: Path, tmp_path: Path) -> Path:
    """A private copy of the generated service (no git, no venv: just the project)."""
    dest = tmp_path / NAME
    shutil.copytree(generated, dest, ignore=shutil.ignore_patterns(".git", "__pycache__"))
    return dest


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _namespaced(res) -> dict[str, str]:
    """name -> metadata.namespace of every namespaced Kubernetes object the plan records."""
    out = {}
    for r in res.plan.resources:
        meta = r.inputs.get("metadata") if isinstance(r.inputs, dict) else None
        if r.type.startswith("kubernetes:") and isinstance(meta, dict) and meta.get("namespace"):
            out[r.name] = meta["namespace"]
    return out


# --- previews up / destroy ------------------------------------------------------------------


def test_previews_up_offline_writes_an_isolated_preview_that_passes_the_packs(
    svc: Path, tmp_path: Path
) -> None:
    out = tmp_path / "preview.json"
    md = tmp_path / "preview.md"
    args = ["previews", "up", "-C", str(svc), "--pr", "5", "--offline"]
    assert main([*args, "--json", str(out), "--markdown", str(md)]) == 0
    config = yaml.safe_load((svc / "Pulumi.pr-5.yaml").read_text())["config"]
    stage = yaml.safe_load((svc / "Pulumi.stage.yaml").read_text())["config"]
    assert config[f"{NAME}:environment"] == "preview"
    assert config[f"{NAME}:clusters"] == [stage[f"{NAME}:clusters"][0]]
    assert config[f"{NAME}:replicas"] == {"min": 1, "max": 1}
    assert config[f"{NAME}:namespace"] == f"{NAME}-pr-5"
    assert config[f"{NAME}:platformStack"] == stage[f"{NAME}:platformStack"]
    # The stack file alone reproduces the preview: planned as pr-5, the packs pass.
    res = plan_stack(svc, "pr-5")
    assert {p.pack for p in res.packs} == {"summit-finops", "summit-guardrails"}
    assert res.mandatory == []
    # every namespaced object in the preview's namespace (rules and dashboards too)
    spaces = _namespaced(res)
    assert spaces and set(spaces.values()) == {f"{NAME}-pr-5"}
    stage_spaces = set(_namespaced(plan_stack(svc, "stage", evaluate=False)).values())
    assert f"{NAME}-pr-5" not in stage_spaces
    # its series are its own: the ServiceMonitor rewrites the service label
    (monitor,) = res.plan.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
    assert f"pr-5-{NAME}" in json.dumps(monitor.inputs)
    doc = json.loads(out.read_text())
    assert doc["stack"] == "pr-5" and doc["namespace"] == f"{NAME}-pr-5"
    assert doc["violations"] == [] or all(
        v["enforcement"] != "mandatory" for v in doc["violations"]
    )
    assert [p["config"] for p in doc["packs"]] == [
        "policypacks/finops/config/preview.json",
        "policypacks/guardrails/config/preview.json",
    ]
    comment = md.read_text()
    assert comment.startswith("### Preview stack `pr-5`")
    assert f"port-forward svc/{NAME}-stable" in comment and "Estimated cost" in comment


def test_previews_destroy_offline_removes_only_the_preview_file(svc: Path, capsys) -> None:
    assert main(["previews", "up", "-C", str(svc), "--pr", "6", "--offline"]) == 0
    capsys.readouterr()
    assert main(["previews", "destroy", "-C", str(svc), "--pr", "6", "--offline"]) == 0
    assert "would remove Pulumi.pr-6.yaml" in capsys.readouterr().out
    assert (svc / "Pulumi.pr-6.yaml").exists()
    assert main(["previews", "destroy", "-C", str(svc), "--pr", "6", "--offline", "--yes"]) == 0
    assert not (svc / "Pulumi.pr-6.yaml").exists() and (svc / "Pulumi.stage.yaml").exists()


def test_previews_up_without_the_template_stack_exits_2_and_writes_nothing(
    svc: Path, capsys
) -> None:
    before = _snapshot(svc)
    code = main(["previews", "up", "-C", str(svc), "--pr", "5", "--from", "prod", "--offline"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "Pulumi.prod.yaml" in err and "--from" in err
    assert _snapshot(svc) == before


def test_previews_up_with_bad_clusters_names_the_key(svc: Path, capsys) -> None:
    stage = svc / "Pulumi.stage.yaml"
    stage.write_text(stage.read_text().replace("- {region: us-east-1}", "- {zone: us-east-1}"))
    before = _snapshot(svc)
    assert main(["previews", "up", "-C", str(svc), "--pr", "5", "--offline"]) == 2
    err = capsys.readouterr().err
    assert f"{NAME}:clusters[0]" in err and "Pulumi.stage.yaml" in err and "Traceback" not in err
    assert _snapshot(svc) == before


def test_previews_cloud_lane_up_then_destroy(
    svc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    standin = PulumiStandin(tmp_path / "pulumi")
    standin.add_stack("stage")
    monkeypatch.setenv("SUMMIT_PULUMI_ROOT", str(standin.root))
    assert main(["previews", "up", "-C", str(svc), "--pr", "7", "--owner", "ada"]) == 0
    for command in ("preview", "up"):
        (call,) = standin.calls(command)
        assert call.flag("--stack") == "pr-7"
        assert [Path(p).name for p in call.flags("--policy-pack")] == ["finops", "guardrails"]
        assert [Path(c).name for c in call.flags("--policy-pack-config")] == ["preview.json"] * 2
    tags = standin.stack("pr-7")["tags"]
    assert tags["preview"] == "true" and tags["owner"] == "ada" and tags["ttl"] == "24h"
    config = yaml.safe_load((svc / "Pulumi.pr-7.yaml").read_text())["config"]
    assert config[f"{NAME}:namespace"] == f"{NAME}-pr-7"
    assert "port-forward svc/demo-svc-stable" in capsys.readouterr().out
    assert main(["previews", "destroy", "-C", str(svc), "--pr", "7", "--yes"]) == 0
    assert [c.flag("--stack") for c in standin.calls("destroy")] == ["pr-7"]
    assert "pr-7" not in standin.state["stacks"] and "stage" in standin.state["stacks"]


# --- deploy -----------------------------------------------------------------------------------


def _deploy(svc: Path, *extra: str) -> int:
    return main(
        ["deploy", "-C", str(svc), "--stack", "stage", "--service", NAME, "--version", *extra]
    )


def test_deploy_dry_run_plans_regions_in_order_and_changes_nothing(
    svc: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin = PulumiStandin(tmp_path / "pulumi")
    monkeypatch.setenv("SUMMIT_PULUMI_ROOT", str(standin.root))
    before = _snapshot(svc)
    out = tmp_path / "plan.json"
    assert _deploy(svc, "sha-abc", "--dry-run", "--json", str(out)) == 0
    text = capsys.readouterr().out
    steps = re.findall(r"^\s*\d+\. (\S+)\s+(\S+)", text, re.MULTILINE)
    kinds = ["set-version", "up", "wait-healthy", "gate"]
    assert steps == [(k, r) for r in (EAST, WEST) for k in kinds]
    changes = [ln.split() for ln in text.splitlines() if ln.strip().endswith(f"{NAME}:version")]
    assert changes == [
        [r, NAME, "v0.1.0", "->", "sha-abc", f"{NAME}:version"] for r in (EAST, WEST)
    ]
    assert _snapshot(svc) == before and standin.calls() == []
    doc = json.loads(out.read_text())
    assert doc["dryRun"] is True and doc["rollbackAll"] is True
    assert [r["region"] for r in doc["regions"]] == [EAST, WEST]
    # The targets are the program's real URNs, each region's canary and nothing of the other.
    urns = {r.urn for r in plan_stack(svc, "stage", evaluate=False).plan.resources}
    for region in doc["regions"]:
        assert region["targets"] and set(region["targets"]) <= urns
        assert all(f"-{region['region']}-canary" in t for t in region["targets"])
        assert any(t.endswith("-canary-rollout") for t in region["targets"])


def test_deploy_regions_flag_sets_the_order(svc: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    assert _deploy(svc, "v2", "--dry-run", "--regions", f"{WEST},{EAST}", "--json", str(out)) == 0
    assert [r["region"] for r in json.loads(out.read_text())["regions"]] == [WEST, EAST]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--service", "other", "--version", "v2"], "--service"),
        (["--service", f"{NAME}", "--version", "bad tag"], "--version"),
        (["--service", f"{NAME}", "--version", "v2", "--regions", "eu-west-1"], "--regions"),
        (["--service", f"{NAME}", "--version", "v2"], "--prometheus"),
    ],
)
def test_deploy_bad_input_exits_2_naming_the_flag_and_changes_nothing(
    svc: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, args, says
) -> None:
    standin = PulumiStandin(tmp_path / "pulumi")
    monkeypatch.setenv("SUMMIT_PULUMI_ROOT", str(standin.root))
    before = _snapshot(svc)
    assert main(["deploy", "-C", str(svc), "--stack", "stage", *args]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert _snapshot(svc) == before and standin.calls() == []


def test_deploy_to_a_missing_stack_file_names_it(svc: Path, capsys) -> None:
    code = main(["deploy", "-C", str(svc), "--stack", "prod", "--service", NAME, "--version", "v2"])
    err = capsys.readouterr().err
    assert code == 2 and "Pulumi.prod.yaml" in err and "Traceback" not in err


class Recorder:
    """Gate and Rollout-phase stand-ins that record what they were asked."""

    def __init__(self, standin: PulumiStandin, gate_ok: dict[str, bool]):
        self.standin, self.gate_ok = standin, gate_ok
        self.events: list[str] = []
        self.services: list[str | None] = []

    def gate_function(self, _gate, _console, service=None):
        self.services.append(service)

        def gate(region):
            self.events.append(f"gate {region.region} after {len(self.standin.calls('up'))} up")
            ok = self.gate_ok.get(region.region, True)
            return ok, "gate passed" if ok else "gate failed: p95 breached", {}

        return gate

    def phase(self, region, name):
        self.events.append(f"phase {region.region} {region.context} {region.namespace}/{name}")
        return "Healthy"


def _cloud(svc: Path, tmp_path: Path, monkeypatch, gate_ok: dict[str, bool]):
    from summit_platform.automation.delivery import deploy_run

    standin = PulumiStandin(tmp_path / "pulumi")
    outputs = {f"kubeContext-{EAST}": "ctx-east", f"kubeContext-{WEST}": "ctx-west"}
    standin.add_stack("stage", outputs=outputs)
    rec = Recorder(standin, gate_ok)
    monkeypatch.setattr(deploy_run, "gate_function", rec.gate_function)
    monkeypatch.setattr(deploy_run, "rollout_phase", lambda: rec.phase)
    monkeypatch.setenv("SUMMIT_PULUMI_ROOT", str(standin.root))
    return standin, rec


def test_deploy_cloud_lane_sets_the_version_and_ups_each_region_gated(
    svc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin, rec = _cloud(svc, tmp_path, monkeypatch, {})
    before = (svc / "Pulumi.stage.yaml").read_text()
    out = tmp_path / "run.json"
    assert _deploy(svc, "sha-abc", "--prometheus", "http://127.0.0.1:9", "--json", str(out)) == 0
    after = (svc / "Pulumi.stage.yaml").read_text()
    assert after == before + f"  {NAME}:version: sha-abc\n"  # one added line, nothing else
    ups = standin.calls("up")
    assert [
        sorted({re.search(r"-(us-\w+-\d)-", t)[1] for t in u.flags("--target")}) for u in ups
    ] == [
        [EAST],
        [WEST],
    ]
    assert rec.events == [
        f"phase {EAST} ctx-east {NAME}-stage/{NAME}",
        f"gate {EAST} after 1 up",
        f"phase {WEST} ctx-west {NAME}-stage/{NAME}",
        f"gate {WEST} after 2 up",
    ]
    assert rec.services == [NAME]  # the gate reads this stack's series only
    doc = json.loads(out.read_text())
    assert doc["ok"] is True and doc["final"] == {EAST: {NAME: "sha-abc"}, WEST: {NAME: "sha-abc"}}
    log = (svc / ".summit" / "deploy-stage.jsonl").read_text().splitlines()
    assert [json.loads(x)["event"] for x in log][0::9] == ["start", "end"]


def test_deploy_cloud_lane_failed_west_gate_rolls_back_both_regions(
    svc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    standin, _ = _cloud(svc, tmp_path, monkeypatch, {WEST: False})
    before = (svc / "Pulumi.stage.yaml").read_bytes()
    out = tmp_path / "run.json"
    assert _deploy(svc, "sha-abc", "--prometheus", "http://127.0.0.1:9", "--json", str(out)) == 1
    assert (svc / "Pulumi.stage.yaml").read_bytes() == before  # the key removed again
    ups = standin.calls("up")
    assert [u.flag("--message") for u in ups] == [
        f"summit deploy: deploy {EAST}",
        f"summit deploy: deploy {WEST}",
        f"summit deploy: rollback {WEST}",
        f"summit deploy: rollback {EAST}",
    ]
    doc = json.loads(out.read_text())
    assert doc["final"] == {EAST: {NAME: "v0.1.0"}, WEST: {NAME: "v0.1.0"}}
    assert "restored to the previous version" in capsys.readouterr().err


def test_deploy_into_a_preview_stack_gates_on_the_previews_series(
    svc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["previews", "up", "-C", str(svc), "--pr", "9", "--offline"]) == 0
    standin, rec = _cloud(svc, tmp_path, monkeypatch, {})
    standin.add_stack("pr-9", outputs={f"kubeContext-{EAST}": "ctx-east"})
    code = main(
        [
            "deploy",
            "-C",
            str(svc),
            "--stack",
            "pr-9",
            "--service",
            NAME,
            "--version",
            "sha-1",
            "--prometheus",
            "http://127.0.0.1:9",
        ]
    )
    assert code == 0
    assert rec.services == [f"pr-9-{NAME}"]
    assert rec.events[0] == f"phase {EAST} ctx-east {NAME}-pr-9/{NAME}"
    assert len(standin.calls("up")) == 1


# --- the generated workflows ------------------------------------------------------------------


def _summit_commands(text: str) -> list[list[str]]:
    """Every `summit ...` command line in a workflow's `run:` blocks, continuations joined."""
    doc = yaml.safe_load(text)
    out = []
    for job in doc["jobs"].values():
        for step in job["steps"]:
            script = step.get("run", "").replace("\\\n", " ")
            for line in script.splitlines():
                words = shlex.split(line.split(" || ")[0].split(" && ")[0])
                if words and Path(words[0]).name == "summit":
                    out.append(words[1:])
    return out


def _command(words: list[str]) -> tuple[Any, list[str]]:
    """The (sub)command ``words`` name and the words after it (Typer vendors its own Click,
    so groups are told by their ``commands``)."""
    _register()
    cmd: Any = typer.main.get_command(app)
    while hasattr(cmd, "commands") and words and words[0] in cmd.commands:
        cmd, words = cmd.commands[words[0]], words[1:]
    return cmd, words


def test_every_flag_the_generated_workflows_pass_exists(generated: Path) -> None:
    seen = 0
    for name in WORKFLOWS:
        for words in _summit_commands((generated / ".github" / "workflows" / name).read_text()):
            cmd, rest = _command(words)
            assert not hasattr(cmd, "commands"), (name, words)
            known = {opt for p in cmd.params for opt in p.opts}
            flags = [w for w in rest if w.startswith("-")]
            assert set(flags) <= known, (name, sorted(set(flags) - known))
            seen += 1
    assert seen >= 6  # plan, perf compare (x2), previews up, deploy (x3), previews destroy
