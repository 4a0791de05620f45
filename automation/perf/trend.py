"""Nightly trend: a JSON-lines history of per-endpoint p95, and a plot with budget lines.

Each history line is one night: ``{"time", "commit", "sources", "endpoints": [{"name",
"count", "runs", "p95_ms", "p99_ms", "err_rate", "budget_p95_ms"}]}``. The budget is stored
with each point, so the plot's budget line shows when a budget was changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from summit_platform.automation import numbers, safe_io
from summit_platform.automation.errors import UserError
from summit_platform.automation.perf.budgets import Budgets
from summit_platform.automation.perf.gate import measure
from summit_platform.automation.perf.model import RunResult
from summit_platform.automation.perf.web_trend import check_history_pages, web_panels


def history_entry(
    budgets: Budgets,
    runs: Sequence[RunResult],
    *,
    commit: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One night's point per budgeted endpoint (medians across the runs)."""
    eps = []
    for b in budgets.budgets:
        m = measure(b, runs)
        eps.append(
            {
                "name": b.label,
                "count": m.count,
                "runs": m.runs,
                "p95_ms": m.p95_ms,
                "p99_ms": m.p99_ms,
                "err_rate": m.err_rate,
                "budget_p95_ms": b.p95_ms,
            }
        )
    return {
        "time": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "commit": commit,
        "sources": [r.source for r in runs],
        "endpoints": eps,
    }


def read_history(path: Path) -> list[dict[str, Any]]:
    """All entries of a history file (missing file = empty history)."""
    if not path.exists():
        return []
    out = []
    for i, line in enumerate(safe_io.read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = safe_io.load_json_text(line, str(path))
        except UserError as err:
            raise UserError(f"line {i} is not JSON ({err.detail})", source=str(path)) from None
        if not isinstance(entry, dict) or not isinstance(entry.get("endpoints"), list):
            raise UserError(
                f"line {i}: expected an object with an 'endpoints' list",
                source=str(path),
                key="endpoints",
            )
        _check_points(entry["endpoints"], i, str(path))
        try:
            # With a UTC offset, as history_entry writes: naive and aware times cannot sort.
            if datetime.fromisoformat(str(entry.get("time"))).tzinfo is None:
                raise ValueError("no UTC offset")
        except ValueError:
            raise UserError(
                f"line {i}: expected an ISO timestamp with a UTC offset,"
                f" found {numbers.found(entry.get('time'))}",
                source=str(path),
                key="time",
            ) from None
        check_history_pages(entry, i, str(path))
        out.append(entry)
    return out


def _check_points(endpoints: list[Any], line: int, source: str) -> None:
    """Each night's endpoint: an object with a text ``name`` and ms figures that are null
    or finite numbers >= 0 (the plot would draw a NaN as a gap and an inf off the chart)."""
    for j, ep in enumerate(endpoints):
        where = f"line {line}: endpoints[{j}]"
        if not isinstance(ep, dict) or not isinstance(ep.get("name"), str):
            raise UserError("expected an object with a text 'name'", source=source, key=where)
        for k in ("p95_ms", "p99_ms", "budget_p95_ms"):
            if ep.get(k) is not None:
                numbers.number(ep[k], source=source, key=f"{where}.{k}")


def append_history(path: Path, entry: dict[str, Any], *, keep: int | None = None) -> int:
    """Append ``entry``; with ``keep``, drop the oldest beyond that many. Returns the length.

    The whole read-modify-write holds the file's lock and the new file replaces the old one
    atomically (a unique temp file, fsync, rename), so two nights appending at once both
    land and a reader never sees half a history."""
    with safe_io.locked(path):
        history = [*read_history(path), entry]
        if keep is not None and len(history) > keep:
            history = history[-keep:]
        # One line per night; dumps_json refuses a NaN rather than write invalid JSON.
        text = "".join(safe_io.dumps_json(e, indent=None, sort_keys=True) for e in history)
        safe_io.atomic_write(path, text, lock=False)
    return len(history)


def series(history: Sequence[dict[str, Any]]) -> dict[str, list[tuple[datetime, Any, Any]]]:
    """Per endpoint: ``(time, p95_ms, budget_p95_ms)`` in time order."""
    out: dict[str, list[tuple[datetime, Any, Any]]] = {}
    for entry in sorted(history, key=lambda e: datetime.fromisoformat(e["time"])):
        t = datetime.fromisoformat(entry["time"])
        for ep in entry["endpoints"]:
            out.setdefault(ep["name"], []).append((t, ep.get("p95_ms"), ep.get("budget_p95_ms")))
    return out


def plot_trend(history: Sequence[dict[str, Any]], out: Path, *, title: str = "p95 trend") -> int:
    """Draw p95 per endpoint over time with its budget line, then one panel per web metric
    (a line per page) when the history has pages; returns the number of panels."""
    # Deferred: matplotlib costs about 0.85 s to import and only a plot needs it; the
    # backend must be chosen before pyplot is imported.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = series(history)
    web = web_panels(history)
    if not data and not web:
        raise UserError("the history has no endpoints or pages to plot", source=str(out))
    n = len(data) + len(web)
    cols = 2 if n > 1 else 1
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 2.6 * rows), squeeze=False)
    flat = list(axes.flat)
    for ax, (name, pts) in zip(flat, sorted(data.items()), strict=False):
        ts = [p[0] for p in pts]
        ax.plot(ts, [p[1] for p in pts], marker="o", ms=3, label="p95 (median of runs)")
        ax.step(ts, [p[2] for p in pts], where="post", ls="--", color="red", label="budget")
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("ms")
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
        ax.set_ylim(bottom=0)
    for ax, (_, draw) in zip(flat[len(data) :], web, strict=False):
        draw(ax)
    for ax in flat[n:]:
        ax.set_visible(False)
    if data:
        flat[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return n
