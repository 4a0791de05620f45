"""A small, real HTTP service standing in for the gateway: budgeted endpoints plus metrics.

It serves ``/healthz``, ``/search``, ``/ingest``, ``/users/{id}``, ``/orders`` (GET, POST),
``/catalog``, ``/cart``, ``/checkout``, ``/recommendations`` and exports Prometheus metrics at
``/metrics``, among them the histogram ``http_server_request_duration_seconds`` labelled
``service`` (default ``gateway``), ``region`` (``$SUMMIT_REGION``, default ``us-east-1``) and
``code``. Requests to ``/metrics`` itself are not observed.

Faults, for tests that must see a regression or an error burst:

- ``SUMMIT_INJECT_LATENCY_MS="/search=300,/ingest=50"`` sleeps that long in those routes;
- ``SUMMIT_INJECT_ERROR_PCT="/checkout=20"`` answers 500 to that share of requests
  (deterministically: every 5th request at 20 %).

Keys are route templates (``/users/{id}``), literal paths, or ``*`` for every route.

Faults can also change while the server runs (the traffic drill's knob):
``GatewayApp.set_faults(...)`` in-process, or ``--admin-port N``, which serves ``GET /faults``
and ``PUT /faults`` with ``{"latencyMs": {"*": 300}, "errorPct": {"/checkout": 20}}`` on a
second socket (127.0.0.1 only, never the serving port: whoever can reach it can slow the
service down). A PUT replaces both tables; a missing key clears that table.

Use it in-process::

    from summit_platform.apps.gateway.app import start
    with start(port=0) as gw:          # 0 = a free port on 127.0.0.1
        urllib.request.urlopen(gw.url + "/search?q=x")

or as a process: ``python -m summit_platform.apps.gateway.app --port 8080 --region us-west-2`` (prints
``listening on URL`` and, with ``--admin-port``, ``admin on URL``). Each server has its own
metrics registry, so several can run in one process.

The histogram's buckets include the project's latency thresholds (0.25 s, 1 s, 1.5 s, 2 s):
the latency SLI reads the bucket whose bound equals ``slo.latencyThresholdMs``, and
prometheus_client's default buckets have no 1.5 s bound (the production threshold).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

LATENCY_ENV = "SUMMIT_INJECT_LATENCY_MS"
ERROR_ENV = "SUMMIT_INJECT_ERROR_PCT"
REGION_ENV = "SUMMIT_REGION"
DEFAULT_REGION = "us-east-1"
DEFAULT_SERVICE = "gateway"
METRIC = "http_server_request_duration_seconds"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0)
"""Histogram bounds (seconds); ``+Inf`` is added by the client."""
ANY_ROUTE = "*"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
"""Method label values the request counter keeps; any other method counts as ``OTHER``."""
ADMIN_HOSTS = ("127.0.0.1", "::1", "localhost")

_CATALOG: list[dict[str, Any]] = [
    {"sku": f"SKU-{i:04d}", "title": f"Item {i}", "price_cents": 100 + (i * 37) % 9000}
    for i in range(500)
]


def parse_fault_spec(spec: str | None, env: str = LATENCY_ENV) -> dict[str, float]:
    """``"/search=300,/ingest=50"`` -> ``{"/search": 300.0, "/ingest": 50.0}``.

    Raises ValueError naming the variable and the part that does not fit."""
    out: dict[str, float] = {}
    for raw in (spec or "").split(","):
        part = raw.strip()
        if not part:
            continue
        route, sep, value = part.partition("=")
        route = route.strip()
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not sep or not (route.startswith("/") or route == ANY_ROUTE) or not number >= 0:
            raise ValueError(f"{env}: expected '/route=NUMBER[,/route=NUMBER...]', found {part!r}")
        out[route] = number
    return out


def fault_table(value: Any, key: str) -> dict[str, float]:
    """A fault table from JSON (``{"*": 300}``): routes or ``*`` to finite numbers >= 0.

    Raises ValueError naming ``key`` and the entry that does not fit."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{key}: expected an object of route -> number, found {value!r:.60}")
    out: dict[str, float] = {}
    for route, number in value.items():
        ok_route = isinstance(route, str) and (route.startswith("/") or route == ANY_ROUTE)
        ok_number = isinstance(number, int | float) and not isinstance(number, bool)
        if not ok_route or not ok_number or not 0 <= float(number) < 1e9:
            raise ValueError(
                f"{key}: expected '/route' or '*' mapped to a finite number >= 0, "
                f"found {route!r}: {number!r:.40}"
            )
        out[route] = float(number)
    if key.endswith("errorPct") and any(v > 100 for v in out.values()):
        raise ValueError(f"{key}: expected percentages 0..100, found {out}")
    return out


@dataclass(frozen=True)
class Route:
    """One endpoint: method, template and the function answering it."""

    method: str
    template: str
    handler: Callable[[dict[str, str], dict[str, list[str]], bytes], tuple[int, Any]]
    regex: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        body = re.sub(r"\\\{[^/]+?\\\}", "([^/]+)", re.escape(self.template))
        object.__setattr__(self, "regex", re.compile(f"^{body}$"))


def _healthz(_p: dict[str, str], _q: dict[str, list[str]], _b: bytes) -> tuple[int, Any]:
    return 200, {"status": "ok"}


def _search(_p: dict[str, str], q: dict[str, list[str]], _b: bytes) -> tuple[int, Any]:
    term = (q.get("q") or [""])[0].lower()
    hits = [c for c in _CATALOG if term in c["title"].lower()][:20]
    return 200, {"query": term, "hits": hits, "total": len(hits)}


def _ingest(_p: dict[str, str], _q: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
    try:
        doc = json.loads(body or b"null")
    except ValueError:
        return 400, {"error": "body must be JSON"}
    events = doc.get("events") if isinstance(doc, dict) else None
    if not isinstance(events, list):
        return 400, {"error": "expected {'events': [...]}"}
    return 202, {"accepted": len(events)}


def _number(text: str) -> int | None:
    """ASCII decimal digits (at most 18) as an int; None for anything else. ``str.isdigit``
    alone takes "²" and "٣", which ``int`` then refuses (a 500 instead of a 404)."""
    if 0 < len(text) <= 18 and text.isascii() and text.isdigit():
        return int(text)
    return None


def _user(p: dict[str, str], _q: dict[str, list[str]], _b: bytes) -> tuple[int, Any]:
    if _number(p["id"]) is None:
        return 404, {"error": "no such user"}
    return 200, {"id": int(p["id"]), "name": f"user-{p['id']}"}


def _orders(_p: dict[str, str], _q: dict[str, list[str]], _b: bytes) -> tuple[int, Any]:
    return 200, {"orders": [{"id": i, "total_cents": 1000 + i} for i in range(10)]}


def _create_order(_p: dict[str, str], _q: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        return 400, {"error": "body must be JSON"}
    if not isinstance(doc, dict):
        return 400, {"error": "expected a JSON object {'items': [...]}"}
    items = doc.get("items", [])
    if not isinstance(items, list):
        return 400, {"error": "items must be a list"}
    return 201, {"id": 4242, "items": len(items)}


def _catalog(_p: dict[str, str], q: dict[str, list[str]], _b: bytes) -> tuple[int, Any]:
    page = _number((q.get("page") or ["0"])[0]) or 0
    return 200, {"page": page, "items": _CATALOG[page * 50 : page * 50 + 50]}


def _cart(_p: dict[str, str], _q: dict[str, list[str]], _b: bytes) -> tuple[int, Any]:
    return 200, {"items": _CATALOG[:3], "total_cents": sum(c["price_cents"] for c in _CATALOG[:3])}


def _checkout(_p: dict[str, str], _q: dict[str, list[str]], _b: bytes) -> tuple[int, Any]:
    return 200, {"status": "confirmed", "order": 4242}


def _recommendations(_p: dict[str, str], _q: dict[str, list[str]], _b: bytes) -> tuple[int, Any]:
    return 200, {"items": sorted(_CATALOG, key=lambda c: c["price_cents"])[:10]}


ROUTES: tuple[Route, ...] = (
    Route("GET", "/healthz", _healthz),
    Route("GET", "/search", _search),
    Route("POST", "/ingest", _ingest),
    Route("GET", "/users/{id}", _user),
    Route("GET", "/orders", _orders),
    Route("POST", "/orders", _create_order),
    Route("GET", "/catalog", _catalog),
    Route("GET", "/cart", _cart),
    Route("POST", "/checkout", _checkout),
    Route("GET", "/recommendations", _recommendations),
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # A burst of Locust users connecting at once overflows the default backlog of 5.
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], app: GatewayApp) -> None:
        self.app = app
        super().__init__(addr, _Handler)


class GatewayApp:
    """Routing, faults and metrics of one server instance (no sockets here)."""

    def __init__(
        self,
        *,
        service: str = DEFAULT_SERVICE,
        region: str | None = None,
        inject_latency_ms: Mapping[str, float] | None = None,
        inject_error_pct: Mapping[str, float] | None = None,
    ) -> None:
        self.service = service
        self.region = region or os.environ.get(REGION_ENV) or DEFAULT_REGION
        self.latency_ms = dict(
            inject_latency_ms
            if inject_latency_ms is not None
            else parse_fault_spec(os.environ.get(LATENCY_ENV), LATENCY_ENV)
        )
        self.error_pct = dict(
            inject_error_pct
            if inject_error_pct is not None
            else parse_fault_spec(os.environ.get(ERROR_ENV), ERROR_ENV)
        )
        self._error_counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self.registry = CollectorRegistry()
        self.duration = Histogram(
            METRIC,
            "Duration of HTTP requests served, in seconds.",
            ["service", "region", "code"],
            registry=self.registry,
            buckets=BUCKETS,
        )
        self.requests = Counter(
            "gateway_requests",
            "Requests served, by route template and method.",
            ["service", "region", "route", "method", "code"],
            registry=self.registry,
        )

    def _fault(self, table: Mapping[str, float], route: str, path: str) -> float:
        return table.get(route, table.get(path, table.get(ANY_ROUTE, 0.0)))

    def set_faults(
        self,
        latency_ms: Mapping[str, float] | None = None,
        error_pct: Mapping[str, float] | None = None,
    ) -> None:
        """Replace both fault tables while serving (``None`` clears a table).

        Requests already sleeping keep their delay; the next request sees the new tables."""
        latency = dict(latency_ms or {})
        errors = dict(error_pct or {})
        with self._lock:
            # Swap whole dicts: request threads read them without the lock.
            self.latency_ms = latency
            self.error_pct = errors
            self._error_counts = {}

    def faults(self) -> dict[str, dict[str, float]]:
        """The current fault tables, as ``PUT /faults`` takes them."""
        return {"latencyMs": dict(self.latency_ms), "errorPct": dict(self.error_pct)}

    def _inject_error(self, route: str, path: str) -> bool:
        pct = self._fault(self.error_pct, route, path)
        if pct <= 0:
            return False
        with self._lock:
            n = self._error_counts.get(route, 0) + 1
            self._error_counts[route] = n
        # Deterministic: the k-th request fails when floor(k*pct/100) steps up.
        return int(n * pct / 100) > int((n - 1) * pct / 100)

    def handle(self, method: str, target: str, body: bytes) -> tuple[int, str, bytes]:
        """Answer one request: (status, content type, body). Observes the histogram."""
        start = time.perf_counter()
        url = urlsplit(target)
        path = url.path.rstrip("/") or "/"
        if path == "/metrics":  # the exporter: never observed, never slowed
            if method in ("GET", "HEAD"):
                return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
            return 405, "application/json", json.dumps({"error": "method not allowed"}).encode()
        status, payload, template = 404, {"error": "not found"}, "unmatched"
        allowed = False
        for route in ROUTES:
            m = route.regex.match(path)
            if not m:
                continue
            allowed = True
            if route.method != method:
                continue
            template = route.template
            params = dict(zip(re.findall(r"\{([^/]+?)\}", route.template), m.groups(), strict=True))
            delay = self._fault(self.latency_ms, template, path)
            if delay:
                time.sleep(delay / 1000)
            if self._inject_error(template, path):
                status, payload = 500, {"error": "injected fault"}
            else:
                status, payload = route.handler(params, parse_qs(url.query), body)
            break
        else:
            if allowed:
                status, payload = 405, {"error": "method not allowed"}
        data = json.dumps(payload).encode()
        code = str(status)
        # Any method token reaches here (see _Handler): label the unknown ones as one value so
        # a client cannot grow the counter's label set without bound.
        label = method if method in METHODS else "OTHER"
        self.duration.labels(self.service, self.region, code).observe(time.perf_counter() - start)
        self.requests.labels(self.service, self.region, template, label, code).inc()
        return status, "application/json", data


def allowed_methods(path: str) -> list[str]:
    """The methods ``path`` serves (the ``Allow`` header of a 405), sorted."""
    path = urlsplit(path).path.rstrip("/") or "/"
    found = {r.method for r in ROUTES if r.regex.match(path)}
    if path == "/metrics":
        found |= {"GET", "HEAD"}
    return sorted(found)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as load generators expect
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle plus the client's
    # delayed ACK adds ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, ctype, data = self.server.app.handle(self.command, self.path, body)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if status == 405:
            self.send_header("Allow", ", ".join(allowed_methods(self.path)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def __getattr__(self, name: str) -> Any:
        # http.server looks up ``do_<METHOD>`` and answers 501 when it is missing. Every
        # method goes through the router instead, so a method a path does not serve (TRACE,
        # QUERY, ...) is a 405 with ``Allow``, as the contract says, never a server error.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging: a load test would flood stderr."""


@dataclass
class GatewayHandle:
    """A running gateway (or its admin socket): address, app (registry, faults), ``stop()``."""

    server: ThreadingHTTPServer
    thread: threading.Thread
    app: GatewayApp

    @property
    def host(self) -> str:
        return str(self.server.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread (idempotent)."""
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join(timeout=10)
        self.server.server_close()

    def __enter__(self) -> GatewayHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    service: str = DEFAULT_SERVICE,
    region: str | None = None,
    inject_latency_ms: Mapping[str, float] | None = None,
    inject_error_pct: Mapping[str, float] | None = None,
) -> GatewayHandle:
    """Start a gateway on ``host:port`` (0 = a free port) in a daemon thread.

    Faults default to the environment variables; pass mappings to override them."""
    app = GatewayApp(
        service=service,
        region=region,
        inject_latency_ms=inject_latency_ms,
        inject_error_pct=inject_error_pct,
    )
    server = _Server((host, port), app)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()
    return GatewayHandle(server=server, thread=thread, app=app)


class _AdminHandler(BaseHTTPRequestHandler):
    """``GET /faults`` and ``PUT /faults`` on the admin socket."""

    protocol_version = "HTTP/1.1"
    server: _AdminServer

    def _reply(self, status: int, doc: Any) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if urlsplit(self.path).path != "/faults":
            self._reply(404, {"error": "not found (GET or PUT /faults)"})
            return
        self._reply(200, self.server.app.faults())

    def do_PUT(self) -> None:
        if urlsplit(self.path).path != "/faults":
            self._reply(404, {"error": "not found (GET or PUT /faults)"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            doc = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(doc, dict) or set(doc) - {"latencyMs", "errorPct"}:
                raise ValueError('expected {"latencyMs": {...}, "errorPct": {...}}')
            latency = fault_table(doc.get("latencyMs"), "latencyMs")
            errors = fault_table(doc.get("errorPct"), "errorPct")
        except ValueError as err:  # JSONDecodeError is a ValueError
            self._reply(400, {"error": str(err)})
            return
        self.server.app.set_faults(latency, errors)
        self._reply(200, self.server.app.faults())

    do_POST = do_PUT

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the drill logs its own fault changes."""


class _AdminServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], app: GatewayApp) -> None:
        self.app = app
        super().__init__(addr, _AdminHandler)


def start_admin(app: GatewayApp, port: int = 0, *, host: str = "127.0.0.1") -> GatewayHandle:
    """Serve the fault knob of ``app`` on ``host:port`` (loopback only) in a daemon thread."""
    if host not in ADMIN_HOSTS:
        raise ValueError(f"the admin socket binds to loopback only, found host {host!r}")
    server = _AdminServer((host, port), app)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()
    return GatewayHandle(server=server, thread=thread, app=app)


def main(argv: list[str] | None = None) -> int:
    """``python -m summit_platform.apps.gateway.app --port N``: serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m summit_platform.apps.gateway.app", description=__doc__
    )
    parser.add_argument("--port", type=int, default=8080, help="TCP port (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--service", default=DEFAULT_SERVICE)
    parser.add_argument("--region", default=None, help=f"default ${REGION_ENV} or us-east-1")
    parser.add_argument(
        "--admin-port",
        type=int,
        default=None,
        help="serve GET/PUT /faults on 127.0.0.1:PORT (0 = any free port); off by default",
    )
    args = parser.parse_args(argv)
    admin = None
    try:
        handle = start(args.port, host=args.host, service=args.service, region=args.region)
        if args.admin_port is not None:
            admin = start_admin(handle.app, args.admin_port)
    except (ValueError, OSError) as err:
        print(f"gateway: error: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"listening on {handle.url}", flush=True)
    if admin is not None:
        print(f"admin on {admin.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    if admin is not None:
        admin.stop()
    handle.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
