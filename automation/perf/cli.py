"""``summit perf``: compare load-test results with budgets, record baselines, keep a trend.

Exit codes: 0 pass, 1 regression (or inconclusive, unless ``--allow-inconclusive``),
2 bad input (budgets, result or baseline file that does not fit; nothing is written).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from automation import options
from automation.errors import CheckFailed, UserError
from automation.options import Cwd, JsonOut, MarkdownOut
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

app = options.new_app(
    "perf", "Performance budgets: k6/Locust results vs budgets and the main-branch baseline."
)

DEFAULT_BUDGETS = "budgets/api.yaml"
Budgets = Annotated[
    Path | None,
    typer.Option("--budgets", help=f"Budgets YAML (default: {DEFAULT_BUDGETS} in -C)."),
]
Commit = Annotated[str | None, typer.Option("--commit", help="Commit the runs measured.")]


def _read_all(paths: list[Path]) -> list[RunResult]:
    if not paths:
        raise UserError("give at least one result file (k6 NDJSON/summary or Locust CSV)")
    # Read everything before writing anything: bad input changes nothing.
    return [read_result(p) for p in paths]


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
    budgets: Budgets = None,
    baseline: Annotated[
        Path | None, typer.Option("--baseline", help="Baseline JSON from main.")
    ] = None,
    json_out: JsonOut = None,
    markdown_out: MarkdownOut = None,
    allow_inconclusive: Annotated[
        bool,
        typer.Option(
            "--allow-inconclusive", help="Exit 0 when the verdict is inconclusive (thin data)."
        ),
    ] = False,
    cwd: Cwd = Path("."),
) -> None:
    """Gate RESULT files (median across them) against budgets and the baseline."""
    options.check_output(json_out, "--json")
    options.check_output(markdown_out, "--markdown")
    budgets = options.in_project(cwd, budgets, DEFAULT_BUDGETS)
    spec = load_budgets(budgets)
    runs = _read_all(results)
    base = load_baseline_file(baseline) if baseline else None
    result = evaluate(spec, runs, base)
    base_name = str(baseline) if baseline else None
    options.write_json(json_out, to_json(result, budgets=str(budgets), baseline=base_name))
    options.write_markdown(markdown_out, to_markdown(result, baseline=base_name))
    # People read the table; keep stdout clean when a machine format goes there.
    print_table(result, stderr=options.to_stdout(json_out, markdown_out))
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
    json_out: JsonOut = None,
    commit: Commit = None,
    budgets: Annotated[
        Path | None,
        typer.Option(
            "--budgets", help=f"Budgets YAML; default {DEFAULT_BUDGETS} in -C when it exists."
        ),
    ] = None,
    cwd: Cwd = Path("."),
) -> None:
    """Record a baseline (per-endpoint medians across RESULT files), normally on main.
    --json names the file (default: baseline.json in -C)."""
    target = json_out if json_out is not None else str(cwd / "baseline.json")
    options.check_output(target, "--json")
    if budgets is None and (cwd / DEFAULT_BUDGETS).is_file():
        budgets = cwd / DEFAULT_BUDGETS
    spec = load_budgets(budgets) if budgets else None
    runs = _read_all([*from_, *(more or [])])
    doc = build_baseline(runs, spec, commit=_commit(commit))
    options.write_json(target, doc)
    typer.echo(
        f"baseline: {len(doc['endpoints'])} endpoints from {len(runs)} run(s) -> {target}",
        err=options.to_stdout(target),
    )


@app.command()
def trend(
    history: Annotated[
        Path, typer.Option("--history", help="History JSON-lines file (created if missing).")
    ],
    append: Annotated[
        list[Path] | None,
        typer.Option("--append", help="Result file(s) of tonight's run to append."),
    ] = None,
    more: Annotated[list[Path] | None, typer.Argument(help="More result files.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="PNG to draw.")] = None,
    budgets: Budgets = None,
    keep: Annotated[
        int | None, typer.Option("--keep", min=1, help="Keep only the newest N nights.")
    ] = 365,
    commit: Commit = None,
    cwd: Cwd = Path("."),
) -> None:
    """Append tonight's medians to the history and draw p95 per endpoint with budget lines."""
    spec = load_budgets(options.in_project(cwd, budgets, DEFAULT_BUDGETS))
    files = [*(append or []), *(more or [])]
    if not files and not plot:
        raise UserError("nothing to do: give --append RESULT... and/or --plot FILE.png")
    if files:
        runs = _read_all(files)
        n = append_history(history, history_entry(spec, runs, commit=_commit(commit)), keep=keep)
        typer.echo(f"history: {n} night(s) in {history}")
    if plot:
        entries = read_history(history)
        panels = plot_trend(entries, plot, title=f"{spec.service or 'service'}: p95 per endpoint")
        typer.echo(f"plot: {panels} endpoint(s), {len(entries)} night(s) -> {plot}")


@app.command()
def show(
    results: Annotated[list[Path], typer.Argument(help="Result files to summarise.")],
    json_out: JsonOut = None,
    cwd: Cwd = Path("."),
) -> None:
    """Per-endpoint statistics of result files, as read (no budgets, no verdict)."""
    options.check_output(json_out, "--json")
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
    options.write_json(json_out, rows)
    if not options.to_stdout(json_out):
        _show_table(rows)
        for r in runs:
            if not r.endpoints:
                typer.echo(f"{r.source}: no HTTP request metrics ({r.kind})")


def _show_table(rows: list[dict[str, Any]]) -> None:
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


def register(root: typer.Typer) -> None:
    """Attach ``summit perf`` to the root app."""
    root.add_typer(app, name="perf")
