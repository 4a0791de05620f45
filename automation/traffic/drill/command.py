"""The body of ``summit traffic drill``: check the input, run the lab, write the evidence.

Bad input (an unknown scenario, a malformed ``--induce``, a missing tool, a bad stack file)
exits 2 before any process starts. SIGINT, SIGTERM and SIGHUP stop every process of the lab
before the command exits (130, 143, 129); a failed check exits 1 after writing the evidence.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from summit_platform.automation import options
from summit_platform.automation.errors import CheckFailed, UserError
from summit_platform.automation.traffic.drill import scenarios
from summit_platform.automation.traffic.drill.lab import Lab
from summit_platform.automation.traffic.drill.plot import plot
from summit_platform.automation.traffic.haproxy import HAProxyError
from summit_platform.components.render.durations import (
    DurationError,
    format_duration,
    parse_duration,
)

KEPT = (
    "lab.json",
    "controller.jsonl",
    "alerts.jsonl",
    "traffic-audit.jsonl",
    "haproxy.cfg",
    "prometheus.yml",
    "alertmanager.yml",
    "logs",
    "rules",
    "project",
)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into ``SystemExit(128 + signal)``, so the lab's
    ``finally`` runs whatever ends the command and the exit code says which signal it was
    (Typer turns a ``KeyboardInterrupt`` into a return value the entry point reads as 0)."""

    fired: list[int] = []

    def raise_exit(signum: int, _frame: Any) -> None:
        if fired:  # already stopping: a second Ctrl-C must not cut the clean-up short
            return
        fired.append(signum)
        raise SystemExit(128 + signum)

    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, raise_exit) for s in stops}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _log(message: str) -> None:
    print(f"drill: {message}", file=sys.stderr, flush=True)


def _keep(run_dir: Path, dest: Path) -> None:
    """Copy the run's logs, configs and stack copy (not the databases) to ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in KEPT:
        src = run_dir / name
        if src.is_dir():
            shutil.copytree(src, dest / name, dirs_exist_ok=True)
        elif src.is_file():
            shutil.copy2(src, dest / name)


def drill(
    *,
    project_dir: Path,
    stack: str,
    scenario: str,
    induce: str | None,
    json_out: str | None,
    out: Path | None,
    timeout: str,
) -> dict[str, Any]:
    """Run one scenario; returns the report (also written to ``json_out``/``out``)."""
    if scenario not in scenarios.SCENARIOS:
        raise UserError(
            f"expected one of {list(scenarios.SCENARIOS)}, found {scenario!r}", key="--scenario"
        )
    try:
        limit = parse_duration(timeout, minimum=60)
    except DurationError as err:
        raise UserError(str(err), key="--timeout") from None
    run_dir = Path(tempfile.mkdtemp(prefix="summit-drill-"))  # short: HAProxy's socket path
    with stop_on_signals():
        report = _run(project_dir, stack, scenario, induce, limit, out, run_dir)
    options.write_json(json_out, report, indent=1)
    if not report["ok"]:
        failed = [k for k, c in report["checks"].items() if not c["ok"]]
        raise CheckFailed(
            "drill checks failed: "
            + "; ".join(f"{k}: {report['checks'][k]['detail']}" for k in failed)
        )
    return report


def _run(
    project_dir: Path,
    stack: str,
    scenario: str,
    induce: str | None,
    limit: float,
    out: Path | None,
    run_dir: Path,
) -> dict[str, Any]:
    """The lab's life; its folder is removed after, unless the lab itself broke (then its
    logs stay there for a look, and the command exits 1 saying where)."""
    spec = scenarios.SCENARIOS[scenario]
    keep = False
    try:
        lab = Lab(project_dir, stack, run_dir)
        fault = (
            scenarios.parse_induce(induce, lab.regions) if induce else spec.fault(lab.regions[-1])
        )
        needed = 120 + scenarios.WARMUP_CAP_S + spec.cap_s
        if limit < needed:
            _log(f"--timeout {format_duration(limit)} may end {scenario} early ({needed:.0f}s)")
        _log(f"{scenario}: {fault.describe()}; lab in {run_dir}")
        try:
            report = scenarios.run_drill(lab, scenario, fault, timeout_s=limit, log=_log).report
        except (RuntimeError, OSError, HAProxyError) as err:
            keep = True
            raise CheckFailed(f"the lab failed: {err} (logs kept in {run_dir})") from None
        if out is not None:
            png = plot(report, out / f"drill-{scenario}.png")
            report["png"] = str(png)
            _keep(run_dir, out / f"drill-{scenario}-lab")
            (out / f"drill-{scenario}.json").write_text(json.dumps(report, indent=1) + "\n")
    finally:
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    return report


def summary_table(report: dict[str, Any]) -> None:
    """The figures and checks for people."""
    table = Table(title=f"summit traffic drill {report['scenario']}: {report['fault']}")
    table.add_column("figure")
    table.add_column("value")
    for key in (
        "time_to_breach_visible_s",
        "time_to_decide_s",
        "time_to_apply_s",
        "time_to_steer_s",
        "time_to_restore_s",
        "flaps",
        "min_share",
        "wall_s",
    ):
        table.add_row(key, json.dumps(report.get(key)))
    for a in report["alerts"]:
        table.add_row(f"alert {a['status']}", f"{a['name']} at +{a['t_from_fault_s']} s")
    for name, check in report["checks"].items():
        table.add_row(("ok " if check["ok"] else "FAILED ") + name, check["detail"])
    Console(stderr=True).print(table)
