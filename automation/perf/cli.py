"""``summit perf``: compare load-test and Lighthouse results with budgets, record baselines,
keep a trend, and run Lighthouse against the web pages.

Exit codes: 0 pass, 1 regression (or inconclusive, unless ``--allow-inconclusive``),
2 bad input (budgets, result or baseline file that does not fit; nothing is written).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from summit_platform.automation import options
from summit_platform.automation.errors import CheckFailed, UserError
from summit_platform.automation.options import (
    Cwd,
    Duration,
    JsonOut,
    MarkdownOut,
    OutDir,
    duration_option,
)
from summit_platform.automation.perf.budgets import Budgets as ApiBudgets
from summit_platform.automation.perf.combined import (
    DEFAULT_WEB_BUDGETS,
    baseline_doc_all,
    combined_json,
    combined_markdown,
    evaluate_all,
    history_entry_all,
    load_baseline_doc,
    read_inputs,
    resolve_budgets,
)
from summit_platform.automation.perf.gate import FAIL, INCONCLUSIVE
from summit_platform.automation.perf.ingest import read_result
from summit_platform.automation.perf.lighthouse import (
    check_base_url,
    dry_run_lines,
    find_tools,
    plan_runs,
    progress_line,
    run_all,
)
from summit_platform.automation.perf.model import RunResult
from summit_platform.automation.perf.report import print_table
from summit_platform.automation.perf.trend import append_history, plot_trend, read_history
from summit_platform.automation.perf.web_budgets import load_any_budgets, load_web_budgets
from summit_platform.automation.perf.web_report import print_web_table

app = options.new_app(
    "perf",
    "Performance budgets: k6/Locust and Lighthouse results vs budgets and the main-branch "
    "baseline.",
)

DEFAULT_BUDGETS = "budgets/api.yaml"
Budgets = Annotated[
    list[Path] | None,
    typer.Option(
        "--budgets",
        help=f"Budgets YAML, API (endpoints) and/or web (pages); default per kind of result: "
        f"{DEFAULT_BUDGETS} and {DEFAULT_WEB_BUDGETS} in -C.",
    ),
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


@app.command()
def compare(
    results: Annotated[
        list[Path],
        typer.Argument(help="k6 NDJSON/summary, Locust CSV or Lighthouse LHR files (.gz too)."),
    ],
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
    """Gate RESULT files (median across them) against budgets and the baseline: API
    endpoints from k6/Locust results, web pages from Lighthouse results, one verdict."""
    options.check_output(json_out, "--json")
    options.check_output(markdown_out, "--markdown")
    inputs = read_inputs(results)
    api_spec, web_spec = resolve_budgets(budgets, inputs, root=cwd)
    base = load_baseline_doc(baseline) if baseline else None
    result = evaluate_all(api_spec, web_spec, inputs, base)
    base_name = str(baseline) if baseline else None
    doc = combined_json(
        result,
        api_budgets=api_spec.source if api_spec else None,
        web_budgets=web_spec.source if web_spec else None,
        baseline=base_name,
    )
    options.write_json(json_out, doc)
    options.write_markdown(markdown_out, combined_markdown(result, baseline=base_name))
    # People read the tables; keep stdout clean when a machine format goes there.
    to_stderr = options.to_stdout(json_out, markdown_out)
    if result.api is not None:
        print_table(result.api, stderr=to_stderr)
    if result.web is not None:
        print_web_table(result.web, stderr=to_stderr)
    for skipped in result.skipped:
        typer.echo(f"skipped {skipped}: a digest; its LHR files are read instead", err=True)
    if result.verdict == FAIL:
        raise CheckFailed("perf regression blocked:\n  " + "\n  ".join(result.failures()))
    if result.verdict == INCONCLUSIVE and not allow_inconclusive:
        raise CheckFailed(f"perf verdict inconclusive (thin data) for: {', '.join(result.thin())}")


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
        list[Path] | None,
        typer.Option(
            "--budgets", help=f"Budgets YAML; default {DEFAULT_BUDGETS} in -C when it exists."
        ),
    ] = None,
    cwd: Cwd = Path("."),
) -> None:
    """Record a baseline (per-endpoint and per-page medians across RESULT files), normally
    on main; Lighthouse LHRs are recorded per page path. --json names the file (default:
    baseline.json in -C)."""
    target = json_out if json_out is not None else str(cwd / "baseline.json")
    options.check_output(target, "--json")
    given = budgets or ([cwd / DEFAULT_BUDGETS] if (cwd / DEFAULT_BUDGETS).is_file() else [])
    specs = [load_any_budgets(b) for b in given]
    api_spec = next((s for s in specs if isinstance(s, ApiBudgets)), None)
    inputs = read_inputs([*from_, *(more or [])])
    doc = baseline_doc_all(inputs, api_spec, commit=_commit(commit))
    options.write_json(target, doc)
    typer.echo(
        f"baseline: {len(doc['endpoints'])} endpoints, {len(doc['pages'])} pages from "
        f"{len(inputs.api) + len(inputs.web)} run(s) -> {target}",
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
    """Append tonight's medians to the history and draw p95 per endpoint with budget lines,
    and web metrics per page (Lighthouse results) with theirs."""
    files = [*(append or []), *(more or [])]
    if not files and not plot:
        raise UserError("nothing to do: give --append RESULT... and/or --plot FILE.png")
    service = None
    if files:
        inputs = read_inputs(files)
        api_spec, web_spec = resolve_budgets(budgets, inputs, root=cwd)
        service = next((s.service for s in (api_spec, web_spec) if s and s.service), None)
        entry = history_entry_all(api_spec, web_spec, inputs, commit=_commit(commit))
        n = append_history(history, entry, keep=keep)
        typer.echo(f"history: {n} night(s) in {history}")
    elif budgets:
        service = load_any_budgets(budgets[0]).service
    elif (cwd / DEFAULT_BUDGETS).is_file():
        service = load_any_budgets(cwd / DEFAULT_BUDGETS).service
    if plot:
        entries = read_history(history)
        panels = plot_trend(entries, plot, title=f"{service or 'service'}: performance trend")
        typer.echo(f"plot: {panels} panel(s), {len(entries)} night(s) -> {plot}")


@app.command()
def lighthouse(
    base_url: Annotated[
        str,
        typer.Option(
            "--base-url", metavar="URL", help="Site to measure: http://HOST[:PORT], no path."
        ),
    ],
    out: OutDir = None,
    budgets: Annotated[
        Path | None,
        typer.Option(
            "--budgets",
            help=f"Web budgets YAML: the pages, runs and form factor (default: "
            f"{DEFAULT_WEB_BUDGETS} in -C).",
        ),
    ] = None,
    runs: Annotated[
        int | None,
        typer.Option(
            "--runs", min=1, max=15, help="Runs per page (default: runs in the budgets file)."
        ),
    ] = None,
    chrome: Annotated[
        str | None,
        typer.Option(
            "--chrome",
            metavar="PATH",
            help="Chromium to use (default $CHROME_PATH, else /usr/bin/chromium).",
        ),
    ] = None,
    timeout: Annotated[
        Duration,
        duration_option("--timeout", "Longest one Lighthouse run may take (at least 10s)."),
    ] = Duration.of("2m"),
    json_out: JsonOut = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the runs and commands; run nothing.")
    ] = False,
    cwd: Cwd = Path("."),
) -> None:
    """Run the project's pinned Lighthouse (node_modules in -C) in headless Chromium, runs
    times (from the budgets file) per budgeted page, and write every LHR plus digest.json
    (median per metric) into --out. --json also writes the digest there."""
    if out is None:
        raise UserError("give --out DIR, a new or empty folder for the LHR files", key="--out")
    if timeout.seconds < 10:
        raise UserError(f"expected at least 10s, found {timeout.text!r}", key="--timeout")
    options.check_output(json_out, "--json")
    spec = load_web_budgets(options.in_project(cwd, budgets, str(DEFAULT_WEB_BUDGETS)))
    base = check_base_url(base_url)
    n = runs or spec.runs
    tools = find_tools(cwd, chrome=chrome)
    plan = plan_runs(base, spec, n)
    if dry_run:
        for line in dry_run_lines(tools, plan, out, spec.form_factor):
            typer.echo(line)
        typer.echo(
            f"dry run: {len(plan)} Lighthouse run(s) of {len(spec.pages)} page(s); nothing run"
        )
        return
    digest = run_all(
        base_url=base,
        budgets=spec,
        tools=tools,
        out=out,
        runs=n,
        timeout_s=timeout.seconds,
        progress=lambda planned, lhr, seconds: typer.echo(
            progress_line(planned, lhr, seconds, n), err=True
        ),
    )
    options.write_json(json_out, digest)
    typer.echo(
        f"lighthouse {tools.lighthouse_version}: {len(plan)} run(s) in {digest['seconds']:.0f}s "
        f"-> {out}/ (digest.json)",
        err=options.to_stdout(json_out),
    )


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
