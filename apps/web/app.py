"""A small, real web site standing in for the ``web`` service: the pages ``budgets/web.yaml``
names, served over HTTP on loopback so that Lighthouse can load them in a real browser.

Pages: ``/`` (home), ``/catalog`` (a product grid) and ``/checkout`` (cart and form), each a
complete HTML page with inline critical CSS, small SVG images with their sizes set, and one
deferred script; ``/healthz`` answers JSON. Static files are under ``/static/``.

Regressions, so tests can prove the web budgets block one (``SUMMIT_WEB_INJECT`` or
``inject=``), comma-separated, each optionally limited to one page with ``/path:``:

- ``render-blocking-script[=DURATION]``: a synchronous script in ``<head>`` that keeps the
  main thread busy for DURATION (default ``600ms``) before the page can paint, and once more
  right after load, as a hydrating bundle does: later FCP and LCP, and Total Blocking Time;
- ``heavy-asset[=SIZE]``: a hero image of SIZE (default ``1500kb``; an incompressible PNG) at
  the top of the page: more bytes, and a later LCP because the image becomes the LCP element;
- ``layout-shift``: a banner inserted above the content 300 ms after load: layout shift.

Example: ``SUMMIT_WEB_INJECT="render-blocking-script=800ms,/catalog:heavy-asset=2000kb"``.

In-process::

    from summit_platform.apps.web.app import start
    with start(0, inject="render-blocking-script") as web:   # 0 = a free port on 127.0.0.1
        ... web.url + "/catalog" ...

or as a process: ``python -m summit_platform.apps.web.app --port 8081`` (prints ``listening on URL``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import html
import json
import math
import os
import random
import re
import signal
import struct
import sys
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from summit_platform.components.render.durations import DurationError, parse_duration

INJECT_ENV = "SUMMIT_WEB_INJECT"
PAGES = ("/", "/catalog", "/checkout")
"""The pages of the site (and of ``budgets/web.yaml``)."""

BLOCKING = "render-blocking-script"
HEAVY = "heavy-asset"
SHIFT = "layout-shift"
KINDS = (BLOCKING, HEAVY, SHIFT)
DEFAULT_BLOCKING_MS = 600
DEFAULT_HEAVY_KB = 1500
MAX_BLOCKING_MS = 10_000
MAX_HEAVY_KB = 20_000
_SIZE = re.compile(r"([0-9]+)(kb|mb)")


@dataclass(frozen=True)
class Regression:
    """One injected regression: its kind, its amount (ms or KiB) and the page it is limited
    to (None: every page)."""

    kind: str
    amount: int = 0
    path: str | None = None

    def applies(self, path: str) -> bool:
        """Whether this regression is part of the page at ``path``."""
        return self.path is None or self.path == path


def _amount(kind: str, value: str, env: str, part: str) -> int:
    if kind == SHIFT:
        if value:
            raise ValueError(f"{env}: {SHIFT} takes no amount, found {part!r}")
        return 0
    if kind == BLOCKING:
        if not value:
            return DEFAULT_BLOCKING_MS
        try:
            ms = round(parse_duration(value) * 1000)
        except DurationError as err:
            raise ValueError(f"{env}: {part!r}: {err}") from None
        if not 1 <= ms <= MAX_BLOCKING_MS:
            raise ValueError(f"{env}: {part!r}: expected 1ms to {MAX_BLOCKING_MS}ms")
        return ms
    if not value:
        return DEFAULT_HEAVY_KB
    m = _SIZE.fullmatch(value)
    if not m:
        raise ValueError(f"{env}: {part!r}: expected a size like 1500kb or 2mb")
    kb = int(m.group(1)) * (1024 if m.group(2) == "mb" else 1)
    if not 1 <= kb <= MAX_HEAVY_KB:
        raise ValueError(f"{env}: {part!r}: expected 1kb to {MAX_HEAVY_KB}kb")
    return kb


def parse_inject_spec(spec: str | None, env: str = INJECT_ENV) -> tuple[Regression, ...]:
    """``"render-blocking-script=800ms,/catalog:layout-shift"`` -> regressions.

    Raises ValueError naming the variable and the part that does not fit."""
    out: list[Regression] = []
    for raw in (spec or "").split(","):
        part = raw.strip()
        if not part:
            continue
        path: str | None = None
        item = part
        if part.startswith("/"):
            path, sep, item = part.partition(":")
            if not sep or path not in PAGES:
                raise ValueError(
                    f"{env}: expected '[/page:]kind[=amount]' with a page of {list(PAGES)}, "
                    f"found {part!r}"
                )
        kind, _, value = item.partition("=")
        kind = kind.strip()
        if kind not in KINDS:
            raise ValueError(f"{env}: expected one of {list(KINDS)}, found {part!r}")
        out.append(Regression(kind, _amount(kind, value.strip(), env, part), path))
    return tuple(out)


# --- content -------------------------------------------------------------------------------

_PRODUCTS = [
    {"id": i, "title": f"Trail item {i}", "price": f"${19 + (i * 37) % 180}.00"}
    for i in range(1, 25)
]
_CART = _PRODUCTS[:3]

_CSS = """
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1d2433}
header{display:flex;align-items:center;gap:12px;padding:12px 24px;background:#0b3d5c;color:#fff}
header a{color:#fff;text-decoration:none;margin-right:16px}nav{margin-left:auto}
main{max-width:960px;margin:0 auto;padding:24px}h1{font-size:2.2rem;margin:.2em 0}
.lead{font-size:1.15rem;color:#3b4658}.grid{display:grid;gap:16px;
grid-template-columns:repeat(auto-fill,minmax(180px,1fr))}.card{border:1px solid #d5dbe5;
border-radius:8px;padding:12px}.card img{display:block}.price{font-weight:600}
table{border-collapse:collapse;width:100%}td,th{padding:8px;border-bottom:1px solid #d5dbe5}
form{display:grid;gap:8px;max-width:420px;margin-top:16px}input{padding:8px;font:inherit}
button{padding:10px;font:inherit;background:#0b3d5c;color:#fff;border:0;border-radius:6px}
.hero{width:100%;height:auto;display:block}.promo{height:180px;background:#ffe08a;
display:flex;align-items:center;justify-content:center;font-size:1.4rem}
footer{padding:24px;color:#5b6678;text-align:center}
""".strip()

_APP_JS = b"""// Add-to-cart counter: enough script to be a real page, small enough to stay fast.
document.addEventListener('click', function (ev) {
  var btn = ev.target.closest('[data-add]');
  if (!btn) return;
  var n = Number(localStorage.getItem('cart') || 0) + 1;
  localStorage.setItem('cart', String(n));
  document.getElementById('cart-count').textContent = String(n);
});
document.getElementById('cart-count').textContent = localStorage.getItem('cart') || '0';
"""

_LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" width="32" height="32">'
    b'<path d="M2 28 12 8l6 12 4-6 8 14z" fill="#8fd3ff"/></svg>'
)


def _thumb(n: int) -> bytes:
    hue = (n * 47) % 360
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 96 96" width="96" height="96">'
        f'<rect width="96" height="96" rx="12" fill="hsl({hue},55%,62%)"/>'
        f'<text x="48" y="58" font-size="28" text-anchor="middle" fill="#fff">{n}</text></svg>'
    ).encode()


def _vendor_js(ms: int) -> bytes:
    # Busy-waiting is what a large bundle's evaluation looks like to the browser: the main
    # thread cannot paint or answer input until it returns.
    return (
        "/* vendor bundle (an injected regression, see apps/web/app.py) */\n"
        "(function () {\n"
        "  function busy(ms) { var end = performance.now() + ms; while (performance.now() < end) {} }\n"
        f"  busy({ms});\n"
        f"  window.addEventListener('load', function () {{ setTimeout(function () {{ busy({ms}); }}, 0); }});\n"
        "})();\n"
    ).encode()


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


HERO_WIDTH = 800


@functools.lru_cache(maxsize=8)
def heavy_png(kb: int) -> bytes:
    """An incompressible RGB PNG of about ``kb`` KiB, 800 px wide (deterministic per size)."""
    row = 1 + HERO_WIDTH * 3
    height = max(1, math.ceil(kb * 1024 / row))
    rng = random.Random(kb)
    raw = b"".join(b"\x00" + rng.randbytes(HERO_WIDTH * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", HERO_WIDTH, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 1))
        + _chunk(b"IEND", b"")
    )


def _hero_height(kb: int) -> int:
    return max(1, math.ceil(kb * 1024 / (1 + HERO_WIDTH * 3)))


def _card(p: dict[str, Any]) -> str:
    return (
        f'<div class="card"><img src="/static/item-{p["id"]}.svg" width="96" height="96" '
        f'alt=""><div>{html.escape(p["title"])}</div><div class="price">{p["price"]}</div>'
        f'<button data-add="{p["id"]}">Add to cart</button></div>'
    )


def _home() -> tuple[str, str]:
    cards = "".join(_card(p) for p in _PRODUCTS[:6])
    return "Summit Outfitters", (
        "<h1>Gear for weather in two regions</h1>"
        '<p class="lead">Jackets, packs and boots, shipped from the warehouse nearest to you. '
        "Every order is confirmed in both regions before it leaves.</p>"
        f'<h2>Featured</h2><section class="grid">{cards}</section>'
    )


def _catalog() -> tuple[str, str]:
    cards = "".join(_card(p) for p in _PRODUCTS)
    return "Catalog", f'<h1>Catalog</h1><section class="grid">{cards}</section>'


def _checkout() -> tuple[str, str]:
    rows = "".join(
        f"<tr><td>{html.escape(p['title'])}</td><td>1</td><td>{p['price']}</td></tr>" for p in _CART
    )
    return "Checkout", (
        "<h1>Checkout</h1><table><thead><tr><th>Item</th><th>Qty</th><th>Price</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
        '<form method="get" action="/checkout"><label>Name <input name="name" '
        'autocomplete="name"></label><label>Email <input name="email" type="email" '
        'autocomplete="email"></label><label>Address <input name="address" '
        'autocomplete="street-address"></label><button type="submit">Place order</button></form>'
    )


_CONTENT: dict[str, Callable[[], tuple[str, str]]] = {
    "/": _home,
    "/catalog": _catalog,
    "/checkout": _checkout,
}

_SHIFT_JS = (
    "<script>setTimeout(function () { var b = document.createElement('div'); "
    "b.className = 'promo'; b.textContent = 'Free shipping this week'; "
    "var m = document.querySelector('main'); m.insertBefore(b, m.firstChild); }, 300);</script>"
)


def render_page(path: str, regressions: tuple[Regression, ...] = ()) -> str:
    """The HTML of one page, with the regressions that apply to it."""
    title, body = _CONTENT[path]()
    mine = [r for r in regressions if r.applies(path)]
    head_extra = "".join(
        f'<script src="/static/vendor.js?ms={r.amount}"></script>'
        for r in mine
        if r.kind == BLOCKING
    )
    hero = "".join(
        f'<img class="hero" src="/static/hero.png?kb={r.amount}" width="{HERO_WIDTH}" '
        f'height="{_hero_height(r.amount)}" alt="Trail at dawn">'
        for r in mine
        if r.kind == HEAVY
    )
    tail = _SHIFT_JS if any(r.kind == SHIFT for r in mine) else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="description" content="{html.escape(title)} - Summit Outfitters">'
        f"<title>{html.escape(title)}</title>"
        '<link rel="icon" href="/static/logo.svg" type="image/svg+xml">'
        f"<style>{_CSS}</style>{head_extra}"
        '<script src="/static/app.js" defer></script></head><body>'
        '<header><img src="/static/logo.svg" width="32" height="32" alt="">'
        '<strong>Summit Outfitters</strong><nav><a href="/">Home</a><a href="/catalog">'
        'Catalog</a><a href="/checkout">Cart (<span id="cart-count">0</span>)</a></nav>'
        f"</header><main>{hero}{body}</main>"
        "<footer>Summit Outfitters - a sample site for performance budgets</footer>"
        f"{tail}</body></html>"
    )


# --- HTTP -----------------------------------------------------------------------------------


def _query_int(query: str, key: str, default: int, limit: int) -> int | None:
    raw = (parse_qs(query).get(key) or [str(default)])[0]
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= limit:
        return None
    return int(raw)


class WebApp:
    """Routing and regressions of one server instance (no sockets here)."""

    def __init__(self, inject: str | tuple[Regression, ...] | None = None) -> None:
        if inject is None:
            inject = os.environ.get(INJECT_ENV, "")
        self.regressions = parse_inject_spec(inject) if isinstance(inject, str) else inject

    def _static(self, name: str, query: str) -> tuple[int, str, bytes]:
        if name == "app.js":
            return 200, "text/javascript", _APP_JS
        if name == "logo.svg":
            return 200, "image/svg+xml", _LOGO
        m = re.fullmatch(r"item-([0-9]{1,2})\.svg", name)
        if m and 1 <= int(m.group(1)) <= len(_PRODUCTS):
            return 200, "image/svg+xml", _thumb(int(m.group(1)))
        if name == "vendor.js":
            ms = _query_int(query, "ms", DEFAULT_BLOCKING_MS, MAX_BLOCKING_MS)
            if ms is not None:
                return 200, "text/javascript", _vendor_js(ms)
        if name == "hero.png":
            kb = _query_int(query, "kb", DEFAULT_HEAVY_KB, MAX_HEAVY_KB)
            if kb is not None:
                return 200, "image/png", heavy_png(kb)
        return 404, "text/plain", b"not found\n"

    def handle(self, method: str, target: str) -> tuple[int, str, bytes]:
        """Answer one request: (status, content type, body)."""
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"method not allowed\n"
        url = urlsplit(target)
        path = url.path.rstrip("/") or "/"
        if path in _CONTENT:
            page = render_page(path, self.regressions).encode()
            return 200, "text/html; charset=utf-8", page
        if path == "/healthz":
            return 200, "application/json", json.dumps({"status": "ok"}).encode()
        if path.startswith("/static/"):
            return self._static(path.removeprefix("/static/"), url.query)
        return 404, "text/plain", b"not found\n"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr: tuple[str, int], app: WebApp) -> None:
        self.app = app
        super().__init__(addr, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as browsers expect
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle plus the client's
    # delayed ACK adds ~40 ms to a keep-alive response.
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        status, ctype, data = self.server.app.handle(self.command, self.path)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        cache = "max-age=3600" if self.path.startswith("/static/") else "no-cache"
        self.send_header("Cache-Control", cache)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging: every page load would print a dozen lines."""


@dataclass
class WebHandle:
    """A running site: its address, its app (regressions) and ``stop()``."""

    server: _Server
    thread: threading.Thread
    app: WebApp

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread (idempotent)."""
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join(timeout=10)
        self.server.server_close()

    def __enter__(self) -> WebHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    inject: str | tuple[Regression, ...] | None = None,
) -> WebHandle:
    """Start the site on ``host:port`` (0 = a free port) in a daemon thread.

    ``inject`` defaults to ``$SUMMIT_WEB_INJECT``; pass ``""`` for a clean site."""
    app = WebApp(inject)
    server = _Server((host, port), app)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    )
    thread.start()
    return WebHandle(server=server, thread=thread, app=app)


def main(argv: list[str] | None = None) -> int:
    """``python -m summit_platform.apps.web.app --port N [--inject SPEC]``: serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m summit_platform.apps.web.app",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=8081, help="TCP port (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--inject", default=None, help=f"regressions (default ${INJECT_ENV})")
    args = parser.parse_args(argv)
    try:
        handle = start(args.port, host=args.host, inject=args.inject)
    except (ValueError, OSError) as err:
        print(f"web: error: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"listening on {handle.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    handle.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
