"""The pure delivery builders: canary steps, durations, gate PromQL, flags and checksums."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from summit_platform.components.render import canary as render

durations = st.tuples(st.integers(0, 48), st.integers(0, 59), st.integers(0, 59)).filter(
    lambda t: any(t)
)


def _fmt(h: int, m: int, s: int) -> str:
    return (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")


@given(durations)
def test_pause_durations_parse_to_their_seconds(t):
    h, m, s = t
    steps = [{"setWeight": 10}, {"pause": {"duration": _fmt(h, m, s)}}]
    assert render.total_pause_seconds(render.build_steps(steps)) == h * 3600 + m * 60 + s


@given(st.integers(0, 10**6))
def test_a_bare_number_of_seconds_is_refused_as_int_or_digits(n):
    # A bare number could mean seconds or minutes: every duration in the project has a unit.
    for bare in (n, str(n)):
        with pytest.raises(render.StepError, match=r"steps\[1\]: pause\.duration"):
            render.build_steps([{"setWeight": 10}, {"pause": {"duration": bare}}])


@pytest.mark.parametrize("bad", ["", "5", "5 m", "m5", "1d", "-3s", "5min", True, -1, 300])
def test_bad_pause_durations_are_rejected(bad):
    with pytest.raises(render.StepError, match=r"pause\.duration"):
        render.build_steps([{"setWeight": 10}, {"pause": {"duration": bad}}])


def test_go_fractions_are_pause_durations():
    # Go's time.ParseDuration (and so Argo Rollouts) reads "1.5m" as 90 s.
    steps = render.build_steps([{"setWeight": 10}, {"pause": {"duration": "1.5m"}}])
    assert render.total_pause_seconds(steps) == 90


@st.composite
def valid_steps(draw):
    weights = sorted(draw(st.sets(st.integers(0, 100), min_size=1, max_size=8)))
    steps = []
    for w in weights:
        steps.append({"setWeight": w})
        if draw(st.booleans()):
            h, m, s = draw(durations)
            steps.append({"pause": {"duration": _fmt(h, m, s)}})
        elif draw(st.booleans()):
            steps.append({"pause": {"duration": f"{draw(st.integers(1, 3600))}s"}})
    if draw(st.booleans()):
        steps.insert(0, {"pause": {}})
    return steps


@given(valid_steps())
def test_valid_steps_are_kept_in_order_with_rising_weights(steps):
    out = render.build_steps(steps)
    assert out == steps
    weights = [s["setWeight"] for s in out if "setWeight" in s]
    assert weights == sorted(set(weights))
    assert all(0 <= w <= 100 for w in weights)


@given(valid_steps(), st.data())
def test_a_weight_that_does_not_rise_is_rejected_at_its_index(steps, data):
    idx = [i for i, s in enumerate(steps) if "setWeight" in s]
    first = data.draw(st.sampled_from(idx))
    # insert a step right after `first` whose weight is <= the weight at `first`
    bad = data.draw(st.integers(0, steps[first]["setWeight"]))
    broken = [*steps[: first + 1], {"setWeight": bad}, *steps[first + 1 :]]
    with pytest.raises(render.StepError) as err:
        render.build_steps(broken)
    assert err.value.index == first + 1
    assert "must rise" in str(err.value)


@given(st.integers().filter(lambda w: not 0 <= w <= 100))
def test_weights_outside_0_100_are_rejected(w):
    with pytest.raises(render.StepError, match=r"0\.\.100"):
        render.build_steps([{"setWeight": w}])


@pytest.mark.parametrize(
    ("steps", "match"),
    [
        ([], "at least one step"),
        ([{"pause": {"duration": "5m"}}], "at least one setWeight"),
        ([{"setWeight": 10, "pause": {}}], "exactly one"),
        ([{"setWeight": "10"}], "whole percent"),
        ([{"setWeight": 10.5}], "whole percent"),
        ([{"setWeight": True}], "whole percent"),
        ([{"setWeight": 10}, {"pause": {"duration": "5 minutes"}}], r"steps\[1\]: pause.duration"),
        ([{"setWeight": 10}, {"pause": "5m"}], "pause: expected"),
        ([{"setWeight": 10}, {"analysis": {}}], "unknown step kind"),
    ],
)
def test_malformed_steps_name_the_problem(steps, match):
    with pytest.raises(render.StepError, match=match):
        render.build_steps(steps)


def test_default_ladder_from_the_issue_is_valid_and_takes_15_minutes_of_pauses():
    from summit_platform.stacks.config import RolloutConfig

    steps = render.build_steps(RolloutConfig().steps)
    assert [s.get("setWeight") for s in steps if "setWeight" in s] == [10, 50, 100]
    assert render.total_pause_seconds(steps) == 15 * 60


def test_error_ratio_query_treats_missing_5xx_series_as_zero_but_not_missing_traffic():
    q = render.error_ratio_query({"service": "web", "region": "us-east-1"}, "10m")
    numerator, denominator = q.split(" / ")
    assert 'code=~"5.."' in numerator and "or vector(0)" in numerator
    assert "vector(0)" not in denominator and "code" not in denominator
    assert "[10m]" in q


def test_selector_escapes_quotes():
    assert render.selector({"a": 'x"y'}) == '{a="x\\"y"}'


def _template(settings: render.AnalysisSettings) -> dict:
    cadence = render.analysis_cadence(settings, render.default_steps(), None, 600)
    return render.analysis_template_spec(settings, cadence)


def test_analysis_conditions_make_no_data_inconclusive():
    spec = _template(render.AnalysisSettings(p95_ms=1500, error_ratio=0.01))
    by = {m["name"]: m for m in spec["metrics"]}
    p95, err = by["p95-latency"], by["error-ratio"]
    assert p95["successCondition"].endswith("result[0] < 1.5")
    assert p95["failureCondition"].endswith("result[0] >= 1.5")
    assert err["successCondition"].endswith("result[0] < 0.01")
    for m in (p95, err):
        # both conditions demand a real value: empty or NaN matches neither -> Inconclusive
        for cond in (m["successCondition"], m["failureCondition"]):
            assert cond.startswith("len(result) > 0 && !isNaN(result[0])")
        q = m["provider"]["prometheus"]["query"]
        assert 'rollouts_pod_template_hash="{{args.canary-hash}}"' in q
        assert 'service="{{args.service}}"' in q and 'region="{{args.region}}"' in q


def _eval_condition(cond: str, result: list[float]) -> bool:
    """Evaluate our condition strings the way Argo's expr does, for the subset we emit."""
    py = cond.replace("&&", "and").replace("!isNaN", "not math.isnan")
    return bool(eval(py, {"math": math, "len": len, "result": result}))


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ([0.2], "success"),
        ([1.5], "failure"),
        ([9.0], "failure"),
        ([], "inconclusive"),
        ([math.nan], "inconclusive"),
    ],
)
def test_condition_outcomes(result, expected):
    spec = _template(render.AnalysisSettings())
    m = spec["metrics"][0]
    ok = _eval_condition(m["successCondition"], result)
    bad = _eval_condition(m["failureCondition"], result)
    outcome = "success" if ok else "failure" if bad else "inconclusive"
    assert outcome == expected
    assert not (ok and bad)


regions = st.sampled_from(["us-east-1", "us-west-2"])
flag_names = st.from_regex(r"[a-z][a-zA-Z0-9_]{0,10}", fullmatch=True)


@given(
    st.dictionaries(flag_names, st.booleans(), max_size=5),
    st.dictionaries(regions, st.dictionaries(flag_names, st.booleans(), max_size=4), max_size=2),
)
def test_every_region_sees_the_same_keys_and_overrides_win(defaults, overrides):
    east = render.region_flags(defaults, overrides, "us-east-1")
    west = render.region_flags(defaults, overrides, "us-west-2")
    assert set(east) == set(west)
    for region, flags in (("us-east-1", east), ("us-west-2", west)):
        for name, value in flags.items():
            if name in overrides.get(region, {}):
                assert value == overrides[region][name]
            else:
                assert value == defaults.get(name, False)


@given(st.dictionaries(flag_names, st.booleans(), max_size=6), st.data())
def test_checksum_changes_exactly_when_a_flag_changes(flags, data):
    base = render.checksum(render.flags_configmap_data(flags))
    reordered = dict(reversed(list(flags.items())))
    assert render.checksum(render.flags_configmap_data(reordered)) == base
    assume(flags)
    name = data.draw(st.sampled_from(sorted(flags)))
    flipped = {**flags, name: not flags[name]}
    assert render.checksum(render.flags_configmap_data(flipped)) != base


def test_feature_x_on_in_east_off_in_west():
    overrides = {"us-east-1": {"featureX": True}, "us-west-2": {"featureX": False}}
    assert render.region_flags({}, overrides, "us-east-1") == {"featureX": True}
    assert render.region_flags({}, overrides, "us-west-2") == {"featureX": False}
    data = render.flags_configmap_data({"featureX": True})
    assert data == {"featureX": "true", "flags.json": '{"featureX": true}'}


def test_bad_flag_name_is_rejected():
    with pytest.raises(ValueError, match="flag name"):
        render.region_flags({"bad name": True}, {}, "us-east-1")


def test_rollout_spec_rejects_unknown_routing_and_out_of_range_starting_step():
    args = dict(
        service="web",
        region="us-east-1",
        image="i",
        version="v1",
        port=8080,
        replicas=2,
        steps=[{"setWeight": 100}],
        labels={},
        stable_service="s",
        canary_service="c",
        analysis_template="t",
        flags_configmap="f",
        flags_checksum="x",
    )
    with pytest.raises(render.StepError, match="starting step"):
        render.rollout_spec(render.RolloutSpecArgs(**args, analysis_starting_step=1))
    with pytest.raises(ValueError, match="traffic routing"):
        render.rollout_spec(
            render.RolloutSpecArgs(**args, analysis_starting_step=0, traffic_routing="istio")
        )
