"""A loopback HTTP server whose answer a test sets byte for byte, for server answers as bad
input (Prometheus, OpenCost, webhooks): any status, any body, including bytes that are not
JSON or not UTF-8. It records each request's method, path and headers."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class AnswerServer:
    """``with AnswerServer() as s: s.answer(200, b'...')``; ``s.url`` is its base URL."""

    def __init__(self) -> None:
        self.status = 200
        self.body = b"{}"
        self.seen: list[Seen] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                outer.seen.append(Seen(self.command, self.path, dict(self.headers.items())))
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            do_GET = _answer
            do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, status: int, body: bytes) -> None:
        """Answer every following request with ``status`` and exactly ``body``."""
        self.status, self.body = status, body
        self.seen.clear()

    def __enter__(self) -> AnswerServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
