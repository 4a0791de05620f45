"""Render a :class:`~summit_platform.automation.perf.gate.GateResult`: JSON for machines, Markdown for the PR
comment, a rich table for people. Pure functions except :func:`print_table`."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from summit_platform.automation.perf.gate import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    EndpointVerdict,
    GateResult,
)

_ICON = {PASS: "✅", FAIL: "❌", INCONCLUSIVE: "⚠️"}
NA = "n/a"
MARKER = "<!-- summit-perf-budgets -->"
"""First line of the PR comment, so a workflow can find and update its own comment."""


def _r(v: float | None, nd: int = 2) -> float | None:
    return None if v is None else round(v, nd)


def endpoint_json(v: EndpointVerdict) -> dict[str, Any]:
    """One endpoint's verdict as plain JSON values."""
    m, b = v.measured, v.baseline
    return {
        "name": v.budget.label,
        "method": v.budget.method,
        "path": v.budget.path,
        "count": m.count,
        "runs": m.runs,
        "p50_ms": _r(m.p50_ms),
        "p95_ms": _r(m.p95_ms),
        "p99_ms": _r(m.p99_ms),
        "max_ms": _r(m.max_ms),
        "run_p95_ms": [_r(x) for x in m.run_p95_ms],
        "err_rate": _r(m.err_rate, 3),
        "errors": m.errors,
        "budget": v.budget.as_dict(),
        "baseline_p95_ms": _r(b.p95_ms) if b else None,
        "baseline_delta_pct": _r(v.baseline_delta_pct, 1),
        "verdict": v.verdict,
        "reasons": list(v.reasons),
        "notes": list(v.notes),
    }


def to_json(
    result: GateResult, *, budgets: str | None = None, baseline: str | None = None
) -> dict[str, Any]:
    """The ``--json`` document: ``verdict``, ``endpoints[]`` and context."""
    counts = {k: sum(1 for e in result.endpoints if e.verdict == k) for k in _ICON}
    return {
        "verdict": result.verdict,
        "summary": counts,
        "budgets": budgets,
        "baseline": baseline,
        "sources": list(result.sources),
        "endpoints": [endpoint_json(v) for v in result.endpoints],
        "unbudgeted": list(result.unbudgeted),
    }


def _ms(v: float | None) -> str:
    if v is None:
        return NA
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def _delta(v: EndpointVerdict) -> str:
    d = v.baseline_delta_pct
    return NA if d is None else f"{d:+.0f}%"


def _err(v: EndpointVerdict) -> str:
    e = v.measured.err_rate
    return NA if e is None else f"{e:.2f}% / {v.budget.err_rate:g}%"


def headline(result: GateResult) -> str:
    """One line: pass, blocked or inconclusive, with counts of endpoints."""
    n = len(result.endpoints)
    bad = [v for v in result.endpoints if v.verdict != PASS]
    return {
        PASS: f"{_ICON[PASS]} pass: all {n} endpoints within budget",
        FAIL: f"{_ICON[FAIL]} **blocked**: {sum(v.verdict == FAIL for v in bad)} of {n} "
        "endpoints over budget",
        INCONCLUSIVE: f"{_ICON[INCONCLUSIVE]} inconclusive: not enough data for "
        f"{sum(v.verdict == INCONCLUSIVE for v in bad)} of {n} endpoints",
    }[result.verdict]


def endpoint_section(result: GateResult, *, baseline: str | None = None) -> list[str]:
    """The endpoints' part of the PR comment: runs, table, why blocked, thin data."""
    runs = len(result.sources)
    lines = [
        f"Median of {runs} run{'s' if runs != 1 else ''}"
        + (f"; baseline `{baseline}`." if baseline else "; no baseline given."),
        "",
        "| Endpoint | Samples | p95 ms | Budget p95 | Baseline p95 | Δ | Errors / budget "
        "| Verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for v in result.endpoints:
        m = v.measured
        lines.append(
            f"| `{v.budget.label}` | {m.count if m.count is not None else NA} | "
            f"{_ms(m.p95_ms)} | {_ms(v.budget.p95_ms)} | "
            f"{_ms(v.baseline.p95_ms) if v.baseline else NA} | {_delta(v)} | {_err(v)} | "
            f"{_ICON[v.verdict]} {v.verdict} |"
        )
    failed = [v for v in result.endpoints if v.verdict == FAIL]
    if failed:
        lines += ["", "**Why it is blocked**", ""]
        lines += [f"- `{v.budget.label}`: " + "; ".join(v.reasons) for v in failed]
    thin = [v for v in result.endpoints if v.verdict == INCONCLUSIVE]
    if thin:
        lines += ["", "**Inconclusive** (run longer or more often; thin data never passes)", ""]
        lines += [f"- `{v.budget.label}`: " + "; ".join(v.reasons) for v in thin]
    if result.unbudgeted:
        shown = ", ".join(f"`{u}`" for u in result.unbudgeted[:10])
        more = f" and {len(result.unbudgeted) - 10} more" if len(result.unbudgeted) > 10 else ""
        lines += ["", f"Measured but not budgeted: {shown}{more}."]
    return lines


RUNBOOK = "Runbook: docs/perf-budgets.md#runbook-perf-regression-pr-block"


def to_markdown(
    result: GateResult, *, baseline: str | None = None, title: str = "Performance budgets"
) -> str:
    """The PR comment: headline, one table row per endpoint, then why each failure failed."""
    lines = [MARKER, f"### {title}: {headline(result)}", ""]
    lines += endpoint_section(result, baseline=baseline)
    lines += ["", RUNBOOK]
    return "\n".join(lines) + "\n"


def print_table(result: GateResult, *, stderr: bool = False) -> None:
    """A rich table for people at a terminal."""
    style = {PASS: "green", FAIL: "bold red", INCONCLUSIVE: "yellow"}
    table = Table(title=f"perf budgets: {result.verdict}", title_style=style[result.verdict])
    for col in ("endpoint", "samples", "runs", "p95 ms", "budget", "baseline", "Δ", "errors"):
        table.add_column(col, justify="left" if col == "endpoint" else "right")
    table.add_column("verdict")
    table.add_column("why")
    for v in result.endpoints:
        m = v.measured
        table.add_row(
            v.budget.label,
            str(m.count if m.count is not None else NA),
            str(m.runs),
            _ms(m.p95_ms),
            _ms(v.budget.p95_ms),
            _ms(v.baseline.p95_ms) if v.baseline else NA,
            _delta(v),
            _err(v),
            f"[{style[v.verdict]}]{v.verdict}[/]",
            "; ".join(v.reasons),
        )
    Console(stderr=stderr, width=160).print(table)
