"""Web pages in the nightly trend: one history point per page (medians of the night's
Lighthouse runs, with the budgets of that night), and the plot's web panels (one panel per
metric, a line per page, its budget dashed in the same colour).

A history line gains ``"pages": [{"path", "runs", "lcp_ms", ..., "score", "budget":
{"lcp_ms", ..., "score"}}]`` beside its ``endpoints``; lines without ``pages`` (API only, or
written before web budgets existed) simply have no web points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from summit_platform.automation.errors import UserError
from summit_platform.automation.perf.lhr import GATED, Metric, PageRun
from summit_platform.automation.perf.web_budgets import WebBudgets
from summit_platform.automation.perf.web_gate import measure_page

Panel = tuple[str, Callable[[Any], None]]


def web_history(budgets: WebBudgets | None, runs: Sequence[PageRun]) -> list[dict[str, Any]]:
    """One night's point per page: every budgeted page, else every measured one."""
    paths = [p.path for p in budgets.pages] if budgets else sorted({r.path for r in runs})
    limits = {p.path: p.limits for p in budgets.pages} if budgets else {}
    out = []
    for path in paths:
        m = measure_page(path, runs)
        out.append(
            {
                "path": path,
                "runs": m.runs,
                **{x.key: m.values.get(x.key) for x in GATED},
                "budget": dict(limits.get(path, {})),
            }
        )
    return out


def check_history_pages(entry: dict[str, Any], line: int, source: str) -> None:
    """Validate the ``pages`` of one history line (exit 2 naming the line and key)."""
    pages = entry.get("pages", [])
    if not isinstance(pages, list) or not all(
        isinstance(p, dict) and isinstance(p.get("path"), str) for p in pages
    ):
        raise UserError(
            f"line {line}: expected a list of pages with a 'path'", source=source, key="pages"
        )


def web_series(
    history: Sequence[dict[str, Any]],
) -> dict[str, dict[str, list[tuple[datetime, Any, Any]]]]:
    """Per metric key, per page: ``(time, value, budget)`` in time order."""
    out: dict[str, dict[str, list[tuple[datetime, Any, Any]]]] = {}
    for entry in sorted(history, key=lambda e: datetime.fromisoformat(e["time"])):
        t = datetime.fromisoformat(entry["time"])
        for page in entry.get("pages", []):
            budget = page.get("budget") or {}
            for m in GATED:
                if page.get(m.key) is None and budget.get(m.key) is None:
                    continue
                out.setdefault(m.key, {}).setdefault(page["path"], []).append(
                    (t, page.get(m.key), budget.get(m.key))
                )
    return out


def _drawer(m: Metric, pages: dict[str, list[tuple[datetime, Any, Any]]]) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        for i, (path, pts) in enumerate(sorted(pages.items())):
            color = f"C{i % 10}"
            ts = [p[0] for p in pts]
            ax.plot(ts, [p[1] for p in pts], marker="o", ms=3, color=color, label=path)
            if any(p[2] is not None for p in pts):
                ax.step(ts, [p[2] for p in pts], where="post", ls="--", color=color, lw=1)
        kind = "minimum" if m.higher_is_better else "budget"
        ax.set_title(f"web {m.label} per page (dashed: {kind})", fontsize=9)
        ax.set_ylabel(m.unit or m.label)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=6, loc="upper left")

    return draw


def web_panels(history: Sequence[dict[str, Any]]) -> list[Panel]:
    """One panel per web metric that has points: ``(title, draw(ax))``."""
    data = web_series(history)
    return [(m.label, _drawer(m, data[m.key])) for m in GATED if m.key in data]
