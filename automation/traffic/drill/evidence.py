"""The drill's evidence: what was measured, and the figures and checks computed from it (pure).

Served share comes from HAProxy's own counters, never from the controller: every second the
drill reads ``lbtot`` (times HAProxy picked each server; in HTTP mode, once per request) and
``weight`` from ``show stat``. A region's served share at time ``t`` is its part of the
requests HAProxy sent in the trailing :data:`SHARE_WINDOW_S` seconds.

Times are unix seconds. ``time_to_steer_s`` is the issue's definition: from the induced fault to
the slow region's served share within :data:`STEER_MARGIN` points of the floor. A *flap* is the
simulator's: a region's weight moving away from its natural share again after it had started to
come back (``summit_platform.automation.traffic.simulator``), counted on the weights HAProxy reports.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# One definition of a flap for the simulator and the drill, so their figures compare.
from summit_platform.automation.traffic.simulator import _flaps as count_flaps

SHARE_WINDOW_S = 5.0
"""Trailing window of the served share (about 150 requests at the lab's load)."""
MIN_WINDOW_REQUESTS = 10
"""Fewer requests than this in a window give no share (too coarse to mean anything)."""
STEER_MARGIN = 5.0
"""Steered: the slow region's served share within this many points of the floor."""
SHARE_TOLERANCE = 1.5
"""Points a served share may read below the floor: a 5 s window holds about 200 whole requests
and HAProxy interleaves weighted picks only approximately, so an exact 20% reads 19.1-20.5%."""


@dataclass
class Record:
    """Everything the drill observed (appended by the runner, one sample per second)."""

    regions: list[str]
    natural: dict[str, float]
    floor: int
    p95_threshold_s: float
    error_threshold: float
    started_at: float = 0.0
    haproxy: list[dict[str, Any]] = field(default_factory=list)
    """``{"at", "lbtot": {region: n}, "weight": {region: w}}``"""
    prometheus: list[dict[str, Any]] = field(default_factory=list)
    """``{"at", "p95": {region: s}, "err": {region: ratio}}``, or ``{"at", "error": text}``"""
    decisions: list[dict[str, Any]] = field(default_factory=list)
    """The controller's decision log lines (``summit traffic run`` stdout)."""
    alerts: list[dict[str, Any]] = field(default_factory=list)
    events: dict[str, float] = field(default_factory=dict)
    """Named moments: ``fault_at``, ``fault_cleared_at``, ``outage_at``, ``pin_at`` ..."""
    fault: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- series


def served_shares(
    samples: list[dict[str, Any]], regions: list[str], window_s: float = SHARE_WINDOW_S
) -> list[dict[str, Any]]:
    """``[{"at", "shares": {region: percent}}]`` from cumulative ``lbtot`` counters.

    A counter that goes down (HAProxy restarted) starts the window again."""
    out: list[dict[str, Any]] = []
    j = 0  # the window's first sample only moves forward
    for i, cur in enumerate(samples):
        if i and any(cur["lbtot"][r] < samples[i - 1]["lbtot"][r] for r in regions):
            j = i
        while j < i and samples[j + 1]["at"] <= cur["at"] - window_s:
            j += 1
        if j == i:
            continue
        delta = {r: cur["lbtot"][r] - samples[j]["lbtot"][r] for r in regions}
        total = sum(delta.values())
        if total < MIN_WINDOW_REQUESTS:
            continue
        out.append({"at": cur["at"], "shares": {r: 100.0 * delta[r] / total for r in regions}})
    return out


def weight_shares(samples: list[dict[str, Any]], regions: list[str]) -> list[dict[str, Any]]:
    """``[{"at", "shares"}]``: each region's weight over the sum (what HAProxy is set to serve)."""
    out = []
    for s in samples:
        total = sum(s["weight"][r] for r in regions)
        shares = {r: (100.0 * s["weight"][r] / total if total else math.nan) for r in regions}
        out.append({"at": s["at"], "shares": shares})
    return out


def first_at(
    series: list[dict[str, Any]], pred: Callable[[dict[str, Any]], bool], after: float
) -> float | None:
    """Time of the first item at or after ``after`` that satisfies ``pred``."""
    return next((x["at"] for x in series if x["at"] >= after and pred(x)), None)


def decisions_from_log(path: Path) -> list[dict[str, Any]]:
    """The decision lines of a ``summit traffic run`` log (a torn last line is skipped)."""
    out: list[dict[str, Any]] = []
    if not path.exists():
        return out
    for line in path.read_text(errors="replace").splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "regions" in doc and "at" in doc:
            out.append(doc)
    return out


def _shares_of(decision: Mapping[str, Any]) -> dict[str, int]:
    return {d["region"]: d["weight"] for d in decision["regions"]}


def _dials_of(decision: Mapping[str, Any]) -> dict[str, int]:
    return {d["region"]: d["dial"] for d in decision["regions"]}


def _rel(at: float | None, since: float | None) -> float | None:
    return None if at is None or since is None else round(at - since, 1)


# --------------------------------------------------------------------------- figures


def _breach_visible(rec: Record, slow: str, after: float) -> float | None:
    def breached(x: dict[str, Any]) -> bool:
        p95 = (x.get("p95") or {}).get(slow)
        err = (x.get("err") or {}).get(slow)
        return (p95 is not None and p95 > rec.p95_threshold_s) or (
            err is not None and err > rec.error_threshold
        )

    return first_at(rec.prometheus, breached, after)


def steering_times(rec: Record, slow: str, fault_at: float) -> dict[str, Any]:
    """Fault -> breach visible in Prometheus -> controller decided -> HAProxy applied ->
    served share within the margin of the floor."""
    natural = rec.natural[slow]
    served = served_shares(rec.haproxy, rec.regions)
    weights = weight_shares(rec.haproxy, rec.regions)
    visible = _breach_visible(rec, slow, fault_at)
    decided = next(
        (
            d["at"]
            for d in rec.decisions
            if d["at"] >= fault_at and d.get("changed") and _shares_of(d)[slow] < natural
        ),
        None,
    )
    applied = first_at(weights, lambda x: x["shares"][slow] < natural - 0.5, fault_at)
    steered = first_at(served, lambda x: x["shares"][slow] <= rec.floor + STEER_MARGIN, fault_at)
    return {
        "breach_visible_at": visible,
        "decided_at": decided,
        "applied_at": applied,
        "steered_at": steered,
        "time_to_breach_visible_s": _rel(visible, fault_at),
        "time_to_decide_s": _rel(decided, fault_at),
        "time_to_apply_s": _rel(applied, fault_at),
        "time_to_steer_s": _rel(steered, fault_at),
    }


def min_shares(
    rec: Record, *, exclude: Sequence[tuple[float, float]] = (), since: float | None = None
) -> dict[str, float | None]:
    """Smallest served share per region, skipping windows that overlap ``exclude`` spans
    (an operator's pin is allowed below the floor)."""
    served = served_shares(rec.haproxy, rec.regions)
    out: dict[str, float | None] = {}
    for r in rec.regions:
        values = [
            x["shares"][r]
            for x in served
            if (since is None or x["at"] >= since)
            and not any(a <= x["at"] <= b + SHARE_WINDOW_S for a, b in exclude)
        ]
        out[r] = round(min(values), 1) if values else None
    return out


def flaps(rec: Record) -> int:
    """Flaps on the weights HAProxy reports (the worst region)."""
    weights = weight_shares(rec.haproxy, rec.regions)
    return max(
        (count_flaps([w["shares"][r] for w in weights], rec.natural[r]) for r in rec.regions),
        default=0,
    )


def series(rec: Record) -> dict[str, Any]:
    """The time series of the report, ``t`` in seconds since the lab started."""
    t0 = rec.started_at

    def rel(at: float) -> float:
        return round(at - t0, 2)

    def rounded(values: Mapping[str, Any]) -> dict[str, Any]:
        return {r: None if v is None else round(float(v), 4) for r, v in values.items()}

    return {
        "served_share": [
            {"t": rel(x["at"]), **rounded(x["shares"])}
            for x in served_shares(rec.haproxy, rec.regions)
        ],
        "weights": [{"t": rel(x["at"]), **x["weight"]} for x in rec.haproxy],
        "p95_s": [
            {"t": rel(x["at"]), **rounded(x.get("p95") or {})}
            for x in rec.prometheus
            if "error" not in x
        ],
        "error_ratio": [
            {"t": rel(x["at"]), **rounded(x.get("err") or {})}
            for x in rec.prometheus
            if "error" not in x
        ],
        "decisions": [
            {
                "t": rel(d["at"]),
                "action": d["action"],
                "changed": d.get("changed", False),
                "failStatic": d.get("failStatic", False),
                "shares": _shares_of(d),
                "dials": _dials_of(d),
                "reason": d.get("reason", ""),
                **({"sourceError": d["sourceError"]} if "sourceError" in d else {}),
                **({"apply": d["apply"]} if "apply" in d else {}),
            }
            for d in rec.decisions
        ],
    }


def served_rps(rec: Record) -> float | None:
    """Requests per second HAProxy sent to the regions over the whole run."""
    if len(rec.haproxy) < 2:
        return None
    first, last = rec.haproxy[0], rec.haproxy[-1]
    span = last["at"] - first["at"]
    total = sum(last["lbtot"][r] - first["lbtot"][r] for r in rec.regions)
    return round(total / span, 1) if span > 0 and total >= 0 else None


def weights_during(rec: Record, start: float, end: float) -> set[tuple[tuple[str, int], ...]]:
    """The distinct weight settings HAProxy reported between ``start`` and ``end``."""
    return {tuple(sorted(s["weight"].items())) for s in rec.haproxy if start <= s["at"] <= end}
