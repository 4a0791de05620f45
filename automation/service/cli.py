"""``summit service new|upgrade``: the paved road from the command line.

``new`` validates the name, renders the Copier template, copies the policy packs and then
plans (``--offline``, the embedded lane) or creates the stage stack and previews it with the
packs (cloud lane, through :mod:`summit_platform.automation.pulumi_ops`); it prints what it did, the next
steps and the elapsed time. ``upgrade`` applies the newest template version and shows the diff.
Exit codes: 0 done, 1 a mandatory policy violation (``new``) or a file left in conflict
(``upgrade``, every one named), 2 bad input (nothing written).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from summit_platform.automation import options
from summit_platform.automation.errors import CheckFailed
from summit_platform.automation.options import Cwd, JsonOut
from summit_platform.automation.service import bootstrap

app = options.new_app(
    "service", "Create services from the paved-road template and keep them up to date."
)

Into = Annotated[
    Path | None,
    typer.Option(
        "--into", metavar="DIR", help="Parent folder of the service (default: services/ in -C)."
    ),
]


def _print(report: bootstrap.Report, console: Console, title: str) -> None:
    console.print(f"[bold]{title}[/bold] {report.service} -> {report.path}")
    for line in report.actions:
        console.print(f"  - {line}")
    if report.plan and report.plan.get("violations"):
        console.print("  policy results:")
        for v in report.plan["violations"]:
            console.print(f"    {v}", markup=False)
    if report.conflicts:
        console.print("  [bold red]left in conflict[/bold red] (conflict markers inside):")
        for name in report.conflicts:
            console.print(f"    {name}", markup=False)
    if report.diff:
        console.print("  diff:")
        console.print(report.diff, markup=False, highlight=False)
    console.print("[bold]Next steps[/bold]")
    for i, step in enumerate(report.next_steps, 1):
        console.print(f"  {i}. {step}", markup=False)
    console.print(f"done in {report.elapsed_seconds:.1f}s")


def _doc(report: bootstrap.Report) -> dict[str, object]:
    return {
        "service": report.service,
        "path": str(report.path),
        "actions": report.actions,
        "next_steps": report.next_steps,
        "elapsed_seconds": round(report.elapsed_seconds, 3),
        "plan": report.plan,
        "diff": report.diff,
        "conflicts": report.conflicts,
    }


def _finish(report: bootstrap.Report, json_out: str | None, title: str) -> None:
    options.write_json(json_out, _doc(report))
    if not options.to_stdout(json_out):
        _print(report, Console(soft_wrap=True), title)


@app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="Service name (DNS-1123 label, not taken).")],
    team: Annotated[str, typer.Option("--team", help="Owning team.")] = "platform",
    into: Into = None,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Plan in the embedded lane instead of a cloud preview."),
    ] = False,
    runtime_class: Annotated[
        str | None,
        typer.Option(
            "--runtime-class",
            metavar="NAME",
            help="Pod RuntimeClass, one the platform lists (default: the platform's first).",
        ),
    ] = None,
    platform_source: Annotated[
        str,
        typer.Option(
            "--platform-source",
            metavar="index|git",
            help="Where pip gets the pinned platform package: your package index, or the"
            " platform's git repository at its tag.",
        ),
    ] = "index",
    json_out: JsonOut = None,
    cwd: Cwd = Path("."),
) -> None:
    """Create a service from the template and take it to a planned stage stack."""
    options.check_output(json_out, "--json")
    folder = options.in_project(cwd, into, "services")
    report = bootstrap.new_service(
        name,
        into=folder,
        team=team,
        offline=offline,
        runtime_class=runtime_class,
        platform_source=platform_source,
    )
    _finish(report, json_out, "created")


@app.command("upgrade")
def upgrade(
    name: Annotated[str, typer.Argument(help="Service to upgrade (a folder under --into).")],
    into: Into = None,
    json_out: JsonOut = None,
    cwd: Cwd = Path("."),
) -> None:
    """Apply the newest template version to a generated service and show the diff; exit 1
    naming every file left in conflict."""
    options.check_output(json_out, "--json")
    report = bootstrap.upgrade_service(name, into=options.in_project(cwd, into, "services"))
    _finish(report, json_out, "upgraded")
    if report.conflicts:
        raise CheckFailed(
            f"{name}: the template upgrade left conflicts in {len(report.conflicts)} file(s): "
            + ", ".join(report.conflicts)
        )


def register(root: typer.Typer) -> None:
    """Attach ``summit service`` to the root app."""
    root.add_typer(app, name="service")
