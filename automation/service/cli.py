"""``summit service new|upgrade``: the paved road from the command line.

``new`` validates the name, renders the Copier template, copies the policy packs and then
plans (``--offline``, the embedded lane) or creates the stage stack and previews it with the
packs (cloud lane, through :mod:`automation.pulumi_ops`); it prints what it did, the next
steps and the elapsed time. ``upgrade`` applies the newest template version and shows the diff.
Exit codes: 0 done, 1 a mandatory policy violation, 2 bad input (nothing written).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from automation.service import bootstrap

app = typer.Typer(
    help="Create services from the paved-road template and keep them up to date.",
    no_args_is_help=True,
)


def _print(report: bootstrap.Report, console: Console, title: str) -> None:
    console.print(f"[bold]{title}[/bold] {report.service} -> {report.path}")
    for line in report.actions:
        console.print(f"  - {line}")
    if report.plan and report.plan.get("violations"):
        console.print("  policy results:")
        for v in report.plan["violations"]:
            console.print(f"    {v}", markup=False)
    if report.diff:
        console.print("  diff:")
        console.print(report.diff, markup=False, highlight=False)
    console.print("[bold]Next steps[/bold]")
    for i, step in enumerate(report.next_steps, 1):
        console.print(f"  {i}. {step}", markup=False)
    console.print(f"done in {report.elapsed_seconds:.1f}s")


def _json(report: bootstrap.Report, path: str) -> None:
    doc = {
        "service": report.service,
        "path": str(report.path),
        "actions": report.actions,
        "next_steps": report.next_steps,
        "elapsed_seconds": round(report.elapsed_seconds, 3),
        "plan": report.plan,
        "diff": report.diff,
    }
    text = json.dumps(doc, indent=2)
    if path == "-":
        print(text)
    else:
        Path(path).write_text(text + "\n")


@app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="Service name (DNS-1123 label, not taken).")],
    team: Annotated[str, typer.Option("--team", help="Owning team.")] = "platform",
    into: Annotated[Path, typer.Option("--into", help="Parent folder of the service.")] = Path(
        "services"
    ),
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Plan in the embedded lane instead of a cloud preview."),
    ] = False,
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write the report as JSON ('-' = stdout).")
    ] = None,
) -> None:
    """Create a service from the template and take it to a planned stage stack."""
    console = Console(soft_wrap=True)
    report = bootstrap.new_service(name, into=into, team=team, offline=offline)
    if json_out:
        _json(report, json_out)
    if json_out != "-":
        _print(report, console, "created")


@app.command("upgrade")
def upgrade(
    name: Annotated[str, typer.Argument(help="Service to upgrade (a folder under --into).")],
    into: Annotated[Path, typer.Option("--into", help="Parent folder of the service.")] = Path(
        "services"
    ),
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write the report as JSON ('-' = stdout).")
    ] = None,
) -> None:
    """Apply the newest template version to a generated service and show the diff."""
    console = Console(soft_wrap=True)
    report = bootstrap.upgrade_service(name, into=into)
    if json_out:
        _json(report, json_out)
    if json_out != "-":
        _print(report, console, "upgraded")
