"""`summit finops estimate|refresh-prices|reconcile` and `summit previews up|destroy|gc`.

Each command reads its inputs, calls the pure decision in :mod:`automation.finops`, then acts.
Bad input -> ``UserError`` (exit 2); a failed check (mandatory violation, drift, over budget
with ``--fail-over-budget``) -> ``CheckFailed`` (exit 1).
"""

from __future__ import annotations

import json
import math
import os
import urllib.parse
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from automation import options
from automation.errors import CheckFailed, UserError
from automation.finops import alerts, budget, observed, previews, prices, reconcile
from automation.finops import estimate as est_mod
from automation.finops.cost import AWS_PRICES, PriceTable, estimate, load_usage
from automation.options import Cwd, Duration, JsonOut, MarkdownOut, Stack, duration_option
from automation.plan.analyzer import discover_packs
from automation.plan.engine import PlanError
from automation.plan.runner import plan_stack
from automation.redact import redact_url
from automation.stack_files import load_stack, platform_config

app = options.new_app("finops", "Cost estimates, price refresh and OpenCost reconciliation.")
previews_app = options.new_app("previews", "Per-PR preview stacks and idle teardown.")

WEBHOOK_ENV = "SUMMIT_FINOPS_WEBHOOK"
Webhook = Annotated[
    str | None, typer.Option("--webhook", help=f"Slack-compatible webhook (or ${WEBHOOK_ENV}).")
]
Usage = Annotated[Path | None, typer.Option("--usage", help="Usage file (YAML/JSON).")]


def _usage(path: Path | None) -> Any:
    try:
        return load_usage(path)
    except ValueError as err:
        raise UserError(str(err)) from None


def _webhook(flag: str | None) -> str | None:
    """The webhook to alert (``--webhook``, else the environment), checked before anything
    runs; no message shows more of it than scheme and host (its path is the secret)."""
    url, key = (
        (flag, "--webhook") if flag is not None else (os.environ.get(WEBHOOK_ENV), WEBHOOK_ENV)
    )
    if not url:
        return None
    try:
        parts = urllib.parse.urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        ok = False
    if not ok or any(c.isspace() or not c.isprintable() for c in url):
        shown = redact_url(url, keep_path=False)
        raise UserError(f"expected an http(s) webhook URL, found {shown}", key=key)
    return url


def _plan_error(err: Exception, project_dir: Path, stack: str) -> UserError:
    return UserError(str(err), source=str(project_dir / f"Pulumi.{stack}.yaml"))


def _estimate(project_dir: Path, stack: str, usage: Any) -> Any:
    """Plan ``stack`` in the embedded lane and price what it records."""
    try:
        resources = est_mod.plan_resources(project_dir, stack)
    except PlanError as err:
        raise _plan_error(err, project_dir, stack) from None
    return estimate(resources, PriceTable.load(), usage, stack=stack)


@app.command("estimate")
def estimate_cmd(
    stack: Stack,
    cwd: Cwd = Path("."),
    base: Annotated[
        Path | None, typer.Option("--base", help="A previous --json estimate to diff against.")
    ] = None,
    json_out: JsonOut = None,
    markdown_out: MarkdownOut = None,
    usage_file: Usage = None,
    webhook: Webhook = None,
    fail_over_budget: Annotated[
        bool, typer.Option("--fail-over-budget", help="Exit 1 above finops.monthlyBudget.")
    ] = False,
) -> None:
    """Plan the stack of any Pulumi Python project in the embedded lane and price every
    resource. --json gives {total_hourly, resources[], unpriced[]}; --markdown a PR comment;
    else a table. The budget (finops.monthlyBudget) is the platform project's."""
    options.check_output(json_out, "--json")
    options.check_output(markdown_out, "--markdown")
    project_dir = options.project(cwd)
    cfg = platform_config(project_dir, stack)
    usage = _usage(usage_file)
    base_doc = est_mod.load_base(base) if base else None
    est = _estimate(project_dir, stack, usage)
    deltas = est_mod.diff(est, base_doc) if base_doc is not None else None
    base_hourly = base_doc.get("total_hourly") if base_doc else None
    base_total = Decimal(str(base_hourly)) if base_hourly is not None else None
    if json_out is None and markdown_out is None:
        _print_table(est)
    options.write_json(json_out, est_mod.to_json(est, deltas, base_hourly))
    options.write_markdown(markdown_out, est_mod.to_markdown(est, deltas))
    budget = cfg.finops.monthly_budget if cfg else None
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
    cwd: Cwd = Path("."),
) -> None:
    """Refresh EC2 and RDS on-demand prices from the AWS Price List API. The price table is
    the package's own (or --table); -C is accepted like everywhere and reads nothing."""
    # botocore (~0.3 s) is needed only when the Price List API is called.
    from botocore.exceptions import BotoCoreError, ClientError

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


@app.command("budget")
def budget_cmd(
    stack: Stack,
    cwd: Cwd = Path("."),
    headroom: Annotated[
        float, typer.Option("--headroom", help="Share added to the scaled-out estimate.")
    ] = budget.HEADROOM,
    json_out: JsonOut = None,
) -> None:
    """Derive a platform stack's monthly budget: its estimate with every service at the HPA
    floor and fully scaled out (replicas.max), plus headroom, rounded up to $50; shown next
    to the stack's finops.monthlyBudget."""
    if not math.isfinite(headroom) or headroom < 0:
        raise UserError(f"expected a finite share >= 0, found {headroom}", key="--headroom")
    options.check_output(json_out, "--json")
    project_dir = options.project(cwd)
    cfg = platform_config(project_dir, stack)
    if cfg is None:
        raise UserError(
            "budgets (finops.monthlyBudget) are the platform project's", source=str(project_dir)
        )
    floor = _estimate(project_dir, stack, load_usage(None))
    try:
        scaled = est_mod.plan_resources(
            project_dir, stack, {"services": budget.at_ceiling(cfg.services)}
        )
    except PlanError as err:
        raise _plan_error(err, project_dir, stack) from None
    ceiling = estimate(scaled, PriceTable.load(), stack=stack).total_hourly
    doc = budget.derivation(stack, floor.total_hourly, ceiling, headroom, cfg.finops.monthly_budget)
    options.write_json(json_out, doc)
    if json_out is None:
        configured = cfg.finops.monthly_budget
        typer.echo(
            f"{stack}: ${doc['floorMonthly']:,.2f}/month at the HPA floor,"
            f" ${doc['ceilingMonthly']:,.2f}/month scaled out; with {headroom:.0%} headroom"
            f" the budget is ${doc['suggestedMonthlyBudget']:,}/month (set: "
            + ("none" if configured is None else f"${configured:,.2f}")
            + ")."
        )


@app.command("observe")
def observe_cmd(
    prometheus: Annotated[
        list[str],
        typer.Option(
            "--prometheus", help="Prometheus base URL, one per cluster of the stack (repeatable)."
        ),
    ],
    stack: Stack,
    cwd: Cwd = Path("."),
    window: Annotated[
        Duration, duration_option("--window", "How far back usage is averaged, e.g. 7d.")
    ] = Duration.of("7d"),
    json_out: JsonOut = None,
) -> None:
    """Observed CPU and memory per pod of each workload in a platform stack's namespaces,
    from Prometheus (cAdvisor), as a usage file: the right-size hints' usage/observed.json
    and estimate --usage. Across clusters the busier one counts. Without --json it prints."""
    options.check_output(json_out, "--json")
    if window.seconds < 60:
        raise UserError(f"expected at least 1m, found {window.text}", key="--window")
    project_dir = options.project(cwd)
    cfg = platform_config(project_dir, stack)
    if cfg is None:
        raise UserError("observe reads the platform project's stacks", source=str(project_dir))
    namespaces = [r.kubernetes.namespace for r in cfg.regions]
    span = f"{int(window.seconds)}s"
    cpu: dict[str, float] = {}
    memory: dict[str, float] = {}
    for url in prometheus:
        source = f"Prometheus answer from {redact_url(url)}"
        for merged, template in ((cpu, observed.CPU), (memory, observed.MEMORY)):
            answer = observed.query(url, observed.promql(template, namespaces, span))
            for name, value in observed.vector(answer, source).items():
                merged[name] = max(merged.get(name, 0.0), value)
    doc = observed.usage_doc(cpu, memory)
    if json_out is None:
        typer.echo(json.dumps(doc, indent=2))
    options.write_json(json_out, doc)


def _actuals(urls: list[str], span: str, api_path: str) -> dict[str, Decimal]:
    """Per-namespace actual $/h over every cluster's OpenCost (a stack spans two clusters)."""
    total: dict[str, Decimal] = {}
    for url in urls:
        for ns, hourly in reconcile.actual_hourly(
            reconcile.fetch_allocation(url, span, path=api_path)
        ).items():
            total[ns] = total.get(ns, Decimal(0)) + hourly
    return total


@app.command("reconcile")
def reconcile_cmd(
    opencost: Annotated[
        list[str],
        typer.Option(
            "--opencost",
            help="OpenCost/Kubecost base URL, one per cluster of the stack (repeatable).",
        ),
    ],
    window: Annotated[
        Duration, duration_option("--window", "Allocation window, e.g. 1d, 7d, 12h.")
    ] = Duration.of("1d"),
    stack: Stack = "prod",
    cwd: Cwd = Path("."),
    threshold: Annotated[
        float, typer.Option("--threshold", help="Relative drift that is flagged.")
    ] = 0.25,
    usage_file: Usage = None,
    api_path: Annotated[
        str,
        typer.Option(
            "--api-path", help="/allocation/compute (OpenCost) or /model/allocation (Kubecost)."
        ),
    ] = "/allocation/compute",
    json_out: JsonOut = None,
    markdown_out: MarkdownOut = None,
    webhook: Webhook = None,
) -> None:
    """Compare OpenCost actuals with the estimate per namespace, and the spend rate with the
    stack's finops.monthlyBudget (a budget alert goes to the webhook); exit 1 on drift or
    over budget."""
    if threshold <= 0:
        raise UserError(f"expected a threshold > 0, found {threshold}", key="--threshold")
    options.check_output(json_out, "--json")
    options.check_output(markdown_out, "--markdown")
    url = _webhook(webhook)
    span = reconcile.opencost_window(window.seconds, "--window")
    project_dir = options.project(cwd)
    cfg = platform_config(project_dir, stack)
    usage = _usage(usage_file)
    est = _estimate(project_dir, stack, usage)
    actual = _actuals(opencost, span, api_path)
    rows = reconcile.compare(est.by_namespace(), actual, threshold=threshold)
    spend = budget.check(stack, est, actual, cfg.finops.monthly_budget if cfg else None)
    if json_out is None and markdown_out is None:
        _print_drift(rows, f"{stack} vs OpenCost ({span})")
        typer.echo(budget.to_markdown(spend, span).strip())
    doc = {
        "window": span,
        "threshold": threshold,
        "namespaces": [r.to_json() for r in rows],
        "budget": spend.to_json(),
    }
    options.write_json(json_out, doc)
    markdown = reconcile.to_markdown(rows, span, threshold) + budget.to_markdown(spend, span)
    options.write_markdown(markdown_out, markdown)
    failed = []
    if spend.over:
        if url:
            alerts.post(url, budget.alert_payload(spend, span))
        failed.append(f"{stack} spends ${spend.run_rate_monthly:,.2f}/month, over its budget")
    flagged = [r.namespace for r in rows if r.flagged]
    if flagged:
        failed.append(f"cost drift beyond {threshold:.0%} in: {', '.join(flagged)}")
    if failed:
        raise CheckFailed("; ".join(failed))


def _print_drift(rows: list[Any], title: str) -> None:
    t = Table(title=title)
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


# --- previews --------------------------------------------------------------------------------


def _packs(project_dir: Path) -> list[tuple[Path, Path | None]]:
    """Every pack of the project, each with its ``config/preview.json`` when it has one."""
    out = []
    for p in discover_packs(project_dir):
        cfg = p / "config" / "preview.json"
        out.append((p, cfg if cfg.is_file() else None))
    return out


def plan_offline(project_dir: Path, pr: int, template: str) -> dict[str, Any]:
    """The embedded lane of ``previews up``: plan ``pr-N`` from the template's stack file with
    the preview config, evaluate every pack (with its preview config) through the Analyzer
    protocol (both by :func:`~automation.plan.runner.plan_stack`), and price it."""
    name = previews.stack_name(pr)
    _, base = previews.template_values(project_dir, template)
    try:
        result = plan_stack(
            project_dir,
            template,
            packs=_packs(project_dir),
            overrides=previews.preview_values(base, pr),
            stack_tags={"preview": "true", "pr": str(pr)},
            as_stack=name,
        )
    except PlanError as err:
        raise _plan_error(err, project_dir, template) from None
    violations = [v.to_json() for v in result.violations]
    resources = [r.to_json() for r in result.plan.resources]
    est = estimate(resources, PriceTable.load(), stack=name)
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


Template = Annotated[
    str, typer.Option("--from", metavar="NAME", help="Template stack to copy config from.")
]
Pr = Annotated[int, typer.Option("--pr", help="Pull request number.")]
Yes = Annotated[bool, typer.Option("--yes", help="Really destroy; without it, only show.")]


@previews_app.command("up")
def previews_up(
    pr: Pr,
    template: Template = "stage",
    cwd: Cwd = Path("."),
    owner: Annotated[str, typer.Option("--owner", help="Who owns the preview (tag).")] = "",
    offline: Annotated[
        bool, typer.Option("--offline", help="Embedded lane: plan, policies and cost; no engine.")
    ] = False,
    markdown_out: MarkdownOut = None,
    json_out: JsonOut = None,
) -> None:
    """Create or update preview stack pr-N from a template stack, with policies enforced.
    Without --json or --markdown the PR comment is printed."""
    options.check_output(json_out, "--json")
    options.check_output(markdown_out, "--markdown")
    project_dir = options.project(cwd)
    name = previews.stack_name(pr)
    if offline:
        comment, doc = _up_offline(project_dir, pr, template)
    else:
        comment, doc = _up_cloud(project_dir, pr, template, owner, markdown_out)
    options.write_markdown(markdown_out, comment)
    options.write_json(json_out, doc)
    if markdown_out is None and json_out is None:
        typer.echo(comment, nl=False)
    mandatory = [v for v in doc["violations"] if v["enforcement"] == "mandatory"]
    if offline and mandatory:
        first = mandatory[0]["message"].splitlines()[-1]
        raise CheckFailed(f"{len(mandatory)} mandatory policy violation(s) in {name}: {first}")


def _up_offline(project_dir: Path, pr: int, template: str) -> tuple[str, dict[str, Any]]:
    res = plan_offline(project_dir, pr, template)
    comment = _preview_comment(res["stack"], res["violations"], res["estimate"])
    doc = {
        "stack": res["stack"],
        "offline": True,
        "total_hourly": float(res["estimate"].total_hourly),
        "violations": res["violations"],
    }
    return comment, doc


def _up_cloud(
    project_dir: Path, pr: int, template: str, owner: str, markdown_out: str | None
) -> tuple[str, dict[str, Any]]:
    # The Automation API wrapper imports the Pulumi SDK (~1 s); only the cloud lane needs it.
    from automation import pulumi_ops as ops

    name = previews.stack_name(pr)
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
        # The engine refused: the PR comment still shows why, then the error exits 1.
        events = [previews._event_json(e) for e in err.policy_events]
        options.write_markdown(markdown_out, _preview_comment(name, events, None))
        raise
    doc = {
        "stack": name,
        "offline": False,
        "tags": out.tags,
        "changes": out.changes,
        "violations": out.policy_events,
    }
    return _preview_comment(name, out.policy_events, None), doc


@previews_app.command("destroy")
def previews_destroy(
    pr: Pr,
    cwd: Cwd = Path("."),
    yes: Yes = False,
    template: Annotated[
        str, typer.Option("--from", metavar="NAME", help="Template stack (offline plan).")
    ] = "stage",
    offline: Annotated[
        bool, typer.Option("--offline", help="Embedded lane: show what the stack holds.")
    ] = False,
) -> None:
    """Destroy preview stack pr-N and remove it (shows what it would do without --yes)."""
    project_dir = options.project(cwd)
    name = previews.stack_name(pr)
    if offline:
        est = plan_offline(project_dir, pr, template)["estimate"]
        typer.echo(
            f"would destroy {name}: {len(est.lines) + len(est.unpriced)} resources,"
            f" saving ${est.total_hourly:.4f}/h"
        )
    elif not yes:
        typer.echo(f"would destroy and remove {name} (pass --yes to do it)")
    else:
        previews.destroy(project_dir, pr)
        typer.echo(f"destroyed and removed {name}")


@previews_app.command("gc")
def previews_gc(
    idle: Annotated[
        Duration, duration_option("--idle", "Idle limit since the last update, e.g. 24h.")
    ] = Duration.of("24h"),
    cwd: Cwd = Path("."),
    yes: Yes = False,
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
    json_out: JsonOut = None,
    markdown_out: MarkdownOut = None,
    webhook: Webhook = None,
) -> None:
    """Destroy preview stacks idle longer than --idle (time since the last update). Without
    --json or --markdown the report is printed as Markdown."""
    options.check_output(json_out, "--json")
    options.check_output(markdown_out, "--markdown")
    limit = timedelta(seconds=idle.seconds)
    now = datetime.now(UTC)
    if offline:
        if stacks_file is None:
            raise UserError("--offline needs --stacks FILE", key="--stacks")
        summaries, tags = _read_stack_list(stacks_file)
        decisions = previews.select_idle(summaries, tags, now=now, idle=limit)
        applied = False
    else:
        decisions = previews.gc(options.project(cwd), idle=limit, now=now, apply=yes)
        applied = yes
    report = previews.gc_markdown(decisions, applied=applied)
    options.write_json(
        json_out, {"applied": applied, "decisions": [d.to_json() for d in decisions]}
    )
    options.write_markdown(markdown_out, report)
    if markdown_out is None and not options.to_stdout(json_out):
        typer.echo(report, nl=False)
    destroyed = [d.stack for d in decisions if d.action == "destroy"]
    url = webhook or os.environ.get(WEBHOOK_ENV)
    if applied and destroyed and url:
        alerts.post(url, alerts.gc_payload(destroyed, idle.text))


def _read_stack_list(path: Path) -> tuple[list[Any], dict[str, dict[str, str]]]:
    """An offline stack list: what ``pulumi stack ls --json`` gives, plus each stack's tags."""
    # The Pulumi SDK (~1 s to import) is needed here only for its StackSummary type.
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


def register(root: typer.Typer) -> None:
    """Attach ``summit finops`` and ``summit previews`` to the root app."""
    root.add_typer(app, name="finops")
    root.add_typer(previews_app, name="previews")
