"""A generated service installs from its own files and plans from its own venv.

`summit service new paved-svc --team search --offline` renders a service; this checkout's
wheel (`pip wheel --no-deps`, built here) stands in for the platform package a company
publishes. The service's `.venv` is built from its `requirements.txt` alone (the wheel folder as
an extra find-links; every other package from pip's configured index and cache), and its own
`summit plan` plans it cleanly with the copied policy packs: nothing of this checkout is on the
path. One venv for the module: building it costs about two minutes, so this is the suite's only
such test (benchmarks/golden_path.py times the same path).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import zipfile
from collections.abc import Iterator
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import pytest
from conftest import ROOT

from summit_platform.automation.cli import main
from tests.support.service_venv import build_wheel, make_venv, run_in_venv

pytestmark = pytest.mark.timeout(1200)
NAME = "paved-svc"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Path]]:
    """(service dir, its venv's bin, the wheel): new, wheel, venv from requirements.txt."""
    work = tmp_path_factory.mktemp("install")
    old = os.environ.get("SUMMIT_TEMPLATE_REPO")
    os.environ["SUMMIT_TEMPLATE_REPO"] = str(work / "template-repo")
    try:
        out = StringIO()
        with redirect_stdout(out):
            code = main(
                ["service", "new", NAME, "--team", "search", "--offline", "--into", str(work)]
            )
        assert code == 0, out.getvalue()
    finally:
        if old is None:
            os.environ.pop("SUMMIT_TEMPLATE_REPO", None)
        else:
            os.environ["SUMMIT_TEMPLATE_REPO"] = old
    svc = work / NAME
    wheel = build_wheel(work / "wheels")
    yield svc, make_venv(svc, wheel.parent), wheel


def _pins(requirements: str) -> dict[str, str]:
    return dict(re.findall(r"^([a-z0-9-]+)==(\S+)$", requirements, re.MULTILINE))


def test_requirements_pin_pulumi_the_providers_and_the_platform(installed) -> None:
    svc, bin_dir, wheel = installed
    pins = _pins((svc / "requirements.txt").read_text())
    project = (ROOT / "pyproject.toml").read_text()
    for dist in ("pulumi", "pulumi-aws", "pulumi-kubernetes"):
        # the versions the platform package itself is built against
        assert f'"{dist}=={pins[dist]}"' in project, dist
    version = re.search(r'^version = "(.+)"$', project, re.MULTILINE)
    assert version and pins["summit-platform"] == version.group(1)
    assert wheel.name.startswith(f"summit_platform-{pins['summit-platform']}-")
    # the versions the venv really holds are the pinned ones
    probe = run_in_venv(
        bin_dir,
        [
            "python",
            "-c",
            "import importlib.metadata as m, json, sys;"
            " print(json.dumps({d: m.version(d) for d in sys.argv[1:]}))",
            *pins,
        ],
        svc,
    )
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout) == pins
    answers = (svc / ".copier-answers.yml").read_text()
    assert f"platform_version: {pins['summit-platform']}" in answers


def test_the_venv_imports_the_platform_from_the_installed_package(installed) -> None:
    svc, bin_dir, _ = installed
    probe = run_in_venv(
        bin_dir,
        [
            "python",
            "-c",
            "import summit_platform.components.service as c, summit_platform.stacks.service_project as s;"
            " print(c.__file__); print(s.__file__)",
        ],
        svc,
    )
    assert probe.returncode == 0, probe.stderr
    for line in probe.stdout.split():
        path = Path(line).resolve()
        assert path.is_relative_to((svc / ".venv").resolve()), path
        assert not path.is_relative_to(ROOT.resolve()), path


def test_summit_plan_from_the_service_venv_is_clean(installed) -> None:
    svc, bin_dir, _ = installed
    run = run_in_venv(
        bin_dir, ["summit", "plan", "-C", ".", "--stack", "stage", "--json", "out/plan.json"], svc
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    stage = json.loads((svc / "out" / "plan.json").read_text())["stacks"]["stage"]
    summary = stage["summary"]
    assert summary["mandatory"] == 0 and summary["passed"] is True
    assert {p["name"] for p in stage["packs"]} == {"summit-finops", "summit-guardrails"}
    assert all(p["analyzed"] > 0 for p in stage["packs"])
    types = [r["type"] for r in stage["resources"]]
    assert types.count("kubernetes:argoproj.io/v1alpha1:Rollout") == 2
    # the kube contexts are the platform stack's outputs, read through a StackReference
    (ref,) = [r for r in stage["resources"] if r["type"] == "pulumi:pulumi:StackReference"]
    assert ref["inputs"]["name"] == "summit/summit-platform/stage"
    providers = [r for r in stage["resources"] if r["type"] == "pulumi:providers:kubernetes"]
    assert len(providers) == 2 and all(p["inputs"]["context"] == "<unknown>" for p in providers)


def test_the_copied_packs_install_the_services_own_requirements(installed) -> None:
    svc, bin_dir, _ = installed
    for pack in ("finops", "guardrails"):
        lines = (svc / "policypacks" / pack / "requirements.txt").read_text().splitlines()
        assert "-r ../../requirements.txt" in lines and "-e ../.." not in lines
    # pip resolves the pack's requirements from its folder, as `pulumi install` would there
    run = run_in_venv(
        bin_dir,
        ["python", "-m", "pip", "install", "--dry-run", "--no-deps", "-r", "requirements.txt"],
        svc / "policypacks" / "finops",
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "summit-platform" in run.stdout or "summit_platform" in run.stdout


def test_git_sees_no_venv_or_report_in_the_service(installed) -> None:
    svc, _, _ = installed
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=svc, capture_output=True, text=True, check=True
    )
    assert status.stdout == ""


def test_the_wheel_installs_one_top_level_name_of_ours(installed) -> None:
    """`stacks`, `components`, `automation` and `apps` are names other packages use: the wheel
    installs them under `summit_platform` only, and the service venv has no bare `stacks`."""
    svc, bin_dir, wheel = installed
    with zipfile.ZipFile(wheel) as whl:
        tops = {
            n.split("/")[0] for n in whl.namelist() if not n.split("/")[0].endswith(".dist-info")
        }
        names = whl.namelist()
    assert tops == {"summit_platform"}
    for folder in ("stacks", "components", "automation", "apps"):
        assert f"summit_platform/{folder}/__init__.py" in names, folder
    assert "summit_platform/automation/finops/data/" in "".join(names)  # package data kept
    probe = run_in_venv(
        bin_dir,
        [
            "python",
            "-c",
            "import importlib.util as u;"
            " print([m for m in ('stacks', 'components', 'automation', 'apps') if u.find_spec(m)])",
        ],
        svc.parent,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"
