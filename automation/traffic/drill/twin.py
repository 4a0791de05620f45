"""The simulator run with a drill's settings, and how far the two may disagree.

The simulator (:mod:`summit_platform.automation.traffic.simulator`) drives the same controller over simulated
time but reads its 1-minute windows directly, so it has none of the real path's delays. For the
same settings (the lab's baselines, fault, load, loop interval and decision rules; HAProxy
applies in milliseconds, so no apply latency) the drill's time to steer is the simulator's plus:

- up to one scrape interval (the first slow requests wait for the next scrape, 15 s),
- up to one steering-rule interval (the recorded p95 changes every 10 s),
- up to the served-share window (the share is read over the trailing 5 s),

so ``drill - simulator`` lies in ``[-TOLERANCE_BELOW_S, scrape + rule + window + slack]``.
"""

from __future__ import annotations

import math
from typing import Any

from summit_platform.automation.traffic import simulator as sim
from summit_platform.automation.traffic.drill.evidence import SHARE_WINDOW_S
from summit_platform.components.render.durations import parse_duration

STEERING_RULE_INTERVAL_S = 10.0
"""The steering group's evaluation interval in the rendered rules."""
SLACK_S = 5.0
"""One loop interval of slack for where an evaluation falls."""
TOLERANCE_BELOW_S = 5.0
"""The drill may beat the simulator by up to one loop interval (evaluation phase)."""


def tolerance(report: dict[str, Any]) -> tuple[float, float]:
    """``(lowest, highest)`` allowed for ``drill - simulator`` time to steer, in seconds."""
    scrape = float(report["settings"]["scrape_interval_s"])
    return -TOLERANCE_BELOW_S, scrape + STEERING_RULE_INTERVAL_S + SHARE_WINDOW_S + SLACK_S


def _rps(report: dict[str, Any]) -> float:
    """Requests per second HAProxy sent over the run (from its own counters)."""
    rps = report.get("served_rps")
    return float(rps) if rps else 40.0


def figures(report: dict[str, Any], *, seed: int = 7) -> dict[str, Any]:
    """The simulator's figures for the drill's settings (one fault, as the drill had it)."""
    s = report["settings"]
    fault = report["fault"]
    regions = sorted(report["natural"])
    profiles = {
        r: sim.RegionProfile(
            p95_seconds=s["baseline_ms"].get(r, 0.0) / 1000.0 or 0.005,
            sigma=0.01,  # the lab's latencies are fixed delays, not a spread
            error_ratio=0.0,
            saturation=0.0,  # the gateway exports no in-flight gauges
        )
        for r in regions
    }
    start = 303.0  # off an evaluation tick, as the simulator's own scenarios
    extra = float(fault.get("latencyMs") or 0.0) / 1000.0
    errors = float(fault.get("errorPct") or 0.0) / 100.0
    scenario = sim.Scenario(
        report["scenario"],
        fault.get("description", ""),
        start + 600,
        (
            sim.Fault(
                fault["region"],
                start,
                600,
                extra_latency_s=extra,
                error_ratio=errors if errors else None,
            ),
        ),
        noise=0.0,
    )
    cfg = sim.SimConfig(
        interval_s=parse_duration(s["loop_interval"]),
        apply_latency_s=0.0,
        rps=_rps(report),
        seed=seed,
        natural=dict(report["natural"]),
        profiles=profiles,
        policy_overrides={
            "floor_percent": float(s["floor_percent"]),
            "p95_seconds": float(s["p95_threshold_s"]),
            "error_ratio": float(s["error_ratio_threshold"]),
            "breach_hold": int(s["breach_hold"]),
            "recovery_hold": int(s["recovery_hold"]),
            "step_percent": int(s["step_percent"]),
        },
    )
    out = sim.run(scenario, cfg).figures
    low, high = tolerance(report)
    drill_tts = report.get("time_to_steer_s")
    sim_tts = out["time_to_steer_s"]
    diff = None if drill_tts is None or sim_tts is None else round(drill_tts - sim_tts, 1)
    return {
        "time_to_steer_s": sim_tts,
        "min_share": out["min_share"],
        "flaps": out["flaps"],
        "drill_minus_simulator_s": diff,
        "tolerance_s": [low, high],
        "agrees": diff is not None and low <= diff <= high and not math.isnan(diff),
    }
