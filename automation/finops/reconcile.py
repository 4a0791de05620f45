"""`summit finops reconcile`: compare OpenCost/Kubecost actuals with the estimate per namespace.

OpenCost's allocation API (``GET /allocation/compute?window=1d&aggregate=namespace
&accumulate=true``; Kubecost serves the same shape at ``/model/allocation``) answers
``{"code": 200, "data": [{"<namespace>": {"name", "start", "end", "minutes", "cpuCost",
"ramCost", "pvCost", "totalCost", ...}}]}``. Actual $/h of a namespace is ``totalCost`` over
the window's hours (``minutes / 60``). :func:`compare` is pure; :func:`fetch_allocation` is the
only network call.

The answer is untrusted server input: it is read through the safe JSON reader (invalid UTF-8,
``NaN``, duplicate keys and oversized bodies refused) and every figure must be a finite number
>= 0, so an odd answer is a clear error (exit 2) naming the key, never a crash or a pass. A
``user:pass@`` in ``--opencost`` is sent as HTTP basic auth and never printed.
"""

from __future__ import annotations

import base64
import http.client
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from summit_platform.automation import numbers, safe_io
from summit_platform.automation.errors import UserError
from summit_platform.automation.numbers import found
from summit_platform.components.render.redact import redact_text, redact_url

MAX_ANSWER_BYTES = 32 * 1024 * 1024
"""The largest allocation answer read (a namespace aggregate is a few KB per namespace)."""
_API_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)+")


@dataclass(frozen=True)
class NamespaceDrift:
    """Estimate vs actual for one namespace."""

    namespace: str
    estimated: Decimal
    actual: Decimal | None
    """None when OpenCost has no allocation for the namespace."""
    drift: float | None
    """(actual - estimated) / estimated; None when either side is zero or missing."""
    flagged: bool
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "estimated_hourly": float(self.estimated),
            "actual_hourly": None if self.actual is None else _finite(self.actual),
            "drift": self.drift,
            "flagged": self.flagged,
            "note": self.note,
        }


def _finite(x: Decimal) -> float | None:
    """A Decimal as a JSON number, or None when it is beyond a float's range."""
    value = float(x)
    return value if math.isfinite(value) else None


def opencost_window(seconds: float, flag: str = "--window") -> str:
    """A duration (seconds) as OpenCost's ``window`` parameter: ``7d``, ``12h`` or ``90m``
    (OpenCost reads whole days, hours or minutes)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    raise UserError(
        f"expected a window of whole minutes, at least 1m, found {seconds:g} seconds", key=flag
    )


def check_base_url(url: str, flag: str = "--opencost") -> str:
    """``url`` when it is an http(s) URL with a host and nothing after the path; otherwise
    :class:`UserError` naming ``flag`` (the message shows the URL redacted)."""
    try:
        parts = urllib.parse.urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        ok = False
    clean = all(c.isprintable() and not c.isspace() for c in url)
    if not ok or not clean or parts.query or parts.fragment:
        raise UserError(
            "expected an OpenCost base URL like http://opencost.opencost:9003,"
            f" found {redact_url(url)}",
            key=flag,
        )
    return url


def check_api_path(path: str, flag: str = "--api-path") -> str:
    """``path`` when it is a plain URL path (``/allocation/compute``); else UserError."""
    if not _API_PATH.fullmatch(path):
        raise UserError(f"expected a path like /allocation/compute, found {found(path)}", key=flag)
    return path


def _request(base_url: str, path: str, query: str) -> tuple[urllib.request.Request, str]:
    """The GET request (credentials in the URL become a basic-auth header) and the URL as
    messages show it."""
    parts = urllib.parse.urlsplit(base_url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"  # an IPv6 literal
    if parts.port:
        netloc += f":{parts.port}"
    url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + path, query, ""))
    headers = {"Accept": "application/json"}
    if parts.username is not None or parts.password is not None:
        user = urllib.parse.unquote(parts.username or "")
        secret = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    return urllib.request.Request(url, headers=headers), redact_url(url)


def fetch_allocation(
    base_url: str, window: str, *, timeout: float = 10.0, path: str = "/allocation/compute"
) -> Any:
    """GET the allocation, aggregated by namespace and accumulated over the window; the
    answer parsed by the safe JSON reader (its shape is checked by :func:`actual_hourly`)."""
    query = urllib.parse.urlencode(
        {"window": window, "aggregate": "namespace", "accumulate": "true"}
    )
    req, shown = _request(check_base_url(base_url), check_api_path(path), query)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as err:
        raise UserError(
            f"OpenCost answered HTTP {err.code} for {shown}", key="--opencost"
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as err:
        reason = redact_text(str(getattr(err, "reason", err)))
        raise UserError(f"cannot reach OpenCost at {shown}: {reason}", key="--opencost") from None
    source = f"OpenCost answer from {shown}"
    if len(raw) > MAX_ANSWER_BYTES:
        raise UserError(f"larger than {MAX_ANSWER_BYTES} bytes", source=source)
    return safe_io.load_json_text(safe_io.decode_utf8(raw, source), source)


def _figure(alloc: Mapping[str, Any], name: str, where: str, source: str | None) -> Decimal:
    value = numbers.number(alloc.get(name), source=source, key=f"{where}.{name}", low=0.0)
    return Decimal(repr(value))


def actual_hourly(doc: Any, source: str | None = None) -> dict[str, Decimal]:
    """Per-namespace $/h from an allocation response (sets of windows are summed). Every
    ``totalCost`` and ``minutes`` must be a finite number >= 0, every ``name`` text."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("data"), list):
        raise UserError(
            f"expected an allocation response with a `data` list, found {found(doc)}",
            source=source,
            key="data",
        )
    code = doc.get("code", 200)
    if code != 200:
        raise UserError(f"expected code 200, found {found(code)}", source=source, key="code")
    cost: dict[str, Decimal] = {}
    minutes: dict[str, Decimal] = {}
    for i, step in enumerate(doc["data"]):
        if step is None:
            continue
        if not isinstance(step, Mapping):
            raise UserError(
                f"expected a map of namespace -> allocation, found {found(step)}",
                source=source,
                key=f"data[{i}]",
            )
        for ns, alloc in step.items():
            where = f"data[{i}].{ns}"
            if not isinstance(alloc, Mapping) or "totalCost" not in alloc:
                raise UserError("expected an allocation with totalCost", source=source, key=where)
            name = alloc.get("name") or ns
            if not isinstance(name, str):
                raise UserError(
                    f"expected text, found {found(name)}", source=source, key=f"{where}.name"
                )
            cost[name] = cost.get(name, Decimal(0)) + _figure(alloc, "totalCost", where, source)
            m = _figure(alloc, "minutes", where, source) if "minutes" in alloc else Decimal(0)
            minutes[name] = minutes.get(name, Decimal(0)) + m
    out = {}
    for ns, total in cost.items():
        if minutes[ns] > 0:
            out[ns] = total / (minutes[ns] / 60)
    return out


def compare(
    estimated: Mapping[str, Decimal],
    actual: Mapping[str, Decimal],
    *,
    threshold: float = 0.25,
    ignore: tuple[str, ...] = ("__idle__", "__unallocated__", "kube-system"),
) -> list[NamespaceDrift]:
    """Namespaces whose actual cost drifts from the estimate by more than ``threshold``
    (relative), plus those present on one side only. Sorted by namespace."""
    out = []
    for ns in sorted(set(estimated) | set(actual)):
        if ns in ignore:
            continue
        est = estimated.get(ns, Decimal(0))
        act = actual.get(ns)
        if act is None:
            out.append(NamespaceDrift(ns, est, None, None, est > 0, "no allocation in OpenCost"))
            continue
        if est == 0:
            out.append(NamespaceDrift(ns, est, act, None, act > 0, "not in the estimate"))
            continue
        drift = float((act - est) / est)
        if not math.isfinite(drift):  # beyond what a float holds: flagged, never NaN in JSON
            out.append(NamespaceDrift(ns, est, act, None, True, "drift beyond any threshold"))
            continue
        out.append(NamespaceDrift(ns, est, act, drift, abs(drift) > threshold))
    return out


def to_markdown(rows: list[NamespaceDrift], window: str, threshold: float) -> str:
    flagged = [r for r in rows if r.flagged]
    head = (
        f"### Cost drift over {window}: {len(flagged)} namespace(s) beyond ±{threshold:.0%}"
        if flagged
        else f"Cost drift over {window}: every namespace within ±{threshold:.0%} of the estimate."
    )
    lines = [
        head,
        "",
        "| namespace | estimate $/h | actual $/h | drift | |",
        "|---|---:|---:|---:|---|",
    ]
    for r in rows:
        act = "-" if r.actual is None else f"{r.actual:.4f}"
        drift = "-" if r.drift is None else f"{r.drift:+.0%}"
        mark = ":warning:" if r.flagged else ""
        lines.append(f"| `{r.namespace}` | {r.estimated:.4f} | {act} | {drift} | {mark} {r.note} |")
    return "\n".join(lines) + "\n"
