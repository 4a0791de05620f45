"""The shell of ``summit deploy`` around the pure plan: read the stack file, print the dry run,
run the plan against the engine, the cluster and the gate under a per-stack lock with an audit
log, and write the reports. The command (:mod:`summit_platform.automation.delivery.cli`) imports this module
only when it runs, because it pulls in the program's components and the Automation API."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from summit_platform.automation import options, safe_io
from summit_platform.automation.delivery import deploy as d
from summit_platform.automation.delivery import gate as g
from summit_platform.automation.delivery.deploy_ops import (
    PulumiDeployOps,
    kubectl_phase,
    read_raw_services,
)
from summit_platform.automation.delivery.report import plan_lines, to_json, to_markdown
from summit_platform.automation.stack_files import project_defaults
from summit_platform.stacks.config import StackConfig

DEPLOY_LOCK_TIMEOUT_S = 30.0
"""How long a deploy waits for another deploy of the same stack in this folder."""


def plan(
    cfg: StackConfig,
    project_dir: Path,
    stack: str,
    releases: dict[str, str],
    regions: list[str] | None,
    gate_window: str,
    rollback_all: bool,
) -> d.DeployPlan:
    """The ordered, validated plan (nothing changed yet)."""
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
        unsettled=unsettled(audit_log(project_dir, stack)),
    )


def audit_log(project_dir: Path, stack: str) -> Path:
    """Where a stack's deploys are recorded (git-ignored, with the lock beside it)."""
    return project_dir / ".summit" / f"deploy-{stack}.jsonl"


def unsettled(audit: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The edits of the last run in ``audit`` when it never ended (a crash): each (service,
    region) it planned whose region neither passed its gate nor had its config restored. A
    torn last line (the crash hit the write) is skipped."""
    if not audit.is_file():
        return {}
    records = []
    for line in safe_io.read_text(audit).splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    starts = [r for r in records if isinstance(r, dict) and r.get("event") == "start"]
    if not starts:
        return {}
    run = starts[-1].get("run")
    mine = [r for r in records if isinstance(r, dict) and r.get("run") == run]
    if any(r.get("event") == "end" for r in mine):
        return {}
    settled = {
        r.get("region")
        for r in mine
        if r.get("event") == "step" and r.get("ok") and r.get("step") in ("gate", "restore-config")
    }
    return {
        (e["service"], e["region"]): e
        for e in starts[-1].get("edits") or []
        if isinstance(e, dict) and e.get("region") not in settled
    }


def print_plan(plan: d.DeployPlan, slos: list[g.Slo], console: Console) -> None:
    """The dry run: what changes (service, region, from -> to), then every forward step."""
    console.print(
        f"[bold]deploy plan[/] {plan.what} -> {plan.stack} (gate: "
        f"{', '.join(s.text for s in slos)} over {plan.gate_window})",
        soft_wrap=True,
    )
    for line in plan_lines(d.DeployReport(plan=plan, results=[], dry_run=True)):
        console.print(line, soft_wrap=True, markup=False, highlight=False)


@dataclass(frozen=True)
class Gate:
    """Where and how each region is gated."""

    url: str
    window: str
    slos: list[g.Slo]


def gate_function(gate: Gate, console: Console, service: str | None = None) -> Any:
    """The regional gate run after each region's Rollouts are healthy (over ``service``'s
    series only, when given)."""
    client = g.PrometheusClient(gate.url)

    def gate_fn(region: d.RegionPlan) -> tuple[bool, str, dict[str, Any]]:
        result = g.run_gate(client.query, region.region, gate.window, gate.slos, service)
        console.print(g.table(result))
        return result.passed, result.summary, result.to_json()

    return gate_fn


def rollout_phase() -> Any:
    """How a Rollout's phase is read (kubectl through the region's context)."""
    return kubectl_phase()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def execute(
    plan: d.DeployPlan, cfg: StackConfig, project_dir: Path, gate: Gate, console: Console
) -> d.DeployReport:
    """Run the plan region by region (:func:`run_locked`) over the platform's stack file."""
    ops = PulumiDeployOps(
        project_dir=project_dir,
        stack_name=plan.stack,
        services_key=plan.services_key,
        gate_fn=gate_function(gate, console),
        phase=rollout_phase(),
        healthy_timeout_seconds=cfg.rollout.healthy_timeout_seconds,
        log=lambda m: console.print(f"[dim]{m}[/]"),
    )
    return run_locked(plan, ops, project_dir, console)


def run_locked(
    plan: d.DeployPlan, ops: d.DeployOps, project_dir: Path, console: Console
) -> d.DeployReport:
    """Run the plan region by region through ``ops``, one deploy of the stack at a time in
    this folder (a lock under ``.summit/``), every step in the audit log
    ``.summit/deploy-<stack>.jsonl`` (the start holds each key's previous value, so a crash
    leaves a record of what to undo)."""
    audit = audit_log(project_dir, plan.stack)
    run = {"run": f"{time.time():.6f}", "stack": plan.stack}

    def log(event: str, **fields: Any) -> None:
        safe_io.append_jsonl(audit, {**run, "event": event, **fields, "at": _now()})

    def on_step(res: d.StepResult) -> None:
        mark = "[green]ok[/]" if res.ok else "[bold red]FAILED[/]"
        console.print(f"{res.step.kind:<14} {res.step.region}  {mark}  {res.message}")
        log("step", step=res.step.kind, region=res.step.region, ok=res.ok, message=res.message)

    lock = project_dir / ".summit" / f"deploy-{plan.stack}"
    with safe_io.locked(lock, timeout=DEPLOY_LOCK_TIMEOUT_S):
        edits = [asdict(e) for r in plan.regions for e in r.edits]
        log("start", releases=plan.releases, edits=edits, rollbackAll=plan.rollback_all)
        report = d.execute(plan, ops, on_step=on_step)
        log("end", ok=report.ok, final=report.final_versions())
    return report


def finish(report: d.DeployReport, json_out: str | None, markdown_out: str | None) -> None:
    """The summary line for people, then the reports."""
    Console(stderr=True).print(report.summary, soft_wrap=True, markup=False, highlight=False)
    options.write_json(json_out, to_json(report))
    options.write_markdown(markdown_out, to_markdown(report))
