"""``summit gate`` and ``summit deploy``: the regional health gate and the serial deploy."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from automation.errors import CheckFailed, UserError


def _write(path: Path | None, text: str) -> None:
    if path is None:
        return
    if str(path) == "-":
        sys.stdout.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def gate(
    region: Annotated[str, typer.Option("--region", help="Region to judge, e.g. us-east-1.")],
    prometheus: Annotated[
        str, typer.Option("--prometheus", help="Prometheus base URL, e.g. http://127.0.0.1:9090.")
    ],
    window: Annotated[
        str, typer.Option("--window", help="Look-back window (PromQL range).")
    ] = "10m",
    slo: Annotated[
        list[str] | None,
        typer.Option("--slo", help="Condition, repeatable: 'p95<1500ms', 'err<1%'."),
    ] = None,
    service: Annotated[
        str | None, typer.Option("--service", help="Only this service's series.")
    ] = None,
    at: Annotated[
        float | None, typer.Option("--at", help="Evaluate at this unix time (default: now).")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the verdict as JSON ('-' = stdout).")
    ] = None,
    markdown_out: Annotated[
        Path | None, typer.Option("--markdown", help="Write a Markdown table ('-' = stdout).")
    ] = None,
) -> None:
    """Query the region's request histogram and check each SLO. Exit 0 pass, 1 fail or no
    data, 2 bad input."""
    from automation.delivery import gate as g

    g.check_region(region)
    slos = g.slos_from(slo)
    win = g.parse_window(window)
    client = g.PrometheusClient(prometheus)
    result = g.run_gate(lambda q: client.query(q, at), region, win, slos, service)
    if json_out is None or str(json_out) != "-":
        Console().print(g.table(result))
    _write(json_out, json.dumps(result.to_json(), indent=2) + "\n")
    _write(markdown_out, g.markdown(result))
    if not result.passed:
        raise CheckFailed(result.summary)
    Console(stderr=True).print(result.summary)


def deploy(
    stack: Annotated[
        str, typer.Option("--stack", "-s", help="Stack to deploy (Pulumi.NAME.yaml).")
    ],
    version: Annotated[str, typer.Option("--version", help="Image tag to roll out, e.g. v1.3.0.")],
    regions: Annotated[
        str | None,
        typer.Option("--regions", help="Comma-separated order (default: east, then west)."),
    ] = None,
    services: Annotated[
        str | None, typer.Option("--services", help="Comma-separated (default: all delivered).")
    ] = None,
    gate_window: Annotated[
        str, typer.Option("--gate-window", help="Health-gate look-back window.")
    ] = "10m",
    prometheus: Annotated[
        str | None,
        typer.Option("--prometheus", help="Prometheus URL (default: rollout.gatePrometheusUrl)."),
    ] = None,
    slo: Annotated[
        list[str] | None,
        typer.Option("--slo", help="Gate conditions (default: rollout.p95Ms / errorRatio)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the ordered plan; change nothing.")
    ] = False,
    project_dir: Annotated[
        Path, typer.Option("-C", "--cwd", help="Pulumi Python project directory.")
    ] = Path("."),
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the run summary as JSON.")
    ] = None,
    markdown_out: Annotated[
        Path | None, typer.Option("--markdown", help="Write the run summary as Markdown.")
    ] = None,
) -> None:
    """Deploy VERSION one region at a time: set the region's version in config, `up` that
    region's workloads, wait for the Rollouts to be Healthy, run the health gate, and only then
    move on. A failed step restores the region's previous version, `up`s it, and stops (exit 1)."""
    from automation.delivery import deploy as d
    from automation.delivery import gate as g
    from stacks.config import load_stack, project_defaults

    project_dir = project_dir.resolve()
    source = str(project_dir / f"Pulumi.{stack}.yaml")
    cfg = load_stack(project_dir, stack)
    project, _ = project_defaults(project_dir)
    window = g.parse_window(gate_window)
    plan = d.plan_deploy(
        cfg,
        stack=stack,
        project=project,
        version=version,
        raw_services=d.read_raw_services(project_dir, stack),
        regions=[r.strip() for r in regions.split(",") if r.strip()] if regions else None,
        services=[s.strip() for s in services.split(",") if s.strip()] if services else None,
        gate_window=gate_window,
        source=source,
    )
    slos = g.slos_from(slo, {"p95_ms": cfg.rollout.p95_ms, "error_ratio": cfg.rollout.error_ratio})
    console = Console()
    if dry_run:
        report = d.DeployReport(plan=plan, results=[], dry_run=True)
        console.print(
            f"[bold]deploy plan[/] {version} -> {stack} (gate: "
            f"{', '.join(s.text for s in slos)} over {gate_window})"
        )
        for i, step in enumerate(d.forward_steps(plan), 1):
            region = next(r for r in plan.regions if r.region == step.region)
            extra = ""
            if step.kind == "set-version":
                extra = "; ".join(
                    f"{e.path}: {e.effective_previous} -> {e.new}" for e in region.edits
                )
            elif step.kind == "up":
                extra = f"--target x{len(region.targets)}"
            elif step.kind == "wait-healthy":
                extra = ", ".join(region.rollouts)
            console.print(f"{i:>2}. {step.kind:<13} {step.region}  {extra}", soft_wrap=True)
        _finish(report, json_out, markdown_out)
        return
    url = prometheus or cfg.rollout.gate_prometheus_url
    if not url:
        raise UserError(
            "no Prometheus to gate on: pass --prometheus or set rollout.gatePrometheusUrl",
            source=source,
            key="summit-platform:rollout.gatePrometheusUrl",
        )
    client = g.PrometheusClient(url)

    def gate_fn(region: d.RegionPlan) -> tuple[bool, str, dict[str, Any]]:
        result = g.run_gate(client.query, region.region, window, slos)
        console.print(g.table(result))
        return result.passed, result.summary, result.to_json()

    ops = d.PulumiDeployOps(
        project_dir=project_dir,
        stack_name=stack,
        gate_fn=gate_fn,
        phase=d.kubectl_phase(),
        healthy_timeout_seconds=cfg.rollout.healthy_timeout_seconds,
        log=lambda m: console.print(f"[dim]{m}[/]"),
    )

    def on_step(res: d.StepResult) -> None:
        mark = "[green]ok[/]" if res.ok else "[bold red]FAILED[/]"
        console.print(f"{res.step.kind:<14} {res.step.region}  {mark}  {res.message}")

    report = d.execute(plan, ops, on_step=on_step)
    _finish(report, json_out, markdown_out)
    if not report.ok:
        raise CheckFailed(report.summary)


def _finish(report: Any, json_out: Path | None, markdown_out: Path | None) -> None:
    Console(stderr=True).print(report.summary)
    _write(json_out, json.dumps(report.to_json(), indent=2) + "\n")
    _write(markdown_out, report.to_markdown())


def register(app: typer.Typer) -> None:
    """Attach ``summit gate`` and ``summit deploy`` to the root app."""
    app.command("gate")(gate)
    app.command("deploy")(deploy)
