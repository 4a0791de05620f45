"""Summit guardrail policies: what every stack of the platform must satisfy.

Limits live in each policy's config (``--policy-pack-config``), never in branches on the stack
name. Each policy reads the camelCase properties the engine sends for the concrete resource
types our components register, and says ``not_applicable`` where it does not apply.
"""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime
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

ENDPOINT_GROUP = "aws:globalaccelerator/endpointGroup:EndpointGroup"
LISTENER = "aws:globalaccelerator/listener:Listener"
PROJECT_NAMESPACE = "summit-platform"

# AWS resource types our components register that take tags. A type outside this list is
# still checked when its inputs carry a `tags` map.
TAGGABLE_TYPES = [
    "aws:globalaccelerator/accelerator:Accelerator",
    "aws:route53/healthCheck:HealthCheck",
    "aws:route53/zone:Zone",
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketV2:BucketV2",
    "aws:ec2/instance:Instance",
    "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:ec2/natGateway:NatGateway",
    "aws:ec2/volume:Volume",
    "aws:eks/nodeGroup:NodeGroup",
    "aws:eks/cluster:Cluster",
    "aws:lb/loadBalancer:LoadBalancer",
    "aws:alb/loadBalancer:LoadBalancer",
    "aws:rds/instance:Instance",
    "aws:cloudwatch/metricAlarm:MetricAlarm",
]
REQUIRED_TAGS = ["team", "service", "env", "cost-center"]


def _stack_config(key: str) -> Any:
    """A value of the stack's own config, as the engine hands it to the pack (PULUMI_CONFIG)."""
    raw = json.loads(os.environ.get("PULUMI_CONFIG") or "{}").get(f"{PROJECT_NAMESPACE}:{key}")
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


# --- required-cost-tags --------------------------------------------------------------------


def _check_tags(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    taggable = args.get_config().get("taggableTypes", TAGGABLE_TYPES)
    required = args.get_config().get("requiredTags", REQUIRED_TAGS)
    has_tags_prop = "tags" in args.props
    if not args.resource_type.startswith("aws:") or not (
        args.resource_type in taggable or has_tags_prop
    ):
        args.not_applicable("not a taggable AWS resource")
    tags = args.props.get("tags") or {}
    missing = [t for t in required if not str(tags.get(t) or "").strip()]
    if missing:
        report_violation(
            f"{args.resource_type} '{args.name}' is missing cost tags: {', '.join(missing)}"
            f" (required: {', '.join(required)})."
        )


required_cost_tags = ResourceValidationPolicy(
    name="required-cost-tags",
    description="Every taggable AWS resource carries the cost-allocation tags.",
    validate=_check_tags,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps="Pass the stack's `tags` (team, service, env, cost-center) to the resource.",
    config_schema=PolicyConfigSchema(
        properties={
            "requiredTags": {
                "type": "array",
                "items": {"type": "string"},
                "default": REQUIRED_TAGS,
            },
            "taggableTypes": {
                "type": "array",
                "items": {"type": "string"},
                "default": TAGGABLE_TYPES,
            },
        }
    ),
)


# --- endpoint-group-health-check -----------------------------------------------------------


def _check_health(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != ENDPOINT_GROUP:
        args.not_applicable("not a Global Accelerator endpoint group")
    cfg = args.get_config()
    protocol = args.props.get("healthCheckProtocol")
    path = args.props.get("healthCheckPath")
    interval = args.props.get("healthCheckIntervalSeconds")
    threshold = args.props.get("thresholdCount")
    problems = []
    if protocol is None:
        problems.append("healthCheckProtocol is not set (GA would default to TCP, no path)")
    elif protocol in ("HTTP", "HTTPS") and not path:
        problems.append(f"healthCheckPath is not set for a {protocol} health check")
    if interval is None or interval > cfg["maxIntervalSeconds"]:
        problems.append(
            f"healthCheckIntervalSeconds is {interval!r}; expected <= {cfg['maxIntervalSeconds']}"
        )
    if threshold is None or threshold > cfg["maxThresholdCount"]:
        problems.append(f"thresholdCount is {threshold!r}; expected <= {cfg['maxThresholdCount']}")
    if problems:
        region = args.props.get("endpointGroupRegion", "?")
        report_violation(f"Endpoint group for {region}: " + "; ".join(problems) + ".")


endpoint_group_health_check = ResourceValidationPolicy(
    name="endpoint-group-health-check",
    description="Every endpoint group health-checks its endpoint, often enough to fail over fast.",
    validate=_check_health,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps="Set traffic.healthCheck (path /healthz, intervalSeconds 10, thresholdCount 3).",
    config_schema=PolicyConfigSchema(
        properties={
            "maxIntervalSeconds": {"type": "number", "default": 10},
            "maxThresholdCount": {"type": "integer", "default": 3},
        }
    ),
)


# --- traffic-dial-floor --------------------------------------------------------------------


def region_loads(dials: dict[str, float], shares: dict[str, float]) -> dict[str, float]:
    """Share of total load (percent) each region serves given GA dials (0-100) and natural
    shares (percent, adding to 100). A dial admits that percentage of the region's natural
    traffic; the rest spills to the other regions in proportion to their natural shares."""
    total_share = sum(shares.values()) or 1.0
    g = {r: shares.get(r, 0.0) / total_share for r in dials}
    load = {r: dials[r] / 100.0 * g[r] for r in dials}
    for r in dials:
        spill = (1 - dials[r] / 100.0) * g[r]
        others = {o: g[o] for o in dials if o != r}
        weight = sum(others.values())
        if weight <= 0:
            load[r] += spill  # nowhere to spill: the only region keeps its traffic
            continue
        for o, go in others.items():
            load[o] += spill * go / weight
    return {r: 100.0 * v for r, v in load.items()}


def _active_pin() -> bool:
    pin = (_stack_config("traffic") or {}).get("pin")
    if not isinstance(pin, dict) or not pin.get("expiresAt"):
        return False
    try:
        expires = datetime.fromisoformat(str(pin["expiresAt"]).replace("Z", "+00:00"))
    except ValueError:
        return False
    return expires > datetime.now(UTC)


def _check_floor(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    groups = [r for r in args.resources if r.resource_type == ENDPOINT_GROUP]
    if len(groups) < 2:
        return  # one region serves everything: the floor cannot be broken
    if _active_pin():
        return  # a logged, expiring manual pin overrides the floor until it expires
    floor = float(args.get_config()["floorPercent"])
    regions = _stack_config("regions") or []
    shares = {
        r.get("name"): float(r.get("naturalShare", 0)) for r in regions if isinstance(r, dict)
    }
    dials: dict[str, float] = {}
    urns: dict[str, str] = {}
    for g in groups:
        region = g.props.get("endpointGroupRegion")
        dial = g.props.get("trafficDialPercentage")
        dials[region] = 100.0 if dial is None else float(dial)
        urns[region] = g.urn
    if not all(shares.get(r) for r in dials):
        shares = {r: 100.0 / len(dials) for r in dials}  # no natural shares known: even split
    for region, load in sorted(region_loads(dials, shares).items()):
        if load + 1e-9 < floor:
            needed = math.ceil(floor * 100.0 / shares[region])
            report_violation(
                f"Region {region} would serve {load:.1f}% of traffic (floor {floor:g}%):"
                f" its dial is {dials[region]:g}; it needs at least {min(needed, 100)}"
                f" with a natural share of {shares[region]:g}%.",
                urns[region],
            )


traffic_dial_floor = StackValidationPolicy(
    name="traffic-dial-floor",
    description="Every region keeps at least the floor share of traffic unless a manual pin is active.",
    validate=_check_floor,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps="Raise the region's dial (regions[].dial) or pin with `summit traffic pin`.",
    config_schema=PolicyConfigSchema(
        properties={"floorPercent": {"type": "number", "minimum": 0, "maximum": 50, "default": 20}}
    ),
)


# --- listener-443-only ---------------------------------------------------------------------


def _check_listener(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != LISTENER:
        args.not_applicable("not a Global Accelerator listener")
    allowed = set(args.get_config()["allowedPorts"])
    ranges = args.props.get("portRanges") or []
    bad = []
    for pr in ranges:
        lo, hi = pr.get("fromPort"), pr.get("toPort")
        if lo is None or hi is None or not all(p in allowed for p in range(int(lo), int(hi) + 1)):
            bad.append(f"{lo}-{hi}")
    if not ranges or bad:
        report_violation(
            f"Listener '{args.name}' opens {', '.join(bad) or 'no port range'};"
            f" only {sorted(allowed)} are allowed."
        )


listener_443_only = ResourceValidationPolicy(
    name="listener-443-only",
    description="Accelerator listeners accept HTTPS on 443 only.",
    validate=_check_listener,
    enforcement_level=EnforcementLevel.ADVISORY,
    remediation_steps="Set traffic.listenerPort to 443.",
    config_schema=PolicyConfigSchema(
        properties={
            "allowedPorts": {"type": "array", "items": {"type": "integer"}, "default": [443]}
        }
    ),
)

POLICIES = [required_cost_tags, endpoint_group_health_check, traffic_dial_floor, listener_443_only]
