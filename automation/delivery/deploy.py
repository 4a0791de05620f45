"""Serial multi-region deploy (``summit deploy``): the services you name, one region at a time,
each region gated, and on failure exactly the keys it changed set back.

The decisions are pure and tested on their own:

- :func:`parse_releases` and :func:`parse_regions` turn the flags into what to deploy: the
  services named with ``--service`` (each with its own version or ``--version``), or every
  delivered service with ``--all-services``; the regions in order, each known, each once.
- :func:`plan_deploy` turns the stack config into a :class:`DeployPlan`: per region, only the
  (service, region) pairs whose version changes, each as a :class:`ConfigEdit` with the value it
  had before, and the URNs of just those services' workloads for ``up --target``. It also
  refuses a canary step that the service's replicas cannot realise (see
  :mod:`summit_platform.components.render.replica_split`).
- :func:`next_step` is the state machine. Forward, per region in order: ``set-version`` ->
  ``up`` -> ``wait-healthy`` -> ``gate``; the next region starts only after the previous
  region's gate passed. The first failed step turns into ``restore-config`` -> ``rollback-up``
  for that region and, with ``rollback_all``, for every region already done (latest first);
  then the run stops. A failed restore or rollback stops at once: a person takes over.

The shell around it, :func:`execute`, asks ``next_step`` what to do and calls the matching
:class:`DeployOps` method (in production :class:`summit_platform.automation.delivery.deploy_ops.
PulumiDeployOps`). ``--dry-run`` prints the plan and calls nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from summit_platform.automation.errors import UserError
from summit_platform.components.render import replica_split
from summit_platform.stacks.config import StackConfig
from summit_platform.stacks.delivery import region_target_urns, service_version

StepKind = Literal["set-version", "up", "wait-healthy", "gate", "restore-config", "rollback-up"]
FORWARD: tuple[StepKind, ...] = ("set-version", "up", "wait-healthy", "gate")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
REGION_ORDER = ("us-east-1", "us-west-2")
"""Default order: east takes the release first, west only after east's gate passed."""
SERVICE_HELP = (
    "name the services to deploy: --service NAME --version V (repeatable),"
    " --service NAME=VERSION, or --all-services --version V"
)


# -- the flags ---------------------------------------------------------------------------------


def check_version(version: str, flag: str) -> str:
    """An image tag (letters, digits, ``_ . -``, at most 128), else exit 2 naming ``flag``."""
    if not isinstance(version, str) or not _TAG.fullmatch(version):  # `$` would let "v1\n" in
        raise UserError(f"expected an image tag like v1.3.0, found {version!r}", key=flag)
    return version


def parse_releases(
    specs: Sequence[str] | None,
    version: str | None,
    all_services: bool,
    delivered: Sequence[str],
) -> dict[str, str]:
    """``service -> version`` from ``--service`` (``NAME`` or ``NAME=VERSION``, repeatable),
    ``--version`` and ``--all-services``, in the order given. Nothing is deployed by default:
    neither flag, a service named twice, an unknown or undelivered service, a version both in
    a pair and in ``--version`` unused, are all exit 2."""
    specs = list(specs or [])
    if all_services and specs:
        raise UserError("give --all-services or --service, not both", key="--service")
    if all_services:
        if version is None:
            raise UserError("--all-services deploys one version: give --version V", key="--version")
        return {name: check_version(version, "--version") for name in delivered}
    if not specs:
        raise UserError(SERVICE_HELP, key="--service")
    out: dict[str, str] = {}
    used_version = False
    for spec in specs:
        name, sep, own = spec.partition("=")
        name = name.strip()
        if not name:
            raise UserError(f"expected NAME or NAME=VERSION, found {spec!r}", key="--service")
        if name in out:
            raise UserError(f"each service once, found {name!r} twice", key="--service")
        if name not in delivered:
            raise UserError(
                f"expected a delivered service ({', '.join(delivered) or 'none'}), found {name!r}",
                key="--service",
            )
        if sep:
            out[name] = check_version(own.strip(), "--service")
        elif version is None:
            raise UserError(
                f"{name} has no version: give --version V or --service {name}=V", key="--version"
            )
        else:
            out[name] = check_version(version, "--version")
            used_version = True
    if version is not None and not used_version:
        raise UserError(
            "every --service names its own version; --version would be ignored", key="--version"
        )
    return out


def parse_regions(text: str | None, known: Sequence[str]) -> list[str] | None:
    """``--regions a,b`` in that order; None (the default order) when not given. Empty names
    (``,,,``, ``a,,b``, a trailing comma), unknown regions and repeats are exit 2: a flag that
    names nothing never means "every region"."""
    if text is None:
        return None
    items = [part.strip() for part in text.split(",")]
    if not any(items):
        raise UserError(
            f"expected region names separated by commas, found {text!r}", key="--regions"
        )
    if not all(items):
        raise UserError(f"expected no empty region name, found {text!r}", key="--regions")
    unknown = [r for r in items if r not in known]
    if unknown:
        raise UserError(
            f"expected regions of this stack {list(known)}, found {unknown}", key="--regions"
        )
    repeated = sorted({r for r in items if items.count(r) > 1})
    if repeated:
        raise UserError(f"expected each region once, found {repeated} repeated", key="--regions")
    return items


# -- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigEdit:
    """One stack-file key a deploy sets: a service's version in a region."""

    service: str
    index: int
    """Position of the service in the stack file's ``services`` list."""
    region: str
    path: str
    """The key as a Pulumi property path: ``summit-platform:services[1].regionVersions["us-east-1"]``."""
    new: str
    previous: str | None
    """The explicit value before the deploy; None when the key did not exist (restore removes it)."""
    effective_previous: str
    """The version the region ran before (the explicit value or the service's ``version``)."""
    map_existed: bool
    """Whether the service had a ``regionVersions`` map before (a restore removes a map that
    the deploy created once it is empty, so the file reads as before)."""


@dataclass(frozen=True)
class RegionPlan:
    """Everything one region's deploy touches."""

    region: str
    edits: list[ConfigEdit]
    targets: list[str]
    """URNs for ``up --target``: the changed services' CanaryRollouts and their children."""
    rollouts: list[str]
    """Rollout names (Kubernetes) to wait for."""
    namespace: str
    context: str | None


@dataclass(frozen=True)
class Unchanged:
    """A (service, region) the deploy leaves alone because it already runs the version."""

    service: str
    region: str
    version: str


@dataclass(frozen=True)
class DeployPlan:
    """The ordered, gated plan of one ``summit deploy``."""

    stack: str
    project: str
    releases: dict[str, str]
    """Service -> version, as named."""
    gate_window: str
    regions: list[RegionPlan]
    """Regions with at least one change, in deploy order."""
    unchanged: list[Unchanged] = field(default_factory=list)
    services_key: str = "summit-platform:services"
    """The stack file's key that holds the services list."""
    rollback_all: bool = False
    """On a failure, also restore and roll back the regions already done."""
    notes: list[str] = field(default_factory=list)
    """What people should know (a weight the replica split can only approximate)."""

    @property
    def what(self) -> str:
        """``web v2.5.0, gateway v1.3.0``."""
        return ", ".join(f"{s} {v}" for s, v in self.releases.items())


def _index_of(raw_services: Sequence[Any], name: str, source: str, key: str) -> int:
    for i, svc in enumerate(raw_services):
        if isinstance(svc, dict) and svc.get("name") == name:
            return i
    raise UserError(
        f"service {name!r} is not listed in the stack file (only Pulumi.yaml's default);"
        " add it to the stack file so its version can be set per region",
        source=source,
        key=key,
    )


def _region_order(cfg: StackConfig, regions: Sequence[str] | None) -> list[str]:
    names = cfg.region_names
    if regions is None:
        return sorted(names, key=lambda r: REGION_ORDER.index(r) if r in REGION_ORDER else 99)
    checked = parse_regions(",".join(regions), names) if regions else None
    if not checked:
        raise UserError("expected at least one region", key="--regions")
    return checked


def check_replica_split(cfg: StackConfig, name: str, source: str, key: str) -> list[str]:
    """Refuse (exit 2) a canary step that no replica count the service's autoscaler may run
    realises within ``rollout.weightTolerancePercent``: without traffic routing a step's share
    of requests is its share of pods. Returns notes for the steps only approximated at the
    autoscaler's floor. ``key`` names the service in the stack file."""
    r = cfg.rollout
    if r.traffic_routing != "none":
        return []
    svc = next(s for s in cfg.services if s.name == name)
    low, high = max(svc.replicas.min, 1), max(svc.replicas.max, 1)
    problems = replica_split.split_problems(
        r.steps,
        min_replicas=low,
        max_replicas=high,
        max_surge=r.max_surge,
        tolerance=r.weight_tolerance_percent,
    )
    if problems:
        raise UserError(
            f"{name} runs {low}..{high} replicas without traffic routing, so a step's share of"
            " requests is its share of pods: "
            + "; ".join(p.describe() for p in problems)
            + f" (within {r.weight_tolerance_percent:g} points). Raise replicas, start the"
            " steps at a weight these replicas realise, route traffic"
            " (rollout.trafficRouting) or widen rollout.weightTolerancePercent",
            source=source,
            key=f"{key}.replicas",
        )
    notes = []
    for _, weight, share in replica_split.floor_shares(r.steps, low, r.max_surge):
        if 0 < weight < 100 and abs(share - weight) > r.weight_tolerance_percent:
            notes.append(
                f"{name}: setWeight {weight} sends {share:.0f}% of requests at its floor of"
                f" {low} replicas (more replicas get closer)"
            )
    return notes


Unsettled = Mapping[tuple[str, str], Mapping[str, Any]]
"""(service, region) -> the edit an interrupted run made (``new``, ``previous``,
``effective_previous``, ``map_existed``), from the audit log: set, but never gated."""


def plan_deploy(
    cfg: StackConfig,
    *,
    stack: str,
    project: str,
    releases: Mapping[str, str],
    raw_services: Sequence[Any],
    regions: Sequence[str] | None = None,
    gate_window: str = "10m",
    source: str = "",
    services_key: str | None = None,
    rollback_all: bool = False,
    unsettled: Unsettled | None = None,
) -> DeployPlan:
    """The ordered plan. Pure: validates everything before anything is changed.

    ``raw_services`` is the services list as written in the stack file (its indexes are the
    config paths); ``services_key`` its key there. ``regions`` default: the stack's regions,
    east first. Only (service, region) pairs whose version changes are in the plan, and those
    an interrupted run set but never gated (``unsettled``): their previous value is the one
    from before that run."""
    if not releases:
        raise UserError(SERVICE_HELP, key="--service")
    delivered = {s.name: s for s in cfg.services if s.deliver}
    for name, version in releases.items():
        if name not in delivered:
            raise UserError(
                f"expected a delivered service ({', '.join(delivered)}), found {name!r}",
                key="--service",
            )
        check_version(version, "--version")
    key = services_key or f"{project}:services"
    indexes = {name: _index_of(raw_services, name, source, key) for name in releases}
    notes = []
    for name in releases:
        notes += check_replica_split(cfg, name, source, f"{key}[{indexes[name]}]")
    out, unchanged = [], []
    order = _region_order(cfg, regions)
    interrupted_runs = dict(unsettled or {})
    for region in order:
        edits = []
        for name, version in releases.items():
            svc = delivered[name]
            where = (indexes[name], _has_map(raw_services[indexes[name]]))
            interrupted = interrupted_runs.get((name, region))
            edit = _edit(project, svc, region, version, where, interrupted)
            if edit is None:
                unchanged.append(Unchanged(name, region, version))
                continue
            edits.append(edit)
            if interrupted is not None and interrupted.get("new") == service_version(svc, region):
                notes.append(
                    f"{name} {region}: an interrupted deploy set {interrupted.get('new')} and"
                    f" never gated it; deploying {version} (a restore goes back to"
                    f" {edit.effective_previous})"
                )
        if edits:
            out.append(_region_plan(cfg, stack, project, region, edits))
    for name, region in sorted(set(interrupted_runs) - {(n, r) for n in releases for r in order}):
        left = interrupted_runs[(name, region)].get("new")
        notes.append(
            f"{name} {region}: an interrupted deploy set {left} and never gated it;"
            " this run does not touch it"
        )
    return DeployPlan(
        stack=stack,
        project=project,
        releases=dict(releases),
        gate_window=gate_window,
        regions=out,
        unchanged=unchanged,
        services_key=key,
        rollback_all=rollback_all,
        notes=notes,
    )


def _edit(
    project: str,
    svc: Any,
    region: str,
    version: str,
    where: tuple[int, bool],
    interrupted: Mapping[str, Any] | None,
) -> ConfigEdit | None:
    """The edit for one service in one region, or None when it already runs ``version`` (and
    no interrupted run left that unproven). ``where``: (index in the stack file, whether the
    service has a ``regionVersions`` map there)."""
    index, map_existed = where
    before = service_version(svc, region)
    previous = svc.region_versions.get(region)
    if interrupted is not None and interrupted.get("new") == before:
        # The config holds what the interrupted run set: what ran before it is the previous.
        previous = interrupted.get("previous")
        before = str(interrupted.get("effective_previous") or svc.version)
        map_existed = bool(interrupted.get("map_existed", map_existed))
    elif before == version:
        return None
    return ConfigEdit(
        service=svc.name,
        index=index,
        region=region,
        path=f'{project}:services[{index}].regionVersions["{region}"]',
        new=version,
        previous=previous,
        effective_previous=before,
        map_existed=map_existed,
    )


def _region_plan(
    cfg: StackConfig, stack: str, project: str, region: str, edits: list[ConfigEdit]
) -> RegionPlan:
    changed = [e.service for e in edits]
    k8s = cfg.region(region).kubernetes
    return RegionPlan(
        region=region,
        edits=edits,
        targets=region_target_urns(cfg, stack, project, region, changed),
        rollouts=changed,
        namespace=k8s.namespace,
        context=k8s.context,
    )


def _has_map(raw: Any) -> bool:
    return isinstance(raw, dict) and "regionVersions" in raw


# -- the state machine -------------------------------------------------------------------------


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


def forward_steps(plan: DeployPlan) -> list[Step]:
    """Every step of a run that passes all its gates, in order (what ``--dry-run`` prints)."""
    return [Step(kind, r.region) for r in plan.regions for kind in FORWARD]


def rollback_steps(plan: DeployPlan, failed_region: str) -> list[Step]:
    """After a failure in ``failed_region``: restore and roll it back, then (``rollback_all``)
    each region already done, the latest first."""
    order = [r.region for r in plan.regions]
    regions = [failed_region]
    if plan.rollback_all:
        regions += list(reversed(order[: order.index(failed_region)]))
    return [Step(kind, r) for r in regions for kind in ("restore-config", "rollback-up")]


def next_step(plan: DeployPlan, results: Sequence[StepResult]) -> Step | None:
    """The next step, or None when the run is over (done, or stopped after a rollback)."""
    forward = forward_steps(plan)
    failed = next((i for i, r in enumerate(results) if not r.ok), None)
    if failed is None:
        return forward[len(results)] if len(results) < len(forward) else None
    if failed >= len(forward) or results[failed].step != forward[failed]:
        return None  # a restore or rollback failed: stop, a person takes over
    after = rollback_steps(plan, results[failed].step.region)
    done = len(results) - failed - 1
    if any(not r.ok for r in results[failed + 1 :]):
        return None
    return after[done] if done < len(after) else None


class DeployOps(Protocol):
    """The actions ``execute`` drives; each returns (ok, message, detail)."""

    def set_versions(self, region: RegionPlan) -> tuple[bool, str, dict[str, Any]]: ...

    def restore_versions(self, region: RegionPlan) -> tuple[bool, str, dict[str, Any]]: ...

    def up(self, region: RegionPlan, rollback: bool) -> tuple[bool, str, dict[str, Any]]: ...

    def wait_healthy(self, region: RegionPlan) -> tuple[bool, str, dict[str, Any]]: ...

    def gate(self, region: RegionPlan) -> tuple[bool, str, dict[str, Any]]: ...


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


# -- the outcome -------------------------------------------------------------------------------

RegionState = Literal[
    "planned",
    "not started",
    "deployed",
    "rolled back",
    "rollback failed",
    "restore failed",
    "incomplete",
]


@dataclass(frozen=True)
class Outcome:
    """One service in one region after the run."""

    region: str
    service: str
    before: str
    after: str | None
    """The version it runs now; None when nobody can tell (a restore or rollback failed)."""
    note: str


@dataclass
class DeployReport:
    """What a run did and where it left each region (pure; rendered by
    :mod:`summit_platform.automation.delivery.report`)."""

    plan: DeployPlan
    results: list[StepResult]
    dry_run: bool = False

    def _mine(self, region: str) -> list[StepResult]:
        return [r for r in self.results if r.step.region == region]

    @property
    def ok(self) -> bool:
        """Every planned step ran and passed (a dry run, or nothing to change, is ok)."""
        if self.dry_run:
            return True
        forward = forward_steps(self.plan)
        return len(self.results) == len(forward) and all(r.ok for r in self.results)

    def region_state(self, region: str) -> RegionState:
        """Where the run left ``region``."""
        if self.dry_run:
            return "planned"
        mine = self._mine(region)
        if not mine:
            return "not started"
        restores = [r for r in mine if r.step.kind == "restore-config"]
        rollbacks = [r for r in mine if r.step.kind == "rollback-up"]
        if restores:
            if not restores[-1].ok:
                return "restore failed"
            return "rolled back" if rollbacks and rollbacks[-1].ok else "rollback failed"
        forward = [r for r in mine if r.step.kind in FORWARD]
        if len(forward) == len(FORWARD) and all(r.ok for r in forward):
            return "deployed"
        return "incomplete"

    def region_status(self, region: str) -> str:
        """One line for people."""
        state = self.region_state(region)
        failed = next((r for r in self._mine(region) if not r.ok and r.step.kind in FORWARD), None)
        cause = f"failed at {failed.step.kind}" if failed else "deployed, then (--rollback-all)"
        return {
            "planned": "planned",
            "not started": "not started (left at its previous version)",
            "deployed": "deployed, gate passed",
            "rolled back": f"{cause}; restored previous version and rolled back",
            "rollback failed": f"{cause}; restored previous version but the rollback `up` FAILED",
            "restore failed": f"{cause}; restoring the config FAILED (manual action)",
            "incomplete": "incomplete",
        }[state]

    def outcomes(self) -> list[Outcome]:
        """Every (region, service) the deploy named: the version it runs after the run."""
        out = []
        for r in self.plan.regions:
            state = self.region_state(r.region)
            for e in r.edits:
                out.append(_outcome(state, e))
        for u in self.plan.unchanged:
            out.append(Outcome(u.region, u.service, u.version, u.version, "already ran it"))
        order = {r: i for i, r in enumerate(REGION_ORDER)}
        return sorted(out, key=lambda o: (order.get(o.region, 99), o.region, o.service))

    def final_versions(self) -> dict[str, dict[str, str | None]]:
        """``region -> service -> version`` after the run (None: unknown, see the notes)."""
        out: dict[str, dict[str, str | None]] = {}
        for o in self.outcomes():
            out.setdefault(o.region, {})[o.service] = o.after
        return out

    @property
    def summary(self) -> str:
        """One line: what happened, and which region runs which version now."""
        what = self.plan.what
        if not self.plan.regions:
            return f"nothing to change: every region already runs {what}"
        if self.dry_run:
            n = len(forward_steps(self.plan))
            return f"dry run: {n} steps planned for {what}, nothing changed"
        now = "; now " + self.versions_line()
        if self.ok:
            regions = ", ".join(r.region for r in self.plan.regions)
            return f"deployed {what} to {regions}; every gate passed" + now
        failed = next(r for r in self.results if not r.ok)
        parts = [f"stopped: {failed.step} failed ({failed.message})"]
        states = {r.region: self.region_state(r.region) for r in self.plan.regions}
        back = [r for r, s in states.items() if s == "rolled back"]
        kept = [r for r, s in states.items() if s == "deployed"]
        untouched = [r for r, s in states.items() if s == "not started"]
        broken = [r for r, s in states.items() if s in ("restore failed", "rollback failed")]
        if back:
            parts.append(f"restored to the previous version: {', '.join(back)}")
        if broken:
            parts.append(f"MANUAL ACTION: {', '.join(broken)} (see the runbook)")
        if kept:
            parts.append(f"left on the new version: {', '.join(kept)}")
        if untouched:
            parts.append(f"not touched: {', '.join(untouched)}")
        return "; ".join(parts) + now

    def versions_line(self) -> str:
        """``us-east-1: web v2.5.0; us-west-2: web v2.4.1``."""
        return "; ".join(
            f"{region}: " + ", ".join(f"{s} {v or 'UNKNOWN'}" for s, v in services.items())
            for region, services in self.final_versions().items()
        )


def _outcome(state: RegionState, e: ConfigEdit) -> Outcome:
    before = e.effective_previous
    if state in ("not started", "planned"):
        return Outcome(e.region, e.service, before, before, "not changed")
    if state == "deployed":
        return Outcome(e.region, e.service, before, e.new, "deployed, gate passed")
    if state == "rolled back":
        return Outcome(e.region, e.service, before, before, "restored and rolled back")
    if state == "rollback failed":
        note = f"config restored to {before}, but the rollback up failed: it may still run {e.new}"
        return Outcome(e.region, e.service, before, None, note)
    if state == "restore failed":
        note = f"restoring the config failed: the stack file may say {e.new}"
        return Outcome(e.region, e.service, before, None, note)
    return Outcome(e.region, e.service, before, None, "the run stopped part-way")
