"""Per-PR preview stacks: the decisions (pure) and the Automation API shell around them.

A preview ``pr-<N>`` is isolated by construction (its config, not a branch on its name):

- it runs the template's services in its own namespace ``pr-<N>`` (created by the stack) in
  the template's first region's cluster, and keeps every namespaced object there, its
  PrometheusRules and dashboard ConfigMaps included (``observability.ruleNamespace``);
- ``traffic.mode: none``: no Global Accelerator, no Route53 records; reviewers reach the
  services in the namespace (:func:`reach_instructions`);
- its series carry ``service="pr-<N>-<name>"`` (``observability.serviceLabelPrefix``; the
  ServiceMonitor rewrites the label at scrape), so its rules, dashboards and canary analysis
  never read stage's pods and stage's never read its pods;
- its SLO alerts carry ``route: preview`` (``observability.alertLabels``), which Alertmanager
  routes to a receiver that never pages (docs/alertmanager/previews-route.yaml).

Pure, data in / data out:

- :func:`stack_name` - ``pr-<N>`` from a PR number;
- :func:`preview_values` - the template stack's config with the preview overrides above (one
  region at 100 %, minimal replicas, ``environment: preview``, ``env`` tag ``preview``);
- :func:`stack_file_config` - the whole ``config:`` of ``Pulumi.pr-<N>.yaml``, which both lanes
  write (:func:`write_stack_file`) and :func:`secret_paths` - its Pulumi secrets;
- :func:`preview_tags` - the stack tags (pr, owner, created, last-activity, ttl, preview);
- :func:`select_idle` - which preview stacks have been idle longer than the limit, where idle
  is the time since the last *update* (not since creation), and which stacks are refused
  because they do not match both the name pattern and the ``preview=true`` tag.

The shell (:func:`up`, :func:`destroy`, :func:`gc`) reads inputs, calls these, and acts through
:mod:`summit_platform.automation.pulumi_ops`; :func:`plan_offline` is the embedded lane (plan, collision check,
policies and cost of the preview, then its stack file). Both lanes check the new preview
against every stack file of the project (:func:`check_collisions`) before creating anything.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import yaml

from summit_platform.automation import safe_io
from summit_platform.automation.errors import CheckFailed, PlanError, UserError
from summit_platform.automation.plan import collisions
from summit_platform.automation.plan.runner import StackResult, plan_stack
from summit_platform.automation.service import project as service_project
from summit_platform.automation.stack_files import (
    project_defaults,
    read_stack_file,
    stack_names,
    stack_values,
)
from summit_platform.stacks.config import TOP_LEVEL_KEYS, StackConfig, from_values

PATTERN = r"pr-[0-9]+"
"""Preview stack names; GC refuses anything else, whatever its tags say."""
PREVIEW_TAG = "preview"
TAG_KEYS = ("pr", "owner", "created", "last-activity", "ttl", PREVIEW_TAG)
MAX_PR = 10**9 - 1
"""PR numbers up to nine digits: the namespace and the series prefix (``pr-<N>-``) stay
short enough for Grafana's 40-character dashboard uids."""
LOCAL_PORT = 8080
"""The first local port the reach instructions forward to."""
ALERT_ROUTE_LABEL = "route"
ALERT_ROUTE = "preview"
"""Every preview alert carries ``route="preview"``; Alertmanager routes it to a receiver that
never pages (the route is in docs/alertmanager/previews-route.yaml, tested with amtool)."""


class SummaryLike(Protocol):
    """What GC reads of a stack summary (the SDK's StackSummary has these)."""

    @property
    def name(self) -> str: ...
    @property
    def last_update(self) -> datetime | None: ...
    @property
    def update_in_progress(self) -> bool | None: ...


def stack_name(pr: int) -> str:
    """The preview stack of a pull request: ``pr-<N>``."""
    if isinstance(pr, bool) or not isinstance(pr, int) or not 0 < pr <= MAX_PR:
        raise UserError(f"expected a PR number from 1 to {MAX_PR}, found {pr!r}", key="--pr")
    return f"pr-{pr}"


def matches_pattern(name: str, pattern: str = PATTERN) -> bool:
    """Whether a (possibly fully qualified ``org/project/stack``) name is a preview name."""
    return re.fullmatch(pattern, name.rsplit("/", 1)[-1]) is not None


def _chosen_region(regions: list[Any], region: str | None) -> Mapping[str, Any]:
    if not regions:
        raise UserError("the template stack has no regions", key="summit-platform:regions")
    if region is None:
        return regions[0]
    found = [r for r in regions if isinstance(r, Mapping) and r.get("name") == region]
    if not found:
        names = [r.get("name") for r in regions if isinstance(r, Mapping)]
        raise UserError(f"region {region!r} is not one of {names}", key="--region")
    return found[0]


def _isolated_region(chosen: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The template's region as the preview's only one: all the traffic it has, no global
    endpoint, and the preview's own namespace (created by the stack) in the same cluster."""
    one = {k: v for k, v in chosen.items() if k not in ("endpointArn", "endpointStackRef")}
    one["naturalShare"] = 100
    one["dial"] = 100
    kube = dict(one.get("kubernetes") or {})
    kube["namespace"] = name
    kube["createNamespace"] = True
    one["kubernetes"] = kube
    return one


def _isolated_observability(template: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Rules and dashboards in the preview's namespace, its series and dashboards prefixed
    ``pr-<N>-``, and its alerts routed as previews."""
    obs = dict(template.get("observability") or {})
    obs["ruleNamespace"] = name
    obs["serviceLabelPrefix"] = f"{name}-"
    labels = dict(obs.get("alertLabels") or {})
    labels[ALERT_ROUTE_LABEL] = ALERT_ROUTE
    labels["stack"] = name
    obs["alertLabels"] = labels
    return obs


def preview_values(
    template: Mapping[str, Any], pr: int, *, replicas: int = 1, region: str | None = None
) -> dict[str, Any]:
    """The template stack's namespace values with the preview overrides.

    One region (``region`` or the template's first) with ``naturalShare`` 100, dial 100, no
    endpoint and the namespace ``pr-<N>`` (created by the stack); ``traffic.mode: none`` (no
    accelerator, no DNS, no pin); rules and dashboards in the namespace, series prefixed and
    alerts routed as previews (:func:`_isolated_observability`); every service at
    ``replicas`` min and max; ``environment`` and the ``env`` tag set to ``preview``; the
    template's other keys unchanged. The input is not modified."""
    name = stack_name(pr)
    out = copy.deepcopy(dict(template))
    one = _isolated_region(_chosen_region(list(out.get("regions") or []), region), name)
    out["regions"] = [one]
    out["traffic"] = {"mode": "none"}
    out["environment"] = "preview"
    tags = dict(out.get("tags") or {})
    tags["env"] = "preview"
    out["tags"] = tags
    services = []
    for svc in out.get("services") or []:
        s = dict(svc)
        s["replicas"] = {"min": replicas, "max": replicas}
        s.pop("regionVersions", None)
        services.append(s)
    out["services"] = services
    out["observability"] = _isolated_observability(out, name)
    kc = out.get("kubeconfigs")
    if isinstance(kc, Mapping):
        out["kubeconfigs"] = {k: v for k, v in kc.items() if k == one.get("name")}
    return out


def stack_file_config(
    project: str,
    template_raw: Mapping[str, Any],
    values: Mapping[str, Any],
    key_order: Sequence[str] = tuple(TOP_LEVEL_KEYS),
) -> dict[str, Any]:
    """The ``config:`` map of ``Pulumi.pr-<N>.yaml``: the template's keys of other namespaces
    (``aws:region`` ...) as they are, then every key of the project's namespace (Pulumi.yaml
    defaults merged in, so the file says everything the preview runs with) in ``key_order``
    (the platform model's: environment, regions, traffic, ...), then anything else sorted."""
    out = {
        k: copy.deepcopy(v)
        for k, v in template_raw.items()
        if ":" in k and not k.startswith(f"{project}:")
    }
    order = {camel: i for i, camel in enumerate(key_order)}
    for k in sorted(values, key=lambda k: (order.get(k, len(order)), k)):
        out[f"{project}:{k}"] = copy.deepcopy(values[k])
    return out


def secret_paths(config: Mapping[str, Any]) -> list[str]:
    """Config paths (``ns:key.sub[0]``) holding a Pulumi secret (``{secure: ...}``)."""
    out: list[str] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, Mapping):
            if set(value) == {"secure"}:
                out.append(path)
                return
            for k, v in value.items():
                seg = f".{k}" if re.fullmatch(r"[A-Za-z0-9_-]+", str(k)) else f'["{k}"]'
                walk(v, path + seg)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    for key, value in config.items():
        walk(value, key)
    return sorted(out)


def reach_instructions(cfg: StackConfig) -> list[str]:
    """How a reviewer reaches a preview: its services are ClusterIP Services in its own
    namespace; ``kubectl port-forward`` goes through the API server, so no NetworkPolicy,
    Ingress or DNS is involved."""
    region = cfg.regions[0]
    where = region.kubernetes.context or f"the cluster of kubeconfigs.{region.name}"
    ctx = f"--context {region.kubernetes.context} " if region.kubernetes.context else ""
    ns = region.kubernetes.namespace
    lines = [f"Namespace `{ns}` in cluster `{where}` ({region.name}); no global entry point."]
    for i, svc in enumerate(cfg.services):
        local = LOCAL_PORT + i  # one local port per service, so all can be forwarded at once
        lines.append(
            f"- {svc.name}: `kubectl {ctx}-n {ns} port-forward svc/{svc.name}-stable"
            f" {local}:{svc.port}` then http://localhost:{local}/"
        )
    route = cfg.observability.alert_labels.get(ALERT_ROUTE_LABEL)
    if route:
        lines.append("")
        lines.append(
            f'Alerts carry `{ALERT_ROUTE_LABEL}="{route}"`: Alertmanager sends them to the'
            " previews receiver, never to a pager."
        )
    return lines


def preview_tags(
    pr: int, owner: str, now: datetime, ttl_hours: float, existing: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Stack tags of a preview: ``created`` is kept from ``existing`` (first ``up``),
    ``last-activity`` is ``now``."""
    stamp = _iso(now)
    created = (existing or {}).get("created") or stamp
    return {
        "pr": str(pr),
        "owner": owner,
        "created": created,
        "last-activity": stamp,
        "ttl": f"{ttl_hours:g}h",
        PREVIEW_TAG: "true",
    }


def _iso(t: datetime) -> str:
    return _utc(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@dataclass(frozen=True)
class GcDecision:
    """One stack's fate in a GC run."""

    stack: str
    action: str
    """``destroy``, ``keep`` or ``refuse``."""
    reason: str
    idle: timedelta | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "action": self.action,
            "reason": self.reason,
            "idle_hours": None if self.idle is None else round(self.idle.total_seconds() / 3600, 2),
        }


def select_idle(
    summaries: Iterable[SummaryLike],
    tags: Mapping[str, Mapping[str, str]],
    *,
    now: datetime,
    idle: timedelta,
    pattern: str = PATTERN,
    tag: str = PREVIEW_TAG,
) -> list[GcDecision]:
    """Decide, for every stack, whether GC destroys it.

    A stack is destroyed only when its name matches ``pattern`` AND it carries ``<tag>=true``
    AND no update is running AND the time since its last update is over ``idle``. A stack that
    was never updated counts from its ``last-activity`` (or ``created``) tag. Stacks that fail
    the pattern or the tag are ``refuse``d with the reason; the rest are ``keep``."""
    out: list[GcDecision] = []
    now = _utc(now)
    for s in sorted(summaries, key=lambda x: x.name):
        name = s.name
        short = name.rsplit("/", 1)[-1]
        stack_tags = tags.get(name) or tags.get(short) or {}
        if not matches_pattern(name, pattern):
            out.append(GcDecision(name, "refuse", f"name does not match {pattern!r}"))
            continue
        if str(stack_tags.get(tag, "")).lower() != "true":
            out.append(GcDecision(name, "refuse", f"no {tag}=true stack tag"))
            continue
        if s.update_in_progress:
            out.append(GcDecision(name, "keep", "an update is in progress"))
            continue
        last = s.last_update
        if last is None:
            stamp = stack_tags.get("last-activity") or stack_tags.get("created")
            try:
                last = datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) if stamp else None
            except ValueError:
                last = None
        if last is None:
            out.append(GcDecision(name, "keep", "no last update and no activity tag"))
            continue
        age = now - _utc(last)
        if age > idle:
            out.append(GcDecision(name, "destroy", f"idle {_hours(age)} > {_hours(idle)}", age))
        else:
            out.append(GcDecision(name, "keep", f"idle {_hours(age)} <= {_hours(idle)}", age))
    return out


def _hours(d: timedelta) -> str:
    return f"{d.total_seconds() / 3600:.1f}h"


def gc_markdown(decisions: Sequence[GcDecision], *, applied: bool) -> str:
    """A short report of a GC run (what was or would be destroyed, and what was refused)."""
    verb = "Destroyed" if applied else "Would destroy (dry run; pass --yes)"
    lines = ["### Preview stack GC", ""]
    doomed = [d for d in decisions if d.action == "destroy"]
    lines.append(f"**{verb}:** " + (", ".join(f"`{d.stack}`" for d in doomed) or "nothing"))
    lines += ["", "| stack | action | reason |", "|---|---|---|"]
    lines += [f"| `{d.stack}` | {d.action} | {d.reason} |" for d in decisions]
    return "\n".join(lines) + "\n"


# --- the shell ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewSpec:
    """What both lanes create for ``pr-<N>``: the same config, validated before anything."""

    pr: int
    name: str
    template: str
    project: str
    values: dict[str, Any]
    """The project namespace's values (bare keys)."""
    config: dict[str, Any]
    """The whole ``config:`` of ``Pulumi.pr-<N>.yaml`` (:func:`stack_file_config`)."""
    cfg: StackConfig | None
    """The platform's typed config of the preview; None for a service project (its program
    reads its own namespace, see :mod:`summit_platform.automation.service.project`)."""
    namespace: str = ""
    """Where the preview's namespaced objects live."""
    reach: list[str] = field(default_factory=list)
    """How a reviewer reaches it (the PR comment): a heading line, then one line per service."""

    @property
    def stack_tags(self) -> dict[str, str]:
        """The tags the embedded lane evaluates packs with (the cloud lane sets more)."""
        return {PREVIEW_TAG: "true", "pr": str(self.pr)}


def template_values(project_dir: Path, template: str) -> tuple[str, dict[str, Any]]:
    """The project name and the template stack's namespace values (Pulumi.yaml defaults
    merged and types checked); the platform's validated against its model, so a bad template
    stops before any stack is created."""
    path = project_dir / f"Pulumi.{template}.yaml"
    if not path.is_file():
        raise UserError(
            f"no template stack file Pulumi.{template}.yaml (stacks: "
            f"{', '.join(stack_names(project_dir)) or 'none'})",
            source=str(path),
            key="--from",
        )
    pf, _, values = stack_values(project_dir, template)
    if service_project.is_platform(pf.name):
        from_values(values, str(path))
    return pf.name, values


def preview_spec(project_dir: Path, pr: int, template: str) -> PreviewSpec:
    """Read and validate the template, derive the preview's config and validate that too:
    the platform's through its model, a service's through :mod:`summit_platform.automation.service.project`."""
    name = stack_name(pr)
    if name == template:
        raise UserError("a preview cannot be its own template", key="--from")
    project, base = template_values(project_dir, template)
    raw = read_stack_file(project_dir, template)
    if not service_project.is_platform(project):
        source = str(project_dir / f"Pulumi.{template}.yaml")
        values = service_project.preview_values(base, project, name, source)
        config = stack_file_config(project, raw, values, service_project.ordered(values))
        reach = service_project.reach_instructions(project, values)
        return PreviewSpec(
            pr, name, template, project, values, config, None, values["namespace"], reach
        )
    values = preview_values(base, pr)
    cfg = from_values(values, f"Pulumi.{name}.yaml (preview of {template})")
    config = stack_file_config(project, raw, values)
    namespace = cfg.regions[0].kubernetes.namespace
    return PreviewSpec(
        pr, name, template, project, values, config, cfg, namespace, reach_instructions(cfg)
    )


def _plan_error(err: PlanError, project_dir: Path, stack: str) -> UserError:
    return UserError(str(err), source=str(project_dir / f"Pulumi.{stack}.yaml"))


def plan_preview(
    project_dir: Path, spec: PreviewSpec, packs: Sequence[tuple[Path, Path | None]] | None
) -> StackResult:
    """Plan ``pr-<N>`` with exactly its stack file's config (its values over the template's
    file, as ``as_stack``); with ``packs`` (not None) they are evaluated with the preview tags."""
    try:
        return plan_stack(
            project_dir,
            spec.template,
            packs=list(packs or []),
            overrides=spec.values,
            stack_tags=spec.stack_tags,
            as_stack=spec.name,
            evaluate=packs is not None,
        )
    except PlanError as err:
        raise _plan_error(err, project_dir, spec.template) from None


def check_collisions(
    project_dir: Path, spec: PreviewSpec, preview: StackResult
) -> list[collisions.Collision]:
    """The new preview against every other stack file of the project (each planned in the
    embedded lane, no packs): the objects two stacks would own. A stack file that cannot be
    planned stops the check (exit 2 naming it): a check that did not run must not pass."""
    owned = {
        spec.name: collisions.owned_objects(
            spec.name, (r.to_json() for r in preview.plan.resources)
        )
    }
    for other in stack_names(project_dir):
        if other == spec.name:
            continue
        try:
            res = plan_stack(project_dir, other, evaluate=False)
        except PlanError as err:
            raise _plan_error(err, project_dir, other) from None
        owned[other] = collisions.owned_objects(other, (r.to_json() for r in res.plan.resources))
    return collisions.find_collisions(owned, only=spec.name)


class CollisionsFound(CheckFailed):
    """The new preview would own objects another stack owns: nothing was created."""

    def __init__(self, name: str, found: Sequence[collisions.Collision]):
        self.violations = [v.to_json() for v in collisions.violations(found, name)]
        first = found[0].message(name) if found else ""
        super().__init__(
            f"{len(found)} object(s) of {name} collide with another stack; nothing was"
            f" created. First: {first}"
        )


def write_stack_file(project_dir: Path, stack: str, config: Mapping[str, Any]) -> Path:
    """Write ``Pulumi.<stack>.yaml`` with ``config`` through the one safe writer (lock, temp
    file, fsync, rename). Other top-level keys of an existing file (``encryptionsalt``,
    ``secretsprovider`` written by ``pulumi stack init``) are kept."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    doc: dict[str, Any] = {}
    if path.exists():
        old = safe_io.load_yaml(path)
        if isinstance(old, Mapping):
            doc = {k: v for k, v in old.items() if k != "config"}
    doc["config"] = dict(config)
    header = (
        "# Written by `summit previews up` (the preview's whole config); regenerate, do not edit.\n"
    )
    text = header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=100)
    safe_io.atomic_write(path, text)
    return path


def remove_stack_file(project_dir: Path, pr: int) -> Path:
    """Remove ``Pulumi.pr-<N>.yaml`` (the embedded lane's preview): only a preview's file,
    never another stack's, whatever its name."""
    name = stack_name(pr)
    path = project_dir / f"Pulumi.{name}.yaml"
    if not path.is_file():
        raise UserError("no such preview stack file", source=str(path))
    cfg = read_stack_file(project_dir, name)
    project, _ = project_defaults(project_dir)
    if cfg.get(f"{project}:environment") != "preview":
        raise UserError(
            "not a preview stack file (environment is not preview); refusing to remove it",
            source=str(path),
            key=f"{project}:environment",
        )
    with safe_io.locked(path):
        path.unlink()
    return path


@dataclass
class UpResult:
    """What ``summit previews up`` did."""

    stack: str
    tags: dict[str, str]
    policy_events: list[dict[str, Any]] = field(default_factory=list)
    changes: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    spec: PreviewSpec | None = None
    planned: list[dict[str, Any]] = field(default_factory=list)
    """The preview's resources as the embedded lane planned them (for the cost estimate)."""


def up(
    project_dir: Path,
    pr: int,
    *,
    template: str,
    owner: str,
    now: datetime,
    ttl_hours: float,
    packs: Sequence[Path],
    pack_configs: Sequence[Path],
    command: Any = None,
    on_output: Callable[[str], None] | None = None,
) -> UpResult:
    """Check the preview against every stack file (nothing is created on a collision), then
    create or select ``pr-N``, write its stack file (the same one the embedded lane writes),
    copy the template's secrets as the preview's own, set the tags, and preview and up with
    the policy packs enforced. Policy events of both runs are collected for the PR comment."""
    # The Automation API wrapper loads the Pulumi SDK (~1 s); the pure decisions do not.
    from summit_platform.automation import pulumi_ops as ops

    if len(pack_configs) != len(packs):
        raise UserError(
            f"{len(pack_configs)} policy pack configs for {len(packs)} packs: give one per pack",
            key="--policy-pack-config",
        )
    spec = preview_spec(project_dir, pr, template)
    planned = plan_preview(project_dir, spec, None)
    found = check_collisions(project_dir, spec, planned)
    if found:
        raise CollisionsFound(spec.name, found)
    secrets = _template_secrets(project_dir, spec, command)
    stack = ops.open_stack(project_dir, spec.name, create=True, command=command)
    write_stack_file(project_dir, spec.name, _without(spec.config, secrets))
    for path, value in secrets.items():
        ops.set_config(stack, path, value, secret=True, path=True)
    tags = preview_tags(pr, owner, now, ttl_hours, ops.get_tags(stack))
    ops.set_tags(stack, tags)
    # A mandatory violation raises ops.PolicyViolations carrying the events seen so far; the
    # CLI turns those into the PR comment and exits 1.
    pv = ops.preview(
        stack, policy_packs=packs, policy_pack_configs=pack_configs, on_output=on_output
    )
    events = [_event_json(e) for e in pv.policy_events]
    outcome = ops.up(
        stack,
        policy_packs=packs,
        policy_pack_configs=pack_configs,
        message=f"preview of PR #{pr}",
        on_output=on_output,
    )
    events += [_event_json(e) for e in outcome.policy_events]
    rows = [r.to_json() for r in planned.plan.resources]
    return UpResult(
        spec.name, tags, events, dict(outcome.changes), dict(outcome.outputs), spec, rows
    )


def _template_secrets(project_dir: Path, spec: PreviewSpec, command: Any) -> dict[str, str]:
    """The template's secret values (decrypted with the template's key) by config path: the
    preview stores them again under its own key, as ciphertext cannot move between stacks."""
    paths = secret_paths(spec.config)
    if not paths:
        return {}
    from summit_platform.automation import pulumi_ops as ops  # the Pulumi SDK: see up()

    template = ops.open_stack(project_dir, spec.template, command=command)
    out = {}
    for path in paths:
        got = ops.get_config(template, path, path=True)
        if got is None:
            raise UserError(f"secret {path} is not set on the template", source=spec.template)
        out[path] = got.value
    return out


def _without(config: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, Any]:
    """``config`` minus the keys whose secrets are set separately (by the CLI, encrypted)."""
    tops = {re.split(r"[.\[]", p, maxsplit=1)[0] for p in secrets}
    return {k: v for k, v in config.items() if k not in tops}


def _event_json(e: Any) -> dict[str, Any]:
    """A PolicyEventRecord as the same JSON shape ``summit plan --json`` gives violations."""
    return {
        "pack": e.pack,
        "policy": e.policy,
        "enforcement": e.enforcement,
        "urn": e.urn or "",
        "message": e.message,
    }


def destroy(project_dir: Path, pr: int, *, command: Any = None) -> None:
    """Destroy ``pr-N``'s resources and remove the stack (refuses a non-preview name)."""
    from summit_platform.automation import pulumi_ops as ops  # the Pulumi SDK: see up()

    name = stack_name(pr)
    stack = ops.open_stack(project_dir, name, command=command)
    tags = ops.get_tags(stack)
    if str(tags.get(PREVIEW_TAG, "")).lower() != "true":
        raise UserError(f"stack {name} has no {PREVIEW_TAG}=true tag; refusing to destroy it")
    ops.destroy(stack)
    ops.remove_stack(project_dir, name, command=command)


def gc(
    project_dir: Path,
    *,
    idle: timedelta,
    now: datetime,
    apply: bool,
    command: Any = None,
) -> list[GcDecision]:
    """List stacks, read the tags of those whose name fits the pattern, decide, and (only when
    ``apply``) destroy and remove the idle ones. Reading selects no stack: a dry run leaves
    the workspace's current stack as it was."""
    from summit_platform.automation import pulumi_ops as ops  # the Pulumi SDK: see up()

    summaries = ops.list_stacks(project_dir, command=command)
    tags: dict[str, dict[str, str]] = {}
    for s in summaries:
        if matches_pattern(s.name):
            tags[s.name] = ops.list_tags(project_dir, s.name, command=command)
    decisions = select_idle(summaries, tags, now=now, idle=idle)
    if apply:
        for d in decisions:
            if d.action != "destroy":
                continue
            stack = ops.open_stack(project_dir, d.stack, command=command)
            ops.destroy(stack)
            ops.remove_stack(project_dir, d.stack, command=command)
    return decisions
