"""The traffic loop's Prometheus metrics and its health endpoint.

``summit traffic run --metrics-port PORT`` serves ``/metrics`` (the names are the contract in
:mod:`summit_platform.components.render.traffic_controller`, read by the traffic dashboard and the "no leader
acts" alert) and ``/healthz`` (200 while the loop finishes turns, 503 once it has not for
three intervals and at least 30 s: the pod's liveness probe restarts a stuck loop).

A follower exports what the lease table says (the leader's last shares, dials and apply
time), so every region's Prometheus sees the same picture whichever controller leads.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

from summit_platform.components.render import traffic_controller as tc


class ControllerMetrics:
    """One controller's metrics in its own registry (tests create several per process)."""

    def __init__(self, holder: str, region: str, interval_s: float):
        self.holder = holder
        self.region = region
        self.stale_after_s = max(3 * interval_s, 30.0)
        self.registry = CollectorRegistry()
        r = self.registry
        self.share = Gauge(
            tc.METRIC_SHARE,
            "Share of traffic (percent) of the last decision.",
            ["region"],
            registry=r,
        )
        self.dial = Gauge(
            tc.METRIC_DIAL, "Dial (percent) of the last decision.", ["region"], registry=r
        )
        self.breaching = Gauge(
            tc.METRIC_BREACHING,
            "1 while the last evaluation saw the region breach.",
            ["region"],
            registry=r,
        )
        self.decisions = Counter(
            tc.METRIC_DECISIONS, "Turns by decision kind.", ["action"], registry=r
        )
        self.leader = Gauge(
            tc.METRIC_LEADER,
            "1 while this controller holds the lease.",
            ["holder", "region"],
            registry=r,
        )
        self.token = Gauge(
            tc.METRIC_FENCING_TOKEN, "The lease's fencing token as last seen.", registry=r
        )
        self.last_apply = Gauge(
            tc.METRIC_LAST_APPLY, "When a leader last made its decision real (unix s).", registry=r
        )
        self.last_turn = Gauge(
            tc.METRIC_LAST_EVALUATION,
            "When this controller last finished a turn (unix s).",
            registry=r,
        )
        self.source_errors = Counter(
            tc.METRIC_SOURCE_ERRORS,
            "Turns whose metrics source failed (fail-static).",
            ["holder"],
            registry=r,
        )
        self._last_turn_at = time.time()
        self._server: ThreadingHTTPServer | None = None

    def observe(
        self,
        line: dict[str, Any],
        *,
        decision: dict[str, Any] | None,
        token: int | None,
        last_applied_at: float | None,
    ) -> None:
        """Record one turn: its line, the decision in force (this turn's, or the leader's last
        one from the table), the fencing token and the last apply time."""
        self.decisions.labels(action=str(line.get("action", "unknown"))).inc()
        self.leader.labels(holder=self.holder, region=self.region).set(
            1 if line.get("leader") else 0
        )
        if "sourceError" in line:
            self.source_errors.labels(holder=self.holder).inc()
        for r in (decision or {}).get("regions", []):
            self.share.labels(region=r["region"]).set(r["weight"])
            self.dial.labels(region=r["region"]).set(r["dial"])
            self.breaching.labels(region=r["region"]).set(1 if r.get("breaching") else 0)
        if token is not None:
            self.token.set(token)
        if last_applied_at is not None:
            self.last_apply.set(last_applied_at)
        self._last_turn_at = time.time()
        self.last_turn.set(self._last_turn_at)

    def healthy(self) -> bool:
        return time.time() - self._last_turn_at <= self.stale_after_s

    def serve(self, port: int, host: str = "0.0.0.0") -> int:
        """Serve /metrics and /healthz on a daemon thread; returns the port (0 picks one)."""
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/healthz":
                    ok = metrics.healthy()
                    self._send(200 if ok else 503, b"ok\n" if ok else b"stale\n", "text/plain")
                elif self.path.split("?")[0] == "/metrics":
                    self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # the decision log is the log
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()
        return int(self._server.server_address[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
