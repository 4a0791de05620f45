"""``summit plan``: the embedded lane, from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from automation.errors import CheckFailed, UserError
from automation.plan.engine import PlanError


def plan(
    stack: Annotated[
        str, typer.Option("--stack", "-s", help="Stack file name (Pulumi.NAME.yaml) or 'all'.")
    ],
    project_dir: Annotated[
        Path, typer.Option("-C", "--cwd", help="Pulumi Python project directory.")
    ] = Path("."),
    policy_pack: Annotated[
        list[Path] | None,
        typer.Option(
            "--policy-pack", help="Policy pack folder (repeatable); default: all of policypacks/."
        ),
    ] = None,
    policy_pack_config: Annotated[
        list[Path] | None,
        typer.Option("--policy-pack-config", help="JSON config for the pack in the same position."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the graph and violations.")
    ] = None,
    markdown_out: Annotated[
        Path | None, typer.Option("--markdown", help="Write a PR comment.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary lines.")] = False,
) -> None:
    """Run the program in-process under Pulumi's mock engine, record every resource, check
    them as the providers would (Kubernetes schemas and API rules, AWS API models), and
    evaluate policy packs through the Analyzer protocol. Exit 0 pass, 1 mandatory violation
    or provider-check problem, 2 bad input."""
    from automation.plan import report
    from automation.plan.runner import plan_stack, resolve_packs, resolve_stacks

    project_dir = project_dir.resolve()
    if not (project_dir / "Pulumi.yaml").is_file():
        raise UserError("not a Pulumi project (no Pulumi.yaml)", source=str(project_dir))
    stacks = resolve_stacks(project_dir, stack)
    packs = None
    if policy_pack or policy_pack_config:
        packs = resolve_packs(project_dir, policy_pack, policy_pack_config)
        for _, cfg in packs:
            if cfg is not None and not cfg.is_file():
                raise UserError("policy pack config file not found", source=str(cfg))
    console = Console(stderr=False, soft_wrap=False)
    results = []
    for name in stacks:
        try:
            results.append(plan_stack(project_dir, name, packs=packs))
        except PlanError as err:
            raise UserError(str(err), source=str(project_dir / f"Pulumi.{name}.yaml")) from None
    if quiet:
        for res in results:
            s = report.summary(res)
            checked = res.provider_check.summary()["checked"] if res.provider_check else 0
            console.print(
                f"{res.plan.stack}: {s['resources']} resources, {checked} provider-checked,"
                f" {s['mandatory']} mandatory, {s['advisory']} advisory"
            )
    else:
        report.print_human(results, console)
    if json_out:
        report.write_json(results, json_out)
    if markdown_out:
        markdown_out.parent.mkdir(parents=True, exist_ok=True)
        markdown_out.write_text(report.to_markdown(results))
    blocked = [r for r in results if r.mandatory]
    if blocked:
        names = ", ".join(r.plan.stack for r in blocked)
        count = sum(len(r.mandatory) for r in blocked)
        raise CheckFailed(f"{count} mandatory policy violation(s) in {names}")
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
