"""The guardrails pack: each policy in-process (compliant, violating, property missing,
config override), where the floor comes from (the stack config, else the policy config), and
the pack through the Analyzer protocol over the real plans. The spill-over arithmetic it
shares with the traffic controller has its properties in tests/test_traffic_spill.py."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import provider_tokens
import pulumi_aws as aws
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "policypacks" / "guardrails"
sys.path.insert(0, str(PACK))

import summit_guardrails as g  # noqa: E402
from pulumi_policy import (  # noqa: E402
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)
from pulumi_policy.policy import PolicyResource, _NotApplicableError  # noqa: E402

from summit_platform.automation.plan.analyzer import evaluate_pack  # noqa: E402
from summit_platform.automation.plan.engine import run_program  # noqa: E402
from summit_platform.automation.plan.runner import plan_stack, stack_inputs  # noqa: E402

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


ACC = "aws:globalaccelerator/accelerator:Accelerator"
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


def _set_stack_config(monkeypatch, regions=None, traffic=None) -> None:
    """PULUMI_CONFIG as the engine hands it to the pack: structured values as JSON strings."""
    cfg = {}
    if regions is not None:
        cfg["summit-platform:regions"] = json.dumps(regions)
    if traffic is not None:
        cfg["summit-platform:traffic"] = json.dumps(traffic)
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(cfg))


HALVES = [{"name": "us-east-1", "naturalShare": 50}, {"name": "us-west-2", "naturalShare": 50}]


class TestTrafficDialFloor:
    @pytest.fixture(autouse=True)
    def _stack_config(self, monkeypatch):
        _set_stack_config(monkeypatch, regions=HALVES)

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
        assert "from the policy's floorPercent" in msg  # this project has no traffic.floorPercent
        assert urn.endswith("::r1")

    def test_property_missing_means_full_dial(self):
        assert _run_stack(g.traffic_dial_floor, self.groups(None, None)) == []

    def test_config_override(self):
        assert _run_stack(g.traffic_dial_floor, self.groups(100, 30), {"floorPercent": 10}) == []

    def test_the_stacks_floor_wins_over_the_policy_config(self, monkeypatch):
        _set_stack_config(monkeypatch, regions=HALVES, traffic={"floorPercent": 10})
        # west serves 15%: under the policy config's 20, over the stack's 10 -> passes
        assert _run_stack(g.traffic_dial_floor, self.groups(100, 30), {"floorPercent": 20}) == []
        _set_stack_config(monkeypatch, regions=HALVES, traffic={"floorPercent": 30})
        ((msg, _),) = _run_stack(g.traffic_dial_floor, self.groups(100, 50), {"floorPercent": 10})
        assert "us-west-2 would serve 25.0% of traffic (floor 30%" in msg
        assert "from the stack's traffic.floorPercent" in msg and "needs at least 60" in msg

    def test_a_stack_traffic_block_without_a_floor_falls_back(self, monkeypatch):
        _set_stack_config(monkeypatch, regions=HALVES, traffic={"mode": "ga"})
        assert len(_run_stack(g.traffic_dial_floor, self.groups(100, 30))) == 1
        assert _run_stack(g.traffic_dial_floor, self.groups(100, 30), {"floorPercent": 15}) == []

    def test_a_stack_floor_written_as_a_string_counts(self, monkeypatch):
        _set_stack_config(monkeypatch, regions=HALVES, traffic={"floorPercent": "10"})
        assert _run_stack(g.traffic_dial_floor, self.groups(100, 30)) == []

    @pytest.mark.parametrize("bad", ["ten", True, [20], {"v": 1}, "nan", "inf"])
    def test_a_stack_floor_that_is_not_a_number_is_reported(self, monkeypatch, bad):
        _set_stack_config(monkeypatch, regions=HALVES, traffic={"floorPercent": bad})
        ((msg, urn),) = _run_stack(g.traffic_dial_floor, self.groups(100, 100))
        assert msg.startswith(f"traffic.floorPercent in the stack config is {bad!r}; expected")
        assert urn is None

    def test_an_equal_split_floor_is_capped_one_point_below_as_the_controller_does(
        self, monkeypatch
    ):
        _set_stack_config(monkeypatch, regions=HALVES, traffic={"floorPercent": 50})
        assert _run_stack(g.traffic_dial_floor, self.groups(100, 98)) == []  # west 49%
        ((msg, _),) = _run_stack(g.traffic_dial_floor, self.groups(100, 97))  # west 48.5%
        assert "would serve 48.5% of traffic (floor 49%" in msg

    def test_an_active_valid_pin_lets_exactly_its_dials_under_the_floor(self, monkeypatch):
        _set_stack_config(monkeypatch, regions=HALVES, traffic={"pin": _pin(minutes_left=30)})
        assert _run_stack(g.traffic_dial_floor, self.groups(100, 0)) == []
        # Any other dial under the floor is still refused, pin or not.
        ((msg, urn),) = _run_stack(g.traffic_dial_floor, self.groups(100, 30))
        assert "us-west-2 would serve 15.0%" in msg and "active pin asks for 0, not 30" in msg
        assert urn.endswith("::r1")

    def test_a_pin_that_does_not_read_as_one_keeps_the_floor(self, monkeypatch):
        for pin, problem in (
            ({"expiresAt": _iso(30)}, "shares is not a map"),  # the old, shares-less shape
            ({**_pin(30), "reason": " "}, "no reason"),
            ({**_pin(30), "shares": {"us-east-1": 90, "us-west-2": 0}}, "add up to 90"),
            ({**_pin(30), "shares": {"us-east-1": 100}}, "the stack's regions are"),
            ({**_pin(30), "at": _iso(-60)}, "a pin lasts 1s to 60m"),  # a 90-minute pin
            ({**_pin(30), "expiresAt": "soon"}, "must be times"),
        ):
            _set_stack_config(monkeypatch, regions=HALVES, traffic={"pin": pin})
            ((msg, _),) = _run_stack(g.traffic_dial_floor, self.groups(100, 0))
            assert "traffic.pin does not lift the floor: " in msg and problem in msg, msg

    def test_an_expired_pin_keeps_the_floor(self, monkeypatch):
        _set_stack_config(monkeypatch, regions=HALVES, traffic={"pin": _pin(minutes_left=-1)})
        ((msg, _),) = _run_stack(g.traffic_dial_floor, self.groups(100, 0))
        assert "would serve 0.0%" in msg and "pin" not in msg

    def test_weighted_records_are_held_to_the_floor_and_the_pin(self, monkeypatch):
        """route53 mode with the controller: the records' weights are the shares."""

        def records(east: int, west: int):
            return [
                (
                    g.RECORD,
                    {
                        "setIdentifier": r,
                        "weightedRoutingPolicies": [{"weight": w}],
                        "type": "CNAME",
                    },
                )
                for r, w in (("us-east-1", east), ("us-west-2", west))
            ]

        assert _run_stack(g.traffic_dial_floor, records(80, 20)) == []
        ((msg, urn),) = _run_stack(g.traffic_dial_floor, records(85, 15))
        assert "us-west-2 would serve 15.0%" in msg and "Route53 weight is 15 of 100" in msg
        assert urn.endswith("::r1")
        _set_stack_config(monkeypatch, regions=HALVES, traffic={"pin": _pin(30)})
        assert _run_stack(g.traffic_dial_floor, records(100, 0)) == []
        assert len(_run_stack(g.traffic_dial_floor, records(90, 10))) == 1


def _iso(minutes_from_now: float) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(minutes=minutes_from_now)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pin(minutes_left: float) -> dict[str, Any]:
    """A pin as `summit traffic pin us-east-1=100 us-west-2=0 --ttl 60m` writes it."""
    return {
        "shares": {"us-east-1": 100, "us-west-2": 0},
        "reason": "INC-1 west database failover",
        "by": "oncall",
        "at": _iso(minutes_left - 60),
        "expiresAt": _iso(minutes_left),
    }


class TestTrafficPinExpired:
    def test_compliant(self, monkeypatch):
        _set_stack_config(monkeypatch, regions=HALVES, traffic={"pin": _pin(30)})
        assert _run_stack(g.traffic_pin_expired, []) == []
        _set_stack_config(monkeypatch, regions=HALVES, traffic={"floorPercent": 20})
        assert _run_stack(g.traffic_pin_expired, []) == []

    def test_violating(self, monkeypatch):
        _set_stack_config(monkeypatch, regions=HALVES, traffic={"pin": _pin(-5)})
        ((msg, urn),) = _run_stack(g.traffic_pin_expired, [])
        assert "expired pin, remove it with summit traffic unpin" in msg
        assert "us-east-1=100%, us-west-2=0%" in msg and "by oncall: INC-1" in msg
        assert urn is None

    def test_property_missing(self, monkeypatch):
        # Without expiresAt the pin is not a pin at all (the floor policy says so), not expired.
        pin = {k: v for k, v in _pin(-5).items() if k != "expiresAt"}
        _set_stack_config(monkeypatch, regions=HALVES, traffic={"pin": pin})
        assert _run_stack(g.traffic_pin_expired, []) == []

    def test_config_override(self, monkeypatch):
        _set_stack_config(monkeypatch, regions=HALVES, traffic={"pin": _pin(-5)})
        assert _run_stack(g.traffic_pin_expired, [], {"graceSeconds": 3600}) == []
        assert len(_run_stack(g.traffic_pin_expired, [], {"graceSeconds": 60})) == 1


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


def test_tokens_match_what_the_components_register():
    """The types the policies match are the ones the prod plan really contains, and real
    pulumi-aws tokens."""
    plan = plan_stack(ROOT, "prod", evaluate=False).plan
    types = {r.type for r in plan.resources}
    assert {g.ENDPOINT_GROUP, g.LISTENER} <= types
    for token in (g.ENDPOINT_GROUP, g.LISTENER):
        assert provider_tokens.resource_class(token) is not None, token


def test_cost_tags_are_left_to_the_finops_pack():
    """One owner per rule: no guardrails policy looks at tags (finops' cost-allocation-tags
    does); tests/test_finops_pack_e2e.py proves a missing tag is reported once."""
    names = {p.name for p in g.POLICIES}
    assert names == {
        "endpoint-group-health-check",
        "traffic-dial-floor",
        "traffic-pin-expired",
        "listener-443-only",
    }
    untagged = {"tags": {}}
    for p in g.POLICIES:
        if isinstance(p, ResourceValidationPolicy):
            assert not _run_resource(p, ACC, untagged)


def test_committed_stacks_pass_through_the_analyzer_protocol():
    for stack in ("dev", "stage", "prod"):
        res = plan_stack(ROOT, stack)
        (pack,) = [p for p in res.packs if p.pack == "summit-guardrails"]
        assert pack.analyzed == len(res.plan.resources)
        assert pack.policies["traffic-dial-floor"] == "mandatory"
        assert [v for v in pack.violations if v.enforcement == "mandatory"] == []


def _prod_regions(west_dial: int) -> list[dict[str, Any]]:
    regions = copy.deepcopy(stack_inputs(ROOT, "prod").values["regions"])
    (west,) = [r for r in regions if r["name"] == "us-west-2"]
    west["dial"] = west_dial
    return regions


def _floor_violations(res) -> list:
    return [v for v in res.violations if v.policy == "traffic-dial-floor"]


def test_the_floor_comes_from_the_stack_config_through_the_protocol():
    """prod at 50/50 with us-west-2's dial at 30 serves 15% there. The pack's prod config no
    longer carries a floor: the stack's traffic.floorPercent (Pulumi.yaml's 20 by default)
    decides, whatever the policy config says."""
    low_dial = {"regions": _prod_regions(30)}
    (v,) = _floor_violations(plan_stack(ROOT, "prod", overrides=low_dial))
    assert v.enforcement == "mandatory" and "us-west-2 would serve 15.0%" in v.message
    assert "(floor 20%, from the stack's traffic.floorPercent)" in v.message
    assert v.urn.endswith("::summit-prod-us-west-2")
    lower_floor = {**low_dial, "traffic": {"floorPercent": 10}}
    assert _floor_violations(plan_stack(ROOT, "prod", overrides=lower_floor)) == []
    # The policy config's floor is ignored while the stack has one ...
    cfg = {"traffic-dial-floor": {"floorPercent": 40}}
    plan = plan_stack(ROOT, "prod", overrides=lower_floor, evaluate=False)
    res = evaluate_pack(PACK, plan.plan, config=plan.inputs.config, secret_keys=[], pack_config=cfg)
    assert [v for v in res.violations if v.policy == "traffic-dial-floor"] == []


def _endpoint_groups(west_dial: int) -> None:
    """Two endpoint groups with no component around them: a project that is not ours."""
    for region, dial in (("us-east-1", 100), ("us-west-2", west_dial)):
        aws.globalaccelerator.EndpointGroup(
            f"eg-{region}",
            listener_arn="arn:aws:globalaccelerator::111122223333:accelerator/a/listener/l",
            endpoint_group_region=region,
            traffic_dial_percentage=dial,
        )


def test_a_project_without_a_floor_uses_the_policy_config_through_the_protocol():
    plan = run_program(ROOT, "other", "other-project", {}, [], program=lambda: _endpoint_groups(30))
    default = evaluate_pack(PACK, plan, config={}, secret_keys=[])  # the schema default, 20
    (v,) = [v for v in default.violations if v.policy == "traffic-dial-floor"]
    assert "would serve 15.0%" in v.message and "from the policy's floorPercent" in v.message
    cfg = {"traffic-dial-floor": {"floorPercent": 10}}
    lowered = evaluate_pack(PACK, plan, config={}, secret_keys=[], pack_config=cfg)
    assert [v for v in lowered.violations if v.policy == "traffic-dial-floor"] == []


def test_the_pack_finds_the_spill_model_in_a_bare_checkout():
    """With the project not installed (neither lane's venv), the pack maps the
    namespace onto the repository root and still imports the one spill-over module."""
    script = textwrap.dedent(
        """
        import importlib.util, json, os, sys
        # Hide the project however it was installed: setuptools' editable finder, or a path.
        sys.meta_path[:] = [f for f in sys.meta_path if "Editable" not in getattr(f, "__name__", "")]
        sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != sys.argv[2] and "__editable__" not in p]
        sys.path_importer_cache.clear()
        assert importlib.util.find_spec("components") is None, "the project is still importable"
        sys.path.insert(0, sys.argv[1])
        import summit_guardrails
        print(json.dumps([summit_guardrails.spill.__file__, sys.modules["summit_platform"].__path__[0]]))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", script, str(PACK), os.path.realpath(ROOT)],
        cwd=tempfile.gettempdir(),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    module_file, first_path = json.loads(proc.stdout)
    assert module_file == str(ROOT / "components" / "render" / "spill.py")
    assert first_path == str(ROOT)
