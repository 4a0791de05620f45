"""``summit gate`` and ``summit deploy``: the regional health gate and the serial deploy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from automation import options
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


def deploy(
    stack: Stack,
    version: Annotated[str, typer.Option("--version", help="Image tag to roll out, e.g. v1.3.0.")],
    regions: Annotated[
        str | None,
        typer.Option("--regions", help="Comma-separated order (default: east, then west)."),
    ] = None,
    services: Annotated[
        str | None, typer.Option("--services", help="Comma-separated (default: all delivered).")
    ] = None,
    gate_window: Annotated[
        Duration, duration_option("--gate-window", "Health-gate look-back window (at least 1m).")
    ] = Duration.of("10m"),
    prometheus: Annotated[
        str | None,
        typer.Option("--prometheus", help="Prometheus URL (default: rollout.gatePrometheusUrl)."),
    ] = None,
    slo: Slos = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the ordered plan; change nothing.")
    ] = False,
    cwd: Cwd = Path("."),
    json_out: JsonOut = None,
    markdown_out: MarkdownOut = None,
) -> None:
    """Deploy VERSION one region at a time: set the region's version in config, `up` that
    region's workloads, wait for the Rollouts to be Healthy, run the health gate, and only then
    move on. A failed step restores the region's previous version, `up`s it, and stops (exit 1)."""
    # The deploy module drives the Pulumi Automation API (~1.5 s to import); only deploy uses it.
    from automation.delivery import deploy as d

    options.check_output(json_out, "--json")
    options.check_output(markdown_out, "--markdown")
    project_dir = options.project(cwd)
    cfg = load_stack(project_dir, stack)
    window = g.window_range(gate_window.seconds, "--gate-window")
    plan = _plan(d, cfg, project_dir, stack, version, regions, services, gate_window.text)
    slos = g.slos_from(slo, {"p95_ms": cfg.rollout.p95_ms, "error_ratio": cfg.rollout.error_ratio})
    console = Console(stderr=options.to_stdout(json_out, markdown_out))
    if dry_run:
        _print_plan(d, plan, slos, console)
        report = d.DeployReport(plan=plan, results=[], dry_run=True)
    else:
        url = _gate_url(prometheus, cfg, project_dir, stack)
        report = _execute(d, plan, cfg, project_dir, url, window, slos, console)
    _finish(report, json_out, markdown_out)
    if not report.ok:
        raise CheckFailed(report.summary)


def _csv(text: str | None, flag: str) -> list[str] | None:
    """``a, b`` -> ``["a", "b"]``; no flag -> ``None`` (the default); a flag that names
    nothing (``,,,``) is bad input rather than "everything"."""
    if text is None:
        return None
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise UserError(f"expected a comma-separated list of names, found {text!r}", key=flag)
    return items


def _plan(
    d: Any,
    cfg: StackConfig,
    project_dir: Path,
    stack: str,
    version: str,
    regions: str | None,
    services: str | None,
    gate_window: str,
) -> Any:
    """Step 1: the ordered, validated plan (nothing changed yet)."""
    project, _ = project_defaults(project_dir)
    return d.plan_deploy(
        cfg,
        stack=stack,
        project=project,
        version=version,
        raw_services=d.read_raw_services(project_dir, stack),
        regions=_csv(regions, "--regions"),
        services=_csv(services, "--services"),
        gate_window=gate_window,
        source=str(project_dir / f"Pulumi.{stack}.yaml"),
    )


def _print_plan(d: Any, plan: Any, slos: list[g.Slo], console: Console) -> None:
    """The dry run: every forward step, numbered, with what it would change."""
    console.print(
        f"[bold]deploy plan[/] {plan.version} -> {plan.stack} (gate: "
        f"{', '.join(s.text for s in slos)} over {plan.gate_window})"
    )
    for i, step in enumerate(d.forward_steps(plan), 1):
        region = next(r for r in plan.regions if r.region == step.region)
        extra = ""
        if step.kind == "set-version":
            extra = "; ".join(f"{e.path}: {e.effective_previous} -> {e.new}" for e in region.edits)
        elif step.kind == "up":
            extra = f"--target x{len(region.targets)}"
        elif step.kind == "wait-healthy":
            extra = ", ".join(region.rollouts)
        console.print(f"{i:>2}. {step.kind:<13} {step.region}  {extra}", soft_wrap=True)


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
    """Step 3: run the plan region by region against the engine, the cluster and the gate."""
    client = g.PrometheusClient(url)

    def gate_fn(region: Any) -> tuple[bool, str, dict[str, Any]]:
        result = g.run_gate(client.query, region.region, window, slos)
        console.print(g.table(result))
        return result.passed, result.summary, result.to_json()

    def on_step(res: Any) -> None:
        mark = "[green]ok[/]" if res.ok else "[bold red]FAILED[/]"
        console.print(f"{res.step.kind:<14} {res.step.region}  {mark}  {res.message}")

    ops = d.PulumiDeployOps(
        project_dir=project_dir,
        stack_name=plan.stack,
        gate_fn=gate_fn,
        phase=d.kubectl_phase(),
        healthy_timeout_seconds=cfg.rollout.healthy_timeout_seconds,
        log=lambda m: console.print(f"[dim]{m}[/]"),
    )
    return d.execute(plan, ops, on_step=on_step)


def _finish(report: Any, json_out: str | None, markdown_out: str | None) -> None:
    """Step 4: the summary line for people, then the reports."""
    Console(stderr=True).print(report.summary)
    options.write_json(json_out, report.to_json())
    options.write_markdown(markdown_out, report.to_markdown())


def register(app: typer.Typer) -> None:
    """Attach ``summit gate`` and ``summit deploy`` to the root app."""
    app.command("gate")(gate)
    app.command("deploy")(deploy)
