"""Serial multi-region deploy (``summit deploy``): one region at a time, each gated.

The decision is pure and tested on its own:

- :func:`plan_deploy` turns the stack config, a version and a region order into a
  :class:`DeployPlan`: per region, the config edits (``services[i].regionVersions[region]``, with
  the value each had before), and the URNs of that region's workloads for ``up --target``.
- :func:`next_step` is the state machine: given the plan and the results so far it names the
  next step. Forward, per region in order: ``set-version`` -> ``up`` -> ``wait-healthy`` ->
  ``gate``; the next region starts only after the previous region's gate passed. The first
  failed forward step turns into ``restore-config`` -> ``rollback-up`` for that region, and then
  the run stops: later regions are never touched, earlier regions keep the new version.

The shell around it, :func:`execute`, asks ``next_step`` what to do, calls the matching
:class:`DeployOps` method (in production :class:`PulumiDeployOps`: the Automation API through
:mod:`automation.pulumi_ops`, ``kubectl`` for Rollout health, Prometheus for the gate) and
records the result. ``--dry-run`` prints :func:`forward_steps` and calls nothing.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from automation import pulumi_ops
from automation.errors import UserError
from automation.stack_files import read_stack_file
from stacks.config import StackConfig
from stacks.delivery import region_target_urns

StepKind = Literal["set-version", "up", "wait-healthy", "gate", "restore-config", "rollback-up"]
FORWARD: tuple[StepKind, ...] = ("set-version", "up", "wait-healthy", "gate")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
REGION_ORDER = ("us-east-1", "us-west-2")
"""Default order: east takes the release first, west only after east's gate passed."""


@dataclass(frozen=True)
class ConfigEdit:
    """One stack config edit: a property path and the values before and after."""

    path: str
    """``summit-platform:services[0].regionVersions["us-east-1"]``"""
    service: str
    new: str
    previous: str | None
    """The explicit value before the deploy; None when the key did not exist (restore = remove)."""
    effective_previous: str
    """The version the region ran before (the explicit value or the service's ``version``)."""
    restore_remove: str | None = None
    """Path to remove on restore when the key did not exist: the key itself, or the whole
    ``regionVersions`` map when this edit created it (first region of the run, map empty), so
    the stack file reads exactly as before."""


@dataclass(frozen=True)
class RegionPlan:
    """Everything one region's deploy touches."""

    region: str
    edits: list[ConfigEdit]
    targets: list[str]
    """URNs for ``up --target`` (that region's CanaryRollouts and their children)."""
    rollouts: list[str]
    """Rollout names (Kubernetes) to wait for."""
    namespace: str
    context: str | None


@dataclass(frozen=True)
class DeployPlan:
    """The ordered, gated plan of one ``summit deploy``."""

    stack: str
    project: str
    version: str
    gate_window: str
    regions: list[RegionPlan]


@dataclass(frozen=True)
class Step:
    kind: StepKind
    region: str

    def __str__(self) -> str:
        return f"{self.kind} {self.region}"


@dataclass
class StepResult:
    step: Step
    ok: bool
    message: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


def _index_of(raw_services: Sequence[Any], name: str, source: str) -> int:
    for i, svc in enumerate(raw_services):
        if isinstance(svc, dict) and svc.get("name") == name:
            return i
    raise UserError(
        f"service {name!r} is not listed in the stack file (only Pulumi.yaml's default);"
        " add it to the stack file so its version can be set per region",
        source=source,
        key="summit-platform:services",
    )


def _region_order(cfg: StackConfig, regions: Sequence[str] | None) -> list[str]:
    """``--regions`` as given (each a region of the stack, once), else east first."""
    names = cfg.region_names
    if not regions:
        return sorted(names, key=lambda r: REGION_ORDER.index(r) if r in REGION_ORDER else 99)
    order = list(regions)
    unknown = [r for r in order if r not in names]
    if unknown:
        raise UserError(f"expected regions of this stack {names}, found {unknown}", key="--regions")
    if len(set(order)) != len(order):
        raise UserError(f"each region once, found {order}", key="--regions")
    return order


def _delivered(cfg: StackConfig, services: Sequence[str] | None, source: str) -> list[Any]:
    """The services to deliver: those with ``deliver: true``, narrowed to ``--services``."""
    delivered = [s for s in cfg.services if s.deliver]
    if services:
        unknown = [s for s in services if s not in {d.name for d in delivered}]
        if unknown:
            raise UserError(
                f"expected delivered services {[d.name for d in delivered]}, found {unknown}",
                key="--services",
            )
        delivered = [d for d in delivered if d.name in services]
    if not delivered:
        raise UserError(
            "no service has deliver: true", source=source, key="summit-platform:services"
        )
    return delivered


def _version_edits(
    delivered: Sequence[Any],
    region: str,
    first: bool,
    version: str,
    where: tuple[str, Sequence[Any], str],
) -> list[ConfigEdit]:
    """One config edit per service: its ``regionVersions[region]`` and how to undo it.
    ``where`` is (project, the stack file's services list, the stack file's path)."""
    project, raw_services, source = where
    edits = []
    for svc in delivered:
        i = _index_of(raw_services, svc.name, source)
        previous = svc.region_versions.get(region)
        path = f'{project}:services[{i}].regionVersions["{region}"]'
        remove = None
        if previous is None:
            creates_map = first and not svc.region_versions
            remove = f"{project}:services[{i}].regionVersions" if creates_map else path
        edits.append(
            ConfigEdit(
                path=path,
                service=svc.name,
                new=version,
                previous=previous,
                effective_previous=previous or svc.version,
                restore_remove=remove,
            )
        )
    return edits


def plan_deploy(
    cfg: StackConfig,
    *,
    stack: str,
    project: str,
    version: str,
    raw_services: Sequence[Any],
    regions: Sequence[str] | None = None,
    services: Sequence[str] | None = None,
    gate_window: str = "10m",
    source: str = "",
) -> DeployPlan:
    """The ordered plan. Pure: validates everything before anything is changed.

    ``raw_services`` is the ``summit-platform:services`` list as written in the stack file (its
    indexes are the config paths). ``regions`` default: the stack's regions, east first."""
    if not _TAG.match(version):
        raise UserError(f"expected an image tag like v1.3.0, found {version!r}", key="--version")
    order = _region_order(cfg, regions)
    delivered = _delivered(cfg, services, source)
    out = []
    for position, region in enumerate(order):
        edits = _version_edits(
            delivered, region, position == 0, version, (project, raw_services, source)
        )
        targets = [
            u
            for u in region_target_urns(cfg, stack, project, region)
            if any(f"::{s.name}-{region}" in u for s in delivered)
        ]
        k8s = cfg.region(region).kubernetes
        out.append(
            RegionPlan(
                region=region,
                edits=edits,
                targets=targets,
                rollouts=[s.name for s in delivered],
                namespace=k8s.namespace,
                context=k8s.context,
            )
        )
    return DeployPlan(
        stack=stack, project=project, version=version, gate_window=gate_window, regions=out
    )


def forward_steps(plan: DeployPlan) -> list[Step]:
    """Every step of a run that passes all its gates, in order (what ``--dry-run`` prints)."""
    return [Step(kind, r.region) for r in plan.regions for kind in FORWARD]


def next_step(plan: DeployPlan, results: Sequence[StepResult]) -> Step | None:
    """The next step, or None when the run is over (done, or stopped after a rollback)."""
    if results:
        last = results[-1]
        if last.step.kind == "rollback-up":
            return None
        if last.step.kind == "restore-config":
            # a failed restore leaves the config half-written: stop and tell a human
            return Step("rollback-up", last.step.region) if last.ok else None
        if not last.ok:
            return Step("restore-config", last.step.region)
    steps = forward_steps(plan)
    done = len(results)
    return steps[done] if done < len(steps) else None


class DeployOps(Protocol):
    """The actions ``execute`` drives; each returns a StepResult-shaped (ok, message, detail)."""

    def set_versions(self, region: RegionPlan) -> tuple[bool, str, dict[str, Any]]: ...

    def restore_versions(self, region: RegionPlan) -> tuple[bool, str, dict[str, Any]]: ...

    def up(self, region: RegionPlan, rollback: bool) -> tuple[bool, str, dict[str, Any]]: ...

    def wait_healthy(self, region: RegionPlan) -> tuple[bool, str, dict[str, Any]]: ...

    def gate(self, region: RegionPlan) -> tuple[bool, str, dict[str, Any]]: ...


@dataclass
class DeployReport:
    """What a run did, for Markdown (workflow summary) and JSON."""

    plan: DeployPlan
    results: list[StepResult]
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        if self.dry_run:
            return True
        return len(self.results) == len(forward_steps(self.plan)) and all(
            r.ok for r in self.results
        )

    def region_status(self, region: str) -> str:
        mine = [r for r in self.results if r.step.region == region]
        if self.dry_run:
            return "planned"
        if not mine:
            return "not started (left at its previous version)"
        if any(r.step.kind == "rollback-up" for r in mine):
            rb = next(r for r in mine if r.step.kind == "rollback-up")
            failed = next(r for r in mine if not r.ok)
            return f"failed at {failed.step.kind}; restored previous version" + (
                " and rolled back" if rb.ok else " but the rollback `up` FAILED"
            )
        if any(r.step.kind == "restore-config" for r in mine):
            failed = next(r for r in mine if not r.ok and r.step.kind != "restore-config")
            return f"failed at {failed.step.kind}; restoring the config FAILED (manual action)"
        if all(r.ok for r in mine) and len(mine) == len(FORWARD):
            return f"deployed {self.plan.version}, gate passed"
        return "incomplete"

    @property
    def summary(self) -> str:
        if self.dry_run:
            return f"dry run: {len(forward_steps(self.plan))} steps planned, nothing changed"
        if self.ok:
            regions = ", ".join(r.region for r in self.plan.regions)
            return f"deployed {self.plan.version} to {regions}; every gate passed"
        failed = next(r for r in self.results if not r.ok)
        done = [
            r.region
            for r in self.plan.regions
            if self.region_status(r.region).startswith("deployed")
        ]
        untouched = [
            r.region for r in self.plan.regions if self.region_status(r.region).startswith("not")
        ]
        parts = [f"stopped: {failed.step} failed ({failed.message})"]
        parts.append(f"{failed.step.region} restored to its previous version")
        if done:
            parts.append(f"left on {self.plan.version}: {', '.join(done)}")
        if untouched:
            parts.append(f"not touched: {', '.join(untouched)}")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.plan.stack,
            "version": self.plan.version,
            "dryRun": self.dry_run,
            "ok": self.ok,
            "summary": self.summary,
            "regions": [
                {
                    "region": r.region,
                    "status": self.region_status(r.region),
                    "edits": [asdict(e) for e in r.edits],
                    "targets": r.targets,
                }
                for r in self.plan.regions
            ],
            "steps": (
                [{"step": s.kind, "region": s.region} for s in forward_steps(self.plan)]
                if self.dry_run
                else [
                    {
                        "step": r.step.kind,
                        "region": r.step.region,
                        "ok": r.ok,
                        "message": r.message,
                        "detail": r.detail,
                    }
                    for r in self.results
                ]
            ),
        }

    def to_markdown(self) -> str:
        head = "Deploy plan" if self.dry_run else "Deploy"
        lines = [
            f"## {head} {self.plan.version} to `{self.plan.stack}`",
            "",
            self.summary,
            "",
            "| region | from -> to | status |",
            "|---|---|---|",
        ]
        for r in self.plan.regions:
            frm = ", ".join(f"{e.service} {e.effective_previous}" for e in r.edits)
            lines.append(
                f"| {r.region} | {frm} -> {self.plan.version} | {self.region_status(r.region)} |"
            )
        lines += ["", "| # | step | region | result |", "|---|---|---|---|"]
        if self.dry_run:
            for i, s in enumerate(forward_steps(self.plan), 1):
                lines.append(f"| {i} | {s.kind} | {s.region} | planned |")
        else:
            for i, res in enumerate(self.results, 1):
                mark = "ok" if res.ok else "**FAILED**"
                msg = res.message.replace("|", "\\|").replace("\n", " ")
                lines.append(f"| {i} | {res.step.kind} | {res.step.region} | {mark} {msg} |")
        return "\n".join(lines) + "\n"


def _act(ops: DeployOps, kind: StepKind, region: RegionPlan) -> tuple[bool, str, dict[str, Any]]:
    if kind == "set-version":
        return ops.set_versions(region)
    if kind == "up":
        return ops.up(region, False)
    if kind == "wait-healthy":
        return ops.wait_healthy(region)
    if kind == "gate":
        return ops.gate(region)
    if kind == "restore-config":
        return ops.restore_versions(region)
    return ops.up(region, True)


def execute(
    plan: DeployPlan,
    ops: DeployOps,
    on_step: Callable[[StepResult], None] | None = None,
) -> DeployReport:
    """Drive ``ops`` through :func:`next_step` until it says stop."""
    results: list[StepResult] = []
    by_region = {r.region: r for r in plan.regions}
    while (step := next_step(plan, results)) is not None:
        region = by_region[step.region]
        try:
            ok, message, detail = _act(ops, step.kind, region)
        except Exception as err:  # an action that raises is a failed step, and rolls back
            ok, message, detail = False, f"{type(err).__name__}: {err}", {}
        res = StepResult(step, ok, message, detail)
        results.append(res)
        if on_step:
            on_step(res)
    return DeployReport(plan=plan, results=results)


# -- the thin production layer ----------------------------------------------------------------


RolloutPhase = Callable[[RegionPlan, str], str | None]
"""(region, rollout name) -> ``status.phase`` of the Rollout (Healthy, Progressing, Paused,
Degraded), or None when it cannot be read."""


def kubectl_phase(kubectl: str = "kubectl") -> RolloutPhase:
    """Read a Rollout's phase with ``kubectl get rollout -o json`` through the region's
    kubeconfig context (the same context the stack's Kubernetes provider uses)."""

    def phase(region: RegionPlan, name: str) -> str | None:
        cmd = [kubectl, "get", "rollout.argoproj.io", name, "-n", region.namespace, "-o", "json"]
        if region.context:
            cmd[1:1] = ["--context", region.context]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        if proc.returncode != 0:
            return None
        doc = json.loads(proc.stdout)
        status = doc.get("status") or {}
        # A status from before this update is not an answer: wait for the controller.
        generation = str((doc.get("metadata") or {}).get("generation", ""))
        observed = status.get("observedGeneration")
        if observed is not None and str(observed) != generation:
            return "Progressing"
        return status.get("phase")

    return phase


@dataclass
class PulumiDeployOps:
    """:class:`DeployOps` over the Automation API (``automation.pulumi_ops``)."""

    project_dir: Path
    stack_name: str
    gate_fn: Callable[[RegionPlan], tuple[bool, str, dict[str, Any]]]
    phase: RolloutPhase
    command: Any = None
    """A ``PulumiCommand`` (tests: the stand-in); None -> pulumi_ops' default."""
    healthy_timeout_seconds: float = 2700
    poll_seconds: float = 15
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    log: Callable[[str], None] = lambda _m: None
    _stack: Any = None

    def stack(self) -> Any:
        if self._stack is None:
            self._stack = pulumi_ops.open_stack(
                self.project_dir, self.stack_name, command=self.command
            )
        return self._stack

    def set_versions(self, region: RegionPlan) -> tuple[bool, str, dict[str, Any]]:
        values = {e.path: e.new for e in region.edits}
        pulumi_ops.set_all_config(self.stack(), values, path=True)
        return True, f"set {len(values)} version(s) to {region.edits[0].new}", {"set": values}

    def restore_versions(self, region: RegionPlan) -> tuple[bool, str, dict[str, Any]]:
        stack = self.stack()
        back = {e.path: e.previous for e in region.edits if e.previous is not None}
        removed = [e.restore_remove for e in region.edits if e.restore_remove]
        if back:
            pulumi_ops.set_all_config(stack, back, path=True)
        for path in removed:
            pulumi_ops.remove_config(stack, path, path=True)
        versions = ", ".join(f"{e.service} {e.effective_previous}" for e in region.edits)
        return True, f"config restored ({versions})", {"set": back, "removed": removed}

    def up(self, region: RegionPlan, rollback: bool) -> tuple[bool, str, dict[str, Any]]:
        what = "rollback" if rollback else "deploy"
        outcome = pulumi_ops.retry_when_locked(
            lambda: pulumi_ops.up(
                self.stack(),
                targets=region.targets,
                message=f"summit deploy: {what} {region.region}",
            ),
            sleep=self.sleep,
        )
        return True, f"up {region.region}: {outcome.changes}", {"changes": outcome.changes}

    def wait_healthy(self, region: RegionPlan) -> tuple[bool, str, dict[str, Any]]:
        deadline = self.clock() + self.healthy_timeout_seconds
        pending = list(region.rollouts)
        phases: dict[str, str | None] = {}
        while True:
            for name in list(pending):
                phases[name] = self.phase(region, name)
                if phases[name] == "Healthy":
                    pending.remove(name)
                elif phases[name] == "Degraded":
                    return False, f"Rollout {name} is Degraded (aborted)", {"phases": phases}
            if not pending:
                return True, "every Rollout Healthy", {"phases": phases}
            if self.clock() >= deadline:
                return (
                    False,
                    f"timed out after {self.healthy_timeout_seconds:g}s waiting for"
                    f" {', '.join(f'{n} ({phases[n]})' for n in pending)}",
                    {"phases": phases},
                )
            self.log(f"{region.region}: waiting for {', '.join(pending)}")
            self.sleep(self.poll_seconds)

    def gate(self, region: RegionPlan) -> tuple[bool, str, dict[str, Any]]:
        return self.gate_fn(region)


def read_raw_services(project_dir: Path, stack: str) -> list[Any]:
    """``summit-platform:services`` as the stack file writes it (the config paths' indexes)."""
    raw = read_stack_file(project_dir, stack)
    for key in ("summit-platform:services", "services"):
        if key in raw:
            value = raw[key]
            return value if isinstance(value, list) else []
    return []
