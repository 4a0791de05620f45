"""The canary analysis covers the whole canary: the cadence derived from the steps, and the
coverage model (which moments of the canary some measurement's rate window judges) applied to
the manifests as rendered, for the default ladder, for random step lists, and for the old
fixed cadence that left the 10-minute pause unanalysed."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from summit_platform.components.render import analysis_cadence as ac
from summit_platform.components.render import canary as render
from summit_platform.stacks.config import ConfigError, RolloutConfig, from_values


def _rendered(steps, settings_=render.DEFAULT_ANALYSIS, start=None, deadline=600):
    """The Rollout spec and AnalysisTemplate spec the component would plan for ``steps``."""
    cadence = render.analysis_cadence(settings_, steps, start, deadline)
    args = render.RolloutSpecArgs(
        service="web",
        region="us-east-1",
        image="img",
        version="v1",
        port=8080,
        replicas=None,
        steps=render.build_steps(steps),
        labels={},
        stable_service="web-stable",
        canary_service="web-canary",
        analysis_template="web-slo",
        flags_configmap="web-flags",
        flags_checksum="x",
        analysis_starting_step=cadence.starting_step,
        progress_deadline_seconds=deadline,
    )
    return render.rollout_spec(args), render.analysis_template_spec(settings_, cadence), cadence


def test_default_ladder_cadence_and_full_coverage():
    rollout, template, cadence = _rendered(render.default_steps())
    # 1m (the configured longest, under half the 5m pause and the 2m window); starts at the
    # 5m pause; 15m of pauses + 10m deadline for each of the two later weight changes = 35
    assert (cadence.starting_step, cadence.interval, cadence.initial_delay) == (1, "1m", "1m")
    assert cadence.count == 35 and cadence.horizon_seconds == 2100
    steps = rollout["strategy"]["canary"]["steps"]
    assert "analysis" in steps[4] and steps[5] == {"setWeight": 100}
    for weight_seconds in (0, 45, 600):
        coverage = ac.manifest_coverage(rollout, template, weight_seconds=weight_seconds)
        for name, cov in coverage.items():
            assert cov.uncovered == [], (name, weight_seconds)
            assert [p.index for p in cov.pauses] == [1, 3]
            # all of it, but for the end of the change to 100 % after the last measurement
            # (under one interval; the region gate after promotion judges it)
            assert cov.total_seconds - 60 <= cov.analysed_seconds <= cov.total_seconds
    for name, cov in ac.manifest_coverage(rollout, template).items():
        assert math.isclose(cov.analysed_seconds, cov.total_seconds), name
    cov = ac.manifest_coverage(rollout, template)["p95-latency"]
    assert cov.total_seconds == 15 * 60 and cov.measurements == 15


def test_the_old_fixed_cadence_left_the_ten_minute_pause_unanalysed():
    """5 measurements a minute apart from the first pause, no promotion check: the model sees
    what the issue saw (the coverage function has teeth)."""
    steps = render.build_steps(render.default_steps())
    cov = ac.analysis_coverage(
        steps,
        starting_step=1,
        interval_seconds=60,
        initial_delay_seconds=0,
        count=5,
        window_seconds=120,
    )
    assert cov.uncovered == [1, 3]
    by = {p.index: p for p in cov.pauses}
    assert by[1].analysed == 240 and by[3].analysed == 0  # 0..4 min judged, then nothing
    assert cov.analysed_seconds / cov.total_seconds == pytest.approx(240 / 900)


def test_without_the_promotion_check_the_last_pause_tail_can_go_unjudged():
    # 7m30s pause, 1m interval: background measurements at 1m..7m, promotion at 7m30s;
    # the check step at the end of the pause is what judges the last 30 s.
    steps = [{"setWeight": 20}, {"pause": {"duration": "7m30s"}}, {"setWeight": 100}]
    rollout, template, _ = _rendered(steps)
    with_check = ac.manifest_coverage(rollout, template)["error-ratio"]
    assert with_check.uncovered == []
    rollout["strategy"]["canary"]["steps"] = steps
    without = ac.manifest_coverage(rollout, template)["error-ratio"]
    assert without.uncovered == [1]
    assert without.pauses[0].analysed == pytest.approx(420)


@st.composite
def ladders(draw):
    """Valid canary step lists with at least one weight above 0: rising weights, timed or
    manual pauses anywhere."""
    weights = sorted(draw(st.sets(st.integers(0, 100), min_size=1, max_size=6)))
    if weights[-1] == 0:
        weights.append(draw(st.integers(1, 100)))
    steps = []
    for w in weights:
        steps.append({"setWeight": w})
        for _ in range(draw(st.integers(0, 2))):
            if draw(st.integers(0, 5)) == 0:
                steps.append({"pause": {}})
            else:
                steps.append({"pause": {"duration": f"{draw(st.integers(1, 7200))}s"}})
    return steps


@settings(max_examples=300, deadline=None)
@given(
    ladders(),
    st.integers(5, 900),  # longest interval, seconds
    st.integers(15, 900),  # rate window, seconds
    st.integers(60, 1800),  # progress deadline
    st.floats(0, 1),  # a weight change's share of the deadline
    st.integers(1, 20_000),  # how long a person takes to promote a manual pause
)
def test_every_pause_is_analysed_for_any_ladder(steps, longest, window, deadline, frac, manual):
    settings_ = render.AnalysisSettings(interval=f"{longest}s", window=f"{window}s")
    rollout, template, cadence = _rendered(steps, settings_, deadline=deadline)
    assert cadence.interval_seconds <= min(longest, window)
    assert cadence.initial_delay_seconds <= window
    for name, cov in ac.manifest_coverage(
        rollout, template, weight_seconds=frac * deadline, manual_pause_seconds=manual
    ).items():
        assert cov.uncovered == [], name
        # the only moments that can go unjudged: the end of the last weight change, after the
        # last background measurement and before promotion (less than one interval)
        assert cov.analysed_seconds >= cov.total_seconds - cadence.interval_seconds - 1e-6
        assert cov.analysed_seconds <= cov.total_seconds + 1e-6


@given(ladders())
def test_a_manual_pause_means_measuring_until_the_end(steps):
    cadence = render.analysis_cadence(render.DEFAULT_ANALYSIS, steps, None, 600)
    start = cadence.starting_step
    manual = any(s == {"pause": {}} for s in steps[start:])
    assert (cadence.count == 0) == manual
    assert (cadence.horizon_seconds is None) == manual


def test_half_the_shortest_pause_bounds_the_interval_and_the_floor_holds():
    steps = [{"setWeight": 10}, {"pause": {"duration": "90s"}}, {"setWeight": 100}]
    assert render.analysis_cadence(render.DEFAULT_ANALYSIS, steps, None, 600).interval == "45s"
    short = [{"setWeight": 10}, {"pause": {"duration": "4s"}}, {"setWeight": 100}]
    cadence = render.analysis_cadence(render.DEFAULT_ANALYSIS, short, None, 600)
    assert cadence.interval_seconds == ac.MIN_INTERVAL_SECONDS


@pytest.mark.parametrize(
    ("steps", "start", "problem"),
    [
        (render.default_steps(), 1, None),
        (render.default_steps(), 0, None),  # from the first weight itself: allowed
        (render.default_steps(), 2, r"steps\[1\.\.1\] would run with the canary serving"),
        (render.default_steps(), 5, r"expected a step index in 0\.\.4"),
        ([{"pause": {}}, {"setWeight": 10}, {"pause": {}}, {"setWeight": 100}], 0, "before"),
    ],
)
def test_starting_step_must_not_leave_a_serving_step_unanalysed(steps, start, problem):
    found = ac.starting_step_problem(steps, start)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert re.search(problem, found)


def test_config_refuses_a_late_starting_step_naming_the_key():
    with pytest.raises(ConfigError) as err:
        from_values(
            {
                "environment": "dev",
                "regions": [{"name": "us-east-1", "endpointArn": _ARN, "naturalShare": 100}],
                "tags": {"team": "t", "service": "s", "env": "dev", "costCenter": "c"},
                "rollout": {"analysisStartingStep": 3},
            },
            "Pulumi.dev.yaml",
        )
    assert "summit-platform:rollout" in str(err.value)
    assert "analysisStartingStep" in str(err.value) and "no analysis" in str(err.value)


_ARN = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/x/50dc6c495c0c9188"


def test_go_seconds_is_exact_and_short():
    assert [ac.go_seconds(s) for s in (1, 45, 60, 90, 3600, 5400)] == [
        "1s",
        "45s",
        "1m",
        "90s",
        "1h",
        "90m",
    ]


def test_default_starting_step_is_what_the_config_default_resolves_to():
    assert RolloutConfig().analysis_starting_step is None
    assert ac.default_starting_step(RolloutConfig().steps) == 1
