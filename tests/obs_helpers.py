"""Helpers for the observability tests: real tools (promtool, prometheus), free ports, rules.

Tools are found on PATH; when one is missing the test is skipped on a laptop and FAILS in CI
(``CI=true``), because CI installs Debian's ``prometheus`` package.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
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


def tsdb_from_openmetrics(text: str, folder: Path) -> Path:
    """A Prometheus TSDB at ``folder/tsdb`` holding ``text`` (OpenMetrics, ``# EOF`` last),
    made by ``promtool tsdb create-blocks-from openmetrics``: history without waiting for it."""
    tool = require_tool("promtool")
    source, data = folder / "data.om", folder / "tsdb"
    source.write_text(text)
    out = subprocess.run(
        [tool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return data


@contextlib.contextmanager
def running_prometheus(
    folder: Path, config: str, data: Path, *extra: str, ready_s: float = 30
) -> Iterator[str]:
    """A real Prometheus server on loopback (``config`` as its prometheus.yml, ``data`` its
    TSDB, ``extra`` flags); yields its base URL once ``/-/ready`` answers, stops it after.
    Its log is ``folder/prometheus.log``, shown when it fails to start."""
    exe = require_tool("prometheus")
    (folder / "prometheus.yml").write_text(config)
    log_path = folder / "prometheus.log"
    port = free_port()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                exe,
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
                *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + ready_s
            while not _ready(base):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("prometheus did not start:\n" + log_path.read_text()[-2000:])
                time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False
