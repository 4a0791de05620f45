"""The drill's JSON report and its checks (pure: a :class:`Record` in, a dict out).

Keys a reader can rely on: ``scenario``, ``fault_at``, ``time_to_steer_s``, ``flaps``,
``min_share`` (per region), ``alerts`` (``[{name, at, ...}]``), ``breach_visible_at``,
``decided_at``, ``applied_at``, ``steered_at``, ``served_share`` (over time, from HAProxy's
counters), ``checks`` (each ``{ok, detail}``) and ``ok``. Times are unix seconds; ``t`` in the
series is seconds since the lab started.
"""

from __future__ import annotations

from typing import Any

from summit_platform.automation.traffic.drill import evidence as ev

STEER_LIMIT_S = 120.0
"""The acceptance limit for time to steer (the goal is 60 s)."""


def _check(ok: bool, detail: str) -> dict[str, Any]:
    return {"ok": bool(ok), "detail": detail}


def _pin_spans(rec: ev.Record, loop_s: float) -> list[tuple[float, float]]:
    if "pin_at" not in rec.events:
        return []
    # the loop applies a pin (and its expiry) at its next evaluation
    return [(rec.events["pin_at"], rec.events["pin_expires_at"] + loop_s)]


def breach_checks(rec: ev.Record, fig: dict[str, Any], slow: str, healthy: str) -> dict:
    """Traffic moved in time, without a flap, the floor held, an alert arrived."""
    tts = fig["time_to_steer_s"]
    floor = rec.floor
    mins = fig["min_share"]
    return {
        "steered_within_limit": _check(
            tts is not None and tts <= STEER_LIMIT_S,
            f"time to steer {tts} s (limit {STEER_LIMIT_S:g} s, goal 60 s)",
        ),
        "no_flaps": _check(fig["flaps"] == 0, f"{fig['flaps']} flaps"),
        "healthy_region_above_floor": _check(
            mins[healthy] is not None and mins[healthy] >= floor,
            f"{healthy} served at least {mins[healthy]}% (floor {floor}%)",
        ),
        "slow_region_above_floor": _check(
            mins[slow] is not None and mins[slow] >= floor - ev.SHARE_TOLERANCE,
            f"{slow} served at least {mins[slow]}% (floor {floor}%, "
            f"tolerance {ev.SHARE_TOLERANCE:g} points)",
        ),
        "alert_received": _check(
            any(a["status"] == "firing" for a in rec.alerts),
            f"{sum(a['status'] == 'firing' for a in rec.alerts)} firing alerts received",
        ),
    }


def recovery_checks(rec: ev.Record, fig: dict[str, Any], slow: str) -> dict:
    last = ev.served_shares(rec.haproxy, rec.regions)[-1:]
    share = round(last[0]["shares"][slow], 1) if last else None
    natural = rec.natural[slow]
    return {
        "steered": _check(fig["time_to_steer_s"] is not None, f"{fig['time_to_steer_s']} s"),
        "back_to_natural": _check(
            fig.get("restored_at") is not None and share is not None and abs(share - natural) <= 3,
            f"weights natural again {fig.get('time_to_restore_s')} s after the fault ended; "
            f"{slow} serves {share}% at the end (natural {natural:g}%)",
        ),
        "no_flaps": _check(fig["flaps"] == 0, f"{fig['flaps']} flaps"),
    }


def outage_checks(rec: ev.Record, fig: dict[str, Any]) -> dict:
    start, end = rec.events["outage_at"], rec.events["restored_at"]
    weights = ev.weights_during(rec, start, end)
    during = [d for d in rec.decisions if start + 1 <= d["at"] <= end]
    held = [d for d in during if d.get("failStatic") and d["action"] == "hold"]
    after = [d for d in rec.decisions if d["at"] > end and not d.get("failStatic")]
    return {
        "no_weight_change_while_down": _check(
            len(weights) == 1, f"HAProxy weights while Prometheus was down: {sorted(weights)}"
        ),
        "controller_held": _check(
            bool(during) and len(held) == len(during),
            f"{len(held)} of {len(during)} evaluations during the outage were fail-static holds",
        ),
        "resumed_after_restart": _check(
            bool(after), f"{len(after)} evaluations with metrics after Prometheus came back"
        ),
    }


def pin_checks(rec: ev.Record, slow: str, healthy: str, loop_s: float) -> dict:
    pin_at, expires = rec.events["pin_at"], rec.events["pin_expires_at"]
    served = ev.served_shares(rec.haproxy, rec.regions)
    pinned = [
        x["shares"][slow]
        for x in served
        if pin_at + loop_s + ev.SHARE_WINDOW_S + 1 <= x["at"] <= expires
    ]
    after = [
        x["shares"][slow]
        for x in served
        if expires + loop_s + ev.SHARE_WINDOW_S + 1 <= x["at"] <= expires + 30
    ]
    mins = ev.min_shares(rec, exclude=_pin_spans(rec, loop_s))
    low = mins[healthy]
    return {
        "pin_served": _check(
            bool(pinned) and max(pinned) <= 1.0,
            f"{slow} served at most {max(pinned, default=None)}% while pinned to 0%",
        ),
        "floor_back_after_expiry": _check(
            bool(after) and min(after) >= rec.floor - ev.SHARE_TOLERANCE,
            f"{slow} served at least {min(after, default=None)}% after the pin expired",
        ),
        "healthy_region_above_floor": _check(
            low is not None and low >= rec.floor, f"{healthy} served at least {low}%"
        ),
    }


def _restored(rec: ev.Record) -> tuple[float | None, float | None]:
    cleared = rec.events.get("fault_cleared_at")
    if cleared is None:
        return None, None
    back = ev.first_at(
        ev.weight_shares(rec.haproxy, rec.regions),
        lambda x: all(abs(x["shares"][r] - rec.natural[r]) < 0.5 for r in rec.regions),
        cleared,
    )
    return back, None if back is None else round(back - cleared, 1)


def figures(rec: ev.Record, slow: str, loop_s: float) -> dict[str, Any]:
    fault_at = rec.events.get("fault_at")
    times = (
        ev.steering_times(rec, slow, fault_at)
        if fault_at is not None
        else dict.fromkeys(("breach_visible_at", "decided_at", "applied_at", "steered_at"))
    )
    restored_at, ttr = _restored(rec)
    return {
        "fault_at": fault_at,
        **times,
        "time_to_steer_s": times.get("time_to_steer_s"),
        "restored_at": restored_at,
        "time_to_restore_s": ttr,
        "flaps": ev.flaps(rec),
        "min_share": ev.min_shares(rec, exclude=_pin_spans(rec, loop_s)),
    }


def build(
    scenario: str, rec: ev.Record, *, slow: str, loop_s: float, leftovers: list[str]
) -> dict[str, Any]:
    """The report of one run: figures, alerts, series and the scenario's checks."""
    healthy = next(r for r in rec.regions if r != slow)
    fig = figures(rec, slow, loop_s)
    needs = {"metrics-outage": "restored_at", "pin": "pin_at"}.get(scenario, "fault_at")
    if needs not in rec.events:  # the run's deadline ended it early
        checks = {"scenario_finished": _check(False, f"the run ended before {needs}")}
    elif scenario in ("induced-latency", "error-burst"):
        checks = breach_checks(rec, fig, slow, healthy)
    elif scenario == "recovery":
        checks = recovery_checks(rec, fig, slow)
    elif scenario == "metrics-outage":
        checks = outage_checks(rec, fig)
    else:
        checks = pin_checks(rec, slow, healthy, loop_s)
    checks["controller_ran"] = _check(bool(rec.decisions), f"{len(rec.decisions)} evaluations")
    checks["no_process_left"] = _check(not leftovers, f"still running: {leftovers}")
    fault_at = fig["fault_at"]
    alerts = [
        {
            "name": a["name"],
            "at": a["at"],
            "t_from_fault_s": None if fault_at is None else round(a["at"] - fault_at, 1),
            "status": a["status"],
            "labels": a["labels"],
        }
        for a in rec.alerts
    ]
    return {
        "scenario": scenario,
        "slow_region": slow,
        "fault": rec.fault,
        "started_at": rec.started_at,
        "events": {k: round(v, 3) for k, v in sorted(rec.events.items())},
        **fig,
        "alerts": alerts,
        "floor": rec.floor,
        "natural": rec.natural,
        "served_rps": ev.served_rps(rec),
        **ev.series(rec),
        "processes_left": leftovers,
        "checks": checks,
        "ok": all(c["ok"] for c in checks.values()),
    }
