"""The paved road's decisions and their edges: the platform pins a service repeats, the
runtime class it runs with, the platform facts it reads, and an upgrade that leaves conflicts.

The pure functions are tested on their own (with hypothesis where inputs vary); the upgrade
runs Copier for real on a platform repository built in the test, with a conflicting local edit,
through the CLI: exit 1 and every conflicted file named.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from hypothesis import given
from hypothesis import strategies as st

from summit_platform.automation.cli import main
from summit_platform.automation.errors import UserError
from summit_platform.automation.service import bootstrap, template_repo
from summit_platform.stacks import outputs as keys
from summit_platform.stacks.config import ConfigError, from_values
from summit_platform.stacks.service_project import kube_context, runtime_class_problem

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@localhost",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@localhost",
}
REQUIRES = ["pulumi==3.272.0", "pulumi-aws==7.51.1", "pulumi-kubernetes==4.34.2", "boto3>=1.35"]
URLS = [
    "Repository, https://git.example.test/platform/summit-platform.git",
    "Service-Template, https://git.example.test/platform/service-template.git",
]


# --- the platform release a service pins -------------------------------------------------------


def test_the_release_reads_the_exact_pins_and_the_project_urls() -> None:
    rel = bootstrap.release_from_metadata("0.4.2", REQUIRES, URLS)
    assert rel.pins == {"pulumi": "3.272.0", "pulumi-aws": "7.51.1", "pulumi-kubernetes": "4.34.2"}
    assert rel.repository == "https://git.example.test/platform/summit-platform.git"
    assert rel.template_url == "https://git.example.test/platform/service-template.git"
    answers = rel.answers("git")
    assert answers["platform_version"] == "0.4.2" and answers["platform_source"] == "git"
    assert answers["pulumi_aws_version"] == "7.51.1"


@pytest.mark.parametrize(
    "requires",
    [
        ["pulumi>=3.200", "pulumi-aws==7.51.1", "pulumi-kubernetes==4.34.2"],
        ["pulumi-aws==7.51.1", "pulumi-kubernetes==4.34.2"],
        ['pulumi==3.272.0; python_version < "3.12"', "pulumi-aws==7", "pulumi-kubernetes==4"],
    ],
)
def test_a_platform_that_does_not_pin_exactly_is_refused(requires: list[str]) -> None:
    """A range (or a marker) would let a service drift from what the platform was built with."""
    with pytest.raises(UserError, match="does not pin pulumi with =="):
        bootstrap.release_from_metadata("0.1.0", requires, URLS)


def test_a_bad_platform_source_exits_2_before_anything_is_written(tmp_path: Path, capsys) -> None:
    code = main(
        [
            "service",
            "new",
            "x-svc",
            "--offline",
            "--platform-source",
            "pypi",
            "--into",
            str(tmp_path / "services"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "--platform-source" in err and "'pypi'" in err and "Traceback" not in err
    assert not (tmp_path / "services").exists()


def test_the_git_source_needs_a_repository_url() -> None:
    rel = bootstrap.release_from_metadata("0.1.0", REQUIRES, URLS[1:])
    with pytest.raises(UserError, match="Repository"):
        rel.answers("git")
    assert rel.answers("index")["platform_repository"] == ""


def test_the_installed_platform_is_what_services_pin() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    rel = bootstrap.platform_release()
    assert rel.version == project["version"]
    for dist, version in rel.pins.items():
        assert f"{dist}=={version}" in project["dependencies"]
    assert rel.template_url == project["urls"]["Service-Template"]


def test_the_copied_packs_requirements_point_at_the_services_own() -> None:
    text = (ROOT / "policypacks" / "finops" / "requirements.txt").read_text()
    assert "-e ../.." in text.splitlines()
    out = bootstrap.service_pack_requirements(text).splitlines()
    assert "-e ../.." not in out and "-r ../../requirements.txt" in out
    # everything else is kept, in order
    kept = [line for line in text.splitlines() if line != "-e ../.."]
    assert [line for line in out if line in kept] == kept


# --- runtime class -------------------------------------------------------------------------------

_NAME = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)


@given(name=_NAME, others=st.lists(_NAME, max_size=4))
def test_a_listed_runtime_class_passes_and_an_unlisted_one_names_the_list(
    name: str, others: list[str]
) -> None:
    allowed = [*others, name]
    assert runtime_class_problem(name, allowed) is None
    unlisted = [o for o in others if o != name]
    problem = runtime_class_problem(name, unlisted)
    assert problem is not None and repr(unlisted) in problem.replace('"', "'")


@pytest.mark.parametrize("bad", ["", "GVisor", "g_visor", "-runc", "runc-", "a" * 254, "ru nc"])
def test_a_malformed_runtime_class_is_refused_whatever_the_list(bad: str) -> None:
    problem = runtime_class_problem(bad, None)
    assert problem is not None and "DNS-1123 subdomain" in problem


def test_the_default_runtime_class_is_the_platforms_first() -> None:
    assert bootstrap.runtime_class_choice(None, ["runc", "gvisor"]) == "runc"
    assert bootstrap.runtime_class_choice("gvisor", ["runc", "gvisor"]) == "gvisor"
    with pytest.raises(UserError) as err:
        bootstrap.runtime_class_choice("kata", ["runc", "gvisor"])
    assert err.value.key == "--runtime-class" and "['runc', 'gvisor']" in str(err.value)
    assert bootstrap.platform_runtime_classes(ROOT) == ["runc"]


def test_an_unlisted_runtime_class_exits_2_and_writes_nothing(tmp_path: Path, capsys) -> None:
    into = tmp_path / "services"
    code = main(
        ["service", "new", "rc-svc", "--offline", "--runtime-class", "kata", "--into", str(into)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "--runtime-class" in err and "'kata'" in err and "runtimeClasses" in err
    assert not into.exists()


def _stage_values() -> dict:
    raw = yaml.safe_load((ROOT / "Pulumi.stage.yaml").read_text())["config"]
    return {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("summit-platform:")}


def test_the_platform_config_checks_each_services_runtime_class() -> None:
    values = _stage_values()
    values["services"] = [dict(values["services"][0], runtimeClass="gvisor")]
    with pytest.raises(ConfigError) as err:
        from_values(values, "Pulumi.stage.yaml")
    assert "runtimeClass 'gvisor' is not one of runtimeClasses ['runc']" in str(err.value)
    values["runtimeClasses"] = ["runc", "gvisor"]
    cfg = from_values(values, "Pulumi.stage.yaml")
    assert cfg.services[0].runtime_class == "gvisor"
    values["runtimeClasses"] = ["runc", "Bad_Name"]
    with pytest.raises(ConfigError, match="runtimeClasses"):
        from_values(values, "Pulumi.stage.yaml")


def test_a_platform_services_runtime_class_reaches_its_pods() -> None:
    from summit_platform.automation.plan.runner import plan_stack

    overrides = _stage_values()
    overrides["runtimeClasses"] = ["runc", "gvisor"]
    overrides["services"] = [dict(s, runtimeClass="gvisor") for s in overrides["services"]]
    res = plan_stack(ROOT, "stage", overrides=overrides, evaluate=False)
    rollouts = res.plan.of_type("kubernetes:argoproj.io/v1alpha1:Rollout")
    assert rollouts
    for r in rollouts:
        assert r.inputs["spec"]["template"]["spec"]["runtimeClassName"] == "gvisor", r.name
    assert res.plan.outputs[keys.RUNTIME_CLASSES] == ["runc", "gvisor"]


# --- platform facts --------------------------------------------------------------------------------


def test_the_platform_exports_what_services_read() -> None:
    from summit_platform.automation.plan.runner import plan_stack

    res = plan_stack(ROOT, "stage", evaluate=False)
    assert res.plan.outputs[keys.KUBE_CLUSTERS] == {
        "us-east-1": {"context": "summit-stage-use1", "cluster": "summit-stage-use1"},
        "us-west-2": {"context": "summit-stage-usw2", "cluster": "summit-stage-usw2"},
    }
    assert res.plan.outputs[keys.RUNTIME_CLASSES] == ["runc"]


def test_a_region_the_platform_does_not_serve_is_a_clear_error() -> None:
    clusters = {"us-east-1": {"context": "ctx-e", "cluster": "c-e"}}
    assert kube_context(clusters, "us-east-1", "acme/summit-platform/stage") == "ctx-e"
    for bad in (clusters, {"us-west-2": {"context": None}}, None):
        with pytest.raises(ValueError) as err:
            kube_context(bad, "us-west-2", "acme/summit-platform/stage")
        assert "acme/summit-platform/stage" in str(err.value) and "'us-west-2'" in str(err.value)


# --- conflicts -------------------------------------------------------------------------------------


def test_conflicted_files_are_the_unmerged_and_the_marked() -> None:
    texts = {
        "a.yaml": b"x: 1\n<<<<<<< before updating\nx: 2\n=======\nx: 3\n>>>>>>> after updating\n",
        "b.py": b"print('<<<<<<< before updating')\n",  # a marker inside a line is not one
        "c.md": b"fine\n",
    }
    assert bootstrap.conflicted_files(["z.txt", "", "z.txt"], texts) == ["a.yaml", "z.txt"]
    assert bootstrap.conflicted_files([], {"c.md": b"fine\n"}) == []


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_ENV},
    ).stdout


@pytest.fixture
def released(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A platform repository whose template is released as v1.0.0, and a service generated
    from it under ``services/``: (platform, services)."""
    platform = tmp_path / "platform"
    for rel in ("templates/service", "policypacks"):
        shutil.copytree(ROOT / rel, platform / rel, ignore=shutil.ignore_patterns("__pycache__"))
    (platform / "templates" / "service" / "VERSION").write_text("1.0.0\n")
    _git(platform, "init", "-q", "-b", "main")
    _git(platform, "add", "-A")
    _git(platform, "commit", "-q", "-m", "template v1")
    _git(platform, "tag", f"{template_repo.TAG_PREFIX}1.0.0")
    monkeypatch.setenv("SUMMIT_TEMPLATE_REPO", str(tmp_path / "template-repo"))
    services = tmp_path / "services"
    tpl = platform / "templates" / "service"
    # The plan of a new service is tested elsewhere; here only the rendering and git matter.
    monkeypatch.setattr(bootstrap, "_plan_new", lambda report, dest, offline: None)
    report = bootstrap.new_service(
        "demo-svc", into=services, offline=True, template_dir=tpl, platform_root=platform
    )
    assert report.path == services / "demo-svc"
    monkeypatch.undo()  # keep SUMMIT_TEMPLATE_REPO: set it again below
    monkeypatch.setenv("SUMMIT_TEMPLATE_REPO", str(tmp_path / "template-repo"))
    return platform, services


def _release(platform: Path, version: str) -> None:
    (platform / "templates" / "service" / "VERSION").write_text(f"{version}\n")
    _git(platform, "commit", "-q", "-am", f"template v{version}")
    _git(platform, "tag", f"{template_repo.TAG_PREFIX}{version}")


def test_upgrade_with_a_conflicting_local_edit_exits_1_and_names_the_file(
    released, monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path
) -> None:
    platform, services = released
    svc = services / "demo-svc"
    tpl = platform / "templates" / "service"
    # the owner tightens a budget the template also changes, on the same line
    budgets = svc / "budgets" / "api.yaml"
    assert "p95_ms: 50" in budgets.read_text()
    budgets.write_text(budgets.read_text().replace("p95_ms: 50", "p95_ms: 45", 1))
    _git(svc, "commit", "-q", "-am", "owner: tighter search budget")
    # the template: the same line changed another way, and an unrelated change elsewhere
    src = tpl / "template" / "budgets" / "api.yaml.jinja"
    src.write_text(src.read_text().replace("p95_ms: 50", "p95_ms: 40", 1))
    slo = tpl / "template" / "slo.yaml.jinja"
    slo.write_text(slo.read_text() + "# reviewed: quarterly SLO review by the owning team\n")
    _release(platform, "1.1.0")

    monkeypatch.setattr(
        bootstrap,
        "upgrade_service",
        functools.partial(bootstrap.upgrade_service, template_dir=tpl, platform_root=platform),
    )
    report_json = tmp_path / "upgrade.json"
    code = main(
        ["service", "upgrade", "demo-svc", "--into", str(services), "--json", str(report_json)]
    )
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert "budgets/api.yaml" in captured.err and "conflict" in captured.err
    assert "Traceback" not in captured.err
    doc = json.loads(report_json.read_text())
    assert doc["conflicts"] == ["budgets/api.yaml"]
    text = budgets.read_text()
    assert "<<<<<<< before updating" in text and "p95_ms: 45" in text and "p95_ms: 40" in text
    # the clean part of the upgrade arrived, and git knows the file is unmerged
    assert "quarterly SLO review" in (svc / "slo.yaml").read_text()
    assert "budgets/api.yaml" in _git(svc, "diff", "--name-only", "--diff-filter=U")


def test_a_clean_upgrade_exits_0_with_no_conflicts(
    released, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    platform, services = released
    tpl = platform / "templates" / "service"
    slo = tpl / "template" / "slo.yaml.jinja"
    slo.write_text(slo.read_text() + "# reviewed: quarterly SLO review by the owning team\n")
    _release(platform, "1.1.0")
    monkeypatch.setattr(
        bootstrap,
        "upgrade_service",
        functools.partial(bootstrap.upgrade_service, template_dir=tpl, platform_root=platform),
    )
    code = main(["service", "upgrade", "demo-svc", "--into", str(services), "--json", "-"])
    out = capsys.readouterr().out
    assert code == 0
    doc = json.loads(out)
    assert doc["conflicts"] == [] and "+# reviewed: quarterly SLO review" in doc["diff"]
    answers = yaml.safe_load((services / "demo-svc" / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v1.1.0"
    assert answers["_src_path"] == bootstrap.platform_release().template_url
