"""The adaptive traffic controller: one pure evaluation step, state in, state and decision out.

``evaluate(state, samples, policy, now)`` reads nothing else (no clock, no network, no
randomness), so the same inputs always give the same decision; the CLI loop, the cron-style
``compute`` command and the simulator all call this one function.

How shares are chosen
- Every region is scored with the health score (:func:`score`). A region *breaches* when its
  1-minute p95, error ratio or saturation is over the SLO threshold.
- A breach must hold for ``breach_hold`` consecutive evaluations before the region is shed;
  then the shares are proportional to the score: a shed region weighs
  ``natural_share * score``, a healthy region ``natural_share * 100`` (healthy regions count as
  a full score, a dead band, so noise in healthy scores never moves weight). While the breach
  lasts the shed share only goes down, never up (no oscillation inside one incident).
- Recovery must hold for ``recovery_hold`` consecutive healthy evaluations before weight
  returns, and then it returns at most ``step_percent`` per evaluation.
- Every region keeps at least the floor (``floor_percent``), unless an operator pinned it.
- Stale, missing, NaN, infinite, negative or out-of-range metrics, and samples whose time is
  not finite or lies more than :data:`MAX_CLOCK_SKEW_SECONDS` in the future (a timestamp in
  milliseconds does), hold the current weights and say so (fail-static); if every region
  breaches at once the controller holds (it never sheds everyone).

Shares are whole percents that add up to 100. Global Accelerator dials follow from the
natural (geographic) shares through the spill-over model in :mod:`summit_platform.components.render.spill`
(with two regions ``load_E = d_E*g_E + (1-d_W)*g_W``), so to shed a region we lower its dial
and keep the other at 100. Route53 weights are the shares themselves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from summit_platform.components.render.spill import dials_for_shares, effective_floor

MAX_CLOCK_SKEW_SECONDS = 10.0
"""How far ahead of the controller's clock a sample's time may be (clocks on two machines
disagree a little). A sample from further in the future is not data: a timestamp in
milliseconds, or a broken clock, would otherwise never go stale."""

SCORE_P95_FACTOR = 40.0
SCORE_ERR_FACTOR = 6000.0
SCORE_SAT_FACTOR = 20.0


def score(p95_seconds: float, error_ratio: float, saturation: float | None) -> float:
    """The health score ``100 - (40·p95_s + 6000·error_ratio + 20·saturation)``, clamped to
    0..100 (p95 in seconds, error ratio and saturation as 0..1).

    A saturation that is not exported (``None``) counts as 0."""
    sat = saturation if saturation is not None else 0.0
    raw = 100.0 - (
        p95_seconds * SCORE_P95_FACTOR + error_ratio * SCORE_ERR_FACTOR + sat * SCORE_SAT_FACTOR
    )
    return min(100.0, max(0.0, raw))


@dataclass(frozen=True)
class Sample:
    """One region's short-window signals at time ``ts`` (unix seconds).

    ``p95_seconds`` and ``error_ratio`` are required signals; NaN means "no data".
    ``saturation`` and ``request_rate`` are optional (``None`` when not exported)."""

    region: str
    p95_seconds: float
    error_ratio: float
    saturation: float | None = None
    request_rate: float | None = None
    ts: float = 0.0
    problem: str | None = None
    """Why the source could not read this sample (then it is "no data", whatever the
    values say): an answer of the wrong shape, a value that is not a number."""


@dataclass(frozen=True)
class Pin:
    """A manual pin: fixed shares (percent, adding to 100) until ``expires_at`` (unix s)."""

    shares: Mapping[str, int]
    reason: str
    expires_at: float
    by: str = "unknown"
    at: float = 0.0


@dataclass(frozen=True)
class Policy:
    """The controller's configuration (from ``TrafficConfig`` + ``SloConfig`` + regions)."""

    natural: Mapping[str, float]
    """Natural (geographic) share of each region, percent; adds up to 100."""
    floor_percent: float = 20.0
    p95_seconds: float = 1.5
    error_ratio: float = 0.01
    saturation: float = 0.85
    breach_hold: int = 3
    recovery_hold: int = 40
    step_percent: int = 5
    stale_after_seconds: float = 60.0
    pin: Pin | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.natural) <= 2:
            # GA spill-over between more than two regions depends on geography we do not model.
            raise ValueError(f"expected one or two regions, found {sorted(self.natural)}")
        if not math.isclose(sum(self.natural.values()), 100.0, abs_tol=0.01):
            raise ValueError("natural shares must add up to 100")
        if any(v <= 0 for v in self.natural.values()):
            raise ValueError("natural shares must be positive")
        if self.breach_hold < 1 or self.recovery_hold < 1 or self.step_percent < 1:
            raise ValueError("breach_hold, recovery_hold and step_percent must be >= 1")

    @property
    def regions(self) -> list[str]:
        return sorted(self.natural)

    @property
    def floor(self) -> int:
        """The floor as whole percent: ``floor_percent`` rounded up, at most one point below
        an equal split (:func:`summit_platform.components.render.spill.floor_cap`, shared with the
        guardrails pack's floor check); 100 for a single region."""
        return math.ceil(effective_floor(self.floor_percent, len(self.natural)) - 1e-9)


@dataclass(frozen=True)
class RegionState:
    """Per-region memory between evaluations."""

    mode: str = "ok"
    """``ok`` (serving its natural share or returning to it) or ``shed``."""
    breach_streak: int = 0
    healthy_streak: int = 0
    shed_weight: float | None = None
    """While shed: the smallest ``natural * score`` seen during this breach."""


@dataclass(frozen=True)
class State:
    """Everything the controller remembers; JSON round-trips through :meth:`to_dict`."""

    shares: Mapping[str, int]
    regions: Mapping[str, RegionState]
    pinned: bool = False
    evaluations: int = 0
    last_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "shares": dict(sorted(self.shares.items())),
            "regions": {
                r: {
                    "mode": s.mode,
                    "breachStreak": s.breach_streak,
                    "healthyStreak": s.healthy_streak,
                    "shedWeight": s.shed_weight,
                }
                for r, s in sorted(self.regions.items())
            },
            "pinned": self.pinned,
            "evaluations": self.evaluations,
            "lastAt": self.last_at,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> State:
        """Inverse of :meth:`to_dict`; raises ``ValueError``/``KeyError``/``TypeError``."""
        if doc.get("version") != 1:
            raise ValueError(f"expected state version 1, found {doc.get('version')!r}")
        shares = {str(r): int(v) for r, v in doc["shares"].items()}
        regions = {
            str(r): RegionState(
                mode=str(s["mode"]),
                breach_streak=int(s["breachStreak"]),
                healthy_streak=int(s["healthyStreak"]),
                shed_weight=None if s.get("shedWeight") is None else float(s["shedWeight"]),
            )
            for r, s in doc["regions"].items()
        }
        if set(shares) != set(regions):
            raise ValueError("shares and regions name different regions")
        last = doc.get("lastAt")
        return cls(
            shares=shares,
            regions=regions,
            pinned=bool(doc.get("pinned", False)),
            evaluations=int(doc.get("evaluations", 0)),
            last_at=None if last is None else float(last),
        )


@dataclass(frozen=True)
class RegionDecision:
    """What the controller wants for one region, and why."""

    region: str
    share: int
    dial: int
    route53_weight: int
    reason: str
    score: float | None = None
    breaching: bool | None = None
    mode: str = "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "weight": self.share,
            "dial": self.dial,
            "route53Weight": self.route53_weight,
            "reason": self.reason,
            "score": None if self.score is None else round(self.score, 2),
            "breaching": self.breaching,
            "mode": self.mode,
        }


@dataclass(frozen=True)
class Decision:
    """The outcome of one evaluation."""

    at: float
    action: str
    """``steady`` (nothing changed), ``steer`` (shares changed), ``hold`` (fail-static or
    all regions breaching), ``pinned``."""
    regions: tuple[RegionDecision, ...]
    reason: str
    changed: bool = False
    fail_static: bool = False

    @property
    def shares(self) -> dict[str, int]:
        return {d.region: d.share for d in self.regions}

    @property
    def dials(self) -> dict[str, int]:
        return {d.region: d.dial for d in self.regions}

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "action": self.action,
            "changed": self.changed,
            "failStatic": self.fail_static,
            "reason": self.reason,
            "regions": [d.to_dict() for d in self.regions],
        }


# ---------------------------------------------------------------------------------------------
# Arithmetic: integer shares and floors (dials: summit_platform.components.render.spill)


def _largest_remainder(weights: Mapping[str, float], total: int = 100) -> dict[str, int]:
    """Whole shares proportional to ``weights`` adding up to ``total`` (ties by name)."""
    names = sorted(weights)
    s = sum(max(0.0, weights[r]) for r in names)
    if s <= 0:
        raw = {r: total / len(names) for r in names}
    else:
        raw = {r: total * max(0.0, weights[r]) / s for r in names}
    out = {r: math.floor(raw[r] + 1e-9) for r in names}
    left = total - sum(out.values())
    order = sorted(names, key=lambda r: (-(raw[r] - out[r]), r))
    for r in order[:left]:
        out[r] += 1
    return out


def whole_shares(weights: Mapping[str, float]) -> dict[str, int]:
    """Whole percents proportional to ``weights``, adding up to 100 (largest remainder)."""
    return _largest_remainder(weights)


def clamp_to_floor(shares: Mapping[str, int], floor: int) -> dict[str, int]:
    """Raise every region to ``floor`` taking the difference from the largest ones."""
    out = dict(shares)
    names = sorted(out)
    for r in names:
        while out[r] < floor:
            donor = max((d for d in names if d != r), key=lambda d: (out[d], d))
            if out[donor] <= floor:
                break
            take = min(floor - out[r], out[donor] - floor)
            out[r] += take
            out[donor] -= take
    return out


def natural_shares(policy: Policy) -> dict[str, int]:
    """The healthy target: natural shares as whole percents, raised to the floor."""
    return clamp_to_floor(_largest_remainder(policy.natural), policy.floor)


# ---------------------------------------------------------------------------------------------
# The evaluation step


def initial_state(policy: Policy) -> State:
    """Fresh state: natural shares, no history."""
    return State(
        shares=natural_shares(policy),
        regions={r: RegionState() for r in policy.regions},
    )


def safe_state(policy: Policy, applied: Mapping[str, int]) -> State:
    """Where to start when the saved state cannot be trusted: the shares applied now, held.

    A region below its natural share counts as shed (its shed weight is what gives it its
    share today), so weight comes back only after ``recovery_hold`` healthy evaluations and
    then in steps, as it would have; the floor still holds. ``applied`` that does not cover
    the policy's regions with whole percents adding to 100 gives :func:`initial_state`."""
    if set(applied) != set(policy.natural) or sum(applied.values()) != 100:
        return initial_state(policy)
    shares = clamp_to_floor(dict(applied), policy.floor)
    natural = natural_shares(policy)
    regions: dict[str, RegionState] = {}
    for r in policy.regions:
        if len(policy.regions) > 1 and shares[r] < natural[r]:
            # _desired_shares weighs a shed region by shed_weight and every other by
            # natural * 100: this weight gives the region exactly its applied share.
            others = sum(policy.natural[o] * 100.0 for o in policy.regions if o != r)
            weight = shares[r] * others / (100 - shares[r])
            regions[r] = RegionState(mode="shed", shed_weight=weight)
        else:
            regions[r] = RegionState()
    return State(shares=shares, regions=regions)


def _bad_number(value: float | None, upper: float | None = None) -> bool:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return True
    return not math.isfinite(value) or value < 0 or (upper is not None and value > upper)


def _sample_problem(sample: Sample | None, now: float, stale_after: float) -> str | None:
    """Why ``sample`` is no data (``None`` when it can be used): missing, flagged by its
    source, a required signal missing, NaN, infinite, negative or (error ratio) above 1, a
    saturation that is NaN, infinite or negative, a time that is not finite, more than
    :data:`MAX_CLOCK_SKEW_SECONDS` ahead of ``now`` or older than ``stale_after``."""
    if sample is None:
        return "no sample"
    if sample.problem:
        return sample.problem
    for name, value, upper in (
        ("p95", sample.p95_seconds, None),
        ("error ratio", sample.error_ratio, 1.0),
    ):
        if _bad_number(value, upper):
            return f"{name} is {value!r}"
    if sample.saturation is not None and _bad_number(sample.saturation):
        return f"saturation is {sample.saturation!r}"
    ts = sample.ts
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        return f"sample time is {ts!r}"
    if ts - now > MAX_CLOCK_SKEW_SECONDS:
        # A unix time in milliseconds is about 1000 times now: say so, it is the usual mistake.
        hint = " (in milliseconds? sample times are unix seconds)" if ts > now * 100 else ""
        return (
            f"sample time is {ts - now:.0f}s in the future"
            f" (more than {MAX_CLOCK_SKEW_SECONDS:g}s){hint}"
        )
    age = now - ts
    if age > stale_after:
        return f"sample is {age:.0f}s old (> {stale_after:g}s)"
    return None


def _breach_reasons(sample: Sample, policy: Policy) -> list[str]:
    out = []
    if sample.p95_seconds > policy.p95_seconds:
        out.append(f"p95 {sample.p95_seconds:.3f}s > {policy.p95_seconds:.3f}s")
    if sample.error_ratio > policy.error_ratio:
        out.append(f"errors {sample.error_ratio:.4f} > {policy.error_ratio:.4f}")
    if sample.saturation is not None and sample.saturation > policy.saturation:
        out.append(f"saturation {sample.saturation:.2f} > {policy.saturation:.2f}")
    return out


def _sync_regions(state: State, policy: Policy) -> State:
    """Adopt regions added to or removed from the config since the state was saved."""
    if set(state.shares) == set(policy.natural) and set(state.regions) == set(policy.natural):
        return state
    return replace(initial_state(policy), evaluations=state.evaluations, last_at=state.last_at)


def _pin_active(policy: Policy, now: float) -> Pin | None:
    """The pin, while it is in force and well formed: set no later than now (give or take the
    clock skew), not yet expired, whole percents 0..100 over exactly the policy's regions
    adding to 100. Anything else is no pin (the config model refuses such pins already)."""
    pin = policy.pin
    if pin is None or not pin.at - MAX_CLOCK_SKEW_SECONDS <= now < pin.expires_at:
        return None
    if set(pin.shares) != set(policy.natural):
        return None
    values = list(pin.shares.values())
    if any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 100 for v in values):
        return None
    if sum(values) != 100:
        return None
    return pin


def _move(
    current: Mapping[str, int],
    desired: Mapping[str, int],
    regions: Mapping[str, RegionState],
    step: int,
) -> dict[str, int]:
    """Shed at once (a shed region's share drops to its target); return weight in steps."""
    names = sorted(current)
    if len(names) == 1 or dict(current) == dict(desired):
        return dict(desired)
    a, b = names
    delta = desired[a] - current[a]  # > 0: a gains and b loses
    loser = b if delta > 0 else a
    if regions[loser].mode == "shed":
        return dict(desired)
    move = min(step, abs(delta))
    sign = 1 if delta > 0 else -1
    return {a: current[a] + sign * move, b: current[b] - sign * move}


def _decisions(
    shares: Mapping[str, int],
    policy: Policy,
    reasons: Mapping[str, str],
    extra: Mapping,
    pinned: bool = False,
) -> tuple[RegionDecision, ...]:
    dials = dials_for_shares(shares, policy.natural, 0 if pinned else policy.floor)
    return tuple(
        RegionDecision(
            region=r,
            share=shares[r],
            dial=dials[r],
            route53_weight=shares[r],
            reason=reasons[r],
            score=extra.get(r, {}).get("score"),
            breaching=extra.get(r, {}).get("breaching"),
            mode=extra.get(r, {}).get("mode", "ok"),
        )
        for r in policy.regions
    )


def _fail_static(
    state: State,
    policy: Policy,
    current: dict[str, int],
    previous: dict[str, int],
    problems: Mapping[str, str],
    now: float,
) -> tuple[State, Decision]:
    """Stale, missing or bad metrics: hold the current weights (floors restored) and say why."""
    why = "; ".join(f"{r}: {p}" for r, p in sorted(problems.items()))
    held = {
        r: f"hold (fail-static): {problems.get(r, 'metrics ok, another region has none')}"
        for r in policy.regions
    }
    held_extra: dict[str, dict[str, Any]] = {
        r: {"mode": state.regions[r].mode} for r in policy.regions
    }
    new_state = replace(
        state, shares=current, pinned=False, evaluations=state.evaluations + 1, last_at=now
    )
    return new_state, Decision(
        at=now,
        action="hold",
        regions=_decisions(current, policy, held, held_extra),
        reason=f"fail-static, holding current weights: {why}",
        changed=current != previous,
        fail_static=True,
    )


def _update_streaks(
    state: State, samples: Mapping[str, Sample], policy: Policy, problems: Mapping[str, str]
) -> tuple[dict[str, RegionState], dict[str, list[str]], dict[str, float]]:
    """Score every region with a valid sample and count its breach or healthy streak (while
    pinned, a region with bad samples keeps its streaks). Returns (regions, breach reasons,
    scores); regions without a valid sample have neither a score nor breach reasons."""
    regions: dict[str, RegionState] = {}
    breaching: dict[str, list[str]] = {}
    scores: dict[str, float] = {}
    for r in policy.regions:
        rs = state.regions[r]
        if r in problems:
            regions[r] = rs
            continue
        s = samples[r]
        scores[r] = score(s.p95_seconds, s.error_ratio, s.saturation)
        breaching[r] = _breach_reasons(s, policy)
        if breaching[r]:
            rs = replace(rs, breach_streak=rs.breach_streak + 1, healthy_streak=0)
        else:
            rs = replace(rs, breach_streak=0, healthy_streak=rs.healthy_streak + 1)
        regions[r] = rs
    return regions, breaching, scores


def _every_region_breaching(
    policy: Policy, regions: Mapping[str, RegionState], breaching: Mapping[str, list[str]]
) -> bool:
    """Two or more regions, each shed and still breaching or in a breach streak: shedding one
    would only move load onto another breaching region."""
    return len(policy.regions) > 1 and all(
        (regions[r].mode == "shed" and breaching.get(r)) or regions[r].breach_streak > 0
        for r in policy.regions
    )


def _transition_modes(
    regions: dict[str, RegionState],
    scores: Mapping[str, float],
    breaching: Mapping[str, list[str]],
    policy: Policy,
    all_breaching: bool,
) -> dict[str, RegionState]:
    """ok -> shed after ``breach_hold`` breaches (never the only region, never everyone);
    while shed the shed weight only goes down; shed -> ok after ``recovery_hold`` healthy
    evaluations. Regions without a score this time keep their mode."""
    out = dict(regions)
    for r in policy.regions:
        rs = out[r]
        if r not in scores:
            continue
        weight_now = policy.natural[r] * scores[r]
        if rs.mode == "ok" and rs.breach_streak >= policy.breach_hold and not all_breaching:
            if len(policy.regions) > 1:
                rs = replace(rs, mode="shed", shed_weight=weight_now)
        elif rs.mode == "shed" and breaching[r]:
            rs = replace(rs, shed_weight=min(rs.shed_weight or weight_now, weight_now))
        elif rs.mode == "shed" and rs.healthy_streak >= policy.recovery_hold:
            rs = replace(rs, mode="ok", shed_weight=None)
        out[r] = rs
    return out


def _pinned(
    pin: Pin,
    state: State,
    policy: Policy,
    regions: Mapping[str, RegionState],
    extra: Mapping[str, Mapping[str, Any]],
    previous: Mapping[str, int],
    now: float,
) -> tuple[State, Decision]:
    """An active manual pin: its shares, no floor, streaks still tracked for afterwards."""
    shares = {r: int(pin.shares[r]) for r in policy.regions}
    until = _iso(pin.expires_at)
    reasons = {
        r: f"pinned to {shares[r]}% by {pin.by} until {until}: {pin.reason}" for r in policy.regions
    }
    new_state = State(
        shares=shares,
        regions=regions,
        pinned=True,
        evaluations=state.evaluations + 1,
        last_at=now,
    )
    return new_state, Decision(
        at=now,
        action="pinned",
        regions=_decisions(shares, policy, reasons, extra, pinned=True),
        reason=f"manual pin until {until} by {pin.by}: {pin.reason}",
        changed=shares != previous,
    )


def _desired_shares(
    policy: Policy,
    regions: Mapping[str, RegionState],
    breaching: Mapping[str, list[str]],
    current: dict[str, int],
    all_breaching: bool,
) -> tuple[dict[str, int], dict[str, str], str]:
    """The shares to move towards, with the per-region reasons and the decision's reason
    known at this point (the steering reasons come later, from the move itself)."""
    if len(policy.regions) == 1:
        r = policy.regions[0]
        return {r: 100}, {r: "only region: serves everything"}, "single region"
    if all_breaching:
        reasons = {
            r: "hold: every region breaching"
            f" ({', '.join(breaching.get(r) or []) or 'shed'}); never shed everyone"
            for r in policy.regions
        }
        return current, reasons, "every region breaching: holding current weights"
    if any(regions[r].mode == "shed" for r in policy.regions):
        # The proportional rule: a shed region weighs natural * its worst score of
        # this breach, a healthy one natural * 100 (a dead band for healthy noise).
        weights = {
            r: (regions[r].shed_weight or 0.0)
            if regions[r].mode == "shed"
            else policy.natural[r] * 100.0
            for r in policy.regions
        }
        desired = clamp_to_floor(_largest_remainder(weights), policy.floor)
    else:
        desired = natural_shares(policy)
    # A region that breaches while its weight is coming back stops gaining (no flapping
    # back and forth while the breach is being confirmed).
    if any(breaching.get(r) and desired[r] > current[r] for r in policy.regions):
        desired = current
    return desired, {}, ""


def _steer_reasons(
    policy: Policy,
    regions: Mapping[str, RegionState],
    breaching: Mapping[str, list[str]],
    scores: Mapping[str, float],
    moves: tuple[Mapping[str, int], Mapping[str, int], Mapping[str, int]],
) -> tuple[dict[str, str], str]:
    """Why each region got its share this step, and the decision's reason. ``moves`` is
    (current, desired, new) shares."""
    current, desired, new_shares = moves
    floor = policy.floor
    reasons: dict[str, str] = {}
    for r in policy.regions:
        rs = regions[r]
        why = ", ".join(breaching.get(r) or [])
        sc = f"score {scores[r]:.0f}" if r in scores else "no score"
        if rs.mode == "shed" and why:
            reasons[r] = f"shed to {new_shares[r]}% ({sc}): {why}"
        elif rs.mode == "shed":
            reasons[r] = f"shed, recovering: healthy {rs.healthy_streak}/{policy.recovery_hold}"
        elif why:
            reasons[r] = f"breach {rs.breach_streak}/{policy.breach_hold} ({sc}): {why}"
        elif new_shares[r] > current[r] and new_shares[r] != desired[r]:
            reasons[r] = f"returning weight: +{new_shares[r] - current[r]}% this step ({sc})"
        elif new_shares[r] == floor and desired[r] == floor and floor > 0:
            reasons[r] = f"healthy ({sc}), at the {floor}% floor"
        else:
            reasons[r] = f"healthy ({sc})"
    moved = [r for r in policy.regions if new_shares[r] != current[r]]
    action_reason = (
        "shares " + ", ".join(f"{r} {current[r]}->{new_shares[r]}" for r in moved)
        if moved
        else "no change"
    )
    return reasons, action_reason


def evaluate(
    state: State, samples: Mapping[str, Sample], policy: Policy, now: float
) -> tuple[State, Decision]:
    """One controller step. Pure and deterministic: same arguments, same result.

    The steps: adopt config changes, restore the floor (unless pinned), hold on bad metrics
    (:func:`_fail_static`), update streaks and modes, honour an active pin (:func:`_pinned`),
    else choose the target shares (:func:`_desired_shares`) and move towards them
    (:func:`_move`), explaining each region (:func:`_steer_reasons`)."""
    state = _sync_regions(state, policy)
    previous = dict(state.shares)
    pin = _pin_active(policy, now)
    # An expired pin may have left a region under the floor: the floor comes back at once.
    current = dict(previous) if pin else clamp_to_floor(previous, policy.floor)
    problems = {
        r: p
        for r in policy.regions
        if (p := _sample_problem(samples.get(r), now, policy.stale_after_seconds))
    }
    if problems and not pin:
        return _fail_static(state, policy, current, previous, problems, now)

    regions, breaching, scores = _update_streaks(state, samples, policy, problems)
    all_breaching = _every_region_breaching(policy, regions, breaching)
    regions = _transition_modes(regions, scores, breaching, policy, all_breaching)
    extra: dict[str, dict[str, Any]] = {
        r: {"score": scores.get(r), "breaching": bool(breaching.get(r)), "mode": regions[r].mode}
        for r in policy.regions
    }
    if pin:
        return _pinned(pin, state, policy, regions, extra, previous, now)

    desired, reasons, action_reason = _desired_shares(
        policy, regions, breaching, current, all_breaching
    )
    new_shares = _move(current, desired, regions, policy.step_percent)
    if len(policy.regions) > 1 and not all_breaching:
        reasons, action_reason = _steer_reasons(
            policy, regions, breaching, scores, (current, desired, new_shares)
        )
    changed = new_shares != previous
    new_state = State(
        shares=new_shares,
        regions=regions,
        pinned=False,
        evaluations=state.evaluations + 1,
        last_at=now,
    )
    if state.pinned:
        action_reason = f"pin expired, automation resumed; {action_reason}"
    action = "hold" if all_breaching else ("steer" if changed else "steady")
    return new_state, Decision(
        at=now,
        action=action,
        regions=_decisions(new_shares, policy, reasons, extra),
        reason=action_reason,
        changed=changed,
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
