"""`summit service new|upgrade` end to end in temporary directories.

`new demo-svc --offline` renders the Copier template, copies the policy packs and plans the
stage stack in the embedded lane; then the generated project is planned again with
`summit plan -C`, its Rollout/PrometheusRule/ServiceMonitor are checked against the real CRDs,
its app is started on 127.0.0.1 and Schemathesis runs against its OpenAPI contract (a copy with
a field removed from a response must fail), and its workflow is validated against the GitHub
workflow schema. Bad names exit 2 and write nothing. An upgrade carries a template change into
a generated service and keeps the owner's edit.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import crds
import pytest
import yaml
from conftest import ROOT, require_tool
from crds import manifest

from summit_platform.automation.cli import main
from summit_platform.automation.plan.runner import plan_stack
from summit_platform.automation.service import bootstrap, template_repo

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@localhost",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@localhost",
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, float, str]]:
    """`summit service new demo-svc --offline` run once in a temp dir: (service dir, seconds,
    stdout)."""
    work = tmp_path_factory.mktemp("paved")
    old = os.environ.get("SUMMIT_TEMPLATE_REPO")
    os.environ["SUMMIT_TEMPLATE_REPO"] = str(work / "template-repo")
    cwd = os.getcwd()
    os.chdir(work)
    try:
        started = time.monotonic()
        from contextlib import redirect_stdout
        from io import StringIO

        out = StringIO()
        with redirect_stdout(out):
            code = main(["service", "new", "demo-svc", "--offline", "--team", "search"])
        elapsed = time.monotonic() - started
        assert code == 0, out.getvalue()
        yield work / "services" / "demo-svc", elapsed, out.getvalue()
    finally:
        os.chdir(cwd)
        if old is None:
            os.environ.pop("SUMMIT_TEMPLATE_REPO", None)
        else:
            os.environ["SUMMIT_TEMPLATE_REPO"] = old


def check_jsonschema() -> str:
    """check-jsonschema from this interpreter's environment, else PATH (fails in CI if absent)."""
    local = Path(sys.executable).parent / "check-jsonschema"
    return str(local) if local.is_file() else require_tool("check-jsonschema")


def test_new_offline_renders_plans_and_reports(generated) -> None:
    svc, elapsed, out = generated
    print(f"summit service new demo-svc --offline: {elapsed:.1f}s")
    for rel in (
        "app/main.py",
        "openapi.yaml",
        "tests/test_contract.py",
        "Pulumi.yaml",
        "Pulumi.stage.yaml",
        "__main__.py",
        "slo.yaml",
        "budgets/api.yaml",
        ".github/workflows/ci.yml",
        ".gitleaks.toml",
        "README.md",
        ".copier-answers.yml",
        "policypacks/finops/PulumiPolicy.yaml",
        "policypacks/guardrails/PulumiPolicy.yaml",
    ):
        assert (svc / rel).is_file(), rel
    assert "0 mandatory" in out and "Next steps" in out and re.search(r"done in \d+\.\d+s", out)
    answers = yaml.safe_load((svc / ".copier-answers.yml").read_text())
    assert answers["team"] == "search"
    # The template's source is portable: the VCS URL the platform package names, at a tag,
    # never the path of the repository built on this machine.
    urls = importlib.metadata.metadata("summit-platform").get_all("Project-URL") or []
    assert f"Service-Template, {answers['_src_path']}" in urls
    assert answers["_src_path"].startswith("https://") and answers["_commit"].startswith("v")
    text = (svc / ".copier-answers.yml").read_text()
    assert str(svc.parents[1]) not in text and ".cache" not in text
    assert answers["runtime_class"] == "runc"
    # committed, so `summit service upgrade` can run on it
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=svc, capture_output=True, text=True
    )
    assert status.stdout == ""


def test_summit_plan_of_the_generated_project_passes_the_packs(generated, capsys) -> None:
    svc, _, _ = generated
    assert main(["plan", "-C", str(svc), "--stack", "stage", "-q"]) == 0
    assert "0 mandatory" in capsys.readouterr().out
    res = plan_stack(svc, "stage")
    assert {p.pack for p in res.packs} == {"summit-finops", "summit-guardrails"}
    assert res.mandatory == []
    # The provider check ran over the fresh service and found nothing the providers reject.
    assert res.provider_check is not None
    checked = res.provider_check.summary()
    assert checked["problems"] == 0
    assert checked["checkedTypes"]["kubernetes:argoproj.io/v1alpha1:Rollout"] == 2
    assert "kubernetes:core/v1:Service" in checked["checkedTypes"]
    assert all(t.startswith("pulumi:providers:") for t in checked["unchecked"])
    rollouts = res.plan.of_type("kubernetes:argoproj.io/v1alpha1:Rollout")
    assert len(rollouts) == 2  # one per region
    for r in rollouts:
        assert crds.errors(crds.ARGO, "rollout-crd.yaml", manifest(r)) == [], r.name
    for t in res.plan.of_type("kubernetes:argoproj.io/v1alpha1:AnalysisTemplate"):
        assert crds.errors(crds.ARGO, "analysis-template-crd.yaml", manifest(t)) == [], t.name
    rules = res.plan.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    assert len(rules) == 2
    for r in rules:
        assert (
            crds.errors(
                crds.PROMETHEUS_OPERATOR, "monitoring.coreos.com_prometheusrules.yaml", manifest(r)
            )
            == []
        )
    for m in res.plan.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor"):
        assert (
            crds.errors(
                crds.PROMETHEUS_OPERATOR, "monitoring.coreos.com_servicemonitors.yaml", manifest(m)
            )
            == []
        )
    # its own namespace, labelled for cost allocation
    (ns, *_) = res.plan.of_type("kubernetes:core/v1:Namespace")
    assert ns.inputs["metadata"]["labels"]["service"] == "demo-svc"


def _start(svc: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.main", "--host", "127.0.0.1", "--port", "0"],
        cwd=svc,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
    if not m:
        proc.kill()
        pytest.fail(f"app did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, m.group(1)


def _schemathesis(svc: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            str(svc / "openapi.yaml"),
            "--url",
            url,
            "--checks",
            CHECKS,
            "--max-examples",
            "25",
            "--seed",
            "1",
            "--phases",
            "examples,coverage,fuzzing",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_the_app_starts_and_passes_schemathesis(generated) -> None:
    svc, _, _ = generated
    proc, url = _start(svc)
    try:
        run = _schemathesis(svc, url)
        assert run.returncode == 0, run.stdout[-3000:]
    finally:
        _stop(proc)


def test_a_field_removed_from_a_response_is_caught(generated, tmp_path: Path) -> None:
    svc, _, _ = generated
    broken = tmp_path / "broken"
    shutil.copytree(svc, broken, ignore=shutil.ignore_patterns(".git", "policypacks"))
    main_py = broken / "app" / "main.py"
    text = main_py.read_text()
    assert '"total": len(hits), ' in text
    main_py.write_text(text.replace('"total": len(hits), ', ""))
    proc, url = _start(broken)
    try:
        run = _schemathesis(broken, url)
    finally:
        _stop(proc)
    assert run.returncode != 0
    assert "/search" in run.stdout and "total" in run.stdout


WORKFLOWS = ("ci.yml", "preview.yml", "preview-destroy.yml", "deploy-stage.yml")


def test_the_generated_workflows_validate(generated) -> None:
    svc, _, _ = generated
    found = sorted(p.name for p in (svc / ".github" / "workflows").iterdir())
    assert found == sorted(WORKFLOWS)
    tool = check_jsonschema()
    run = subprocess.run(
        [
            tool,
            "--builtin-schema",
            "vendor.github-workflows",
            *(str(svc / ".github" / "workflows" / w) for w in WORKFLOWS),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def _workflow(svc: Path, name: str) -> tuple[dict, str]:
    text = (svc / ".github" / "workflows" / name).read_text()
    return yaml.safe_load(text), text


def _runs(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in job["steps"])


def _uploads(job: dict) -> list[str]:
    return [
        s["with"]["name"]
        for s in job["steps"]
        if str(s.get("uses", "")).startswith("actions/upload-artifact@")
    ]


def test_a_pull_request_gets_a_preview_with_contract_and_perf_reports(generated) -> None:
    svc, _, _ = generated
    doc, _text = _workflow(svc, "preview.yml")
    # YAML reads the key `on` as True
    assert doc[True]["pull_request"]["types"] == ["opened", "synchronize", "reopened"]
    jobs = doc["jobs"]
    assert jobs["preview"]["needs"] == "image"
    preview = _runs(jobs["preview"])
    assert re.search(r"summit previews up -C \. --pr \"\$PR\" --from stage", preview)
    assert "--json out/preview.json --markdown out/preview.md" in preview  # policies and cost
    assert 'summit deploy -C . --stack "pr-$PR" --service "$SERVICE" --version "$TAG"' in preview
    assert "gh pr comment" in preview
    assert _uploads(jobs["preview"]) == ["preview-report"]
    assert doc["env"]["TAG"] == "sha-${{ github.event.pull_request.head.sha }}"
    for job, report in (("contract", "contract-report"), ("perf", "perf-report")):
        assert jobs[job]["needs"] == "preview"
        assert _uploads(jobs[job]) == [report]
        assert 'port-forward "svc/$SERVICE-stable"' in _runs(jobs[job])
    contract = _runs(jobs["contract"])
    assert "schemathesis run openapi.yaml --url http://127.0.0.1:18080" in contract
    assert "--report junit --report-junit-path out/contract.xml" in contract
    perf = _runs(jobs["perf"])
    assert "--host http://127.0.0.1:18080" in perf
    assert "summit perf compare" in perf and "--budgets budgets/api.yaml" in perf
    # the image the preview runs is the PR's own
    (build,) = [s for s in jobs["image"]["steps"] if "build-push-action" in s.get("uses", "")]
    assert build["with"]["tags"] == "${{ env.IMAGE }}:${{ env.TAG }}"
    assert doc["env"]["IMAGE"] == "ghcr.io/summit/demo-svc" and doc["env"]["SERVICE"] == "demo-svc"


def test_a_merge_deploys_the_commits_image_to_stage(generated) -> None:
    svc, _, _ = generated
    doc, _ = _workflow(svc, "deploy-stage.yml")
    assert doc[True]["push"]["branches"] == ["main"]
    assert doc["env"]["TAG"] == "sha-${{ github.sha }}"
    deploy = doc["jobs"]["deploy"]
    assert deploy["needs"] == "image" and deploy["environment"] == "stage"
    runs = _runs(deploy)
    assert (
        'summit deploy -C . --stack stage --service "$SERVICE" --version "$TAG" --dry-run' in runs
    )
    assert 'summit deploy -C . --stack stage --service "$SERVICE" --version "$TAG" \\\n' in runs
    assert _uploads(deploy) == ["deploy-report"]
    assert doc["concurrency"] == {"group": "deploy-stage", "cancel-in-progress": False}


def test_a_closed_pull_request_destroys_its_preview(generated) -> None:
    svc, _, _ = generated
    doc, _ = _workflow(svc, "preview-destroy.yml")
    assert doc[True]["pull_request"]["types"] == ["closed"]
    assert 'summit previews destroy -C . --pr "$PR" --yes' in _runs(doc["jobs"]["destroy"])
    # it waits for a running preview update of the same PR instead of racing it
    preview, _ = _workflow(svc, "preview.yml")
    assert doc["concurrency"]["group"] == preview["concurrency"]["group"]


def test_platform_facts_are_read_never_hardcoded(generated) -> None:
    """Kube contexts come from the platform stack's kubeClusters output (the program through a
    StackReference, the workflows through `pulumi stack output`), never from the template."""
    svc, _, _ = generated
    stage = yaml.safe_load((svc / "Pulumi.stage.yaml").read_text())["config"]
    assert stage["demo-svc:platformStack"] == "summit/summit-platform/stage"
    assert stage["demo-svc:clusters"] == [{"region": "us-east-1"}, {"region": "us-west-2"}]
    platform_contexts = {
        r["kubernetes"]["context"]
        for env in ("dev", "stage", "prod")
        for r in yaml.safe_load((ROOT / f"Pulumi.{env}.yaml").read_text())["config"][
            "summit-platform:regions"
        ]
    }
    for path in svc.rglob("*"):
        if path.is_file() and ".git" not in path.parts and "policypacks" not in path.parts:
            text = path.read_text(errors="replace")
            assert not any(c in text for c in platform_contexts), path
    for name in ("preview.yml", "preview-destroy.yml", "deploy-stage.yml"):
        _, text = _workflow(svc, name)
        assert 'pulumi stack output kubeClusters --stack "$PLATFORM_STACK"' in text, name
    res = plan_stack(svc, "stage")
    (ref,) = res.plan.of_type("pulumi:pulumi:StackReference")
    assert ref.inputs["name"] == "summit/summit-platform/stage"
    assert {p.inputs.get("context") for p in res.plan.of_type("pulumi:providers:kubernetes")} == {
        "<unknown>"
    }


def _tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")} if path.exists() else set()


@pytest.mark.parametrize("name", ["Demo_Svc", "demo-", "gateway", "x" * 64])
def test_bad_or_taken_names_exit_2_and_write_nothing(tmp_path: Path, capsys, name: str) -> None:
    into = tmp_path / "services"
    repo = tmp_path / "repo"
    before = _tree(tmp_path)
    env_old = os.environ.get("SUMMIT_TEMPLATE_REPO")
    os.environ["SUMMIT_TEMPLATE_REPO"] = str(repo)
    try:
        code = main(["service", "new", name, "--into", str(into), "--offline"])
    finally:
        if env_old is None:
            os.environ.pop("SUMMIT_TEMPLATE_REPO", None)
        else:
            os.environ["SUMMIT_TEMPLATE_REPO"] = env_old
    err = capsys.readouterr().err
    assert code == 2
    assert "name" in err and name in err
    assert "Traceback" not in err
    assert _tree(tmp_path) == before


def test_an_existing_service_folder_is_taken(generated, capsys) -> None:
    svc, _, _ = generated
    before = _tree(svc)
    code = main(["service", "new", "demo-svc", "--into", str(svc.parent), "--offline"])
    assert code == 2
    assert "already exists" in capsys.readouterr().err
    assert _tree(svc) == before


def test_name_problems_is_dns1123() -> None:
    assert bootstrap.name_problems("demo-svc", set()) == []
    assert bootstrap.name_problems("a", set()) == []
    for bad in ("Demo", "demo_svc", "demo-", "", "dé"):
        assert bootstrap.name_problems(bad, set()), bad


# --- upgrade -----------------------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_ENV},
    ).stdout


def test_upgrade_carries_a_template_change_and_keeps_the_owners_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # upgrades rebuild the template repository at the default path: keep it in the test's dir
    monkeypatch.setenv("SUMMIT_TEMPLATE_REPO", str(tmp_path / "template-repo"))
    # A platform repo of our own: the template released as v1.0.0 (tag), then changed.
    platform = tmp_path / "platform"
    shutil.copytree(
        ROOT / "templates" / "service",
        platform / "templates" / "service",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copytree(
        ROOT / "policypacks", platform / "policypacks", ignore=shutil.ignore_patterns("__pycache__")
    )
    tpl = platform / "templates" / "service"
    (tpl / "VERSION").write_text("1.0.0\n")
    _git(platform, "init", "-q", "-b", "main")
    _git(platform, "add", "-A")
    _git(platform, "commit", "-q", "-m", "template v1")
    _git(platform, "tag", f"{template_repo.TAG_PREFIX}1.0.0")

    into = tmp_path / "services"
    repo = tmp_path / "template-repo"
    bootstrap.new_service(
        "demo-svc",
        into=into,
        offline=True,
        template_dir=tpl,
        platform_root=platform,
        repo_path=repo,
    )
    svc = into / "demo-svc"
    # the owner edits their service and commits
    app_text = (svc / "app" / "main.py").read_text()
    (svc / "app" / "main.py").write_text(
        app_text.replace("MAX_BODY = 64 * 1024", "MAX_BODY = 128 * 1024")
    )
    _git(svc, "commit", "-q", "-am", "owner: bigger bodies")

    # the template changes (a new SLO note, a changed budget) and is released as v1.1.0
    slo = tpl / "template" / "slo.yaml.jinja"
    slo.write_text(slo.read_text() + "# reviewed: quarterly SLO review by the owning team\n")
    budgets = tpl / "template" / "budgets" / "api.yaml.jinja"
    budgets.write_text(budgets.read_text().replace("p95_ms: 50", "p95_ms: 40"))
    (tpl / "VERSION").write_text("1.1.0\n")
    _git(platform, "commit", "-q", "-am", "template v1.1.0")
    _git(platform, "tag", f"{template_repo.TAG_PREFIX}1.1.0")

    report = bootstrap.upgrade_service(
        "demo-svc", into=into, template_dir=tpl, platform_root=platform
    )
    assert "quarterly SLO review" in (svc / "slo.yaml").read_text()
    assert "p95_ms: 40" in (svc / "budgets" / "api.yaml").read_text()
    assert "MAX_BODY = 128 * 1024" in (svc / "app" / "main.py").read_text()  # owner's edit kept
    assert "_commit: v1.1.0" in (svc / ".copier-answers.yml").read_text()
    assert "+# reviewed: quarterly SLO review" in report.diff
    assert any("v1.0.0 -> v1.1.0" in a for a in report.actions)
    # a second upgrade has nothing to apply
    _git(svc, "commit", "-q", "-am", "upgrade")
    again = bootstrap.upgrade_service(
        "demo-svc", into=into, template_dir=tpl, platform_root=platform
    )
    assert any("already at the newest" in a for a in again.actions)
    assert again.diff == ""


def test_upgrade_refuses_a_dirty_service(tmp_path: Path, generated) -> None:
    svc, _, _ = generated
    (svc / "scratch.txt").write_text("x")
    try:
        with pytest.raises(Exception) as err:
            bootstrap.upgrade_service("demo-svc", into=svc.parent)
        assert "uncommitted" in str(err.value)
    finally:
        (svc / "scratch.txt").unlink()


def test_cloud_lane_creates_the_stage_stack_and_previews_with_the_packs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --offline: the stage stack through the Automation API and a preview with the
    copied packs and their stage configs, against the recorded pulumi stand-in (no cloud)."""
    from tests.support.pulumi_standin import PulumiStandin

    standin = PulumiStandin(tmp_path / "pulumi")
    standin.add_stack("stage")
    standin.set_plan("stage", changes={"create": 38})
    monkeypatch.setenv("SUMMIT_PULUMI_ROOT", str(standin.root))
    report = bootstrap.new_service(
        "cloud-svc", into=tmp_path / "services", repo_path=tmp_path / "repo"
    )
    svc = tmp_path / "services" / "cloud-svc"
    assert report.plan == {
        "lane": "cloud",
        "changes": {"create": 38},
        "mandatory": 0,
        "violations": [],
    }
    (preview,) = standin.calls("preview")
    assert Path(preview.cwd).resolve() == svc.resolve()
    packs = preview.flags("--policy-pack")
    assert [Path(p).name for p in packs] == ["finops", "guardrails"]
    # finops has a stage config, guardrails runs on its defaults: configs pair by position
    configs = preview.flags("--policy-pack-config")
    assert [Path(c).relative_to(svc).as_posix() for c in configs] == [
        "policypacks/finops/config/stage.json"
    ]
    assert any("pulumi up --stack stage" in s for s in report.next_steps)
