"""The spill-over model shared by the traffic controller and the guardrails floor policy:
examples, hypothesis properties (loads add up to 100, follow the two-region formula, grow with
a region's own dial) and the agreement of the two floor checks built on it."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi_policy import StackValidationArgs
from pulumi_policy.policy import PolicyResource

from summit_platform.automation.traffic.controller import Policy, Sample, evaluate, initial_state
from summit_platform.components.render import spill

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "policypacks" / "guardrails"))
import summit_guardrails as guardrails  # noqa: E402

E, W = "us-east-1", "us-west-2"
share = st.floats(min_value=1, max_value=99, allow_nan=False)
dial = st.integers(min_value=0, max_value=100)


def test_examples_from_the_formula():
    assert spill.region_loads({E: 100, W: 40}, {E: 50, W: 50}) == {E: 80.0, W: 20.0}
    assert spill.region_loads({E: 100, W: 100}, {E: 70, W: 30}) == pytest.approx({E: 70, W: 30})
    assert spill.region_loads({E: 0}, {E: 100}) == {E: 100.0}  # one region serves everything
    # A dial of 0 everywhere: each region's traffic spills to the other one.
    assert spill.region_loads({E: 0, W: 0}, {E: 70, W: 30}) == pytest.approx({E: 30, W: 70})


def test_floor_cap_and_effective_floor():
    assert [spill.floor_cap(n) for n in (1, 2, 3)] == [100, 49, 32]
    assert spill.effective_floor(20, 2) == 20
    assert spill.effective_floor(50, 2) == 49
    assert spill.effective_floor(50, 1) == 50
    assert spill.dial_for_floor(20, 50) == 40 and spill.dial_for_floor(20, 30) == 67
    assert spill.dial_for_floor(60, 50) == 100  # more than the region's own traffic: dial 100


def test_the_module_imports_nothing_but_the_standard_library():
    """The guardrails pack imports it in its own venv: no Pulumi, no pydantic on the way."""
    code = (
        "import sys, summit_platform.components.render.spill; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pulumi', 'pulumi_policy', 'pydantic', 'numpy', 'summit_platform', 'yaml')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    # Only the module and its (empty) packages: nothing else of the project, no third party.
    assert out.stdout.strip() == str(
        [
            "summit_platform",
            "summit_platform.components",
            "summit_platform.components.render",
            "summit_platform.components.render.spill",
        ]
    )


@given(share, dial, dial)
def test_loads_add_up_to_100_and_follow_the_two_region_formula(share_e, d_e, d_w):
    loads = spill.region_loads({E: d_e, W: d_w}, {E: share_e, W: 100 - share_e})
    assert sum(loads.values()) == pytest.approx(100)
    ge, gw = share_e / 100, 1 - share_e / 100
    assert loads[E] == pytest.approx(100 * (d_e / 100 * ge + (1 - d_w / 100) * gw))


@given(st.lists(share, min_size=2, max_size=4), st.data())
def test_loads_add_up_to_100_for_any_number_of_regions(shares, data):
    names = [f"r{i}" for i in range(len(shares))]
    natural = dict(zip(names, shares, strict=True))
    dials = {r: data.draw(dial) for r in names}
    loads = spill.region_loads(dials, natural)
    assert sum(loads.values()) == pytest.approx(100)
    assert all(v >= -1e-9 for v in loads.values())


@given(share, dial, dial, st.integers(min_value=1, max_value=100))
def test_a_region_serves_more_as_its_own_dial_rises(share_e, d_e, d_w, up):
    natural = {E: share_e, W: 100 - share_e}
    before = spill.region_loads({E: d_e, W: d_w}, natural)
    after = spill.region_loads({E: min(100, d_e + up), W: d_w}, natural)
    assert after[E] >= before[E] - 1e-9
    assert after[W] <= before[W] + 1e-9


@given(share, st.floats(min_value=0, max_value=50))
def test_the_dial_the_floor_message_asks_for_meets_the_floor(share_w, floor):
    needed = spill.dial_for_floor(floor, share_w)
    loads = spill.region_loads({E: 100, W: needed}, {E: 100 - share_w, W: share_w})
    assert loads[W] + 1e-9 >= min(floor, share_w)
    if needed > 0:  # and it is the smallest such dial
        lower = spill.region_loads({E: 100, W: needed - 1}, {E: 100 - share_w, W: share_w})
        assert lower[W] < floor


@given(
    st.integers(min_value=5, max_value=95),
    st.floats(min_value=0, max_value=50),
    st.integers(min_value=0, max_value=100),
)
def test_dials_for_floor_respecting_shares_pass_the_floor_check(g_e, floor_percent, s_e):
    natural = {E: float(g_e), W: float(100 - g_e)}
    floor = Policy(natural=natural, floor_percent=floor_percent).floor
    s_e = min(max(s_e, floor), 100 - floor)
    dials = spill.dials_for_shares({E: s_e, W: 100 - s_e}, natural, floor)
    assert spill.below_floor(dials, natural, floor_percent) == {}


def _policy_verdict(dials: dict[str, int], policy: Policy) -> list[str]:
    """What the guardrails pack's traffic-dial-floor says about these dials, with the stack
    config the controller's policy was built from (PULUMI_CONFIG, as the engine passes it)."""
    regions = [{"name": r, "naturalShare": g} for r, g in policy.natural.items()]
    config = {
        "summit-platform:regions": json.dumps(regions),
        "summit-platform:traffic": json.dumps({"floorPercent": policy.floor_percent}),
    }
    groups = [
        PolicyResource(
            guardrails.ENDPOINT_GROUP,
            {"endpointGroupRegion": r, "trafficDialPercentage": d},
            f"urn:pulumi:s::p::{guardrails.ENDPOINT_GROUP}::{r}",
            r,
            None,
            None,
            None,
            [],
            {},
        )
        for r, d in dials.items()
    ]
    found: list[str] = []
    with mock.patch.dict(os.environ, {"PULUMI_CONFIG": json.dumps(config)}):
        guardrails.traffic_dial_floor.validate(
            StackValidationArgs(groups, {"floorPercent": 0}, {}),
            lambda msg, urn=None: found.append(msg),
        )
    return found


finite = st.floats(min_value=0, max_value=5, allow_nan=False)
sample_st = st.tuples(
    st.one_of(finite, st.just(math.nan)),
    st.floats(0, 1),
    st.one_of(st.none(), st.floats(0, 1.5)),
    st.booleans(),
)
policy_st = st.builds(
    lambda g, floor, bh, rh, step_: Policy(
        natural={E: float(g), W: float(100 - g)},
        floor_percent=floor,
        breach_hold=bh,
        recovery_hold=rh,
        step_percent=step_,
    ),
    st.integers(min_value=5, max_value=95),
    st.floats(min_value=0, max_value=50),
    st.integers(1, 4),
    st.integers(1, 6),
    st.integers(1, 30),
)


@settings(max_examples=100, deadline=None)
@given(policy_st, st.lists(st.tuples(sample_st, sample_st), min_size=1, max_size=30))
def test_the_pack_accepts_every_dial_the_controller_sets(policy, series):
    """The floor checks agree: whatever the controller decides (unpinned), the guardrails
    policy, reading the same floorPercent from the stack config, finds no region under it."""
    state = initial_state(policy)
    for i, raw in enumerate(series):
        t = i * 5.0
        samples = {
            region: Sample(region, p95, err, sat, ts=t)
            for region, (p95, err, sat, present) in zip((E, W), raw, strict=True)
            if present
        }
        state, decision = evaluate(state, samples, policy, now=t)
        assert spill.below_floor(decision.dials, policy.natural, policy.floor_percent) == {}
        assert _policy_verdict(decision.dials, policy) == []
