"""The FinOps policies: what a stack may cost and how its spend stays attributable.

Each policy reads the camelCase properties the engine sends for the concrete types our
components register (``kubernetes:argoproj.io/v1alpha1:Rollout`` from CanaryRollout and the
paved-road ServiceComponent, ``kubernetes:apps/v1:Deployment`` ...), takes its limits from its
config schema (``--policy-pack-config``, per environment in ``config/``), and calls
``args.not_applicable`` where it does not apply. The cost cap prices the stack with the same
model as ``summit finops estimate`` (``summit_platform.automation.finops.cost``).
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from finops_policies._model import cost

WORKLOAD_TYPES = sorted(cost.WORKLOAD_KINDS)
"""Every workload kind whose containers are capped (Deployment ... Rollout, bare Pod)."""

INSTANCE_TYPES = {
    "aws:ec2/instance:Instance": "instanceType",
    "aws:ec2/launchTemplate:LaunchTemplate": "instanceType",
    "aws:ec2/spotInstanceRequest:SpotInstanceRequest": "instanceType",
    "aws:eks/nodeGroup:NodeGroup": "instanceTypes",
    "aws:autoscaling/group:Group": "mixedInstancesPolicy",
    "aws:rds/instance:Instance": "instanceClass",
    "aws:rds/clusterInstance:ClusterInstance": "instanceClass",
}
"""Types that choose a machine class, and the property that names it."""

TAGGABLE_TYPES = [
    "aws:alb/loadBalancer:LoadBalancer",
    "aws:cloudwatch/metricAlarm:MetricAlarm",
    "aws:dynamodb/table:Table",
    "aws:ebs/volume:Volume",
    "aws:ec2/instance:Instance",
    "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:ec2/natGateway:NatGateway",
    "aws:eks/cluster:Cluster",
    "aws:eks/nodeGroup:NodeGroup",
    "aws:globalaccelerator/accelerator:Accelerator",
    "aws:iam/policy:Policy",
    "aws:iam/role:Role",
    "aws:lb/loadBalancer:LoadBalancer",
    "aws:rds/instance:Instance",
    "aws:route53/healthCheck:HealthCheck",
    "aws:route53/zone:Zone",
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketV2:BucketV2",
]
"""AWS types our stacks create or may create that take tags (each a real pulumi-aws token
with a ``tags`` input: tests/test_finops_policies.py checks them against the installed
provider); any other aws: type whose inputs carry a ``tags`` map is checked too."""

COST_ALLOCATION_KEYS = ["team", "service", "env", "cost-center"]
"""The one required set: AWS tags and Kubernetes labels alike, as the stack's ``tags``
(team, service, env, costCenter) puts them on every taggable resource and object."""

DEFAULT_DENY = ["p4d.*", "p5.*", "x2*", "u-*"]


def _stack_name() -> str:
    """The stack being analysed: the engine sets PULUMI_STACK for the pack process."""
    return os.environ.get("PULUMI_STACK", "")


# --- preview-cost-cap ------------------------------------------------------------------------


def is_preview(stack: str, tags: Mapping[str, str], pattern: str, tag: str) -> bool:
    """A preview stack: its name matches ``pattern`` or it carries ``<tag>=true``."""
    if pattern and re.fullmatch(pattern, stack or ""):
        return True
    return bool(tag) and str(tags.get(tag, "")).lower() == "true"


def _as_dict(r: Any) -> dict[str, Any]:
    """A PolicyResource as the cost model's plain resource dict."""
    type_ = r.resource_type
    component_like = type_.startswith(
        ("kubernetes:yaml/", "kubernetes:helm.sh/", "kubernetes:kustomize", "summit:")
    )
    # PolicyResource does not say custom or component: a provider package's token is custom
    # unless it is one of the Kubernetes SDK's own components; our summit: tokens never are.
    custom = not component_like and (
        r.provider is not None or type_.startswith(("aws:", "kubernetes:", "pulumi:providers:"))
    )
    parent = getattr(r, "parent", None)
    return {
        "urn": r.urn,
        "type": type_,
        "name": r.name,
        "custom": custom,
        "parent": getattr(parent, "urn", None),
        "provider": getattr(r.provider, "urn", None),
        "outputs": dict(_plain(r.props)),
    }


def _plain(value: Any) -> Any:
    """Unwrap the pack's read-only proxies into plain JSON-like values."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _money(x: Decimal | float) -> str:
    return f"${float(x):.2f}/h"


def cost_cap_message(est: Any, cap: float) -> str | None:
    """The violation text when ``est`` (an Estimate) is at or above ``cap``, else None."""
    total = est.total_hourly
    if total < Decimal(str(cap)):
        return None
    top = "; ".join(
        f"{line.name} ({line.type.split(':')[-1]}) {_money(line.hourly)}" for line in est.top(3)
    )
    msg = f"Preview exceeds cost cap: {_money(total)} (cap {_money(cap)}); top: {top}"
    if est.unpriced:
        msg += f"; {len(est.unpriced)} resource(s) unpriced and not counted"
    return msg + "."


def _check_cost_cap(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    cfg = args.get_config()
    if not is_preview(
        _stack_name(), args.stack_tags, cfg["previewStackPattern"], cfg["previewTag"]
    ):
        args.not_applicable("not a preview stack")
        return
    prices = cost.PriceTable.load()
    usage = cost.Usage.from_doc(cfg.get("usage") or None, "preview-cost-cap.usage")
    resources = [_as_dict(r) for r in args.resources]
    est = cost.estimate(resources, prices, usage, stack=_stack_name())
    msg = cost_cap_message(est, float(cfg["capHourly"]))
    if msg:
        report_violation(msg)


preview_cost_cap = StackValidationPolicy(
    name="preview-cost-cap",
    description="A preview stack's estimated hourly cost stays under the cap.",
    validate=_check_cost_cap,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Lower replicas or requests in the preview overrides (`summit previews up` sets one"
        " region and minimal replicas), or raise capHourly in the pack config with a reason."
    ),
    config_schema=PolicyConfigSchema(
        properties={
            "capHourly": {"type": "number", "exclusiveMinimum": 0, "default": 1.5},
            "previewStackPattern": {"type": "string", "default": r"pr-[0-9]+"},
            "previewTag": {"type": "string", "default": "preview"},
            "usage": {
                "type": "object",
                "description": "Usage document (resources, defaults) as in a usage file.",
            },
        }
    ),
)


# --- cpu-request-cap / memory-request-cap ----------------------------------------------------


def _workload_containers(args: ResourceValidationArgs) -> list[tuple[str, Mapping[str, Any]]]:
    if args.resource_type not in cost.WORKLOAD_KINDS:
        args.not_applicable("not a workload")
        return []
    spec = cost.pod_template(args.resource_type, args.props)
    if spec is None:
        args.not_applicable(
            "no pod template (a Rollout with workloadRef is checked at its Deployment)"
        )
        return []
    return cost.containers(spec)


def _who(args: ResourceValidationArgs, kind: str, c: Mapping[str, Any]) -> str:
    wk = cost.WORKLOAD_KINDS[args.resource_type]
    label = "init container" if kind in ("initContainer", "sidecar") else "container"
    return f"{wk} '{args.name}' {label} '{c.get('name', '?')}'"


def _check_cpu(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    cap = float(args.get_config()["maxCpuMillis"])
    for kind, c in _workload_containers(args):
        req = (c.get("resources") or {}).get("requests") or {}
        cpu = cost.cpu_millis(req.get("cpu")) if isinstance(req, Mapping) else None
        if cpu is None:
            report_violation(f"{_who(args, kind, c)} has no CPU request (cap {cap:g}m).")
        elif cpu > cap:
            report_violation(f"{_who(args, kind, c)} requests {cpu:g}m CPU; the cap is {cap:g}m.")


def _check_memory(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    cap_text = str(args.get_config()["maxMemory"])
    cap = cost.memory_bytes(cap_text)
    for kind, c in _workload_containers(args):
        req = (c.get("resources") or {}).get("requests") or {}
        mem = cost.memory_bytes(req.get("memory")) if isinstance(req, Mapping) else None
        if mem is None:
            report_violation(f"{_who(args, kind, c)} has no memory request (cap {cap_text}).")
        elif cap is not None and mem > cap:
            report_violation(
                f"{_who(args, kind, c)} requests {req.get('memory')} memory; the cap is {cap_text}."
            )


cpu_request_cap = ResourceValidationPolicy(
    name="cpu-request-cap",
    description="Every container of every workload (init too) requests CPU within the cap.",
    validate=_check_cpu,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Set resources.requests.cpu on every container (services: `resources.cpuRequest`),"
        " at most the cap; scale out with replicas instead of bigger pods."
    ),
    config_schema=PolicyConfigSchema(
        properties={"maxCpuMillis": {"type": "number", "exclusiveMinimum": 0, "default": 1000}}
    ),
)

memory_request_cap = ResourceValidationPolicy(
    name="memory-request-cap",
    description="Every container of every workload (init too) requests memory within the cap.",
    validate=_check_memory,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Set resources.requests.memory on every container (services: `resources.memoryRequest`),"
        " at most the cap."
    ),
    config_schema=PolicyConfigSchema(
        properties={
            "maxMemory": {
                "type": "string",
                "pattern": r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$",
                "default": "2Gi",
            }
        }
    ),
)


# --- instance-class-deny-list ----------------------------------------------------------------


def denied(instance: str, patterns: list[str]) -> str | None:
    """The first deny pattern matching an instance type or RDS class (``db.`` prefix optional
    in the pattern), or None."""
    bare = instance[3:] if instance.startswith("db.") else instance
    for p in patterns:
        if fnmatch.fnmatchcase(instance, p) or fnmatch.fnmatchcase(bare, p):
            return p
    return None


def _classes(type_: str, props: Mapping[str, Any]) -> list[str]:
    prop = INSTANCE_TYPES[type_]
    if prop == "instanceTypes":
        return [str(t) for t in props.get("instanceTypes") or []]
    if prop == "mixedInstancesPolicy":
        overrides = ((props.get("mixedInstancesPolicy") or {}).get("launchTemplate") or {}).get(
            "overrides"
        ) or []
        return [str(o.get("instanceType")) for o in overrides if o.get("instanceType")]
    value = props.get(prop)
    return [str(value)] if value else []


def _check_instances(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in INSTANCE_TYPES:
        args.not_applicable("does not choose an instance class")
        return
    patterns = list(args.get_config()["denyList"])
    for cls in _classes(args.resource_type, args.props):
        hit = denied(cls, patterns)
        if hit:
            report_violation(
                f"{args.resource_type.split(':')[-1]} '{args.name}' uses {cls}, which the"
                f" deny-list blocks (pattern {hit!r})."
            )


instance_class_deny_list = ResourceValidationPolicy(
    name="instance-class-deny-list",
    description="EC2, launch template, node group and RDS classes avoid deny-listed families.",
    validate=_check_instances,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Pick a general-purpose class (m6i, r6i, db.r6g ...); GPU and high-memory families need"
        " an exception in the pack config, reviewed by FinOps."
    ),
    config_schema=PolicyConfigSchema(
        properties={
            "denyList": {"type": "array", "items": {"type": "string"}, "default": DEFAULT_DENY}
        }
    ),
)


# --- cost-allocation-tags --------------------------------------------------------------------


def _missing(have: Any, required: list[str]) -> list[str]:
    have = have if isinstance(have, Mapping) else {}
    return [t for t in required if not str(have.get(t) or "").strip()]


def _check_tags(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    cfg = args.get_config()
    type_ = args.resource_type
    kind = type_.split(":")[-1]
    if type_.startswith("aws:"):
        if type_ not in cfg["taggableTypes"] and "tags" not in args.props:
            args.not_applicable("not a taggable AWS resource")
            return
        tags = dict(args.props.get("tags") or {})
        prov = args.provider.props if args.provider is not None else {}
        default_tags = ((prov or {}).get("defaultTags") or {}).get("tags") or {}
        merged = {**default_tags, **tags}
        missing = _missing(merged, cfg["requiredTags"])
        if missing:
            report_violation(
                f"{kind} '{args.name}' is missing cost-allocation tags: {', '.join(missing)}"
                f" (required: {', '.join(cfg['requiredTags'])})."
            )
        return
    if type_.startswith("kubernetes:") and "metadata" in args.props:
        required = cfg["requiredLabels"]
        missing = _missing((args.props.get("metadata") or {}).get("labels"), required)
        if missing:
            report_violation(
                f"{kind} '{args.name}' is missing cost-allocation labels: {', '.join(missing)}"
                f" (required: {', '.join(required)})."
            )
        if type_ in cost.WORKLOAD_KINDS:
            tmpl = (args.props.get("spec") or {}).get("template") or {}
            if type_ == "kubernetes:batch/v1:CronJob":
                tmpl = (
                    ((args.props.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
                ).get("template") or {}
            pod_missing = _missing((tmpl.get("metadata") or {}).get("labels"), required)
            if tmpl and pod_missing:
                # OpenCost and Kubecost allocate by pod labels, not the workload's own.
                report_violation(
                    f"{kind} '{args.name}' pod template is missing cost-allocation labels:"
                    f" {', '.join(pod_missing)}."
                )
        return
    args.not_applicable("neither an AWS resource nor a Kubernetes object")


cost_allocation_tags = ResourceValidationPolicy(
    name="cost-allocation-tags",
    description=(
        "AWS resources carry the team/service/env/cost-center tags; Kubernetes objects and pod"
        " templates the same labels."
    ),
    validate=_check_tags,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Pass the stack's `tags` (team, service, env, costCenter) to AWS resources (or the"
        " provider's defaultTags) and the region context's labels to Kubernetes metadata and"
        " pod templates."
    ),
    config_schema=PolicyConfigSchema(
        properties={
            "requiredTags": {
                "type": "array",
                "items": {"type": "string"},
                "default": COST_ALLOCATION_KEYS,
            },
            "requiredLabels": {
                "type": "array",
                "items": {"type": "string"},
                "default": COST_ALLOCATION_KEYS,
            },
            "taggableTypes": {
                "type": "array",
                "items": {"type": "string"},
                "default": TAGGABLE_TYPES,
            },
        }
    ),
)


# --- right-size-hints ------------------------------------------------------------------------


def suggested_cpu_request(observed_millis: float, headroom: float) -> int:
    """A CPU request for observed usage plus headroom, rounded up to 10m (at least 10m)."""
    return max(10, math.ceil(observed_millis * (1 + headroom) / 10.0) * 10)


def suggested_memory_request(observed_mib: float, headroom: float) -> int:
    """A memory request (MiB) for observed usage plus headroom, rounded up to 8Mi (at least
    16Mi)."""
    return max(16, math.ceil(observed_mib * (1 + headroom) / 8.0) * 8)


def _quantity(what: str, amount: float) -> str:
    """A request or limit as the hint shows it: ``250m`` CPU, ``384Mi`` memory."""
    if what == "cpu":
        return f"{max(10, math.ceil(amount / 10.0) * 10)}m"
    return f"{max(16, math.ceil(amount / 2**20))}Mi"


def _observed(cfg: Mapping[str, Any], name: str, metadata_name: str | None) -> Mapping[str, Any]:
    obs = dict(cfg.get("observed") or {})
    path = cfg.get("usageFile")
    if path:
        # Relative to the pack's folder (the working directory the engine runs packs in);
        # no file means no observations yet, never a failure.
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError):
            doc = {}
        obs = {**(doc.get("resources") or {}), **obs}
    return obs.get(name) or (obs.get(metadata_name) if metadata_name else None) or {}


def _ratio_hints(args: ResourceValidationArgs, pairs: list[Any], max_ratio: float) -> list[str]:
    """Containers whose limit dwarfs their request, each with the two values that fix it."""
    out = []
    for kind, c in pairs:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        for what, parse in (("cpu", cost.cpu_millis), ("memory", cost.memory_bytes)):
            r, limit = parse(req.get(what)), parse(lim.get(what))
            if r and limit and limit / r > max_ratio:
                out.append(
                    f"{_who(args, kind, c)}: {what} limit/request ratio is {limit / r:.1f}"
                    f" (> {max_ratio:g}); suggested: request {_quantity(what, limit / max_ratio)}"
                    f" (limit / {max_ratio:g}) or limit {_quantity(what, r * max_ratio)}"
                    f" (request x {max_ratio:g})."
                )
    return out


def _usage_hints(
    args: ResourceValidationArgs, pairs: list[Any], cfg: Mapping[str, Any]
) -> list[str]:
    """Pods that request far more than they were observed to use, with a suggested request."""
    meta_name = (args.props.get("metadata") or {}).get("name")
    obs = _observed(cfg, args.name, meta_name)
    factor, headroom = float(cfg["overRequestFactor"]), float(cfg["headroom"])
    wk = cost.WORKLOAD_KINDS[args.resource_type]
    out = []
    for what, key, parse, unit in (
        ("CPU", "cpuMillis", cost.cpu_millis, 1.0),
        ("memory", "memoryMiB", cost.memory_bytes, 2**20),
    ):
        if key not in obs:
            continue
        used = float(obs[key])
        total = (
            sum(
                (parse(((c.get("resources") or {}).get("requests") or {}).get(what.lower())) or 0)
                for kind, c in pairs
                if kind != "initContainer"
            )
            / unit
        )
        if total > 0 and total > used * factor:
            if what == "CPU":
                shown, suggested = "m", f"{suggested_cpu_request(used, headroom)}m"
            else:
                shown, suggested = "Mi", f"{suggested_memory_request(used, headroom)}Mi"
            out.append(
                f"{wk} '{args.name}' requests {total:g}{shown} {what} per pod but uses"
                f" {used:g}{shown}; suggested request: {suggested}."
            )
    return out


def _check_right_size(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    cfg = args.get_config()
    pairs = _workload_containers(args)
    if not pairs:
        return
    for hint in _ratio_hints(args, pairs, float(cfg["maxLimitRequestRatio"])):
        report_violation(hint)
    for hint in _usage_hints(args, pairs, cfg):
        report_violation(hint)


right_size_hints = ResourceValidationPolicy(
    name="right-size-hints",
    description=(
        "Hints, each with a suggested value, where limits dwarf requests or requests dwarf"
        " observed usage."
    ),
    validate=_check_right_size,
    enforcement_level=EnforcementLevel.ADVISORY,
    remediation_steps="Apply the suggested request; re-check after a week of usage data.",
    config_schema=PolicyConfigSchema(
        properties={
            "maxLimitRequestRatio": {"type": "number", "exclusiveMinimum": 1, "default": 4},
            "overRequestFactor": {"type": "number", "exclusiveMinimum": 1, "default": 2},
            "headroom": {"type": "number", "minimum": 0, "default": 0.2},
            "observed": {
                "type": "object",
                "description": "Workload name -> {cpuMillis, memoryMiB} observed per pod.",
                "additionalProperties": {"type": "object"},
            },
            "usageFile": {
                "type": "string",
                "description": (
                    "A JSON usage file ({resources: {name: {cpuMillis, memoryMiB}}}, what"
                    " `summit finops observe` writes), relative to the pack's folder; read"
                    " when present, `observed` wins."
                ),
            },
        }
    ),
)


POLICIES = [
    preview_cost_cap,
    cpu_request_cap,
    memory_request_cap,
    instance_class_deny_list,
    cost_allocation_tags,
    right_size_hints,
]
