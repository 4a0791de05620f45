"""Summit guardrail policies: what every stack of the platform must satisfy.

Limits live in each policy's config (``--policy-pack-config``), never in branches on the stack
name; the one exception is the traffic floor, whose single source is the stack's own
``traffic.floorPercent`` (the controller steers by the same value), and the pin, read from the
stack's ``traffic.pin`` with the same reader the program derives its dials with. Each policy reads the
camelCase properties the engine sends for the concrete resource types our components
register, and says ``not_applicable`` where it does not apply.

Cost-allocation tags are not checked here: the FinOps pack owns them (``cost-allocation-tags``),
so a missing tag is reported once.
"""

from __future__ import annotations

import json
import math
import os
import time
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

from summit_guardrails._project import spill, traffic_pin

ENDPOINT_GROUP = "aws:globalaccelerator/endpointGroup:EndpointGroup"
LISTENER = "aws:globalaccelerator/listener:Listener"
RECORD = "aws:route53/record:Record"
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


def _pin(regions: list[str]) -> Any:
    """The stack's ``traffic.pin`` now (:func:`traffic_pin.read_pin`: none, active, expired or
    invalid), for the regions the stack serves."""
    raw = (_stack_config("traffic") or {}).get("pin")
    return traffic_pin.read_pin(raw, regions, time.time())


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


def _natural_shares(regions: list[str]) -> dict[str, float]:
    """Region -> natural share from the stack config (an even split when it has none)."""
    listed = _stack_config("regions") or []
    shares = {}
    for r in listed:
        if isinstance(r, dict) and r.get("name") in regions:
            shares[r["name"]] = _number(r.get("naturalShare")) or 0.0
    if not all(shares.get(r) for r in regions):
        return {r: 100.0 / len(regions) for r in regions}  # no natural shares known
    return shares


def planned_steering(resources: list[Any]) -> tuple[str, dict[str, float], dict[str, str]]:
    """What the plan steers with: ``("dial", region -> dial, region -> urn)`` from the
    endpoint groups (ga mode), else ``("weight", ...)`` from the weighted Route53 records
    (route53 mode with the controller), else ``("", {}, {})``."""
    values: dict[str, float] = {}
    urns: dict[str, str] = {}
    for r in resources:
        if r.resource_type == ENDPOINT_GROUP:
            dial = r.props.get("trafficDialPercentage")
            values[r.props.get("endpointGroupRegion")] = 100.0 if dial is None else float(dial)
            urns[r.props.get("endpointGroupRegion")] = r.urn
    if values:
        return "dial", values, urns
    for r in resources:
        policies = r.props.get("weightedRoutingPolicies") if r.resource_type == RECORD else None
        if policies and r.props.get("setIdentifier"):
            values[r.props["setIdentifier"]] = float(policies[0].get("weight") or 0)
            urns[r.props["setIdentifier"]] = r.urn
    return ("weight", values, urns) if values else ("", {}, {})


def _loads(kind: str, values: dict[str, float], shares: dict[str, float]) -> dict[str, float]:
    if kind == "dial":
        return spill.region_loads(values, shares)
    total = sum(values.values())
    if total <= 0:  # Route53 answers evenly when every weight is 0
        return {r: 100.0 / len(values) for r in values}
    return {r: 100.0 * w / total for r, w in values.items()}


def _pinned_values(kind: str, pin: Any, shares: dict[str, float]) -> dict[str, int]:
    """The dials (or weights) an active pin asks for: what the program derives from it."""
    dials = spill.dials_for_shares(pin.shares, shares, 0)
    return dials if kind == "dial" else spill.route53_weights(dials, shares)


def _check_floor(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    kind, values, urns = planned_steering(list(args.resources))
    if len(values) < 2:
        return  # one region serves everything: the floor cannot be broken
    floor, source = floor_percent(args.get_config())
    if floor is None:
        found = (_stack_config("traffic") or {}).get("floorPercent")
        report_violation(
            f"traffic.floorPercent in the stack config is {found!r}; expected a number"
            " from 0 to 50."
        )
        return
    shares = _natural_shares(sorted(values))
    pin = _pin(sorted(values))
    pinned = _pinned_values(kind, pin, shares) if pin.active else {}
    effective = spill.effective_floor(floor, len(values))
    loads = _loads(kind, values, shares)
    for region in sorted(values):
        if loads[region] + spill.EPSILON >= effective:
            continue
        if region in pinned and pinned[region] == values[region]:
            continue  # a logged, expiring manual pin may go under the floor until it expires
        report_violation(
            _floor_message(
                kind, region, loads[region], values, shares, (effective, source), pin, pinned
            ),
            urns[region],
        )


def _floor_message(
    kind: str,
    region: str,
    load: float,
    values: dict[str, float],
    shares: dict[str, float],
    floor: tuple[float, str],
    pin: Any,
    pinned: dict[str, int],
) -> str:
    effective, source = floor
    msg = f"Region {region} would serve {load:.1f}% of traffic (floor {effective:g}%, from {source}): "
    if kind == "dial":
        msg += (
            f"its dial is {values[region]:g}; it needs at least"
            f" {spill.dial_for_floor(effective, shares[region])} with a natural share of"
            f" {shares[region]:g}%."
        )
    else:
        msg += f"its Route53 weight is {values[region]:g} of {sum(values.values()):g}."
    if pinned:
        msg += f" The active pin asks for {pinned[region]}, not {values[region]:g}."
    elif pin.state == "invalid":
        msg += f" traffic.pin does not lift the floor: {pin.problem}."
    return msg


traffic_dial_floor = StackValidationPolicy(
    name="traffic-dial-floor",
    description=(
        "Every region keeps at least the floor share of traffic, unless an active, valid manual"
        " pin sets exactly that dial (or Route53 weight)."
    ),
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


# --- traffic-pin-expired ------------------------------------------------------------------


def _check_pin_expired(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    regions = [r.get("name") for r in _stack_config("regions") or [] if isinstance(r, dict)]
    pin = _pin([str(r) for r in regions])
    grace = float(args.get_config()["graceSeconds"])
    if pin.state == "expired" and time.time() - (pin.expires_at or 0) >= grace:
        report_violation(traffic_pin.expired_message(pin))


traffic_pin_expired = StackValidationPolicy(
    name="traffic-pin-expired",
    description="A manual traffic pin whose expiry has passed is ignored and should be removed.",
    validate=_check_pin_expired,
    enforcement_level=EnforcementLevel.ADVISORY,
    remediation_steps="Run `summit traffic unpin --stack <stack> --reason ...` and commit the stack file.",
    config_schema=PolicyConfigSchema(
        properties={
            "graceSeconds": {
                "type": "number",
                "minimum": 0,
                "default": 0,
                "description": "Report a pin only once it has been expired this long.",
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

POLICIES = [
    endpoint_group_health_check,
    traffic_dial_floor,
    traffic_pin_expired,
    listener_443_only,
]
