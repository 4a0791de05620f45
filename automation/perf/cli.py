"""``summit perf``: compare load-test results with budgets, record baselines, keep a trend.

Exit codes: 0 pass, 1 regression (or inconclusive, unless ``--allow-inconclusive``),
2 bad input (budgets, result or baseline file that does not fit; nothing is written).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from automation.errors import CheckFailed, UserError
from automation.perf.budgets import load_budgets
from automation.perf.gate import (
    FAIL,
    INCONCLUSIVE,
    Baseline,
    build_baseline,
    evaluate,
    parse_baseline,
)
from automation.perf.ingest import read_result
from automation.perf.model import RunResult
from automation.perf.report import print_table, to_json, to_markdown
from automation.perf.trend import append_history, history_entry, plot_trend, read_history

app = typer.Typer(
    name="perf",
    help="Performance budgets: k6/Locust results vs budgets and the main-branch baseline.",
    no_args_is_help=True,
)

DEFAULT_BUDGETS = Path("budgets/api.yaml")


def _read_all(paths: list[Path]) -> list[RunResult]:
    if not paths:
        raise UserError("give at least one result file (k6 NDJSON/summary or Locust CSV)")
    # Read everything before writing anything: bad input changes nothing.
    return [read_result(p) for p in paths]


def _write(target: str, text: str) -> None:
    if target == "-":
        sys.stdout.write(text)
        return
    out = Path(target)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


def _commit(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def load_baseline_file(path: Path) -> Baseline:
    """Read a baseline JSON written by ``summit perf baseline``."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise UserError(f"cannot read baseline ({err.strerror})", source=str(path)) from None
    except ValueError as err:
        raise UserError(f"baseline is not JSON ({err})", source=str(path)) from None
    return parse_baseline(doc, str(path))


@app.command()
def compare(
    results: Annotated[list[Path], typer.Argument(help="k6 NDJSON/summary or Locust CSV files.")],
    budgets: Annotated[Path, typer.Option(help="Budgets YAML.")] = DEFAULT_BUDGETS,
    baseline: Annotated[Path | None, typer.Option(help="Baseline JSON from main.")] = None,
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write the JSON verdict here ('-' = stdout).")
    ] = None,
    markdown: Annotated[
        str | None, typer.Option(help="Write the PR comment (Markdown) here ('-' = stdout).")
    ] = None,
    allow_inconclusive: Annotated[
        bool, typer.Option(help="Exit 0 when the verdict is inconclusive (thin data).")
    ] = False,
) -> None:
    """Gate RESULT files (median across them) against budgets and the baseline."""
    spec = load_budgets(budgets)
    runs = _read_all(results)
    base = load_baseline_file(baseline) if baseline else None
    result = evaluate(spec, runs, base)
    if json_out:
        doc = to_json(result, budgets=str(budgets), baseline=str(baseline) if baseline else None)
        _write(json_out, json.dumps(doc, indent=2) + "\n")
    if markdown:
        _write(markdown, to_markdown(result, baseline=str(baseline) if baseline else None))
    # People read the table; keep stdout clean when a machine format goes there.
    print_table(result, stderr="-" in (json_out, markdown))
    if result.verdict == FAIL:
        failed = [v for v in result.endpoints if v.verdict == FAIL]
        lines = [f"{v.budget.label}: {'; '.join(v.reasons)}" for v in failed]
        raise CheckFailed("perf regression blocked:\n  " + "\n  ".join(lines))
    if result.verdict == INCONCLUSIVE and not allow_inconclusive:
        thin = [v.budget.label for v in result.endpoints if v.verdict == INCONCLUSIVE]
        raise CheckFailed(f"perf verdict inconclusive (thin data) for: {', '.join(thin)}")


@app.command("baseline")
def baseline_cmd(
    from_: Annotated[
        list[Path], typer.Option("--from", help="Result file(s) of the main-branch run.")
    ],
    more: Annotated[
        list[Path] | None, typer.Argument(help="More result files (--from a b c).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Baseline JSON to write.")] = Path("baseline.json"),
    commit: Annotated[str | None, typer.Option(help="Commit the baseline was measured on.")] = None,
    budgets: Annotated[
        Path | None,
        typer.Option(help="Budgets YAML; default budgets/api.yaml when it exists."),
    ] = None,
) -> None:
    """Record a baseline (per-endpoint medians across RESULT files), normally on main."""
    if budgets is None and DEFAULT_BUDGETS.is_file():
        budgets = DEFAULT_BUDGETS
    spec = load_budgets(budgets) if budgets else None
    runs = _read_all([*from_, *(more or [])])
    doc = build_baseline(runs, spec, commit=_commit(commit))
    _write(str(out), json.dumps(doc, indent=2) + "\n")
    typer.echo(f"baseline: {len(doc['endpoints'])} endpoints from {len(runs)} run(s) -> {out}")


@app.command()
def trend(
    history: Annotated[Path, typer.Option(help="History JSON-lines file (created if missing).")],
    append: Annotated[
        list[Path] | None, typer.Option(help="Result file(s) of tonight's run to append.")
    ] = None,
    more: Annotated[list[Path] | None, typer.Argument(help="More result files.")] = None,
    plot: Annotated[Path | None, typer.Option(help="PNG to draw.")] = None,
    budgets: Annotated[Path, typer.Option(help="Budgets YAML.")] = DEFAULT_BUDGETS,
    keep: Annotated[int | None, typer.Option(min=1, help="Keep only the newest N nights.")] = 365,
    commit: Annotated[str | None, typer.Option(help="Commit measured.")] = None,
) -> None:
    """Append tonight's medians to the history and draw p95 per endpoint with budget lines."""
    spec = load_budgets(budgets)
    files = [*(append or []), *(more or [])]
    if files:
        runs = _read_all(files)
        n = append_history(history, history_entry(spec, runs, commit=_commit(commit)), keep=keep)
        typer.echo(f"history: {n} night(s) in {history}")
    if plot:
        entries = read_history(history)
        panels = plot_trend(entries, plot, title=f"{spec.service or 'service'}: p95 per endpoint")
        typer.echo(f"plot: {panels} endpoint(s), {len(entries)} night(s) -> {plot}")
    if not files and not plot:
        raise UserError("nothing to do: give --append RESULT... and/or --plot FILE.png")


@app.command()
def show(
    results: Annotated[list[Path], typer.Argument(help="Result files to summarise.")],
    json_out: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Per-endpoint statistics of result files, as read (no budgets, no verdict)."""
    runs = _read_all(results)
    rows: list[dict[str, Any]] = [
        {
            "source": r.source,
            "kind": r.kind,
            "name": e.name,
            "method": e.method,
            "path": e.path,
            "count": e.count,
            "err_rate": e.err_rate,
            "p50_ms": e.p50_ms,
            "p90_ms": e.p90_ms,
            "p95_ms": e.p95_ms,
            "p99_ms": e.p99_ms,
            "max_ms": e.max_ms,
        }
        for r in runs
        for e in r.endpoints
    ]
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="perf results")
    for col in ("source", "kind", "endpoint", "count", "err %", "p50", "p95", "p99", "max"):
        table.add_column(col)

    def f(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f}"

    for row in rows:
        table.add_row(
            Path(row["source"]).name,
            row["kind"],
            row["name"],
            str(row["count"]),
            f(row["err_rate"]),
            f(row["p50_ms"]),
            f(row["p95_ms"]),
            f(row["p99_ms"]),
            f(row["max_ms"]),
        )
    Console(width=160).print(table)
    for r in runs:
        if not r.endpoints:
            typer.echo(f"{r.source}: no HTTP request metrics ({r.kind})")
