"""Per-PR preview stacks: the decisions (pure) and the Automation API shell around them.

Pure, data in / data out, on the SDK's own types (``pulumi.automation.StackSummary`` or
:class:`automation.pulumi_ops.StackSummary`, which carry ``name``, ``last_update`` and
``update_in_progress``):

- :func:`stack_name` - ``pr-<N>`` from a PR number;
- :func:`preview_values` - the template stack's config with the preview overrides (one region
  at 100 %, minimal replicas, ``environment: preview``, ``env`` tag ``preview``);
- :func:`preview_tags` - the stack tags (pr, owner, created, last-activity, ttl, preview);
- :func:`select_idle` - which preview stacks have been idle longer than the limit, where idle
  is the time since the last *update* (not since creation), and which stacks are refused
  because they do not match both the name pattern and the ``preview=true`` tag.

The shell (:func:`up`, :func:`destroy`, :func:`gc`) reads inputs, calls these, and acts through
:mod:`automation.pulumi_ops`; :func:`plan_offline` is the embedded lane (plan, policies and
cost with the preview config, no engine).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from automation.errors import UserError
from automation.stack_files import project_defaults, read_stack_file
from stacks.config import from_values, namespace_values

PATTERN = r"pr-[0-9]+"
"""Preview stack names; GC refuses anything else, whatever its tags say."""
PREVIEW_TAG = "preview"
TAG_KEYS = ("pr", "owner", "created", "last-activity", "ttl", PREVIEW_TAG)


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
    if isinstance(pr, bool) or not isinstance(pr, int) or pr <= 0:
        raise UserError(f"expected a positive PR number, found {pr!r}", key="--pr")
    return f"pr-{pr}"


def matches_pattern(name: str, pattern: str = PATTERN) -> bool:
    """Whether a (possibly fully qualified ``org/project/stack``) name is a preview name."""
    return re.fullmatch(pattern, name.rsplit("/", 1)[-1]) is not None


def preview_values(
    template: Mapping[str, Any], pr: int, *, replicas: int = 1, region: str | None = None
) -> dict[str, Any]:
    """The template stack's namespace values with the preview overrides.

    One region (``region`` or the template's first) with ``naturalShare`` 100 and dial 100,
    every service at ``replicas`` min and max, ``environment`` and the ``env`` tag set to
    ``preview``, and the template's other keys unchanged. The input is not modified."""
    out = copy.deepcopy(dict(template))
    regions = list(out.get("regions") or [])
    if not regions:
        raise UserError("the template stack has no regions", key="summit-platform:regions")
    chosen = regions[0]
    if region is not None:
        found = [r for r in regions if isinstance(r, Mapping) and r.get("name") == region]
        if not found:
            names = [r.get("name") for r in regions if isinstance(r, Mapping)]
            raise UserError(f"region {region!r} is not one of {names}", key="--region")
        chosen = found[0]
    one = dict(chosen)
    one["naturalShare"] = 100
    one["dial"] = 100
    out["regions"] = [one]
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
    kc = out.get("kubeconfigs")
    if isinstance(kc, Mapping):
        out["kubeconfigs"] = {k: v for k, v in kc.items() if k == one.get("name")}
    return out


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


# --- the shell: Automation API through automation.pulumi_ops ---------------------------------


@dataclass
class UpResult:
    """What ``summit previews up`` did."""

    stack: str
    tags: dict[str, str]
    policy_events: list[dict[str, Any]] = field(default_factory=list)
    changes: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)


def _flatten_config(project: str, values: Mapping[str, Any]) -> dict[str, str]:
    return {f"{project}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


def template_values(project_dir: Path, template: str) -> tuple[str, dict[str, Any]]:
    """The project name and the template stack's namespace values (Pulumi.yaml defaults
    merged); validated so a bad template stops before any stack is created."""
    project, defaults = project_defaults(project_dir)
    source = str(project_dir / f"Pulumi.{template}.yaml")
    values = namespace_values(project, defaults, read_stack_file(project_dir, template), source)
    from_values(values, source)
    return project, values


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
    """Create or select ``pr-N``, write the preview config and tags, then preview and up with
    the policy packs enforced. Policy events of both runs are collected for the PR comment."""
    # The Automation API wrapper loads the Pulumi SDK (~1 s); the pure decisions do not.
    from automation import pulumi_ops as ops

    name = stack_name(pr)
    project, base = template_values(project_dir, template)
    values = preview_values(base, pr)
    from_values(values, f"{name} (preview of {template})")
    raw = _template_other_namespaces(project_dir, template, project)
    stack = ops.open_stack(project_dir, name, create=True, command=command)
    ops.set_all_config(stack, {**raw, **_flatten_config(project, values)})
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
    return UpResult(name, tags, events, dict(outcome.changes), dict(outcome.outputs))


def _template_other_namespaces(project_dir: Path, template: str, project: str) -> dict[str, str]:
    """The template's keys of other namespaces (``aws:region`` ...), copied as they are."""
    out = {}
    for k, v in read_stack_file(project_dir, template).items():
        if ":" in k and not k.startswith(f"{project}:") and not isinstance(v, dict):
            out[k] = str(v)
    return out


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
    from automation import pulumi_ops as ops  # the Pulumi SDK: see up()

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
    ``apply``) destroy and remove the idle ones."""
    from automation import pulumi_ops as ops  # the Pulumi SDK: see up()

    summaries = ops.list_stacks(project_dir, command=command)
    tags: dict[str, dict[str, str]] = {}
    for s in summaries:
        if matches_pattern(s.name):
            tags[s.name] = ops.get_tags(ops.open_stack(project_dir, s.name, command=command))
    decisions = select_idle(summaries, tags, now=now, idle=idle)
    if apply:
        for d in decisions:
            if d.action != "destroy":
                continue
            stack = ops.open_stack(project_dir, d.stack, command=command)
            ops.destroy(stack)
            ops.remove_stack(project_dir, d.stack, command=command)
    return decisions
