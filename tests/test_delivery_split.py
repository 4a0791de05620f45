"""What a canary weight means without traffic routing: the replica split against the Argo
Rollouts controller's own test vectors, the documented minimum replica count, the check that
refuses a step the replicas cannot realise, and the surge settings' validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from summit_platform.automation.stack_files import load_stack
from summit_platform.components.render import replica_split as rs
from summit_platform.components.render.canary import default_steps
from summit_platform.stacks.config import ConfigError, from_values

ROOT = Path(__file__).resolve().parents[1]

# (replicas, weight, surge pods) -> (canary, stable): TestApproximateWeightedNewStableReplica
# Counts in argo-rollouts utils/replicaset/canary_test.go (commit d6bc6908), maxWeight 100.
ARGO_VECTORS = [
    ((0, 0, 0), (0, 0)),
    ((0, 50, 1), (0, 0)),
    ((1, 0, 0), (0, 1)),
    ((1, 1, 0), (0, 1)),
    ((1, 49, 0), (0, 1)),
    ((1, 50, 0), (1, 0)),
    ((1, 99, 0), (1, 0)),
    ((1, 1, 1), (1, 1)),
    ((1, 99, 1), (1, 1)),
    ((1, 100, 1), (1, 0)),
    ((2, 1, 0), (1, 1)),
    ((2, 99, 0), (1, 1)),
    ((2, 1, 1), (1, 2)),
    ((2, 50, 1), (1, 1)),
    ((2, 99, 1), (2, 1)),
    ((3, 10, 0), (1, 2)),
    ((3, 50, 0), (2, 1)),
    ((3, 10, 1), (1, 3)),
    ((3, 25, 1), (1, 3)),
    ((3, 33, 1), (1, 2)),
    ((3, 49, 1), (2, 2)),
    ((3, 50, 1), (2, 2)),
    ((10, 1, 0), (1, 9)),
    ((10, 14, 0), (1, 9)),
    ((10, 15, 0), (2, 8)),
    ((10, 99, 0), (9, 1)),
    ((10, 1, 1), (1, 10)),
    ((10, 18, 1), (2, 9)),
    ((10, 23, 1), (2, 8)),
    ((10, 24, 1), (3, 8)),
    ((10, 99, 1), (10, 1)),
    ((10, 100, 1), (10, 0)),
]


@pytest.mark.parametrize(("given_", "expected"), ARGO_VECTORS)
def test_split_matches_the_controllers_own_vectors(given_, expected):
    assert rs.replica_split(*given_) == expected


@given(st.integers(1, 300), st.integers(0, 100), st.integers(0, 5))
def test_split_shape(replicas, weight, surge):
    canary, stable = rs.replica_split(replicas, weight, surge)
    assert canary + stable in ({replicas, replicas + 1} if surge else {replicas})
    if 0 < weight < 100 and (replicas > 1 or surge):
        assert canary >= 1 and stable >= 1  # a step between 0 and 100 keeps both sides
    if weight == 0:
        assert canary == 0
    if weight == 100:
        assert stable == 0


def test_the_issues_example_three_replicas_make_ten_percent_a_quarter():
    assert rs.canary_share(3, 10, "25%") == 25.0
    assert rs.canary_share(3, 10, 0) == pytest.approx(100 / 3)
    problems = rs.split_problems(
        default_steps(), min_replicas=3, max_replicas=3, max_surge="25%", tolerance=5
    )
    assert [(p.index, p.weight, p.best_share, p.best_replicas, p.needed) for p in problems] == [
        (0, 10, 25.0, 3, 6)
    ]
    assert "6 or more replicas" in problems[0].describe()


def test_documented_minimum_replicas_per_weight():
    # The table in docs/delivery.md (maxSurge 25 %, within 5 points).
    assert {w: rs.min_replicas_for(w, "25%", 5) for w in (5, 10, 20, 25, 50)} == {
        5: 9,
        10: 6,
        20: 3,
        25: 3,
        50: 1,
    }
    assert rs.min_replicas_for(10, 0, 5) == 7  # without surge one pod more


@given(st.integers(1, 99), st.sampled_from(["25%", 0, 1, "100%"]), st.integers(1, 20))
def test_min_replicas_is_the_first_count_from_which_every_count_fits(weight, surge, tolerance):
    need = rs.min_replicas_for(weight, surge, tolerance)
    assert need is not None
    assert all(
        abs(rs.canary_share(n, weight, surge) - weight) <= tolerance for n in range(need, need + 60)
    )
    if need > 1:
        assert abs(rs.canary_share(need - 1, weight, surge) - weight) > tolerance


def test_an_autoscaler_range_that_reaches_the_minimum_passes_and_notes_the_floor():
    # prod: gateway 3..12, web 3..10, intelgraph 2..8 replicas can all reach 6
    cfg = load_stack(ROOT, "prod")
    r = cfg.rollout
    for svc in cfg.services:
        assert (
            rs.split_problems(
                r.steps,
                min_replicas=svc.replicas.min,
                max_replicas=svc.replicas.max,
                max_surge=r.max_surge,
                tolerance=r.weight_tolerance_percent,
            )
            == []
        ), svc.name
    assert rs.floor_shares(r.steps, 3, r.max_surge)[0] == (0, 10, 25.0)


@pytest.mark.parametrize(
    ("value", "ok"),
    [(0, 0), (3, 3), ("25%", "25%"), (" 100% ", "100%"), ("0%", "0%")],
)
def test_int_or_percent_accepts_counts_and_percents(value, ok):
    assert rs.int_or_percent(value, "maxSurge") == ok


@pytest.mark.parametrize("value", [-1, "25", "101%", "2.5%", "05%", True, 1.5, None, "٢٥%"])
def test_int_or_percent_refuses_everything_else(value):
    with pytest.raises(ValueError, match="maxSurge: expected a pod count"):
        rs.int_or_percent(value, "maxSurge")


@pytest.mark.parametrize(("surge", "unavailable"), [(0, 0), ("0%", 0), (0, "0%")])
def test_surge_and_unavailable_both_zero_is_refused_in_config(surge, unavailable):
    values = {
        "environment": "dev",
        "regions": [{"name": "us-east-1", "endpointArn": _ARN, "naturalShare": 100}],
        "tags": {"team": "t", "service": "s", "env": "dev", "costCenter": "c"},
        "rollout": {"maxSurge": surge, "maxUnavailable": unavailable},
    }
    with pytest.raises(ConfigError, match="summit-platform:rollout: maxSurge and maxUnavailable"):
        from_values(values, "Pulumi.dev.yaml")


def test_a_bad_surge_value_names_the_key():
    values = {
        "environment": "dev",
        "regions": [{"name": "us-east-1", "endpointArn": _ARN, "naturalShare": 100}],
        "tags": {"team": "t", "service": "s", "env": "dev", "costCenter": "c"},
        "rollout": {"maxSurge": "lots"},
    }
    with pytest.raises(ConfigError) as err:
        from_values(values, "Pulumi.dev.yaml")
    assert "Pulumi.dev.yaml: summit-platform:rollout.maxSurge: maxSurge: expected" in str(err.value)


def test_scaled_rounds_surge_up_and_unavailable_down():
    assert rs.scaled("25%", 3, round_up=True) == 1
    assert rs.scaled("25%", 3, round_up=False) == 0
    assert rs.scaled("25%", 8, round_up=True) == 2
    assert rs.scaled(4, 100, round_up=False) == 4


_ARN = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/x/50dc6c495c0c9188"
