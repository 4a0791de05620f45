"""Summit guardrail policies: what every stack of the platform must satisfy.

Limits live in each policy's config (``--policy-pack-config``), never in branches on the stack
name; the one exception is the traffic floor, whose single source is the stack's own
``traffic.floorPercent`` (the controller steers by the same value). Each policy reads the
camelCase properties the engine sends for the concrete resource types our components
register, and says ``not_applicable`` where it does not apply.

Cost-allocation tags are not checked here: the FinOps pack owns them (``cost-allocation-tags``),
so a missing tag is reported once.
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

from summit_guardrails._project import spill

ENDPOINT_GROUP = "aws:globalaccelerator/endpointGroup:EndpointGroup"
LISTENER = "aws:globalaccelerator/listener:Listener"
PROJECT_NAMESPACE = "summit-platform"
DEFAULT_FLOOR_PERCENT = 20
"""The floor when the stack config has none (a project without ``traffic.floorPercent``)."""


def _stack_config(key: str) -> Any:
    """A value of the stack's own config, as the engine hands it to the pack (PULUMI_CONFIG)."""
    raw = json.loads(os.environ.get("PULUMI_CONFIG") or "{}").get(f"{PROJECT_NAMESPACE}:{key}")
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


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


def _active_pin() -> bool:
    pin = (_stack_config("traffic") or {}).get("pin")
    if not isinstance(pin, dict) or not pin.get("expiresAt"):
        return False
    try:
        expires = datetime.fromisoformat(str(pin["expiresAt"]).replace("Z", "+00:00"))
    except ValueError:
        return False
    return expires > datetime.now(UTC)


def _number(raw: Any) -> float | None:
    """A finite number from a config value (a YAML string like "20" counts), else None."""
    if isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def floor_percent(policy_config: dict[str, Any]) -> tuple[float | None, str]:
    """The floor and where it came from: the stack config's ``traffic.floorPercent`` (the one
    the controller steers by), else -- for a project without it -- this policy's own
    ``floorPercent``. The floor is None when the stack's value is not a number."""
    traffic = _stack_config("traffic")
    if isinstance(traffic, dict) and traffic.get("floorPercent") is not None:
        return _number(traffic["floorPercent"]), "the stack's traffic.floorPercent"
    return float(policy_config["floorPercent"]), "the policy's floorPercent"


def _check_floor(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    groups = [r for r in args.resources if r.resource_type == ENDPOINT_GROUP]
    if len(groups) < 2:
        return  # one region serves everything: the floor cannot be broken
    if _active_pin():
        return  # a logged, expiring manual pin overrides the floor until it expires
    floor, source = floor_percent(args.get_config())
    if floor is None:
        found = (_stack_config("traffic") or {}).get("floorPercent")
        report_violation(
            f"traffic.floorPercent in the stack config is {found!r}; expected a number"
            " from 0 to 50."
        )
        return
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
    effective = spill.effective_floor(floor, len(dials))
    for region, load in spill.below_floor(dials, shares, floor).items():
        report_violation(
            f"Region {region} would serve {load:.1f}% of traffic (floor {effective:g}%, from"
            f" {source}): its dial is {dials[region]:g}; it needs at least"
            f" {spill.dial_for_floor(effective, shares[region])} with a natural share of"
            f" {shares[region]:g}%.",
            urns[region],
        )


traffic_dial_floor = StackValidationPolicy(
    name="traffic-dial-floor",
    description="Every region keeps at least the floor share of traffic unless a manual pin is active.",
    validate=_check_floor,
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Raise the region's dial (regions[].dial) or pin with `summit traffic pin`. The floor"
        " is the stack's traffic.floorPercent; this policy's floorPercent applies only to a"
        " project without one."
    ),
    config_schema=PolicyConfigSchema(
        properties={
            "floorPercent": {
                "type": "number",
                "minimum": 0,
                "maximum": 50,
                "default": DEFAULT_FLOOR_PERCENT,
                "description": "Used only when the stack config has no traffic.floorPercent.",
            }
        }
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

POLICIES = [endpoint_group_health_check, traffic_dial_floor, listener_443_only]
