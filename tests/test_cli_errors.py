"""The one error path of ``summit`` (automation/cli.py ``main``), run as users run it: the
console script in a subprocess.

- bad input (a typed error: UserError, ConfigError, DurationError) -> one line per problem on
  stderr, ``summit: error: ...``, exit 2;
- a check that failed -> exit 1 with its message;
- a usage error -> click's usage message, exit 2;
- anything else (a bug) -> one line ``summit: internal error: <type>: <msg>; rerun with --debug
  for the traceback``, exit 70; ``--debug`` or ``SUMMIT_DEBUG=1`` prints the traceback.

No output of these runs, except the two that ask for it, contains "Traceback".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from summit_platform.automation import cli
from summit_platform.components.render.durations import DurationError

REPO = Path(__file__).resolve().parents[1]
SUMMIT = Path(sys.executable).parent / "summit"


def summit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed console script; ``SUMMIT_DEBUG`` is cleared unless ``env`` sets it."""
    base = {k: v for k, v in os.environ.items() if k != "SUMMIT_DEBUG"}
    return subprocess.run(
        [str(SUMMIT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {})},
        cwd=REPO,
        check=False,
    )


def _metrics(tmp_path: Path) -> Path:
    m = tmp_path / "metrics.json"
    m.write_text(json.dumps({"regions": [{"name": "us-east-1", "p95": 0.4, "err": 0.001}]}))
    return m


@pytest.fixture()
def crashing(tmp_path: Path) -> dict[str, str]:
    """An environment in which reading a metrics file hits a bug (a RuntimeError nobody
    expects), injected through sitecustomize so the real console script runs unchanged."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import summit_platform.automation.traffic.files as files\n"
        "def _boom(*_a, **_k):\n"
        "    raise RuntimeError('the metrics reader broke\\nsecond line never shown')\n"
        "files.read_metrics = _boom\n"
    )
    return {"PYTHONPATH": str(hook)}


def test_a_user_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = summit("plan", "--stack", "dev", "-C", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"summit: error: {tmp_path.resolve()}: expected a Pulumi project folder (a Pulumi.yaml "
        "in it), found none; pass -C/--cwd DIR or run summit from the project folder"
    ]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_a_config_error_prints_one_line_per_problem(tmp_path: Path) -> None:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    text = (tmp_path / "Pulumi.dev.yaml").read_text()
    bad = text.replace("summit-platform:environment: dev", "summit-platform:environment: moon")
    bad += "  summit-platform:bogusKey: 1\n"
    assert bad != text
    (tmp_path / "Pulumi.dev.yaml").write_text(bad)
    proc = summit("rules", "render", "-s", "dev", "-C", str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) >= 2 and all(ln.startswith("summit: error: ") for ln in lines), lines
    assert any("environment" in ln for ln in lines) and any("bogusKey" in ln for ln in lines)
    assert all("Pulumi.dev.yaml" in ln for ln in lines)
    assert "Traceback" not in proc.stdout + proc.stderr


def test_a_bare_number_duration_is_a_usage_error(tmp_path: Path) -> None:
    proc = summit("traffic", "simulate", "--interval", "30")
    assert proc.returncode == 2
    assert "'--interval'" in proc.stderr and "needs a unit" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_a_usage_error_keeps_its_usage_message() -> None:
    proc = summit("plan")
    assert proc.returncode == 2
    assert proc.stderr.startswith("Usage: summit plan") and "--stack" in proc.stderr
    assert summit("no-such-command").returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr


def test_a_failed_check_exits_1(tmp_path: Path) -> None:
    from obs_helpers import free_port

    proc = summit(
        "gate", "--region", "us-east-1", "--prometheus", f"http://127.0.0.1:{free_port()}"
    )
    assert proc.returncode == 1
    assert "unreachable" in proc.stderr and "Traceback" not in proc.stdout + proc.stderr


def test_json_into_a_folder_is_exit_2_before_any_work(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    args = ["traffic", "compute", str(_metrics(tmp_path)), "--state", str(state)]
    proc = summit(*args, "--json", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"summit: error: --json: expected a file path or '-', found a folder: {tmp_path}"
    ]
    assert not state.exists()  # nothing was computed, so nothing was saved


@pytest.mark.parametrize("name", ["Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.pr-5.yml"])
def test_a_report_never_overwrites_a_pulumi_file(tmp_path: Path, name: str) -> None:
    """Found by the fuzz run: `plan --json <project>/Pulumi.yaml` replaced the project file."""
    target = tmp_path / name
    target.write_text("name: keep-me\n")
    state = tmp_path / "state.json"
    args = ["traffic", "compute", str(_metrics(tmp_path)), "--state", str(state)]
    proc = summit(*args, "--json", str(target))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("summit: error: --json: expected a report file, found a")
    assert str(target) in proc.stderr
    assert target.read_text() == "name: keep-me\n" and not state.exists()


def test_an_internal_error_is_one_line_and_exit_70(tmp_path: Path, crashing) -> None:
    proc = summit("traffic", "compute", str(_metrics(tmp_path)), env=crashing)
    assert proc.returncode == 70
    assert proc.stderr.splitlines() == [
        "summit: internal error: RuntimeError: the metrics reader broke; "
        "rerun with --debug for the traceback"
    ]
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("args", "env"), [(("--debug",), {}), ((), {"SUMMIT_DEBUG": "1"})], ids=["flag", "env"]
)
def test_debug_shows_the_traceback(tmp_path: Path, crashing, args, env) -> None:
    proc = summit(*args, "traffic", "compute", str(_metrics(tmp_path)), env={**crashing, **env})
    assert proc.returncode == 70
    assert proc.stderr.startswith("Traceback (most recent call last):")
    assert "RuntimeError: the metrics reader broke" in proc.stderr
    assert "internal error" not in proc.stderr


def test_a_duration_error_raised_in_a_command_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A DurationError from deeper code (a config value, a file) is bad input like a UserError.
    def bad(*_a: object, **_k: object) -> None:
        raise DurationError("a duration needs a unit (write 5s, 5m or 5h), found '5'")

    monkeypatch.setattr("summit_platform.automation.traffic.files.read_metrics", bad)
    assert cli.main(["traffic", "compute", str(_metrics(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert err == "summit: error: a duration needs a unit (write 5s, 5m or 5h), found '5'\n"
