"""Helpers for the observability tests: real tools (promtool, prometheus), free ports, rules.

Tools are found on PATH; when one is missing the test is skipped on a laptop and FAILS in CI
(``CI=true``), because CI installs Debian's ``prometheus`` package.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from summit_platform.components.render import prometheus_rules as pr

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


def require_tool(name: str) -> str:
    """Path of a command-line tool; a missing tool fails in CI and skips elsewhere."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{name} is not installed (CI installs Debian's prometheus package)")
    pytest.skip(f"{name} not installed")
    raise AssertionError  # unreachable


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_rules(path: Path, groups: list[dict[str, Any]]) -> Path:
    path.write_text(pr.to_yaml(pr.rule_file(groups)))
    return path


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run promtool; the caller asserts on the return code and output."""
    exe = require_tool("promtool")
    return subprocess.run(
        [exe, *args], cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )
