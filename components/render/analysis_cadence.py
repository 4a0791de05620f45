"""When the canary analysis measures: its cadence derived from the canary steps, and the
coverage model that proves no pause goes unanalysed.

Pure: plain step lists (Argo's shape, see :func:`summit_platform.components.render.canary.build_steps`) in,
numbers out. The canary builders, the CLI and the tests share it.

**How Argo Rollouts runs the analysis.** The background ``AnalysisRun`` starts when the rollout
reaches step ``startingStep``; each metric waits ``initialDelay``, then measures every
``interval`` until it has taken ``count`` measurements (``count: 0``: until the rollout ends),
and the controller stops it when the rollout is fully promoted. A measurement at time *t* is a
PromQL ``rate(...[window])``: it judges the requests of ``[t - window, t]``. So the requests
the analysis has judged are the union of those windows, and a pause is *covered* when every
instant of it lies in one.

**The derivation** (:func:`derive_cadence`) makes that union the whole canary:

- ``startingStep``: the step after the first weight above 0, when the canary starts to serve
  (:func:`default_starting_step`); a later start would leave a serving step unanalysed.
- ``interval``: at most the configured longest interval, at most the rate window (so windows
  touch: no gap between two measurements) and at most half the shortest timed pause (at least
  two measurements at each weight), but not under :data:`MIN_INTERVAL_SECONDS`.
- ``initialDelay`` = ``interval`` (at most the window): the first measurement already sees an
  interval of the canary's requests and its window reaches back to the analysis start.
- ``count``: enough measurements to outlast the slowest canary the steps allow, every timed
  pause plus ``progressDeadlineSeconds`` for each weight change (a weight change that makes no
  progress for that long aborts the rollout). Measurements left over when the rollout is
  promoted are never taken: Argo ends the run. A pause that waits for a person (``pause: {}``)
  has no bound, so then ``count`` is 0: measure until the rollout ends.
- an inline check (:func:`promotion_check_index`): right after the last pause, one measurement
  that must pass (no failure, no missing data) before the canary goes to 100 %. Background
  measurements that fall after the promotion are never taken, so without it the last
  ``interval`` of the last pause could be judged by nobody in the cluster. Before earlier
  weight increases the background run keeps measuring at the next weight, which covers them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from summit_platform.components.render.durations import go_duration

MIN_INTERVAL_SECONDS = 10
"""The shortest derived interval: below it, queries cost more than they tell (scrapes are
typically 15-30 s apart)."""


@dataclass(frozen=True)
class Cadence:
    """The background analysis' timing, derived from the steps (see the module docstring)."""

    starting_step: int
    """Index of the step at which the background analysis starts."""
    interval_seconds: int
    """Seconds between measurements (whole seconds, written as a Go duration)."""
    initial_delay_seconds: int
    """Seconds before the first measurement."""
    count: int
    """Measurements of the background run; 0 means until the rollout ends."""
    horizon_seconds: float | None
    """Longest time from the analysis start to full promotion the count allows for; None
    when a pause waits for a person (no bound)."""

    @property
    def interval(self) -> str:
        """The interval as a Go duration (``1m``, ``45s``)."""
        return go_seconds(self.interval_seconds)

    @property
    def initial_delay(self) -> str:
        """The initial delay as a Go duration."""
        return go_seconds(self.initial_delay_seconds)


def go_seconds(seconds: int) -> str:
    """Whole seconds as the shortest exact Go duration: 60 -> ``1m``, 90 -> ``90s``."""
    if seconds > 0 and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds > 0 and seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def _weight(step: Mapping[str, Any]) -> int | None:
    value = step.get("setWeight")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _pause_seconds(step: Mapping[str, Any]) -> float | None:
    """A timed pause's seconds; None for a pause that waits for a person."""
    pause = step.get("pause")
    if isinstance(pause, Mapping) and "duration" in pause:
        return go_duration(pause["duration"])
    return None


def first_traffic_step(steps: Sequence[Mapping[str, Any]]) -> int | None:
    """Index of the first ``setWeight`` above 0: from its end the canary serves requests."""
    for i, step in enumerate(steps):
        weight = _weight(step)
        if weight is not None and weight > 0:
            return i
    return None


def default_starting_step(steps: Sequence[Mapping[str, Any]]) -> int:
    """The step after the first weight above 0 (the canary serves from there), within the
    list; 0 when no weight above 0 precedes the end."""
    first = first_traffic_step(steps)
    if first is None:
        return 0
    return min(first + 1, len(steps) - 1)


def starting_step_problem(steps: Sequence[Mapping[str, Any]], starting: int) -> str | None:
    """Why ``starting`` cannot be the analysis' starting step, or None when it can.

    It must be a step of the list, not before the first weight above 0 (the run would spend
    its no-data allowance before the canary serves) and not after the step that follows it
    (the canary would serve unanalysed)."""
    if not 0 <= starting < len(steps):
        return f"expected a step index in 0..{len(steps) - 1}, found {starting}"
    first = first_traffic_step(steps)
    if first is None:
        return None
    latest = min(first + 1, len(steps) - 1)
    if starting < first:
        return (
            f"expected {first}..{latest} (from the first weight above 0, steps[{first}]),"
            f" found {starting}: the analysis would measure before the canary serves"
        )
    if starting > latest:
        return (
            f"expected {first}..{latest}, found {starting}: steps[{latest}..{starting - 1}]"
            " would run with the canary serving and no analysis"
        )
    return None


def promotion_check_index(steps: Sequence[Mapping[str, Any]]) -> int | None:
    """Where the inline check goes: right after the last pause that the canary serves in
    (before the weight steps that lead to full promotion, or at the end). None when no pause
    follows a weight above 0."""
    first = first_traffic_step(steps)
    if first is None:
        return None
    pauses = [i for i, s in enumerate(steps) if "pause" in s and i > first]
    return pauses[-1] + 1 if pauses else None


def derive_cadence(
    steps: Sequence[Mapping[str, Any]],
    *,
    starting_step: int | None,
    max_interval: str,
    window: str,
    progress_deadline_seconds: int,
) -> Cadence:
    """The background analysis' cadence for ``steps`` (rules in the module docstring).

    ``starting_step`` None takes :func:`default_starting_step`; an explicit one must pass
    :func:`starting_step_problem` (``ValueError`` otherwise)."""
    start = default_starting_step(steps) if starting_step is None else starting_step
    problem = starting_step_problem(steps, start)
    if problem:
        raise ValueError(f"analysis starting step: {problem}")
    window_s = go_duration(window)
    longest = go_duration(max_interval)
    timed = [p for s in steps[start:] if (p := _pause_seconds(s)) is not None]
    bound = min(longest, window_s)
    if timed:
        bound = min(bound, max(MIN_INTERVAL_SECONDS, min(timed) / 2))
    interval = max(1, math.floor(bound))
    horizon: float | None = 0.0
    for step in steps[start:]:
        if "pause" in step:
            seconds = _pause_seconds(step)
            horizon = None if seconds is None or horizon is None else horizon + seconds
        elif horizon is not None:
            horizon += progress_deadline_seconds
    count = 0 if horizon is None else max(1, math.ceil(horizon / interval))
    return Cadence(
        starting_step=start,
        interval_seconds=interval,
        initial_delay_seconds=interval,
        count=count,
        horizon_seconds=horizon,
    )


# -- the coverage model ------------------------------------------------------------------------


@dataclass(frozen=True)
class PauseCoverage:
    """One pause the canary serves in, and how much of it the analysis judged."""

    index: int
    """Index of the pause in the rendered steps."""
    start: float
    end: float
    analysed: float
    """Seconds of ``[start, end]`` inside some measurement's window."""

    @property
    def covered(self) -> bool:
        """Every instant of the pause was judged (to a microsecond)."""
        return self.analysed >= (self.end - self.start) - 1e-6


@dataclass(frozen=True)
class Coverage:
    """What the analysis judged of one canary, in seconds from the start of the rollout."""

    pauses: tuple[PauseCoverage, ...]
    serving_start: float
    """When the canary starts to serve (end of the first weight above 0)."""
    promotion: float
    """When the rollout is fully promoted (end of the last step)."""
    analysed_seconds: float
    """Seconds of ``[serving_start, promotion]`` inside some measurement's window."""
    measurements: int
    """Background measurements taken before the promotion."""

    @property
    def total_seconds(self) -> float:
        """Seconds the canary serves before it is promoted."""
        return max(0.0, self.promotion - self.serving_start)

    @property
    def uncovered(self) -> list[int]:
        """Indexes of the pauses with an unjudged moment."""
        return [p.index for p in self.pauses if not p.covered]


def _timeline(
    steps: Sequence[Mapping[str, Any]], weight_seconds: float, manual_pause_seconds: float
) -> list[tuple[float, float]]:
    """(start, end) of every step; a weight change takes ``weight_seconds``, an inline
    analysis step no time (its one measurement is immediate)."""
    out = []
    t = 0.0
    for step in steps:
        if "pause" in step:
            seconds = _pause_seconds(step)
            length = manual_pause_seconds if seconds is None else seconds
        elif "setWeight" in step:
            length = weight_seconds
        else:
            length = 0.0
        out.append((t, t + length))
        t += length
    return out


def _union_length(intervals: list[tuple[float, float]], lo: float, hi: float) -> float:
    total = 0.0
    reach = lo
    for a, b in sorted(intervals):
        a, b = max(a, reach), min(b, hi)
        if b > a:
            total += b - a
            reach = b
    return total


def analysis_coverage(
    steps: Sequence[Mapping[str, Any]],
    *,
    starting_step: int,
    interval_seconds: float,
    initial_delay_seconds: float,
    count: int,
    window_seconds: float,
    inline_checks: Sequence[int] = (),
    weight_seconds: float = 0.0,
    manual_pause_seconds: float = 3600.0,
) -> Coverage:
    """Which moments of the canary the analysis judges, for rendered ``steps``.

    The background run starts at ``starting_step`` and measures at ``initial_delay + k *
    interval`` for ``k < count`` (``count`` 0: without end) until the promotion; each inline
    check (indexes of analysis steps) measures once when it is reached. A measurement at *t*
    judges ``[t - window, t]``. Weight changes take ``weight_seconds`` and pauses that wait
    for a person ``manual_pause_seconds`` (model parameters: reality lies somewhere in there)."""
    if interval_seconds <= 0 or window_seconds <= 0:
        raise ValueError("interval and window must be above zero")
    spans = _timeline(steps, weight_seconds, manual_pause_seconds)
    promotion = spans[-1][1] if spans else 0.0
    first = first_traffic_step(steps)
    serving = spans[first][1] if first is not None else promotion
    t0 = spans[starting_step][0] if spans else 0.0
    times: list[float] = []
    k = 0
    while count == 0 or k < count:
        t = t0 + initial_delay_seconds + k * interval_seconds
        if t > promotion:
            break
        times.append(t)
        k += 1
    background = len(times)
    times += [spans[i][0] for i in inline_checks]
    windows = [(t - window_seconds, t) for t in times]
    pauses = []
    for i, step in enumerate(steps):
        if "pause" in step and first is not None and i > first:
            start, end = spans[i]
            pauses.append(PauseCoverage(i, start, end, _union_length(windows, start, end)))
    return Coverage(
        pauses=tuple(pauses),
        serving_start=serving,
        promotion=promotion,
        analysed_seconds=_union_length(windows, serving, promotion),
        measurements=background,
    )


_RANGE = re.compile(r"\[([0-9]+(?:ms|s|m|h))+\]")


def _resolve(value: Any, args: Mapping[str, Any]) -> Any:
    """``{{args.x}}`` replaced by the arg's value, as Argo resolves a metric's fields."""
    if isinstance(value, str):
        match = re.fullmatch(r"\{\{\s*args\.([A-Za-z0-9_-]+)\s*\}\}", value)
        if match:
            return args.get(match.group(1))
    return value


def manifest_coverage(
    rollout_spec: Mapping[str, Any],
    template_spec: Mapping[str, Any],
    *,
    weight_seconds: float = 0.0,
    manual_pause_seconds: float = 3600.0,
) -> dict[str, Coverage]:
    """The coverage of each metric of ``template_spec`` as ``rollout_spec`` runs it in the
    background (template args' defaults merged with the Rollout's background args), with the
    Rollout's inline analysis steps on the same template: read from the manifests as planned,
    not from the settings they were built from."""
    canary = rollout_spec["strategy"]["canary"]
    steps = canary["steps"]
    analysis = canary["analysis"]
    names = {t.get("templateName") for t in analysis.get("templates", [])}
    args = {a["name"]: a.get("value") for a in template_spec.get("args", [])}
    args.update({a["name"]: a.get("value") for a in analysis.get("args", []) if "value" in a})
    checks = [
        i
        for i, s in enumerate(steps)
        if "analysis" in s
        and names & {t.get("templateName") for t in s["analysis"].get("templates", [])}
    ]
    out = {}
    for metric in template_spec["metrics"]:
        query = metric["provider"]["prometheus"]["query"]
        window = _RANGE.search(query)
        if window is None:
            raise ValueError(f"metric {metric['name']}: no rate window in {query!r}")
        count = _resolve(metric.get("count"), args)
        delay = _resolve(metric.get("initialDelay"), args)
        out[metric["name"]] = analysis_coverage(
            steps,
            starting_step=int(analysis.get("startingStep", 0)),
            interval_seconds=go_duration(_resolve(metric["interval"], args)),
            initial_delay_seconds=0.0 if delay in (None, "0s") else go_duration(delay),
            count=int(count) if count is not None else 0,
            window_seconds=go_duration(window.group(0)[1:-1]),
            inline_checks=checks,
            weight_seconds=weight_seconds,
            manual_pause_seconds=manual_pause_seconds,
        )
    return out
