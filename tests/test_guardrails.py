"""The guardrails pack: each policy in-process (compliant, violating, property missing,
config override), the floor arithmetic as properties, and the pack through the Analyzer
protocol over the real plans."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "policypacks" / "guardrails"
sys.path.insert(0, str(PACK))

import summit_guardrails as g  # noqa: E402
from pulumi_policy import ResourceValidationArgs, StackValidationArgs  # noqa: E402
from pulumi_policy.policy import PolicyResource, _NotApplicableError  # noqa: E402

from automation.plan.runner import plan_stack  # noqa: E402

DEFAULTS = {
    p.name: {k: v["default"] for k, v in (p.config_schema.properties or {}).items()}
    for p in g.POLICIES
}


def _run_resource(policy, type_: str, props: dict[str, Any], config: dict | None = None):
    cfg = {**DEFAULTS[policy.name], **(config or {})}
    args = ResourceValidationArgs(
        type_, props, f"urn:pulumi:s::p::{type_}::r", "r", None, None, cfg, {}
    )
    found: list[str] = []
    try:
        policy.validate(args, lambda msg, urn=None: found.append(msg))
    except _NotApplicableError:
        return None
    return found


def _run_stack(policy, resources: list[tuple[str, dict]], config: dict | None = None):
    cfg = {**DEFAULTS[policy.name], **(config or {})}
    rs = [
        PolicyResource(t, p, f"urn:pulumi:s::p::{t}::r{i}", f"r{i}", None, None, None, [], {})
        for i, (t, p) in enumerate(resources)
    ]
    found: list[tuple[str, str | None]] = []
    policy.validate(
        StackValidationArgs(rs, cfg, {}), lambda msg, urn=None: found.append((msg, urn))
    )
    return found


TAGS = {"team": "a", "service": "b", "env": "c", "cost-center": "d"}
ACC = "aws:globalaccelerator/accelerator:Accelerator"


class TestRequiredCostTags:
    def test_compliant(self):
        assert _run_resource(g.required_cost_tags, ACC, {"tags": TAGS}) == []

    def test_violating(self):
        (msg,) = _run_resource(g.required_cost_tags, ACC, {"tags": {"team": "a", "env": " "}})
        assert "missing cost tags: service, env, cost-center" in msg

    def test_property_missing(self):
        (msg,) = _run_resource(g.required_cost_tags, "aws:s3/bucket:Bucket", {})
        assert "missing cost tags: team, service, env, cost-center" in msg

    def test_not_applicable_to_untaggable(self):
        assert (
            _run_resource(g.required_cost_tags, "aws:globalaccelerator/listener:Listener", {})
            is None
        )
        assert (
            _run_resource(g.required_cost_tags, "kubernetes:core/v1:ConfigMap", {"tags": {}})
            is None
        )

    def test_any_aws_resource_with_tags_is_checked(self):
        (msg,) = _run_resource(g.required_cost_tags, "aws:sqs/queue:Queue", {"tags": {"team": "a"}})
        assert "service" in msg

    def test_config_override(self):
        assert (
            _run_resource(
                g.required_cost_tags, ACC, {"tags": {"owner": "x"}}, {"requiredTags": ["owner"]}
            )
            == []
        )


EGP = "aws:globalaccelerator/endpointGroup:EndpointGroup"
GOOD_EG = {
    "healthCheckProtocol": "HTTPS",
    "healthCheckPath": "/healthz",
    "healthCheckIntervalSeconds": 10,
    "thresholdCount": 3,
    "endpointGroupRegion": "us-east-1",
}


class TestEndpointGroupHealthCheck:
    def test_compliant(self):
        assert _run_resource(g.endpoint_group_health_check, EGP, GOOD_EG) == []

    def test_violating(self):
        (msg,) = _run_resource(
            g.endpoint_group_health_check, EGP, {**GOOD_EG, "healthCheckIntervalSeconds": 30}
        )
        assert "healthCheckIntervalSeconds is 30; expected <= 10" in msg

    def test_property_missing(self):
        props = {
            k: v for k, v in GOOD_EG.items() if k not in ("healthCheckProtocol", "healthCheckPath")
        }
        (msg,) = _run_resource(g.endpoint_group_health_check, EGP, props)
        assert "healthCheckProtocol is not set" in msg
        (msg,) = _run_resource(
            g.endpoint_group_health_check, EGP, {**GOOD_EG, "healthCheckPath": None}
        )
        assert "healthCheckPath is not set for a HTTPS health check" in msg

    def test_config_override(self):
        props = {**GOOD_EG, "healthCheckIntervalSeconds": 30}
        assert (
            _run_resource(g.endpoint_group_health_check, EGP, props, {"maxIntervalSeconds": 30})
            == []
        )


class TestTrafficDialFloor:
    @pytest.fixture(autouse=True)
    def _stack_config(self, monkeypatch):
        regions = [
            {"name": "us-east-1", "naturalShare": 50},
            {"name": "us-west-2", "naturalShare": 50},
        ]
        monkeypatch.setenv(
            "PULUMI_CONFIG", json.dumps({"summit-platform:regions": json.dumps(regions)})
        )

    def groups(self, east: float | None, west: float | None):
        out = []
        for region, dial in (("us-east-1", east), ("us-west-2", west)):
            props = {"endpointGroupRegion": region}
            if dial is not None:
                props["trafficDialPercentage"] = dial
            out.append((EGP, props))
        return out

    def test_compliant(self):
        assert _run_stack(g.traffic_dial_floor, self.groups(100, 40)) == []  # west serves 20%

    def test_violating(self):
        ((msg, urn),) = _run_stack(g.traffic_dial_floor, self.groups(100, 30))
        assert "us-west-2 would serve 15.0%" in msg and "needs at least 40" in msg
        assert urn.endswith("::r1")

    def test_property_missing_means_full_dial(self):
        assert _run_stack(g.traffic_dial_floor, self.groups(None, None)) == []

    def test_config_override(self):
        assert _run_stack(g.traffic_dial_floor, self.groups(100, 30), {"floorPercent": 10}) == []

    def test_active_pin_suspends_the_floor(self, monkeypatch):
        from datetime import UTC, datetime, timedelta

        future = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        cfg = json.loads(__import__("os").environ["PULUMI_CONFIG"])
        cfg["summit-platform:traffic"] = json.dumps({"pin": {"expiresAt": future}})
        monkeypatch.setenv("PULUMI_CONFIG", json.dumps(cfg))
        assert _run_stack(g.traffic_dial_floor, self.groups(100, 0)) == []
        cfg["summit-platform:traffic"] = json.dumps({"pin": {"expiresAt": past}})
        monkeypatch.setenv("PULUMI_CONFIG", json.dumps(cfg))
        assert len(_run_stack(g.traffic_dial_floor, self.groups(100, 0))) == 1


class TestListener443Only:
    LST = "aws:globalaccelerator/listener:Listener"

    def test_compliant(self):
        assert (
            _run_resource(
                g.listener_443_only, self.LST, {"portRanges": [{"fromPort": 443, "toPort": 443}]}
            )
            == []
        )

    def test_violating(self):
        (msg,) = _run_resource(
            g.listener_443_only, self.LST, {"portRanges": [{"fromPort": 80, "toPort": 443}]}
        )
        assert "opens 80-443" in msg

    def test_property_missing(self):
        (msg,) = _run_resource(g.listener_443_only, self.LST, {})
        assert "no port range" in msg

    def test_config_override(self):
        props = {"portRanges": [{"fromPort": 8443, "toPort": 8443}]}
        assert _run_resource(g.listener_443_only, self.LST, props, {"allowedPorts": [8443]}) == []


shares = st.floats(min_value=1, max_value=99, allow_nan=False)
dial = st.integers(min_value=0, max_value=100)


@given(shares, dial, dial)
def test_loads_add_up_and_follow_the_two_region_formula(share_e, d_e, d_w):
    loads = g.region_loads({"e": d_e, "w": d_w}, {"e": share_e, "w": 100 - share_e})
    assert sum(loads.values()) == pytest.approx(100)
    ge, gw = share_e / 100, 1 - share_e / 100
    assert loads["e"] == pytest.approx(100 * (d_e / 100 * ge + (1 - d_w / 100) * gw))


@given(shares, st.floats(min_value=0, max_value=50))
def test_the_dial_the_floor_message_asks_for_meets_the_floor(share_w, floor):
    import math

    needed = min(100, math.ceil(floor * 100 / share_w))
    loads = g.region_loads({"e": 100, "w": needed}, {"e": 100 - share_w, "w": share_w})
    assert loads["w"] + 1e-9 >= min(floor, share_w)


def test_tokens_match_what_the_components_register():
    """The types the policies match are the ones the prod plan really contains."""
    plan = plan_stack(ROOT, "prod", evaluate=False).plan
    types = {r.type for r in plan.resources}
    assert {g.ENDPOINT_GROUP, g.LISTENER} <= types
    taggable_in_plan = {t for t in types if t in g.TAGGABLE_TYPES}
    assert taggable_in_plan == {ACC}


def test_committed_stacks_pass_through_the_analyzer_protocol():
    for stack in ("dev", "stage", "prod"):
        res = plan_stack(ROOT, stack)
        (pack,) = [p for p in res.packs if p.pack == "summit-guardrails"]
        assert pack.analyzed == len(res.plan.resources)
        assert pack.policies["required-cost-tags"] == "mandatory"
        assert [v for v in pack.violations if v.enforcement == "mandatory"] == []


def test_untagged_accelerator_is_blocked_through_the_protocol():
    res = plan_stack(
        ROOT,
        "prod",
        overrides={"tags": {"team": "platform", "service": "", "env": "prod", "costCenter": "cc"}},
    )
    (v,) = [v for v in res.mandatory if v.policy == "required-cost-tags"]
    assert v.urn.endswith("::summit-prod-accelerator")
    assert "missing cost tags: service" in v.message
