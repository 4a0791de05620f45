"""The shell of ``summit deploy`` on a service project: read the stack file, plan the program
with the new version in the embedded lane, decide (:mod:`summit_platform.automation.delivery.service_deploy`),
then print the dry run or run the plan through the same locked, audited runner as the
platform's (:func:`summit_platform.automation.delivery.deploy_run.run_locked`). Imported only when it runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from summit_platform.automation import options, pulumi_ops
from summit_platform.automation.delivery import deploy as d
from summit_platform.automation.delivery import deploy_run as run
from summit_platform.automation.delivery import gate as g
from summit_platform.automation.delivery import service_deploy as sd
from summit_platform.automation.delivery.deploy_ops import PulumiDeployOps, StackFileVersion
from summit_platform.automation.errors import UserError
from summit_platform.automation.plan.engine import PlanError
from summit_platform.automation.plan.report import region_of
from summit_platform.automation.plan.runner import plan_stack
from summit_platform.automation.service import project as service_project
from summit_platform.automation.stack_files import stack_values

HEALTHY_TIMEOUT_S = 2700.0
"""How long each region's Rollout may take to be Healthy (the platform's default)."""


@dataclass(frozen=True)
class Request:
    """``summit deploy``'s flags as a service deploy reads them."""

    stack: str
    service: Sequence[str] | None
    version: str | None
    all_services: bool
    regions: str | None
    gate_window: str
    gate_seconds: float
    prometheus: str | None
    slo: Sequence[str] | None
    dry_run: bool


def _current(raw: Mapping[str, Any], values: Mapping[str, Any], project: str) -> tuple[Any, str]:
    """(the stack file's own ``version`` or None, the version the stack runs)."""
    own = raw.get(f"{project}:version", raw.get("version"))
    return (None if own is None else str(own)), str(values["version"])


def _planned(project_dir: Path, stack: str, version: str, source: str) -> list[dict[str, Any]]:
    """The program planned with the new version: proves it runs with it, and names what each
    region's targeted ``up`` touches."""
    try:
        res = plan_stack(project_dir, stack, overrides={"version": version}, evaluate=False)
    except PlanError as err:
        raise UserError(str(err), source=source) from None
    by_urn = {r.urn: r for r in res.plan.resources}
    # Each resource's region as `summit plan --json` reports it (its Kubernetes provider's).
    return [r.to_json() | {"region": region_of(r, by_urn)} for r in res.plan.resources]


def plan(project_dir: Path, req: Request) -> tuple[d.DeployPlan, list[g.Slo], dict[str, Any]]:
    """Every check and the ordered plan, before anything is changed."""
    source = str(project_dir / f"Pulumi.{req.stack}.yaml")
    pf, raw, values = stack_values(project_dir, req.stack)
    project = pf.name
    version = sd.check_release(project, req.service, req.version, req.all_services)
    service_project.check_values(values, project, source)
    known = service_project.cluster_regions(values, project, source)
    order = d.parse_regions(req.regions, known) or known
    g.window_range(req.gate_seconds, "--gate-window")
    slos = g.slos_from(req.slo, sd.gate_defaults(values))
    if not req.dry_run and not req.prometheus:
        raise UserError(
            "no Prometheus to gate on: a service project has no gate URL in its config",
            key="--prometheus",
        )
    contexts = {c["region"]: c["kubeContext"] for c in values["clusters"] if c.get("kubeContext")}
    deploy_plan = sd.plan_service_deploy(
        project=project,
        stack=req.stack,
        version=version,
        current=_current(raw, values, project),
        order=order,
        regions=sd.region_plans(_planned(project_dir, req.stack, version, source), source),
        contexts=contexts,
        gate_window=req.gate_window,
        source=source,
        interrupted=run.unsettled(run.audit_log(project_dir, req.stack)),
    )
    return deploy_plan, slos, values


def with_contexts(plan: d.DeployPlan, outputs: Mapping[str, Any]) -> d.DeployPlan:
    """Each region's kube context: the stack file's ``kubeContext``, else the stack output the
    program exports (``kubeContext-<region>``); a region with neither is exit 2 before any
    change (``kubectl`` would otherwise ask whatever cluster is current)."""
    regions = []
    for r in plan.regions:
        ctx = r.context or outputs.get(sd.KUBE_CONTEXT_OUTPUT.format(region=r.region))
        if not isinstance(ctx, str) or not ctx:
            raise UserError(
                f"stack {plan.stack} has no output {sd.KUBE_CONTEXT_OUTPUT.format(region=r.region)}"
                " (run a full `pulumi up` once, or set kubeContext in clusters)",
                key=f"{plan.project}:clusters",
            )
        regions.append(dataclasses.replace(r, context=ctx))
    return dataclasses.replace(plan, regions=regions)


def execute(
    project_dir: Path,
    plan: d.DeployPlan,
    req: Request,
    slos: list[g.Slo],
    values: Mapping[str, Any],
    console: Console,
) -> d.DeployReport:
    """Open the stack, resolve the kube contexts, and run the plan region by region."""
    stack = pulumi_ops.open_stack(project_dir, plan.stack)
    plan = with_contexts(plan, pulumi_ops.outputs(stack))
    gate = run.Gate(str(req.prometheus), req.gate_window, slos)
    ops = PulumiDeployOps(
        project_dir=project_dir,
        stack_name=plan.stack,
        services_key=plan.services_key,
        gate_fn=run.gate_function(gate, console, sd.metric_service(plan.project, values)),
        phase=run.rollout_phase(),
        healthy_timeout_seconds=HEALTHY_TIMEOUT_S,
        log=lambda m: console.print(f"[dim]{m}[/]"),
        _stack=stack,
        _file=StackFileVersion(project_dir / f"Pulumi.{plan.stack}.yaml", plan.services_key),
    )
    return run.run_locked(plan, ops, project_dir, console)


def deploy(
    project_dir: Path, req: Request, json_out: str | None, markdown_out: str | None
) -> d.DeployReport:
    """``summit deploy`` on a service project: plan, then the dry run or the run."""
    deploy_plan, slos, values = plan(project_dir, req)
    console = Console(stderr=options.to_stdout(json_out, markdown_out))
    if req.dry_run or not deploy_plan.regions:
        run.print_plan(deploy_plan, slos, console)
        report = d.DeployReport(plan=deploy_plan, results=[], dry_run=True)
    else:
        report = execute(project_dir, deploy_plan, req, slos, values, console)
    run.finish(report, json_out, markdown_out)
    return report
