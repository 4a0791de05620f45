"""Plain result types shared by the readers, the gate, the baseline and the trend.

Times are milliseconds; error rates are percent (0-100), as in the budgets file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from summit_platform.automation.perf.digest import Digest

AGGREGATE = "(all)"
"""Endpoint name for whole-run figures (a k6 summary without per-endpoint submetrics)."""

_METHOD_NAME = re.compile(r"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+(\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class EndpointStats:
    """One endpoint of one result file.

    ``count``/``errors`` are None when the source does not say (a k6 summary without
    ``http_reqs``); a percentile is None when the source did not compute it. ``digest`` is kept
    for sources with raw samples (k6 NDJSON) so that endpoints can be merged exactly.
    """

    name: str
    method: str | None = None
    path: str | None = None
    count: int | None = None
    errors: int | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    digest: Digest | None = field(default=None, compare=False, repr=False)

    @property
    def err_rate(self) -> float | None:
        """Failed requests in percent, or None when unknown."""
        if self.count is None or self.errors is None:
            return None
        return 100.0 * self.errors / self.count if self.count else 0.0


@dataclass(frozen=True)
class Threshold:
    """A k6 threshold, normalised: ``passed`` is True when the threshold held.

    (``--summary-export`` writes ``true`` for a *crossed* threshold, handleSummary writes
    ``ok: true`` for a held one; both arrive here as ``passed``.)"""

    metric: str
    expression: str
    passed: bool


@dataclass(frozen=True)
class RunResult:
    """Everything read from one result file."""

    source: str
    kind: str
    endpoints: tuple[EndpointStats, ...]
    thresholds: tuple[Threshold, ...] = ()

    def by_name(self) -> dict[str, EndpointStats]:
        """Endpoints keyed by name."""
        return {e.name: e for e in self.endpoints}


def split_endpoint(name: str, url: str | None = None) -> tuple[str | None, str | None]:
    """(method, path) implied by a request name and/or URL.

    ``"GET /users"`` -> ("GET", "/users"); ``"https://h/x?q=1"`` -> (None, "/x");
    ``"/search"`` -> (None, "/search"); otherwise the path of ``url``, if any.
    """
    method: str | None = None
    path: str | None = None
    m = _METHOD_NAME.fullmatch(name.strip())
    target = name.strip()
    if m:
        method, target = m.group(1).upper(), m.group(2)
    if target.startswith("/"):
        path = target.split("?", 1)[0]
    elif "://" in target:
        path = urlsplit(target).path or "/"
    if path is None and url and "://" in url:
        path = urlsplit(url).path or "/"
    return method, path
