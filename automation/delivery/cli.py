"""``summit gate`` and ``summit deploy``: the regional health gate and the serial deploy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from summit_platform.automation import options
from summit_platform.automation.delivery import gate as g
from summit_platform.automation.errors import CheckFailed, UserError
from summit_platform.automation.options import (
    Cwd,
    Duration,
    JsonOut,
    MarkdownOut,
    Stack,
    duration_option,
)
from summit_platform.automation.service import project as service_project
from summit_platform.automation.stack_files import load_stack, project_file
from summit_platform.stacks.config import StackConfig

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
    g.check_at(at)
    g.check_service(service)
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
    # The deploy layers import the program's components and drive the Pulumi Automation API
    # (~1.5 s to import); only deploy uses them.
    from summit_platform.automation.delivery import deploy_run as run

    options.check_output(json_out, "--json")
    options.check_output(markdown_out, "--markdown")
    project_dir = options.project(cwd)
    if not service_project.is_platform(project_file(project_dir).name):
        flags: dict[str, Any] = {"stack": stack, "service": service, "version": version}
        flags["regions"] = regions
        flags |= {"all_services": all_services, "prometheus": prometheus, "slo": slo}
        _deploy_service(project_dir, flags, gate_window, dry_run, (json_out, markdown_out))
        return
    cfg = load_stack(project_dir, stack)
    delivered = [s.name for s in cfg.services if s.deliver]
    releases = run.d.parse_releases(service, version, all_services, delivered)
    order = run.d.parse_regions(regions, cfg.region_names)
    window = g.window_range(gate_window.seconds, "--gate-window")
    plan = run.plan(cfg, project_dir, stack, releases, order, gate_window.text, rollback_all)
    slos = g.slos_from(slo, {"p95_ms": cfg.rollout.p95_ms, "error_ratio": cfg.rollout.error_ratio})
    console = Console(stderr=options.to_stdout(json_out, markdown_out))
    if dry_run or not plan.regions:
        run.print_plan(plan, slos, console)
        report = run.d.DeployReport(plan=plan, results=[], dry_run=True)
    else:
        url = gate_url(prometheus, cfg, project_dir, stack)
        report = run.execute(plan, cfg, project_dir, run.Gate(url, window, slos), console)
    run.finish(report, json_out, markdown_out)
    if not report.ok:
        raise CheckFailed(report.summary)


def _deploy_service(
    project_dir: Path,
    flags: dict[str, Any],
    gate_window: Duration,
    dry_run: bool,
    outputs: tuple[str | None, str | None],
) -> None:
    """A service project's deploy (:mod:`summit_platform.automation.delivery.service_run`): its one
    ``version`` key, region by region in the order of its ``clusters``, each gated."""
    # Like the platform's deploy layers, these load the plan engine and the Automation API.
    from summit_platform.automation.delivery import service_run

    req = service_run.Request(
        **flags, gate_window=gate_window.text, gate_seconds=gate_window.seconds, dry_run=dry_run
    )
    report = service_run.deploy(project_dir, req, *outputs)
    if not report.ok:
        raise CheckFailed(report.summary)


def gate_url(prometheus: str | None, cfg: StackConfig, project_dir: Path, stack: str) -> str:
    """The Prometheus to gate on, refused before anything changes when there is none."""
    url = prometheus or cfg.rollout.gate_prometheus_url
    if not url:
        raise UserError(
            "no Prometheus to gate on: pass --prometheus or set rollout.gatePrometheusUrl",
            source=str(project_dir / f"Pulumi.{stack}.yaml"),
            key="summit-platform:rollout.gatePrometheusUrl",
        )
    return url


def register(app: typer.Typer) -> None:
    """Attach ``summit gate`` and ``summit deploy`` to the root app."""
    app.command("gate")(gate)
    app.command("deploy")(deploy)
