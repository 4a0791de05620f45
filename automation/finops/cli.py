"""`summit finops estimate|refresh-prices|reconcile` and `summit previews up|destroy|gc`.

Each command reads its inputs, calls the pure decision in :mod:`automation.finops`, then acts.
Bad input -> ``UserError`` (exit 2); a failed check (mandatory violation, drift, over budget
with ``--fail-over-budget``) -> ``CheckFailed`` (exit 1).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from automation.errors import CheckFailed, UserError

app = typer.Typer(
    help="Cost estimates, price refresh and OpenCost reconciliation.", no_args_is_help=True
)
previews_app = typer.Typer(help="Per-PR preview stacks and idle teardown.", no_args_is_help=True)

WEBHOOK_ENV = "SUMMIT_FINOPS_WEBHOOK"
ProjectDir = Annotated[Path, typer.Option("-C", "--cwd", help="Pulumi project directory.")]


def _project(project_dir: Path) -> Path:
    project_dir = project_dir.resolve()
    if not (project_dir / "Pulumi.yaml").is_file():
        raise UserError("not a Pulumi project (no Pulumi.yaml)", source=str(project_dir))
    return project_dir


def _usage(path: Path | None) -> Any:
    from automation.finops.cost import load_usage

    try:
        return load_usage(path)
    except ValueError as err:
        raise UserError(str(err)) from None


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)


def _plan_error(err: Exception, project_dir: Path, stack: str) -> UserError:
    return UserError(str(err), source=str(project_dir / f"Pulumi.{stack}.yaml"))


@app.command("estimate")
def estimate_cmd(
    stack: Annotated[
        str, typer.Option("--stack", "-s", help="Stack file name (Pulumi.NAME.yaml).")
    ],
    project_dir: ProjectDir = Path("."),
    base: Annotated[
        Path | None, typer.Option("--base", help="A previous --json estimate to diff against.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (total_hourly, resources[], unpriced[]).")
    ] = False,
    as_markdown: Annotated[bool, typer.Option("--markdown", help="Print a PR comment.")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
    usage_file: Annotated[
        Path | None, typer.Option("--usage", help="Usage file (YAML/JSON).")
    ] = None,
    webhook: Annotated[
        str | None, typer.Option("--webhook", help=f"Slack-compatible webhook (or ${WEBHOOK_ENV}).")
    ] = None,
    fail_over_budget: Annotated[
        bool, typer.Option("--fail-over-budget", help="Exit 1 above finops.monthlyBudget.")
    ] = False,
) -> None:
    """Plan the stack in the embedded lane and price every resource."""
    from automation.finops import alerts
    from automation.finops import estimate as est_mod
    from automation.finops.cost import PriceTable, estimate
    from automation.plan.engine import PlanError
    from stacks.config import load_stack

    if as_json and as_markdown:
        raise UserError("choose one of --json and --markdown", key="--json")
    project_dir = _project(project_dir)
    cfg = load_stack(project_dir, stack)
    usage = _usage(usage_file)
    base_doc = est_mod.load_base(base) if base else None
    try:
        resources = est_mod.plan_resources(project_dir, stack)
    except PlanError as err:
        raise _plan_error(err, project_dir, stack) from None
    est = estimate(resources, PriceTable.load(), usage, stack=stack)
    deltas = est_mod.diff(est, base_doc) if base_doc is not None else None
    if as_json:
        doc = est_mod.to_json(est, deltas, base_doc.get("total_hourly") if base_doc else None)
        _emit(json.dumps(doc, indent=2) + "\n", output)
    elif as_markdown:
        _emit(est_mod.to_markdown(est, deltas), output)
    else:
        _print_table(est)
    base_total = (
        Decimal(str(base_doc["total_hourly"])) if base_doc and "total_hourly" in base_doc else None
    )
    budget = cfg.finops.monthly_budget
    if est_mod.crossed_budget(est.total_hourly, budget, base_total):
        url = webhook or os.environ.get(WEBHOOK_ENV)
        if url and budget is not None:
            alerts.post(url, alerts.budget_payload(stack, est.total_hourly, budget))
        typer.echo(
            f"summit: {stack} estimate crosses its monthly budget of ${budget:,.2f}", err=True
        )
        if fail_over_budget:
            raise CheckFailed(f"{stack}: estimate over budget")


def _print_table(est: Any) -> None:
    console = Console()
    t = Table(
        title=f"{est.stack}: ${est.total_hourly:.4f}/h (~${est.total_hourly * 730:,.2f}/month)"
    )
    for col in ("resource", "type", "$/h", "basis"):
        t.add_column(col, justify="right" if col == "$/h" else "left")
    for line in sorted(est.lines, key=lambda x: (-x.hourly, x.urn)):
        t.add_row(line.name, line.type.split(":")[-1], f"{line.hourly:.4f}", line.basis)
    console.print(t)
    for u in est.unpriced:
        console.print(f"[yellow]unpriced[/] {u.name} ({u.type}): {u.reason}")


@app.command("refresh-prices")
def refresh_prices_cmd(
    region: Annotated[
        list[str] | None, typer.Option("--region", help="Region to refresh (repeatable).")
    ] = None,
    table: Annotated[
        Path | None,
        typer.Option("--table", help="Price table to rewrite (default: the packaged one)."),
    ] = None,
    instance_type: Annotated[
        list[str] | None, typer.Option("--instance-type", help="Also price this EC2 type.")
    ] = None,
    db_class: Annotated[
        list[str] | None, typer.Option("--db-class", help="Also price this RDS class.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the new table; write nothing.")
    ] = False,
) -> None:
    """Refresh EC2 and RDS on-demand prices from the AWS Price List API."""
    from botocore.exceptions import BotoCoreError, ClientError

    from automation.finops import prices
    from automation.finops.cost import AWS_PRICES

    path = table or AWS_PRICES
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"cannot read price table: {err}", source=str(path)) from None
    regions = region or sorted((doc.get("regions") or {}).keys())
    try:
        new, missing = prices.refresh(
            prices.pricing_client(),
            doc,
            regions,
            now=datetime.now(UTC),
            extra_ec2=instance_type or (),
            extra_rds=db_class or (),
        )
    except (BotoCoreError, ClientError) as err:
        raise CheckFailed(f"Price List API call failed: {err}") from None
    text = json.dumps(new, indent=2) + "\n"
    if dry_run:
        typer.echo(text, nl=False)
    else:
        path.write_text(text)
    for m in missing:
        typer.echo(f"summit: not found in the Price List API (kept old price): {m}", err=True)


@app.command("reconcile")
def reconcile_cmd(
    opencost: Annotated[str, typer.Option("--opencost", help="OpenCost/Kubecost base URL.")],
    window: Annotated[str, typer.Option("--window", help="Allocation window, e.g. 1d, 7d.")] = "1d",
    stack: Annotated[
        str, typer.Option("--stack", "-s", help="Stack whose estimate to compare.")
    ] = "prod",
    project_dir: ProjectDir = Path("."),
    threshold: Annotated[
        float, typer.Option("--threshold", help="Relative drift that is flagged.")
    ] = 0.25,
    usage_file: Annotated[
        Path | None, typer.Option("--usage", help="Usage file (YAML/JSON).")
    ] = None,
    api_path: Annotated[
        str,
        typer.Option(
            "--api-path", help="/allocation/compute (OpenCost) or /model/allocation (Kubecost)."
        ),
    ] = "/allocation/compute",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    as_markdown: Annotated[
        bool, typer.Option("--markdown", help="Print a PR/issue comment.")
    ] = False,
) -> None:
    """Compare OpenCost actuals with the estimate per namespace; exit 1 on drift."""
    from automation.finops import estimate as est_mod
    from automation.finops import reconcile
    from automation.finops.cost import PriceTable, estimate
    from automation.plan.engine import PlanError

    if threshold <= 0:
        raise UserError(f"expected a threshold > 0, found {threshold}", key="--threshold")
    project_dir = _project(project_dir)
    usage = _usage(usage_file)
    try:
        resources = est_mod.plan_resources(project_dir, stack)
    except PlanError as err:
        raise _plan_error(err, project_dir, stack) from None
    est = estimate(resources, PriceTable.load(), usage, stack=stack)
    actual = reconcile.actual_hourly(reconcile.fetch_allocation(opencost, window, path=api_path))
    rows = reconcile.compare(est.by_namespace(), actual, threshold=threshold)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "window": window,
                    "threshold": threshold,
                    "namespaces": [r.to_json() for r in rows],
                },
                indent=2,
            )
        )
    elif as_markdown:
        typer.echo(reconcile.to_markdown(rows, window, threshold), nl=False)
    else:
        t = Table(title=f"{stack} vs OpenCost ({window})")
        for col in ("namespace", "estimate $/h", "actual $/h", "drift", "note"):
            t.add_column(col)
        for r in rows:
            t.add_row(
                r.namespace,
                f"{r.estimated:.4f}",
                "-" if r.actual is None else f"{r.actual:.4f}",
                "-" if r.drift is None else f"{r.drift:+.0%}",
                ("DRIFT " if r.flagged else "") + r.note,
            )
        Console().print(t)
    flagged = [r.namespace for r in rows if r.flagged]
    if flagged:
        raise CheckFailed(f"cost drift beyond {threshold:.0%} in: {', '.join(flagged)}")


# --- previews --------------------------------------------------------------------------------


def _packs(project_dir: Path) -> list[tuple[Path, Path | None]]:
    """Every pack of the project, each with its ``config/preview.json`` when it has one."""
    from automation.plan.analyzer import discover_packs

    out = []
    for p in discover_packs(project_dir):
        cfg = p / "config" / "preview.json"
        out.append((p, cfg if cfg.is_file() else None))
    return out


def plan_offline(project_dir: Path, pr: int, template: str) -> dict[str, Any]:
    """The embedded lane of ``previews up``: plan ``pr-N`` with the preview config, evaluate
    every pack (with its preview config) through the Analyzer protocol, and price it."""
    from automation.finops import previews
    from automation.finops.cost import PriceTable, estimate
    from automation.plan.analyzer import PolicyPackError, evaluate_pack, load_pack_config
    from automation.plan.engine import PlanError, run_program
    from automation.plan.runner import stack_inputs

    name = previews.stack_name(pr)
    _, base = previews.template_values(project_dir, template)
    values = previews.preview_values(base, pr)
    inputs = stack_inputs(project_dir, template, values)
    try:
        plan = run_program(project_dir, name, inputs.project, inputs.config, inputs.secret_keys)
    except PlanError as err:
        raise _plan_error(err, project_dir, template) from None
    tags = {"preview": "true", "pr": str(pr)}
    violations = []
    for pack, cfg in _packs(project_dir):
        try:
            res = evaluate_pack(
                pack,
                plan,
                config=inputs.config,
                secret_keys=inputs.secret_keys,
                stack_tags=tags,
                pack_config=load_pack_config(cfg),
                pack_config_source=str(cfg) if cfg else "--policy-pack-config",
            )
        except PolicyPackError as err:
            raise UserError(str(err)) from None
        violations += [v.to_json() for v in res.violations]
    est = estimate([r.to_json() for r in plan.resources], PriceTable.load(), stack=name)
    return {"stack": name, "template": template, "estimate": est, "violations": violations}


def _preview_comment(stack: str, events: list[dict[str, Any]], est: Any | None) -> str:
    lines = [f"### Preview stack `{stack}`", ""]
    if est is not None:
        lines.append(
            f"Estimated cost: **${est.total_hourly:.4f}/h**"
            + (f" ({len(est.unpriced)} unpriced)" if est.unpriced else "")
        )
        lines.append("")
    mandatory = [e for e in events if e.get("enforcement") == "mandatory"]
    if not events:
        lines.append("No policy violations.")
    else:
        lines.append(
            f"**{len(mandatory)} mandatory, {len(events) - len(mandatory)} advisory policy events**"
        )
        lines += ["", "| policy | level | resource | message |", "|---|---|---|---|"]
        for e in events:
            urn = (e.get("urn") or "(stack)").split("::")[-1]
            msg = str(e.get("message", "")).replace("\n", " ").replace("|", "\\|")
            lines.append(f"| {e.get('policy')} | {e.get('enforcement')} | `{urn}` | {msg} |")
    return "\n".join(lines) + "\n"


@previews_app.command("up")
def previews_up(
    pr: Annotated[int, typer.Option("--pr", help="Pull request number.")],
    template: Annotated[
        str, typer.Option("--from", help="Template stack to copy config from.")
    ] = "stage",
    project_dir: ProjectDir = Path("."),
    owner: Annotated[str, typer.Option("--owner", help="Who owns the preview (tag).")] = "",
    offline: Annotated[
        bool, typer.Option("--offline", help="Embedded lane: plan, policies and cost; no engine.")
    ] = False,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Write the PR comment here.")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the result as JSON here.")
    ] = None,
) -> None:
    """Create or update preview stack pr-N from a template stack, with policies enforced."""
    from automation.finops import previews
    from stacks.config import load_stack

    project_dir = _project(project_dir)
    name = previews.stack_name(pr)
    if offline:
        res = plan_offline(project_dir, pr, template)
        comment = _preview_comment(name, res["violations"], res["estimate"])
        doc = {
            "stack": name,
            "offline": True,
            "total_hourly": float(res["estimate"].total_hourly),
            "violations": res["violations"],
        }
        mandatory = [v for v in res["violations"] if v["enforcement"] == "mandatory"]
    else:
        from automation import pulumi_ops as ops

        ttl = load_stack(project_dir, template).finops.preview_ttl_hours
        who = owner or os.environ.get("GITHUB_ACTOR") or os.environ.get("USER", "unknown")
        pairs = _packs(project_dir)
        # --policy-pack-config pairs with --policy-pack by position: all or nothing.
        configs = [c for _, c in pairs] if all(c is not None for _, c in pairs) else []
        try:
            out = previews.up(
                project_dir,
                pr,
                template=template,
                owner=who,
                now=datetime.now(UTC),
                ttl_hours=ttl,
                packs=[p for p, _ in pairs],
                pack_configs=[c for c in configs if c is not None],
                on_output=lambda line: typer.echo(line, err=True),
            )
        except ops.PolicyViolations as err:
            events = [previews._event_json(e) for e in err.policy_events]
            if markdown:
                _emit(_preview_comment(name, events, None), markdown)
            raise
        comment = _preview_comment(name, out.policy_events, None)
        doc = {
            "stack": name,
            "offline": False,
            "tags": out.tags,
            "changes": out.changes,
            "violations": out.policy_events,
        }
        mandatory = []
    if markdown:
        _emit(comment, markdown)
    if json_out:
        _emit(json.dumps(doc, indent=2) + "\n", json_out)
    if not markdown and not json_out:
        typer.echo(comment, nl=False)
    if mandatory:
        first = mandatory[0]["message"].splitlines()[-1]
        raise CheckFailed(f"{len(mandatory)} mandatory policy violation(s) in {name}: {first}")


@previews_app.command("destroy")
def previews_destroy(
    pr: Annotated[int, typer.Option("--pr", help="Pull request number.")],
    project_dir: ProjectDir = Path("."),
    yes: Annotated[
        bool, typer.Option("--yes", help="Really destroy; without it, only show.")
    ] = False,
    template: Annotated[
        str, typer.Option("--from", help="Template stack (offline plan).")
    ] = "stage",
    offline: Annotated[
        bool, typer.Option("--offline", help="Embedded lane: show what the stack holds.")
    ] = False,
) -> None:
    """Destroy preview stack pr-N and remove it (shows what it would do without --yes)."""
    from automation.finops import previews

    project_dir = _project(project_dir)
    name = previews.stack_name(pr)
    if offline or not yes:
        if offline:
            res = plan_offline(project_dir, pr, template)
            est = res["estimate"]
            typer.echo(
                f"would destroy {name}: {len(est.lines) + len(est.unpriced)} resources,"
                f" saving ${est.total_hourly:.4f}/h"
            )
        else:
            typer.echo(f"would destroy and remove {name} (pass --yes to do it)")
        return
    previews.destroy(project_dir, pr)
    typer.echo(f"destroyed and removed {name}")


@previews_app.command("gc")
def previews_gc(
    idle: Annotated[
        str, typer.Option("--idle", help="Idle limit since the last update, e.g. 24h.")
    ] = "24h",
    project_dir: ProjectDir = Path("."),
    yes: Annotated[
        bool, typer.Option("--yes", help="Really destroy; without it, only show.")
    ] = False,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Decide from --stacks FILE; no CLI, nothing destroyed."),
    ] = False,
    stacks_file: Annotated[
        Path | None,
        typer.Option(
            "--stacks", help="JSON list of {name, lastUpdate, updateInProgress, tags} (offline)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decisions as JSON.")] = False,
    webhook: Annotated[
        str | None, typer.Option("--webhook", help=f"Slack-compatible webhook (or ${WEBHOOK_ENV}).")
    ] = None,
) -> None:
    """Destroy preview stacks idle longer than --idle (time since the last update)."""
    from automation.finops import alerts, previews

    limit = previews.parse_duration(idle)
    now = datetime.now(UTC)
    if offline:
        if stacks_file is None:
            raise UserError("--offline needs --stacks FILE", key="--stacks")
        summaries, tags = _read_stack_list(stacks_file)
        decisions = previews.select_idle(summaries, tags, now=now, idle=limit)
        applied = False
    else:
        decisions = previews.gc(_project(project_dir), idle=limit, now=now, apply=yes)
        applied = yes
    if as_json:
        typer.echo(
            json.dumps(
                {"applied": applied, "decisions": [d.to_json() for d in decisions]}, indent=2
            )
        )
    else:
        typer.echo(previews.gc_markdown(decisions, applied=applied), nl=False)
    destroyed = [d.stack for d in decisions if d.action == "destroy"]
    url = webhook or os.environ.get(WEBHOOK_ENV)
    if applied and destroyed and url:
        alerts.post(url, alerts.gc_payload(destroyed, idle))


def _read_stack_list(path: Path) -> tuple[list[Any], dict[str, dict[str, str]]]:
    """An offline stack list: what ``pulumi stack ls --json`` gives, plus each stack's tags."""
    from pulumi.automation import StackSummary

    try:
        rows = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"cannot read stack list: {err}", source=str(path)) from None
    if not isinstance(rows, list):
        raise UserError("expected a JSON list of stacks", source=str(path))
    summaries, tags = [], {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            raise UserError("expected {name, lastUpdate, tags}", source=str(path), key=f"[{i}]")
        last = row.get("lastUpdate")
        try:
            when = datetime.fromisoformat(str(last).replace("Z", "+00:00")) if last else None
        except ValueError:
            raise UserError(
                f"expected an ISO time, found {last!r}", source=str(path), key=f"[{i}].lastUpdate"
            ) from None
        summaries.append(
            StackSummary(
                name=row["name"],
                current=False,
                update_in_progress=bool(row.get("updateInProgress")),
                last_update=when,
                resource_count=row.get("resourceCount"),
                url=None,
            )
        )
        tags[row["name"]] = {str(k): str(v) for k, v in (row.get("tags") or {}).items()}
    return summaries, tags


def register(root: Any) -> None:
    """Attach ``summit finops`` and ``summit previews`` to the root app."""
    root.add_typer(app, name="finops")
    root.add_typer(previews_app, name="previews")
