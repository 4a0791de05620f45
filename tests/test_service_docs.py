"""The docs site builds with `mkdocs build --strict`, the generated references are current,
and every GitHub workflow (ours and the service template's) validates against the GitHub
workflow schema vendored by check-jsonschema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jinja2
import yaml
from conftest import ROOT, require_tool

from summit_platform.automation.service import docs_gen

TEMPLATE = ROOT / "templates" / "service"


def check_jsonschema() -> str:
    """check-jsonschema from this interpreter's environment, else PATH (fails in CI if absent)."""
    local = Path(sys.executable).parent / "check-jsonschema"
    return str(local) if local.is_file() else require_tool("check-jsonschema")


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    for page in ("index", "golden-path", "runbooks", "cli", "config", "traffic", "delivery"):
        assert (tmp_path / "site" / page.replace("index", "") / "index.html").is_file(), page


def test_every_docs_page_is_in_the_nav() -> None:
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]

    def pages(node: object) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, dict):
            return [p for v in node.values() for p in pages(v)]
        if isinstance(node, list):
            return [p for v in node for p in pages(v)]
        return []

    assert sorted(pages(nav)) == sorted(p.name for p in (ROOT / "docs").glob("*.md"))


def test_cli_and_config_references_are_current() -> None:
    assert (ROOT / "docs" / "cli.md").read_text() == docs_gen.cli_markdown(), (
        "docs/cli.md is stale: run python -m summit_platform.automation.service.docs_gen"
    )
    assert (ROOT / "docs" / "config.md").read_text() == docs_gen.config_markdown(), (
        "docs/config.md is stale: run python -m summit_platform.automation.service.docs_gen"
    )
    cli = (ROOT / "docs" / "cli.md").read_text()
    for cmd in ("summit plan", "summit service new", "summit service upgrade", "summit traffic"):
        assert f"`{cmd}`" in cli


def _render_template_workflows(dest: Path) -> list[Path]:
    """The template's workflows rendered with copier.yml's defaults (plus a name)."""
    questions = yaml.safe_load((TEMPLATE / "copier.yml").read_text())
    data = {"service_name": "demo-svc"}
    env = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    for key, spec in questions.items():
        if key.startswith("_") or key in data:
            continue
        default = spec.get("default")
        if isinstance(default, str):
            default = env.from_string(default).render(**data)
            if spec.get("type") == "yaml":
                default = yaml.safe_load(default)
        data[key] = default
    out = []
    for src in sorted((TEMPLATE / "template" / ".github" / "workflows").glob("*")):
        target = dest / src.name.removesuffix(".jinja")
        target.write_text(env.from_string(src.read_text()).render(**data))
        out.append(target)
    return out


def test_every_workflow_validates_against_the_github_schema(tmp_path: Path) -> None:
    tool = check_jsonschema()
    ours = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
    template = _render_template_workflows(tmp_path)
    assert ours and template
    run = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", *map(str, ours + template)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_schema_check_does_reject_a_broken_workflow(tmp_path: Path) -> None:
    tool = check_jsonschema()
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    run = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
