"""`summit finops estimate|refresh-prices|reconcile` and `summit previews up|destroy|gc`.

Each command reads its inputs, calls the pure decision in :mod:`summit_platform.automation.finops`, then acts.
Bad input -> ``UserError`` (exit 2); a failed check (mandatory violation, drift, over budget
with ``--fail-over-budget``) -> ``CheckFailed`` (exit 1).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from summit_platform.automation import options, safe_io
from summit_platform.automation.errors import CheckFailed, UserError
from summit_platform.automation.finops import alerts, budget, observed, previews, prices, reconcile
from summit_platform.automation.finops import estimate as est_mod
from summit_platform.automation.finops.cost import AWS_PRICES, PriceTable, estimate, load_usage
from summit_platform.automation.options import (
    Cwd,
    Duration,
    JsonOut,
    MarkdownOut,
    Stack,
    duration_option,
)
from summit_platform.automation.plan.analyzer import discover_packs
from summit_platform.automation.plan.engine import PlanError
from summit_platform.automation.plan.runner import plan_stack
from summit_platform.automation.stack_files import platform_config
from summit_platform.components.render import redact
from summit_platform.components.render.redact import redact_text, redact_url
from summit_platform.stacks.config import FinopsConfig

app = options.new_app("finops", "Cost estimates, price refresh and OpenCost reconciliation.")
previews_app = options.new_app("previews", "Per-PR preview stacks and idle teardown.")

WEBHOOK_ENV = "SUMMIT_FINOPS_WEBHOOK"
Webhook = Annotated[
    str | None, typer.Option("--webhook", help=f"Slack-compatible webhook (or ${WEBHOOK_ENV}).")
]
Usage = Annotated[Path | None, typer.Option("--usage", help="Usage file (YAML/JSON).")]


def _webhook(flag: str | None) -> str | None:
    """The webhook to alert (``--webhook``, else the environment), checked before anything
    runs; messages name where it came from and never show its secret path."""
    if flag is not None:
        return alerts.check_url(flag, "--webhook")
    env = os.environ.get(WEBHOOK_ENV)
    return alerts.check_url(env, f"${WEBHOOK_ENV}") if env else None


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
    """Plan the stack in the embedded lane and price every resource. --json gives
    {total_hourly, resources[], unpriced[]}; --markdown a PR comment; else a table."""
    options.check_output(json_out, "--json")
    options.check_output(markdown_out, "--markdown")
    url = _webhook(webhook)
    project_dir = options.project(cwd)
    cfg = platform_config(project_dir, stack)
    usage = load_usage(usage_file)
    base_doc = est_mod.load_base(base) if base else None
    est = _estimate(project_dir, stack, usage)
    deltas = est_mod.diff(est, base_doc) if base_doc is not None else None
    base_hourly = base_doc.get("total_hourly") if base_doc else None
    base_total = Decimal(str(base_hourly)) if base_hourly is not None else None
    # Every report is computed before any is written: a failure writes none.
    doc = est_mod.to_json(est, deltas, base_hourly)
    markdown = est_mod.to_markdown(est, deltas)
    monthly_budget = cfg.finops.monthly_budget if cfg else None
    crossed = est_mod.crossed_budget(est.total_hourly, monthly_budget, base_total)
    if json_out is None and markdown_out is None:
        _print_table(est)
    options.write_json(json_out, doc)
    options.write_markdown(markdown_out, markdown)
    if crossed:
        if url and monthly_budget is not None:
            alerts.post(url, alerts.budget_payload(stack, est.total_hourly, monthly_budget))
        typer.echo(
            f"summit: {stack} estimate crosses its monthly budget of ${monthly_budget:,.2f}",
            err=True,
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
    regions = [prices.check_region(r) for r in region or ()]
    # The lock spans read, refresh and write, so two refreshes never lose each other's
    # prices; a dry run writes nothing, not even the lock file.
    with contextlib.nullcontext() if dry_run else safe_io.locked(path):
        doc = prices.check_table(safe_io.load_json(path), str(path))
        try:
            new, missing = prices.refresh(
                prices.pricing_client(),
                doc,
                regions or sorted(doc.get("regions", {})),
                now=datetime.now(UTC),
                extra_ec2=instance_type or (),
                extra_rds=db_class or (),
            )
        except (BotoCoreError, ClientError) as err:
            raise CheckFailed(f"Price List API call failed: {redact_text(str(err))}") from None
        text = safe_io.dumps_json(new)
        if dry_run:
            typer.echo(text, nl=False)
        else:
            safe_io.atomic_write(path, text, lock=False)
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
    """Per-namespace actual $/h over every cluster's OpenCost (a stack spans two clusters).
    Each answer is untrusted input, checked whole before it is used."""
    total: dict[str, Decimal] = {}
    for url in urls:
        answer = reconcile.fetch_allocation(url, span, path=api_path)
        source = f"OpenCost answer from {redact_url(url)}"
        for ns, hourly in reconcile.actual_hourly(answer, source).items():
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
    if not math.isfinite(threshold) or threshold <= 0:
        raise UserError(f"expected a finite threshold > 0, found {threshold}", key="--threshold")
    options.check_output(json_out, "--json")
    options.check_output(markdown_out, "--markdown")
    url = _webhook(webhook)
    span = reconcile.opencost_window(window.seconds, "--window")
    for base_url in opencost:
        reconcile.check_base_url(base_url)
    reconcile.check_api_path(api_path)
    project_dir = options.project(cwd)
    cfg = platform_config(project_dir, stack)
    usage = load_usage(usage_file)
    # The answers are read and checked before the (slower) plan: a bad answer costs nothing.
    actual = _actuals(opencost, span, api_path)
    est = _estimate(project_dir, stack, usage)
    rows = reconcile.compare(est.by_namespace(), actual, threshold=threshold)
    spend = budget.check(stack, est, actual, cfg.finops.monthly_budget if cfg else None)
    doc = {
        "window": span,
        "threshold": threshold,
        "namespaces": [r.to_json() for r in rows],
        "budget": spend.to_json(),
    }
    markdown = reconcile.to_markdown(rows, span, threshold) + budget.to_markdown(spend, span)
    if json_out is None and markdown_out is None:
        _print_drift(rows, f"{stack} vs OpenCost ({span})")
        typer.echo(budget.to_markdown(spend, span).strip())
    options.write_json(json_out, doc)
    options.write_markdown(markdown_out, markdown)
    _reconcile_verdict(stack, rows, spend, span, threshold, url)


def _reconcile_verdict(
    stack: str, rows: list[Any], spend: Any, span: str, threshold: float, url: str | None
) -> None:
    """Alert the webhook when over budget; exit 1 (CheckFailed) on drift or over budget."""
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
    """Every pack of the project with its ``config/preview.json``: both lanes evaluate each
    pack with it (the cloud lane passes ``--policy-pack DIR --policy-pack-config FILE`` per
    pack). A pack without one is bad input, not a silent fall back to its defaults."""
    out: list[tuple[Path, Path | None]] = []
    for p in discover_packs(project_dir):
        cfg = p / "config" / "preview.json"
        if not cfg.is_file():
            raise UserError(
                "policy pack has no config/preview.json; every pack runs with its preview"
                " config in both lanes",
                source=str(p),
            )
        out.append((p, cfg))
    return out


def plan_offline(project_dir: Path, pr: int, template: str) -> dict[str, Any]:
    """The embedded lane of ``previews up``: plan ``pr-N`` with exactly the config its stack
    file holds, evaluate every pack with its preview config through the Analyzer protocol,
    check it against every stack file of the project, and price it."""
    spec = previews.preview_spec(project_dir, pr, template)
    pairs = _packs(project_dir)
    result = previews.plan_preview(project_dir, spec, pairs)
    found = previews.check_collisions(project_dir, spec, result)
    resources = [r.to_json() for r in result.plan.resources]
    est = estimate(resources, PriceTable.load(), stack=spec.name)
    return {
        "spec": spec,
        "estimate": est,
        "violations": [v.to_json() for v in result.violations],
        "packs": [
            (p.pack, p.version, dict(p.policies), _relative(cfg, project_dir))
            for p, (_, cfg) in zip(result.packs, pairs, strict=True)
        ],
        "collisions": found,
    }


def _relative(path: Path | None, project_dir: Path) -> str:
    """A pack config as the PR comment names it: relative to the project."""
    if path is None:
        return "no config"
    try:
        return str(path.resolve().relative_to(project_dir.resolve()))
    except ValueError:
        return str(path)


def _cost_lines(est: Any) -> list[str]:
    lines = [
        f"Estimated cost: **${est.total_hourly:.4f}/h**"
        + (f" ({len(est.unpriced)} unpriced)" if est.unpriced else ""),
        "",
        "| component | $/h |",
        "|---|---:|",
    ]
    free = 0
    for comp, v in sorted(est.by_component().items(), key=lambda kv: (-kv[1], kv[0])):
        if v == 0:
            free += 1  # namespaces, rules, dashboards: shown as a count, not as $0 rows
            continue
        lines.append(f"| `{comp}` | {v:.4f} |")
    if free:
        lines.append(f"| {free} more component(s) with no hourly cost | 0.0000 |")
    return [*lines, ""]


def _event_lines(events: list[dict[str, Any]]) -> list[str]:
    mandatory = [e for e in events if e.get("enforcement") == "mandatory"]
    if not events:
        return ["No policy violations."]
    lines = [
        f"**{len(mandatory)} mandatory, {len(events) - len(mandatory)} advisory policy events**",
        "",
        "| policy | level | resource | message |",
        "|---|---|---|---|",
    ]
    for e in events:
        urn = (e.get("urn") or "(stack)").split("::")[-1]
        msg = str(e.get("message", "")).replace("\n", " ").replace("|", "\\|")
        lines.append(f"| {e.get('policy')} | {e.get('enforcement')} | `{urn}` | {msg} |")
    return lines


def _preview_comment(
    stack: str,
    events: list[dict[str, Any]],
    est: Any | None,
    *,
    spec: Any = None,
    packs: list[str] | None = None,
) -> str:
    """The PR comment: where the preview runs and how to reach it, its cost by component, the
    packs it was checked with, and every policy event."""
    lines = [f"### Preview stack `{stack}`", ""]
    if spec is not None:
        lines += [f"Copied from `{spec.template}`. {spec.reach[0]}", ""]
        lines += [*spec.reach[1:], ""]
    if est is not None:
        lines += _cost_lines(est)
    if packs:
        lines += ["Policies:", *(f"- {p}" for p in packs), ""]
    lines += _event_lines(events)
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
        bool,
        typer.Option(
            "--offline",
            help="Embedded lane: write Pulumi.pr-N.yaml, plan it with policies and cost.",
        ),
    ] = False,
    markdown_out: MarkdownOut = None,
    json_out: JsonOut = None,
) -> None:
    """Create or update preview stack pr-N from a template stack, isolated in its own
    namespace, after checking it against every stack file; policies enforced. Without --json
    or --markdown the PR comment is printed."""
    options.check_output(json_out, "--json")
    options.check_output(markdown_out, "--markdown")
    project_dir = options.project(cwd)
    name = previews.stack_name(pr)
    if offline:
        comment, doc = _up_offline(project_dir, pr, template, markdown_out)
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


def _refused(name: str, err: previews.CollisionsFound, markdown_out: str | None) -> None:
    """The PR comment says which objects collide; then the error exits 1."""
    options.write_markdown(markdown_out, _preview_comment(name, err.violations, None))
    if markdown_out is None:
        typer.echo(_preview_comment(name, err.violations, None), nl=False, err=True)


def _up_offline(
    project_dir: Path, pr: int, template: str, markdown_out: str | None
) -> tuple[str, dict[str, Any]]:
    res = plan_offline(project_dir, pr, template)
    spec = res["spec"]
    if res["collisions"]:
        err = previews.CollisionsFound(spec.name, res["collisions"])
        _refused(spec.name, err, markdown_out)
        raise err
    path = previews.write_stack_file(project_dir, spec.name, spec.config)
    est = res["estimate"]
    used = [
        f"`{n}@{v}` with `{cfg}`: " + ", ".join(f"{name} ({level})" for name, level in k.items())
        for n, v, k, cfg in res["packs"]
    ]
    comment = _preview_comment(spec.name, res["violations"], est, spec=spec, packs=used)
    doc = {
        "stack": spec.name,
        "offline": True,
        "stackFile": str(path),
        "namespace": spec.namespace,
        "total_hourly": float(est.total_hourly),
        "components": {k: float(v) for k, v in sorted(est.by_component().items())},
        "packs": [
            {"name": n, "version": v, "config": c, "policies": k} for n, v, k, c in res["packs"]
        ],
        "violations": res["violations"],
    }
    return comment, doc


def _up_cloud(
    project_dir: Path, pr: int, template: str, owner: str, markdown_out: str | None
) -> tuple[str, dict[str, Any]]:
    # The Automation API wrapper imports the Pulumi SDK (~1 s); only the cloud lane needs it.
    from summit_platform.automation import pulumi_ops as ops

    name = previews.stack_name(pr)
    ttl = _preview_ttl(project_dir, template)
    who = owner or os.environ.get("GITHUB_ACTOR") or os.environ.get("USER", "unknown")
    pairs = _packs(project_dir)
    try:
        out = previews.up(
            project_dir,
            pr,
            template=template,
            owner=who,
            now=datetime.now(UTC),
            ttl_hours=ttl,
            packs=[p for p, _ in pairs],
            pack_configs=[c for _, c in pairs if c is not None],
            on_output=lambda line: typer.echo(line, err=True),
        )
    except previews.CollisionsFound as err:
        _refused(name, err, markdown_out)
        raise
    except ops.PolicyViolations as err:
        # The engine refused: the PR comment still shows why, then the error exits 1.
        events = [previews._event_json(e) for e in err.policy_events]
        options.write_markdown(markdown_out, _preview_comment(name, events, None))
        raise
    est = estimate(out.planned, PriceTable.load(), stack=name)
    doc = {
        "stack": name,
        "offline": False,
        "tags": out.tags,
        "changes": out.changes,
        "total_hourly": float(est.total_hourly),
        "violations": out.policy_events,
    }
    used = [f"`{p.name}` with `{_relative(c, project_dir)}`" for p, c in pairs]
    comment = _preview_comment(name, out.policy_events, est, spec=out.spec, packs=used)
    return comment, doc


def _preview_ttl(project_dir: Path, template: str) -> float:
    """The ``ttl`` tag of a preview: the platform template's ``finops.previewTtlHours``; a
    service project has no such key and takes the platform model's default."""
    cfg = platform_config(project_dir, template)
    if cfg is None:
        return float(FinopsConfig.model_fields["preview_ttl_hours"].default)
    return cfg.finops.preview_ttl_hours


@previews_app.command("destroy")
def previews_destroy(
    pr: Pr,
    cwd: Cwd = Path("."),
    yes: Yes = False,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline", help="Embedded lane: remove Pulumi.pr-N.yaml (shows it without --yes)."
        ),
    ] = False,
) -> None:
    """Destroy preview stack pr-N and remove it (shows what it would do without --yes)."""
    project_dir = options.project(cwd)
    name = previews.stack_name(pr)
    if offline:
        _destroy_offline(project_dir, pr, name, yes)
    elif not yes:
        typer.echo(f"would destroy and remove {name} (pass --yes to do it)")
    else:
        previews.destroy(project_dir, pr)
        typer.echo(f"destroyed and removed {name}")


def _destroy_offline(project_dir: Path, pr: int, name: str, yes: bool) -> None:
    """Show what the preview's stack file holds; with ``yes``, remove the file."""
    path = project_dir / f"Pulumi.{name}.yaml"
    if not path.is_file():
        raise UserError(
            "no such preview stack file (see `summit previews up --offline`)", source=str(path)
        )
    try:
        res = plan_stack(project_dir, name, evaluate=False)
    except PlanError as err:
        raise _plan_error(err, project_dir, name) from None
    est = estimate([r.to_json() for r in res.plan.resources], PriceTable.load(), stack=name)
    held = f"{len(est.lines) + len(est.unpriced)} resources, ${est.total_hourly:.4f}/h"
    if not yes:
        typer.echo(f"would remove {path.name} ({held}); pass --yes to do it")
        return
    previews.remove_stack_file(project_dir, pr)
    typer.echo(f"removed {path.name} ({held})")


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
    --yes nothing changes, not even the workspace's selected stack. Without --json or
    --markdown the report is printed as Markdown."""
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


_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]+)?(Z|[+-][0-9]{2}:?[0-9]{2})?")
"""An ISO 8601 time in ASCII digits (what ``pulumi stack ls --json`` writes)."""


def _row_time(row: dict[str, Any], source: str, key: str) -> datetime | None:
    last = row.get("lastUpdate")
    if last is None:
        return None
    found = redact.short(last)
    if not isinstance(last, str) or not _ISO.fullmatch(last):
        raise UserError(f"expected an ISO 8601 time or null, found {found}", source=source, key=key)
    try:
        when = datetime.fromisoformat(last.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            f"expected an ISO 8601 time, found {found}", source=source, key=key
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _row_tags(row: dict[str, Any], source: str, key: str) -> dict[str, str]:
    tags = row.get("tags")
    if tags is None:
        return {}
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise UserError(
            f"expected a map of tag name -> string, found {redact.short(tags)}",
            source=source,
            key=key,
        )
    return dict(tags)


def _read_stack_list(path: Path) -> tuple[list[Any], dict[str, dict[str, str]]]:
    """An offline stack list: what ``pulumi stack ls --json`` gives, plus each stack's tags.
    Every field is checked (one line naming the file and ``[i].key``); nothing is guessed."""
    # The Pulumi SDK (~1 s to import) is needed here only for its StackSummary type.
    from pulumi.automation import StackSummary

    source = str(path)
    rows = safe_io.load_json(path)
    if not isinstance(rows, list):
        raise UserError(
            f"expected a JSON list of stacks, found {type(rows).__name__}", source=source
        )
    summaries, tags = [], {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str) or not row["name"]:
            raise UserError(
                "expected {name, lastUpdate, tags} with a name", source=source, key=f"[{i}]"
            )
        name = row["name"]
        if name in tags:
            raise UserError(f"stack {name!r} is listed twice", source=source, key=f"[{i}].name")
        in_progress = row.get("updateInProgress", False)
        if not isinstance(in_progress, bool):
            raise UserError(
                f"expected true or false, found {redact.short(in_progress)}",
                source=source,
                key=f"[{i}].updateInProgress",
            )
        count = row.get("resourceCount")
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 0
        ):
            raise UserError(
                f"expected a count >= 0 or null, found {redact.short(count)}",
                source=source,
                key=f"[{i}].resourceCount",
            )
        summaries.append(
            StackSummary(
                name=name,
                current=False,
                update_in_progress=in_progress,
                last_update=_row_time(row, source, f"[{i}].lastUpdate"),
                resource_count=count,
                url=None,
            )
        )
        tags[name] = _row_tags(row, source, f"[{i}].tags")
    return summaries, tags


def register(root: typer.Typer) -> None:
    """Attach ``summit finops`` and ``summit previews`` to the root app."""
    root.add_typer(app, name="finops")
    root.add_typer(previews_app, name="previews")
