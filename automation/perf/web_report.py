"""Render a :class:`~summit_platform.automation.perf.web_gate.WebGateResult`: JSON per page, the web part of
the PR comment, and a rich table. Pure functions except :func:`print_web_table`."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from summit_platform.automation.perf.gate import FAIL, INCONCLUSIVE, PASS
from summit_platform.automation.perf.lhr import GATED, METRICS
from summit_platform.automation.perf.web_gate import MetricVerdict, PageVerdict, WebGateResult, fmt

_ICON = {PASS: "✅", FAIL: "❌", INCONCLUSIVE: "⚠️"}


def _r(v: float | None, nd: int = 4) -> float | None:
    return None if v is None else round(v, nd)


def metric_json(v: MetricVerdict) -> dict[str, Any]:
    """One metric of one page: value, budget, baseline, limit, change and verdict."""
    return {
        "value": _r(v.value),
        "budget": v.budget,
        "baseline": _r(v.baseline),
        "baseline_limit": _r(v.limit),
        "baseline_delta_pct": _r(v.delta_pct, 1),
        "verdict": "n/a" if v.value is None else (FAIL if v.failures else PASS),
        "reasons": list(v.failures),
    }


def page_json(v: PageVerdict) -> dict[str, Any]:
    """One page's verdict as plain JSON values (the ``pages[]`` of ``--json``)."""
    m = v.measured
    gated = {x.metric.key: metric_json(x) for x in v.metrics}
    for metric in METRICS:  # measured but not budgeted (Speed Index, TTI): values only
        if metric.key not in gated:
            gated[metric.key] = {"value": _r(m.values.get(metric.key))}
    for key, runs in m.per_run.items():
        gated[key]["runs"] = [_r(x) for x in runs]
    return {
        "name": v.budget.label,
        "path": v.budget.path,
        "url": m.url,
        "runs": m.runs,
        "failed_runs": list(m.failed_runs),
        "form_factor": m.form_factor,
        "lighthouse_version": m.lighthouse_version,
        "metrics": gated,
        "budget": v.budget.as_dict(),
        "baseline": (
            {
                "runs": v.baseline.runs,
                "lighthouse_version": v.baseline.lighthouse_version,
                **{k: _r(x) for k, x in v.baseline.values.items()},
            }
            if v.baseline
            else None
        ),
        "verdict": v.verdict,
        "reasons": list(v.reasons),
        "notes": list(v.notes),
        "sources": list(m.sources),
    }


def web_headline(result: WebGateResult) -> str:
    """One line: pass, blocked or inconclusive, with counts of pages."""
    n = len(result.pages)
    count = {k: sum(p.verdict == k for p in result.pages) for k in _ICON}
    return {
        PASS: f"{_ICON[PASS]} pass: all {n} pages within budget",
        FAIL: f"{_ICON[FAIL]} **blocked**: {count[FAIL]} of {n} pages over budget",
        INCONCLUSIVE: f"{_ICON[INCONCLUSIVE]} inconclusive: not enough data for "
        f"{count[INCONCLUSIVE]} of {n} pages",
    }[result.verdict]


def _cell(v: MetricVerdict) -> str:
    text = fmt(v.metric, v.value).replace(" ms", "").replace(" KiB", "")
    if v.budget is not None:
        text += f" / {fmt(v.metric, v.budget).replace(' ms', '').replace(' KiB', '')}"
    if v.delta_pct is not None and v.metric.relative:
        text += f" ({v.delta_pct:+.0f}%)"
    return f"**{text}** ❌" if v.failures else text


def web_section(result: WebGateResult, *, baseline: str | None = None) -> list[str]:
    """The pages' part of the PR comment: settings, table, why blocked, thin data."""
    versions = sorted({v for p in result.pages if (v := p.measured.lighthouse_version)})
    lh = f"Lighthouse {', '.join(versions)}" if versions else "Lighthouse"
    lines = [
        f"{lh}, {result.form_factor}, median of the runs per page ({result.runs_expected} "
        "planned)" + (f"; baseline `{baseline}`." if baseline else "; no baseline given."),
        "Cells: median / budget (change against the baseline); KiB for bytes.",
        "",
        "| Page | Runs | "
        + " | ".join(f"{m.label} {m.unit}".strip() for m in GATED)
        + " | Verdict |",
        "|---|---:|" + "---:|" * len(GATED) + "---|",
    ]
    for p in result.pages:
        cells = " | ".join(_cell(v) for v in p.metrics)
        lines.append(
            f"| `{p.budget.label}` | {p.measured.runs} | {cells} | {_ICON[p.verdict]} {p.verdict} |"
        )
    failed = [p for p in result.pages if p.verdict == FAIL]
    if failed:
        lines += ["", "**Why it is blocked**", ""]
        lines += [f"- `{p.budget.label}`: " + "; ".join(p.reasons) for p in failed]
    thin = [p for p in result.pages if p.verdict == INCONCLUSIVE]
    if thin:
        lines += ["", "**Inconclusive** (thin data never passes)", ""]
        lines += [f"- `{p.budget.label}`: " + "; ".join(p.reasons) for p in thin]
    if result.unbudgeted:
        lines += [
            "",
            "Measured but not budgeted: " + ", ".join(f"`{u}`" for u in result.unbudgeted),
        ]
    return lines


def print_web_table(result: WebGateResult, *, stderr: bool = False) -> None:
    """A rich table for people at a terminal."""
    style = {PASS: "green", FAIL: "bold red", INCONCLUSIVE: "yellow"}
    table = Table(title=f"web budgets: {result.verdict}", title_style=style[result.verdict])
    table.add_column("page")
    table.add_column("runs", justify="right")
    for m in GATED:
        table.add_column(f"{m.label} {m.unit}".strip(), justify="right")
    table.add_column("verdict")
    table.add_column("why")
    for p in result.pages:
        table.add_row(
            p.budget.label,
            str(p.measured.runs),
            *(_cell(v).replace("**", "") for v in p.metrics),
            f"[{style[p.verdict]}]{p.verdict}[/]",
            "; ".join(p.reasons),
        )
    Console(stderr=stderr, width=180).print(table)
