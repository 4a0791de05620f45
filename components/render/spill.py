"""Global Accelerator's spill-over model: the share of traffic each region serves for given
traffic dials, the dials that give wanted shares, and the effective per-region floor.

One module for every side of the floor: the traffic controller (:mod:`summit_platform.automation.traffic.
controller`) steers with it, the Pulumi program derives a pin's dials and Route53 weights
with it (:mod:`summit_platform.stacks.traffic`), and the guardrails pack's ``traffic-dial-floor`` policy
checks the planned dials with it. It lives under ``components/render`` because stacks/ may
not import automation/. The pack runs as its own process (in the cloud lane in its own venv,
which installs this project from the checkout: see ``policypacks/guardrails/
requirements.txt``), so this module imports nothing but the standard library -- no Pulumi,
no pydantic -- and ``components/__init__.py`` and ``components/render/__init__.py`` import
nothing either.

The model: every region has a natural share ``g`` (percent of clients nearest to it; the
shares add up to 100) and a dial ``d`` (0-100). A dial admits that percentage of the region's
natural traffic; what it turns away spills to the other regions in proportion to their
natural shares. With two regions E and W this is ``load_E = d_E*g_E + (1 - d_W)*g_W``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

EPSILON = 1e-9
"""Tolerance for comparing loads and floors computed in floating point."""


def region_loads(dials: Mapping[str, float], natural: Mapping[str, float]) -> dict[str, float]:
    """The share of all traffic (percent) each region in ``dials`` serves.

    ``dials`` maps region -> dial (0-100); ``natural`` maps region -> natural share (any
    positive scale: the shares of the regions in ``dials`` are normalised). A region missing
    from ``natural`` has no clients of its own. A single region serves everything."""
    names = sorted(dials)
    if len(names) == 1:
        return {names[0]: 100.0}
    total = sum(natural.get(r, 0.0) for r in names) or 1.0
    g = {r: natural.get(r, 0.0) / total for r in names}
    load = {r: dials[r] / 100.0 * g[r] for r in names}
    for r in names:
        spill = (1.0 - dials[r] / 100.0) * g[r]
        weight = sum(g[o] for o in names if o != r)
        if weight <= 0:
            load[r] += spill  # nowhere to spill: the region keeps what its dial turned away
            continue
        for o in names:
            if o != r:
                load[o] += spill * g[o] / weight
    return {r: 100.0 * load[r] for r in names}


def floor_cap(regions: int) -> int:
    """The highest floor (whole percent) every one of ``regions`` can hold at once: one point
    below an equal split (49 for two regions); 100 for a single region.

    An exact equal-split floor (50% of two regions) leaves no room between the regions'
    floors, and whole-percent dials cannot hit it exactly unless the natural shares are equal
    (found by a property test: natural 5/95, floor 50 served 49.4%). One point below leaves a
    band at least as wide as one dial step."""
    if regions <= 1:
        return 100
    return 100 // regions - 1


def effective_floor(floor_percent: float, regions: int) -> float:
    """The floor that applies to each of ``regions`` regions: ``floor_percent`` capped by
    :func:`floor_cap`."""
    return min(float(floor_percent), float(floor_cap(regions)))


def below_floor(
    dials: Mapping[str, float], natural: Mapping[str, float], floor_percent: float
) -> dict[str, float]:
    """The regions that would serve less than the effective floor, with the load (percent)
    each would serve; empty when every region holds it (always so for a single region)."""
    if len(dials) < 2:
        return {}
    floor = effective_floor(floor_percent, len(dials))
    return {
        r: load
        for r, load in sorted(region_loads(dials, natural).items())
        if load + EPSILON < floor
    }


def dial_for_floor(floor_percent: float, natural_share: float) -> int:
    """The smallest whole dial that keeps a region with ``natural_share`` (percent) at
    ``floor_percent`` while the other region's dial is 100 (so nothing spills to it)."""
    if natural_share <= 0:
        return 100
    return min(100, max(0, math.ceil(floor_percent * 100.0 / natural_share - EPSILON)))


def dials_for_shares(
    shares: Mapping[str, int], natural: Mapping[str, float], floor: int = 0
) -> dict[str, int]:
    """Global Accelerator dials (whole numbers) that give ``shares`` (percent) with ``natural``
    shares, for one or two regions.

    Only the region that must lose traffic gets a dial below 100. Dials are whole numbers, so
    one of the two regions gets a little more than its share: the dial is rounded *up* (the
    shed region keeps at least its share: a floor of f% at natural share g needs ``f/g``),
    unless that would leave the other region under ``floor`` - then it is rounded down."""
    names = sorted(natural)
    if len(names) == 1:
        return {names[0]: 100}
    dials = {r: 100 for r in names}
    for r in names:
        g = natural[r]
        if shares[r] < g - EPSILON:
            exact = shares[r] * 100.0 / g
            dial = math.ceil(exact - EPSILON)
            other = next(o for o in names if o != r)
            if region_loads({r: dial, other: 100}, natural)[other] < floor - EPSILON:
                dial = math.floor(exact + EPSILON)
            dials[r] = min(100, max(0, dial))
    return dials


def whole_shares(loads: Mapping[str, float], total: int = 100) -> dict[str, int]:
    """Whole numbers proportional to ``loads`` adding up to ``total`` (largest remainder; ties
    by region name, so the result is deterministic)."""
    names = sorted(loads)
    if not names:
        return {}
    s = sum(max(0.0, loads[r]) for r in names)
    raw = {r: total * max(0.0, loads[r]) / s if s > 0 else total / len(names) for r in names}
    out = {r: math.floor(raw[r] + EPSILON) for r in names}
    left = total - sum(out.values())
    for r in sorted(names, key=lambda r: (-(raw[r] - out[r]), r))[: max(0, left)]:
        out[r] += 1
    return out


def route53_weights(dials: Mapping[str, float], natural: Mapping[str, float]) -> dict[str, int]:
    """Route53 weights (whole numbers adding to 100) that send each region what ``dials``
    would send it through Global Accelerator (:func:`region_loads`).

    A weighted record's share is its weight over the sum of the weights, so with the loads as
    weights a dial means the same in both traffic modes: the program's weighted records, the
    floor policy and the controller's Route53 writes all use this one mapping."""
    return whole_shares(region_loads(dials, natural))
