"""Shared fixtures: the repo and fixture paths, and a recording-mock runner for programs.

``run_component`` plans one callable under the embedded lane's recording monitor (the same
engine ``summit plan`` uses), so component tests assert on types, names, parents, providers
and inputs of what was registered. Every call runs the program afresh.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# `make fuzz`: every bad-input surface test with many more generated inputs (tests/fuzz.py).
settings.register_profile(
    "fuzz", max_examples=400, deadline=None, suppress_health_check=list(HealthCheck)
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
"""Third-party files the tests use, vendored with their provenance (PROVENANCE.md)."""


def require_tool(name: str) -> str:
    """Path of a command-line tool; in CI a missing tool fails the test instead of skipping."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed (CI must install it: see .ci/run)")
    pytest.skip(f"{name} not installed")
    raise AssertionError  # unreachable


def require_lighthouse() -> None:
    """Node, Chromium and the pinned Lighthouse in node_modules (all from `make tools`);
    in CI a missing one fails the test instead of skipping."""
    require_tool("node")
    if not os.environ.get("CHROME_PATH"):
        require_tool("chromium")
    if not (ROOT / "node_modules" / ".bin" / "lighthouse").exists():
        if os.environ.get("CI"):
            pytest.fail("Lighthouse is not installed in node_modules (CI must run `make tools`)")
        pytest.skip("Lighthouse not installed (make tools)")


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def fixtures() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"test fixtures not found at {FIXTURES}")
    return FIXTURES


def plan_values(stack: str, overrides: dict[str, Any] | None = None):
    """Plan a committed stack (policies not evaluated) and return the Plan."""
    from summit_platform.automation.plan.runner import plan_stack

    return plan_stack(ROOT, stack, overrides=overrides, evaluate=False).plan


def run_component(fn: Callable[[], Any], stack: str = "test", config: dict[str, str] | None = None):
    """Plan ``fn`` (which creates resources) alone; returns the recorded Plan."""
    from summit_platform.automation.plan.engine import run_program

    return run_program(ROOT, stack, "summit-platform", config or {}, [], program=fn)
