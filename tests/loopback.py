"""Loopback HTTP stand-ins for the servers the commands talk to (Prometheus's query API,
OpenCost, a chat webhook).

- :class:`AnswerServer` answers byte for byte (a body that is not bytes is sent as JSON), for server answers as bad input: any status,
  any body, including bytes that are not JSON or not UTF-8 (``with AnswerServer() as s:
  s.answer(200, b'...')``).
- :class:`Server` answers every request with one JSON body (or raw bytes) and a status
  (``with Server(body) as s: ... s.url``).

Both record each request's method, path, headers and body.
"""

from __future__ import annotations

import json
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
    body: bytes = b""


class AnswerServer:
    """A loopback server answering every request with ``status`` and exactly ``body``."""

    def __init__(self, body: Any = b"{}", status: int = 200) -> None:
        self.status = status
        self.body = body
        self.seen: list[Seen] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else b""
                outer.seen.append(Seen(self.command, self.path, dict(self.headers.items()), data))
                body = outer.body
                out = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

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


class Server(AnswerServer):
    """:class:`AnswerServer` with a JSON body: any value other than bytes is sent as JSON."""

    def __init__(self, body: Any = None, status: int = 200) -> None:
        super().__init__({} if body is None else body, status)

    @property
    def requests(self) -> list[tuple[str, str, bytes]]:
        """Each request as (method, path, body)."""
        return [(s.method, s.path, s.body) for s in self.seen]

    def __enter__(self) -> Server:
        super().__enter__()
        return self
