"""``summit gate`` and ``summit deploy``: the regional health gate and the serial deploy."""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from automation import options, safe_io
from automation.delivery import gate as g
from automation.errors import CheckFailed, UserError
from automation.options import Cwd, Duration, JsonOut, MarkdownOut, Stack, duration_option
from automation.stack_files import load_stack, project_defaults
from stacks.config import StackConfig

Slos = Annotated[
    list[str] | None,
    typer.Option("--slo", help="Gate condition, repeatable: 'p95<1500ms', 'err<1%'."),
]


def gate(
    region: Annotated[str, typer.Option("--region", help="Region to judge, e.g. us-east-1.")],
    prometheus: Annotated[
        str, typer.Option("--prometheus", help="Prometheus base URL, e.g. http://127.0.0.1:9090.")
    ],
    window: Annotated[
        Duration, duration_option("--window", "Look-back window (at least 1m).")
    ] = Duration.of("10m"),
    slo: Slos = None,
    service: Annotated[
        str | None, typer.Option("--service", help="Only this service's series.")
    ] = None,
    at: Annotated[
        float | None, typer.Option("--at", help="Evaluate at this unix time (default: now).")
    ] = None,
    json_out: JsonOut = None,
    markdown_out: MarkdownOut = None,
    cwd: Cwd = Path("."),
) -> None:
    """Query the region's request histogram and check each SLO. Exit 0 pass, 1 fail or no
    data, 2 bad input. The gate reads no project file; -C is accepted like everywhere."""
    options.check_output(json_out, "--json")
    options.check_output(markdown_out, "--markdown")
    g.check_region(region)
    slos = g.slos_from(slo)
    win = g.window_range(window.seconds, "--window")
    client = g.PrometheusClient(prometheus)
    result = g.run_gate(lambda q: client.query(q, at), region, win, slos, service)
    Console(stderr=options.to_stdout(json_out, markdown_out)).print(g.table(result))
    options.write_json(json_out, result.to_json())
    options.write_markdown(markdown_out, g.markdown(result))
    if not result.passed:
        raise CheckFailed(result.summary)
    Console(stderr=True).print(result.summary)


ServiceSpecs = Annotated[
    list[str] | None,
    typer.Option(
        "--service",
        metavar="NAME[=VERSION]",
        help="Service to deploy, repeatable: NAME (takes --version) or NAME=VERSION.",
    ),
]
DEPLOY_LOCK_TIMEOUT_S = 30.0
"""How long a deploy waits for another deploy of the same stack in this folder."""


def deploy(
    stack: Stack,
    service: ServiceSpecs = None,
    version: Annotated[
        str | None,
        typer.Option(
            "--version", help="Image tag for each --service without its own, or --all-services."
        ),
    ] = None,
    all_services: Annotated[
        bool, typer.Option("--all-services", help="Deploy every delivered service at --version.")
    ] = False,
    regions: Annotated[
        str | None,
        typer.Option("--regions", help="Comma-separated order (default: east, then west)."),
    ] = None,
    rollback_all: Annotated[
        bool,
        typer.Option(
            "--rollback-all", help="On a failure, also restore the regions already deployed."
        ),
    ] = False,
    gate_window: Annotated[
        Duration, duration_option("--gate-window", "Health-gate look-back window (at least 1m).")
    ] = Duration.of("10m"),
    prometheus: Annotated[
        str | None,
        typer.Option("--prometheus", help="Prometheus URL (default: rollout.gatePrometheusUrl)."),
    ] = None,
    slo: Slos = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would change; change nothing.")
    ] = False,
    cwd: Cwd = Path("."),
    json_out: JsonOut = None,
    markdown_out: MarkdownOut = None,
) -> None:
    """Deploy the services you name, one region at a time: set each changed service's version
    for the region in the stack file, `up` just those workloads, wait for their Rollouts, run
    the health gate, and only then move on. A failed step sets back every key it changed in
    that region (and, with --rollback-all, in the regions already done), `up`s them, and
    stops (exit 1). Nothing is deployed unless named: --service or --all-services."""
    # The deploy layer drives the Pulumi Automation API (~1.5 s to import); only deploy uses it.
    from automation.delivery import deploy as d

    options.check_output(json_out, "--json")
    options.check_output(markdown_out, "--markdown")
    project_dir = options.project(cwd)
    cfg = load_stack(project_dir, stack)
    delivered = [s.name for s in cfg.services if s.deliver]
    releases = d.parse_releases(service, version, all_services, delivered)
    order = d.parse_regions(regions, cfg.region_names)
    window = g.window_range(gate_window.seconds, "--gate-window")
    plan = _plan(d, cfg, project_dir, stack, releases, order, gate_window.text, rollback_all)
    slos = g.slos_from(slo, {"p95_ms": cfg.rollout.p95_ms, "error_ratio": cfg.rollout.error_ratio})
    console = Console(stderr=options.to_stdout(json_out, markdown_out))
    if dry_run or not plan.regions:
        _print_plan(plan, slos, console)
        report = d.DeployReport(plan=plan, results=[], dry_run=True)
    else:
        url = _gate_url(prometheus, cfg, project_dir, stack)
        report = _execute(d, plan, cfg, project_dir, url, window, slos, console)
    _finish(report, json_out, markdown_out)
    if not report.ok:
        raise CheckFailed(report.summary)


def _plan(
    d: Any,
    cfg: StackConfig,
    project_dir: Path,
    stack: str,
    releases: dict[str, str],
    regions: list[str] | None,
    gate_window: str,
    rollback_all: bool,
) -> Any:
    """Step 1: the ordered, validated plan (nothing changed yet)."""
    from automation.delivery.deploy_ops import read_raw_services

    project, _ = project_defaults(project_dir)
    key, raw = read_raw_services(project_dir, stack, project)
    return d.plan_deploy(
        cfg,
        stack=stack,
        project=project,
        releases=releases,
        raw_services=raw,
        regions=regions,
        gate_window=gate_window,
        source=str(project_dir / f"Pulumi.{stack}.yaml"),
        services_key=key,
        rollback_all=rollback_all,
    )


def _print_plan(plan: Any, slos: list[g.Slo], console: Console) -> None:
    """The dry run: what changes (service, region, from -> to), then every forward step."""
    from automation.delivery.report import plan_lines

    console.print(
        f"[bold]deploy plan[/] {plan.what} -> {plan.stack} (gate: "
        f"{', '.join(s.text for s in slos)} over {plan.gate_window})",
        soft_wrap=True,
    )
    from automation.delivery.deploy import DeployReport

    for line in plan_lines(DeployReport(plan=plan, results=[], dry_run=True)):
        console.print(line, soft_wrap=True, markup=False, highlight=False)


def _gate_url(prometheus: str | None, cfg: StackConfig, project_dir: Path, stack: str) -> str:
    """Step 2: the Prometheus to gate on, refused before anything changes when there is none."""
    url = prometheus or cfg.rollout.gate_prometheus_url
    if not url:
        raise UserError(
            "no Prometheus to gate on: pass --prometheus or set rollout.gatePrometheusUrl",
            source=str(project_dir / f"Pulumi.{stack}.yaml"),
            key="summit-platform:rollout.gatePrometheusUrl",
        )
    return url


def gate_function(url: str, window: str, slos: list[g.Slo], console: Console) -> Any:
    """The regional gate ``summit deploy`` runs after each region's Rollouts are healthy."""
    client = g.PrometheusClient(url)

    def gate_fn(region: Any) -> tuple[bool, str, dict[str, Any]]:
        result = g.run_gate(client.query, region.region, window, slos)
        console.print(g.table(result))
        return result.passed, result.summary, result.to_json()

    return gate_fn


def rollout_phase() -> Any:
    """How ``summit deploy`` reads a Rollout's phase (kubectl through the region's context)."""
    from automation.delivery.deploy_ops import kubectl_phase

    return kubectl_phase()


def _execute(
    d: Any,
    plan: Any,
    cfg: StackConfig,
    project_dir: Path,
    url: str,
    window: str,
    slos: list[g.Slo],
    console: Console,
) -> Any:
    """Step 3: run the plan region by region against the engine, the cluster and the gate,
    one deploy of the stack at a time in this folder, each step in the audit log."""
    from automation.delivery.deploy_ops import PulumiDeployOps

    audit = project_dir / ".summit" / f"deploy-{plan.stack}.jsonl"
    run = {"run": f"{time.time():.6f}", "stack": plan.stack}

    def on_step(res: Any) -> None:
        mark = "[green]ok[/]" if res.ok else "[bold red]FAILED[/]"
        console.print(f"{res.step.kind:<14} {res.step.region}  {mark}  {res.message}")
        safe_io.append_jsonl(
            audit,
            {
                **run,
                "event": "step",
                "step": res.step.kind,
                "region": res.step.region,
                "ok": res.ok,
                "message": res.message,
                "at": _now(),
            },
        )

    ops = PulumiDeployOps(
        project_dir=project_dir,
        stack_name=plan.stack,
        services_key=plan.services_key,
        gate_fn=gate_function(url, window, slos, console),
        phase=rollout_phase(),
        healthy_timeout_seconds=cfg.rollout.healthy_timeout_seconds,
        log=lambda m: console.print(f"[dim]{m}[/]"),
    )
    with safe_io.locked(
        project_dir / ".summit" / f"deploy-{plan.stack}", timeout=DEPLOY_LOCK_TIMEOUT_S
    ):
        edits = [asdict(e) for r in plan.regions for e in r.edits]
        safe_io.append_jsonl(
            audit,
            {**run, "event": "start", "releases": plan.releases, "edits": edits, "at": _now()},
        )
        report = d.execute(plan, ops, on_step=on_step)
        safe_io.append_jsonl(
            audit,
            {
                **run,
                "event": "end",
                "ok": report.ok,
                "final": report.final_versions(),
                "at": _now(),
            },
        )
    return report


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _finish(report: Any, json_out: str | None, markdown_out: str | None) -> None:
    """Step 4: the summary line for people, then the reports."""
    from automation.delivery.report import to_json, to_markdown

    Console(stderr=True).print(report.summary, soft_wrap=True, markup=False, highlight=False)
    options.write_json(json_out, to_json(report))
    options.write_markdown(markdown_out, to_markdown(report))


def register(app: typer.Typer) -> None:
    """Attach ``summit gate`` and ``summit deploy`` to the root app."""
    app.command("gate")(gate)
    app.command("deploy")(deploy)
