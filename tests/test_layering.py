"""The import contracts of pyproject.toml (``lint-imports``, part of ``make lint``): the real
tree keeps them, and each back-edge a maintainer could add to a copy of the packages breaks
the contract that forbids it, naming the offending import."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("components", "stacks", "automation")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the packages under ``cwd`` with its pyproject.toml (it puts
    ``cwd`` first on sys.path, so a copy shadows the installed project)."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; os.environ['COLUMNS'] = '200';"
            " from importlinter.cli import lint_imports_command;"
            " sys.argv = ['lint-imports', '--no-cache', '--no-logo']; lint_imports_command()",
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_project(dest: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            dest / "summit_platform" / package,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def add_import(module: Path, line: str) -> None:
    """Insert ``line`` right after the module's ``from __future__`` import (or docstring)."""
    text = module.read_text()
    tree = ast.parse(text)
    anchor = next(
        (n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"),
        tree.body[0],
    )
    lines = text.splitlines(keepends=True)
    assert anchor.end_lineno is not None
    lines.insert(anchor.end_lineno, line + "\n")
    module.write_text("".join(lines))


def test_the_real_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract", "edge"),
    [
        (
            "components/service.py",
            "from summit_platform.stacks import config",
            "components/ import neither stacks/ nor automation/",
            "summit_platform.components.service -> summit_platform.stacks",
        ),
        (
            "components/monitoring_rules.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from summit_platform.stacks.region import RegionContext",
            "components/ import neither stacks/ nor automation/",
            "summit_platform.components.monitoring_rules -> summit_platform.stacks.region",
        ),
        (
            "components/global_traffic.py",
            "from summit_platform.automation.errors import UserError",
            "components/ import neither stacks/ nor automation/",
            "summit_platform.components.global_traffic -> summit_platform.automation.errors",
        ),
        (
            "stacks/services.py",
            "from summit_platform.automation.delivery import deploy",
            "stacks/ does not import automation/",
            "summit_platform.stacks.services -> summit_platform.automation.delivery",
        ),
        (
            "automation/traffic/actuators.py",
            "from summit_platform.components.global_traffic import TOKEN",
            "automation/ imports no component module but components/render/",
            "summit_platform.automation.traffic.actuators -> summit_platform.components.global_traffic",
        ),
        (
            "components/render/canary.py",
            "import pulumi",
            "components/render/ builds plain values: no Pulumi SDK",
            "summit_platform.components.render.canary -> pulumi",
        ),
    ],
)
def test_a_back_edge_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str, edge: str
) -> None:
    project = copy_project(tmp_path)
    add_import(project / "summit_platform" / module, line)
    result = lint_imports(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{contract} BROKEN" in result.stdout, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in broken and edge in broken, broken


def test_the_automation_contract_lists_every_component_module() -> None:
    """The contract names component modules one by one (a wildcard would also forbid
    summit_platform.components.render): a new component must join the list."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    listed = next(c for c in contracts["contracts"] if c["id"] == "automation-uses-render-only")
    modules = {
        f"summit_platform.components.{p.stem}"
        for p in (ROOT / "components").glob("*.py")
        if p.stem != "__init__"
    }
    assert set(listed["forbidden_modules"]) == modules
