"""``summit plan``: the embedded lane, from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from summit_platform.automation import options
from summit_platform.automation.errors import CheckFailed, PlanError
from summit_platform.automation.options import Cwd, JsonOut, MarkdownOut, StackOrAll
from summit_platform.stacks.config import ConfigError

if TYPE_CHECKING:
    from summit_platform.automation.plan.runner import StackResult


def plan(
    stack: StackOrAll,
    cwd: Cwd = Path("."),
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
    json_out: JsonOut = None,
    markdown_out: MarkdownOut = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary lines.")] = False,
) -> None:
    """Run the program in-process under Pulumi's mock engine, record every resource, check
    them as the providers would (Kubernetes schemas and API rules, AWS API models), and
    evaluate policy packs through the Analyzer protocol; stacks planned together (--stack all)
    are checked for objects two of them would own. Exit 0 pass, 1 mandatory violation,
    provider-check problem or collision, 2 bad input."""
    # The runner and its report load the Pulumi SDK and the providers (~0.5 s): only
    # `summit plan` pays for them, not every other command's start.
    from summit_platform.automation.plan import report
    from summit_platform.automation.plan.analyzer import load_pack_config
    from summit_platform.automation.plan.collisions import check_plans
    from summit_platform.automation.plan.runner import plan_stack, resolve_packs, resolve_stacks

    options.check_output(json_out, "--json")
    options.check_output(markdown_out, "--markdown")
    project_dir = options.project(cwd)
    stacks = resolve_stacks(project_dir, stack)
    packs = None
    if policy_pack or policy_pack_config:
        packs = resolve_packs(project_dir, policy_pack, policy_pack_config)
        for _, cfg in packs:
            load_pack_config(cfg)  # a broken config file stops here, before anything runs
    results = []
    for name in stacks:
        try:
            results.append(plan_stack(project_dir, name, packs=packs))
        except PlanError as err:
            source = str(project_dir / f"Pulumi.{name}.yaml")
            raise ConfigError(source, [("", line) for line in str(err).splitlines()]) from None
    if len(results) > 1:
        # No two stacks planned together may own the same object (automation/plan/collisions).
        check_plans(results)
    _print(results, quiet, stderr=options.to_stdout(json_out, markdown_out))
    options.write_json(json_out, report.to_json(results))
    options.write_markdown(markdown_out, report.to_markdown(results))
    blocked = [r for r in results if r.mandatory]
    if blocked:
        names = ", ".join(r.plan.stack for r in blocked)
        count = sum(len(r.mandatory) for r in blocked)
        raise CheckFailed(f"{count} mandatory policy violation(s) in {names}")


def _print(results: list[StackResult], quiet: bool, *, stderr: bool) -> None:
    """The people's view; on stderr when a machine format goes to stdout."""
    from summit_platform.automation.plan import report  # see plan(): the Pulumi SDK loads with it

    console = Console(stderr=stderr, soft_wrap=False)
    if not quiet:
        report.print_human(results, console)
        return
    for res in results:
        s = report.summary(res)
        checked = res.provider_check.summary()["checked"] if res.provider_check else 0
        console.print(
            f"{res.plan.stack}: {s['resources']} resources, {checked} provider-checked,"
            f" {s['mandatory']} mandatory, {s['advisory']} advisory"
        )


def register(app: typer.Typer) -> None:
    """Attach ``summit plan`` to the root app."""
    app.command("plan")(plan)
