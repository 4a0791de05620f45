"""The drill's scenarios, the runner that samples the lab every second, and the report.

Each scenario is a short script over :class:`DrillRun` (warm up, induce, wait until something
is seen or a cap passes, ...) and ends by itself. Every wait is bounded; the whole run is
bounded by the run's deadline.

- ``induced-latency``: the slow region gets +300 ms (the sprint plan's ``induce_latency.sh
  --region us-west-2 --ms 300``); ends once traffic moved, settled and an alert arrived.
- ``error-burst``: 5% of the region's requests fail; same ending.
- ``recovery``: a latency fault until traffic moved, then the fault is removed; ends when the
  weights are back at the natural split.
- ``metrics-outage``: Prometheus stops for 60 s and the region slows down 10 s into the
  outage: the controller cannot see it and must hold; after the restart it steers.
- ``pin``: during a fault an operator pins all traffic away from the region for 1 minute;
  at expiry automation resumes (the floor comes back at once).
"""

from __future__ import annotations

import math
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from summit_platform.automation.errors import UserError
from summit_platform.automation.traffic import files
from summit_platform.automation.traffic.drill import evidence as ev
from summit_platform.automation.traffic.drill import report, twin
from summit_platform.automation.traffic.drill.lab import Lab
from summit_platform.automation.traffic.haproxy import BACKEND, HAProxyError
from summit_platform.components.render.durations import DurationError, parse_duration
from summit_platform.components.render.prometheus_rules import (
    STEERING_ERROR_RATIO,
    STEERING_P95,
    ServiceRules,
)

TICK_S = 1.0
WARMUP_MIN_S = 30.0
WARMUP_CAP_S = 120.0
STEER_GOAL_S = 60.0
STEER_LIMIT_S = 120.0
SETTLE_S = 30.0
FAULT_CAP_S = 150.0
OUTAGE_S = 60.0
PIN_TTL = "1m"
TWIN_SCENARIOS = ("induced-latency", "error-burst")
"""Scenarios the simulator can replay with the same settings (one fault, metrics up)."""


@dataclass(frozen=True)
class Fault:
    """What the knob does to one region: extra latency and/or a share of failing requests."""

    region: str
    latency_ms: float = 0.0
    error_pct: float = 0.0

    def describe(self) -> str:
        parts = []
        if self.latency_ms:
            parts.append(f"+{self.latency_ms:g} ms")
        if self.error_pct:
            parts.append(f"{self.error_pct:g}% errors")
        return f"{self.region}: {', '.join(parts) or 'no fault'}"


_INDUCE = re.compile(r"^(?P<region>[a-z0-9-]+):(?P<spec>.+)$")


def parse_induce(text: str, regions: list[str]) -> Fault:
    """``us-west-2:latency=300ms``, ``us-west-2:errors=5%`` or both, comma-separated."""
    key = "--induce"
    m = _INDUCE.match(text.strip())
    if not m or m["region"] not in regions:
        raise UserError(
            f"expected REGION:latency=300ms or REGION:errors=5% with REGION one of {regions},"
            f" found {text!r}",
            key=key,
        )
    latency, errors = 0.0, 0.0
    for part in m["spec"].split(","):
        name, sep, value = part.strip().partition("=")
        if name == "latency" and sep:
            try:
                latency = parse_duration(value, allow_zero=True) * 1000.0
            except DurationError as err:
                raise UserError(f"latency: {err}", key=key) from None
        elif name == "errors" and sep and value.endswith("%"):
            number = value[:-1]
            if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", number) or not 0 <= float(number) <= 100:
                raise UserError(f"errors: expected a percentage 0..100%, found {value!r}", key=key)
            errors = float(number)
        else:
            raise UserError(
                f"expected latency=DURATION or errors=PERCENT%, found {part!r}", key=key
            )
    if latency > 30_000:
        raise UserError(f"latency: at most 30s (the lab's timeouts), found {latency:g} ms", key=key)
    return Fault(m["region"], latency, errors)


@dataclass(frozen=True)
class ScenarioSpec:
    """A scenario's name, what it shows, its default fault and its longest run."""

    name: str
    description: str
    fault: Callable[[str], Fault]
    cap_s: float
    """Upper bound of the scenario after warm-up (the run's deadline adds start-up)."""


SCENARIOS: dict[str, ScenarioSpec] = {
    s.name: s
    for s in (
        ScenarioSpec(
            "induced-latency",
            "+300 ms on every request of the slow region",
            lambda r: Fault(r, latency_ms=300),
            FAULT_CAP_S + 10,
        ),
        ScenarioSpec(
            "error-burst",
            "5% of the slow region's requests fail",
            lambda r: Fault(r, error_pct=5),
            FAULT_CAP_S + 10,
        ),
        ScenarioSpec(
            "recovery",
            "+300 ms until traffic moves, then the fault is removed",
            lambda r: Fault(r, latency_ms=300),
            FAULT_CAP_S + 420,
        ),
        ScenarioSpec(
            "metrics-outage",
            "Prometheus stops for 60 s; the region slows down (+300 ms) while it is down",
            lambda r: Fault(r, latency_ms=300),
            OUTAGE_S + FAULT_CAP_S + 20,
        ),
        ScenarioSpec(
            "pin",
            "+300 ms, then an operator pins the region to 0% for 1 minute",
            lambda r: Fault(r, latency_ms=300),
            FAULT_CAP_S + 120,
        ),
    )
}


class DrillTimeout(Exception):
    """The run's deadline passed (the lab is stopped all the same)."""


class DrillRun:
    """Drives one scenario against a started :class:`Lab`, sampling it every second."""

    def __init__(
        self,
        lab: Lab,
        record: ev.Record,
        *,
        deadline: float,
        log: Callable[[str], None] = lambda _m: None,
    ):
        self.lab = lab
        self.rec = record
        self.deadline = deadline
        self.log = log
        self.http = requests.Session()
        self._last_alerts = 0

    # -- sampling

    def tick(self) -> None:
        """One sample of HAProxy, Prometheus, the controller log and the alerts."""
        now = time.time()
        try:
            rows = self.lab.admin.show_stat()
            servers = {
                r["svname"]: r
                for r in rows
                if r.get("pxname") == BACKEND and r["svname"] != "BACKEND"
            }
            self.rec.haproxy.append(
                {
                    "at": now,
                    "lbtot": {r: int(servers[r]["lbtot"] or 0) for r in self.rec.regions},
                    "weight": {r: int(servers[r]["weight"] or 0) for r in self.rec.regions},
                }
            )
        except (HAProxyError, KeyError, ValueError) as err:
            self.log(f"haproxy sample failed: {err}")
        self.rec.prometheus.append({"at": now, **self._prometheus()})
        self.rec.decisions = ev.decisions_from_log(self.lab.controller_log)
        if self.lab.sink is not None:
            self.rec.alerts = self.lab.sink.snapshot()
            for a in self.rec.alerts[self._last_alerts :]:
                self.log(f"alert {a['name']} {a['status']} {a['labels'].get('slo_name', '')}")
            self._last_alerts = len(self.rec.alerts)

    def _query(self, expr: str) -> dict[str, float]:
        url = f"{self.lab.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        doc = self.http.get(url, timeout=2).json()
        out = {}
        for s in doc.get("data", {}).get("result", []):
            region = s.get("metric", {}).get("region")
            value = float(s["value"][1])
            if region and math.isfinite(value):
                out[region] = value
        return out

    def _prometheus(self) -> dict[str, Any]:
        if not self.lab.sup.running("prometheus"):
            return {"error": "prometheus stopped"}
        try:
            return {
                "p95": self._query(f"max by (region) ({STEERING_P95})"),
                "err": self._query(f"max by (region) ({STEERING_ERROR_RATIO})"),
            }
        except (requests.RequestException, ValueError) as err:
            return {"error": f"{type(err).__name__}: {err}"}

    def wait(self, seconds: float, until: Callable[[], bool] | None = None) -> bool:
        """Sample until ``until()`` holds (True) or ``seconds`` pass (False)."""
        end = time.time() + seconds
        while True:
            started = time.time()
            if started > self.deadline:
                raise DrillTimeout(f"the run's deadline passed during {self.rec.events}")
            self.tick()
            for name in ("controller", "locust"):
                if name in self.lab.sup.children and not self.lab.sup.running(name):
                    raise RuntimeError(f"{name} exited early (see {self.lab.run_dir}/logs)")
            if until is not None and until():
                return True
            if time.time() >= end:
                return False
            time.sleep(max(0.0, TICK_S - (time.time() - started)))

    # -- moments

    def mark(self, name: str) -> float:
        at = time.time()
        self.rec.events[name] = at
        self.log(f"{name} (t={at - self.rec.started_at:.0f}s)")
        return at

    def induce(self, fault: Fault) -> None:
        self.lab.set_fault(fault.region, latency_ms=fault.latency_ms, error_pct=fault.error_pct)
        self.rec.fault = {
            "region": fault.region,
            "latencyMs": fault.latency_ms,
            "errorPct": fault.error_pct,
            "description": fault.describe(),
        }
        self.mark("fault_at")

    def clear(self, fault: Fault) -> None:
        self.lab.set_fault(fault.region)
        self.mark("fault_cleared_at")

    # -- what has been seen

    def controller_ready(self) -> bool:
        healthy = [d for d in self.rec.decisions if not d.get("failStatic")]
        return len(healthy) >= 2 and bool(ev.served_shares(self.rec.haproxy, self.rec.regions))

    def steered_at(self, region: str) -> float | None:
        fault_at = self.rec.events.get("fault_at")
        if fault_at is None:
            return None
        return ev.steering_times(self.rec, region, fault_at)["steered_at"]

    def alert_received(self) -> bool:
        return any(a.get("status") == "firing" for a in self.rec.alerts)

    def weights_natural(self) -> bool:
        if not self.rec.haproxy:
            return False
        w = self.rec.haproxy[-1]["weight"]
        return len(set(w.values())) == 1

    def warmup(self) -> None:
        """At least 30 s of healthy load, and until the controller has read healthy samples."""
        self.mark("warmup_at")
        self.wait(WARMUP_MIN_S)
        if not self.wait(WARMUP_CAP_S - WARMUP_MIN_S, self.controller_ready):
            raise RuntimeError(
                "the controller never read healthy samples during warm-up "
                f"(see {self.lab.run_dir}/logs and controller.jsonl)"
            )


# --------------------------------------------------------------------------- the scripts


def _other(run: DrillRun, region: str) -> str:
    return next(r for r in run.rec.regions if r != region)


def _settled(run: DrillRun, region: str, settle_s: float, need_alert: bool) -> Callable[[], bool]:
    def done() -> bool:
        at = run.steered_at(region)
        settled = at is not None and time.time() - at >= settle_s
        return settled and (run.alert_received() or not need_alert)

    return done


def script_breach(run: DrillRun, fault: Fault) -> None:
    """induced-latency and error-burst: fault, then wait for the steer, the settle and an alert."""
    run.warmup()
    run.induce(fault)
    run.wait(FAULT_CAP_S, _settled(run, fault.region, SETTLE_S, need_alert=True))


def script_recovery(run: DrillRun, fault: Fault) -> None:
    """Fault until traffic moved and settled 20 s, then remove it; wait for the natural split."""
    run.warmup()
    run.induce(fault)
    run.wait(FAULT_CAP_S, _settled(run, fault.region, 20.0, need_alert=False))
    run.clear(fault)
    t = run.lab.cfg.traffic
    loop_s = parse_duration(run.lab.settings.loop_interval)
    steps = math.ceil(100 / t.step_percent)
    # the 1-minute window must empty of slow requests, then the hold, then the steps
    cap = 120 + (t.recovery_hold + steps) * loop_s + 60
    natural_since: dict[str, float] = {}

    def back() -> bool:
        if not run.weights_natural():
            natural_since.clear()
            return False
        since = natural_since.setdefault("at", time.time())
        return time.time() - since >= 15

    run.wait(cap, back)


def script_outage(run: DrillRun, fault: Fault) -> None:
    """Prometheus down 60 s, the fault starts 10 s into it; then Prometheus comes back."""
    run.warmup()
    run.lab.stop_prometheus()
    run.mark("outage_at")
    run.wait(10)
    run.induce(fault)
    run.wait(OUTAGE_S - 10)
    run.lab.start_prometheus()
    run.mark("restored_at")
    run.wait(FAULT_CAP_S, _settled(run, fault.region, 10.0, need_alert=False))


def script_pin(run: DrillRun, fault: Fault) -> None:
    """Fault; once traffic moved, pin the region to 0% for a minute; watch the expiry."""
    run.warmup()
    run.induce(fault)
    run.wait(FAULT_CAP_S, _settled(run, fault.region, 10.0, need_alert=False))
    shares = {fault.region: 0, _other(run, fault.region): 100}
    run.lab.pin(shares, reason=f"drill: {fault.describe()}", ttl=PIN_TTL)
    pin_at = run.mark("pin_at")
    run.rec.events["pin_expires_at"] = pin_at + parse_duration(PIN_TTL)
    run.wait(parse_duration(PIN_TTL) + 30)


SCRIPTS: dict[str, Callable[[DrillRun, Fault], None]] = {
    "induced-latency": script_breach,
    "error-burst": script_breach,
    "recovery": script_recovery,
    "metrics-outage": script_outage,
    "pin": script_pin,
}


# --------------------------------------------------------------------------- one run


@dataclass
class Outcome:
    """A finished run: the report (``None`` when the lab never started) and the record."""

    report: dict[str, Any]
    record: ev.Record


def run_drill(
    lab: Lab,
    scenario: str,
    fault: Fault,
    *,
    timeout_s: float,
    log: Callable[[str], None] = lambda _m: None,
) -> Outcome:
    """Start ``lab``, play ``scenario`` with ``fault``, stop everything, build the report.

    The lab is closed in ``finally``: an exception, SIGINT or SIGTERM (raised as
    ``KeyboardInterrupt``/``SystemExit`` by the CLI's handlers) stops every process first."""
    spec = SCENARIOS[scenario]
    policy = files.policy_from_config(lab.cfg, str(lab.project / f"Pulumi.{lab.stack}.yaml"))
    rec = ev.Record(
        regions=lab.regions,
        natural=dict(policy.natural),
        floor=policy.floor,
        p95_threshold_s=policy.p95_seconds,
        error_threshold=policy.error_ratio,
    )
    started = time.time()
    try:
        lab.start(load_seconds=int(timeout_s) + 30)
        rec.started_at = time.time()
        log(f"lab ready in {rec.started_at - started:.0f}s: {lab.run_dir / 'lab.json'}")
        run = DrillRun(lab, rec, deadline=started + timeout_s, log=log)
        try:
            SCRIPTS[scenario](run, fault)
        except DrillTimeout as err:  # the checks say what was not reached
            log(str(err))
            rec.events["deadline_at"] = time.time()
    finally:
        leftovers = lab.close()
        rec.decisions = ev.decisions_from_log(lab.controller_log)
    doc = report.build(
        scenario,
        rec,
        slow=fault.region,
        loop_s=parse_duration(lab.settings.loop_interval),
        leftovers=leftovers,
    )
    doc["description"] = spec.description
    doc["stack"] = lab.stack
    doc["wall_s"] = round(time.time() - started, 1)
    doc["settings"] = settings_doc(lab, policy)
    if scenario in TWIN_SCENARIOS:
        doc["simulator"] = twin.figures(doc)
    return Outcome(doc, rec)


def settings_doc(lab: Lab, policy: Any) -> dict[str, Any]:
    """What the run used: the lab's intervals and baselines, the controller's policy."""
    s = lab.settings
    return {
        "scrape_interval_s": s.scrape_interval_s,
        "rule_interval_s": s.rule_interval_s,
        "steering_rule_interval": ServiceRules(service="-", region="-").steering_interval,
        "loop_interval": s.loop_interval,
        "baseline_ms": dict(s.baseline_ms),
        "users": s.users,
        "p95_threshold_s": policy.p95_seconds,
        "error_ratio_threshold": policy.error_ratio,
        "breach_hold": policy.breach_hold,
        "recovery_hold": policy.recovery_hold,
        "step_percent": policy.step_percent,
        "floor_percent": policy.floor,
    }
