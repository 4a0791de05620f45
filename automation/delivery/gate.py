"""The regional health gate (``summit gate``): query a region's request histogram in
Prometheus and decide pass/fail per SLO.

Pure parts: :func:`parse_slo`, :func:`build_queries` and :func:`verdict` (values in, rows and a
verdict out). The thin part: :class:`PrometheusClient` (one ``/api/v1/query`` per SLO) and
:func:`run_gate` which glues them. The PromQL is the same the canary's AnalysisTemplate uses
(:mod:`summit_platform.components.render.canary`), scoped to the region instead of the canary's pods.

No data is a failure with its own status and message, never a pass: a region nobody is
talking to has not shown that the release works. Prometheus' answer is untrusted input, so
"no data" covers every answer that is not one clear reading: an empty vector, NaN (the series
saw no request in the window), an infinite or negative value, an error ratio above 1, and any
answer of an unexpected shape (not JSON, a list, no ``resultType``, a matrix or a string, a
value that is not a number, ``result: null``), as well as a Prometheus that cannot be reached
or rejects the query. Each says why (:class:`NoData`), in the table, the JSON and the summary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from rich.table import Table

from summit_platform.automation import numbers, safe_io
from summit_platform.automation.errors import UserError
from summit_platform.automation.numbers import found
from summit_platform.components.render import canary as render
from summit_platform.components.render.durations import format_duration
from summit_platform.components.render.redact import redact_text, redact_url

DEFAULT_SLOS = ("p95<1500ms", "err<1%")
# fullmatch and re.ASCII: `$` would accept a trailing newline and `\d` any Unicode digit.
_SLO = re.compile(
    r"\s*(?P<signal>p(?P<q>\d{1,2}(?:\.\d+)?)|err)\s*(?P<op><=|<)\s*"
    r"(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|%)?\s*",
    re.ASCII,
)
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d", re.ASCII)
_SERVICE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?", re.ASCII)
MAX_ANSWER_BYTES = 16 * 1024 * 1024
"""The largest Prometheus answer read (an aggregated instant query is a few hundred bytes)."""

Status = Literal["pass", "fail", "no-data"]


@dataclass(frozen=True)
class Slo:
    """One gate condition, e.g. ``p95<1500ms`` or ``err<1%``."""

    text: str
    """As the user wrote it."""
    signal: str
    """``p95`` (any ``pNN``) or ``err``."""
    op: Literal["<", "<="]
    threshold: float
    """Seconds for latency, a ratio (0..1) for errors."""
    quantile: float | None = None
    """0..1 for latency signals."""

    @property
    def unit(self) -> str:
        return "s" if self.quantile is not None else "ratio"

    def holds(self, value: float) -> bool:
        return value < self.threshold if self.op == "<" else value <= self.threshold


def parse_slo(text: str) -> Slo:
    """``p95<1500ms`` / ``p99<=2s`` / ``err<1%`` / ``err<0.01`` -> :class:`Slo`.

    Raises :class:`UserError` (exit 2) naming the flag, what was expected and what was found."""
    m = _SLO.fullmatch(text)
    if not m:
        raise UserError(
            f"expected an SLO like 'p95<1500ms' or 'err<1%', found {text!r}", key="--slo"
        )
    num, unit = float(m["num"]), m["unit"]
    op: Literal["<", "<="] = "<=" if m["op"] == "<=" else "<"
    if m["signal"] == "err":
        if unit in ("ms", "s"):
            raise UserError(f"err takes a percent or a ratio, found {text!r}", key="--slo")
        ratio = num / 100 if unit == "%" else num
        if not 0 < ratio <= 1:
            raise UserError(f"err threshold must be in (0, 100%], found {text!r}", key="--slo")
        return Slo(text=text.strip(), signal="err", op=op, threshold=ratio)
    q = float(m["q"])
    if not 0 < q < 100:
        raise UserError(f"quantile must be between p1 and p99.9, found {text!r}", key="--slo")
    if unit not in ("ms", "s"):
        raise UserError(f"latency needs a unit (ms or s), found {text!r}", key="--slo")
    seconds = num / 1000 if unit == "ms" else num
    if seconds <= 0:
        raise UserError(f"latency threshold must be positive, found {text!r}", key="--slo")
    return Slo(text=text.strip(), signal=m["signal"], op=op, threshold=seconds, quantile=q / 100)


def window_range(seconds: float, flag: str = "--window") -> str:
    """A look-back window (seconds, from a duration flag) as a PromQL range: whole seconds,
    at least a minute (a shorter window holds too few scrapes to judge a region)."""
    if seconds < 60 or seconds != int(seconds):
        raise UserError(
            f"expected a window of whole seconds and at least 1m, found {format_duration(seconds)}",
            key=flag,
        )
    return f"{int(seconds)}s"


def check_region(region: str) -> str:
    """``region`` when it is written like an AWS region; else UserError naming --region."""
    if not _REGION.fullmatch(region):
        raise UserError(
            f"expected an AWS region like 'us-east-1', found {found(region)}", key="--region"
        )
    return region


def check_service(service: str | None) -> str | None:
    """``--service``: a service name (letters, digits, '-', '_', '.'), or None."""
    if service is not None and not _SERVICE.fullmatch(service):
        raise UserError(
            f"expected a service name like 'gateway', found {found(service)}", key="--service"
        )
    return service


def check_at(at: float | None) -> float | None:
    """``--at``: a finite unix time >= 0 (typer reads 'nan' and 'inf' as floats), or None."""
    if at is not None and (not math.isfinite(at) or at < 0):
        raise UserError(f"expected a unix time in seconds, found {at}", key="--at")
    return at


@dataclass(frozen=True)
class NoData:
    """A query that gave no usable reading, and why (for the table, JSON and summary)."""

    reason: str


Reading = float | NoData | None
"""What one query gives: a value, no series at all (None), or no data with a reason."""


def build_queries(
    slos: Sequence[Slo], region: str, window: str, service: str | None = None
) -> list[str]:
    """One PromQL per SLO over the region's series (optionally one service's)."""
    labels = {"region": region}
    if service:
        labels["service"] = service
    out = []
    for slo in slos:
        if slo.quantile is not None:
            out.append(render.quantile_query(labels, window, slo.quantile))
        else:
            out.append(render.error_ratio_query(labels, window))
    return out


@dataclass(frozen=True)
class Row:
    """One SLO's measurement and outcome."""

    slo: str
    signal: str
    query: str
    value: float | None
    """None when there is no usable reading (``status`` is ``no-data``)."""
    threshold: float
    unit: str
    status: Status
    reason: str | None = None
    """Why there is no data (None when there is a value)."""


@dataclass(frozen=True)
class GateResult:
    """The verdict over every SLO of one region."""

    region: str
    window: str
    rows: list[Row]

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(r.status == "pass" for r in self.rows)

    @property
    def no_data(self) -> bool:
        return any(r.status == "no-data" for r in self.rows)

    @property
    def summary(self) -> str:
        if self.passed:
            return f"gate passed for {self.region} over {self.window}"
        failed = [r.slo for r in self.rows if r.status == "fail"]
        empty = [f"{r.slo} ({r.reason})" for r in self.rows if r.status == "no-data"]
        parts = []
        if failed:
            parts.append(f"breached {', '.join(failed)}")
        if empty:
            parts.append(f"no data for {', '.join(empty)}")
        return f"gate failed for {self.region}: " + "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "window": self.window,
            "passed": self.passed,
            "noData": self.no_data,
            "summary": self.summary,
            "rows": [
                {**asdict(r), "value": r.value if r.value is not None else None} for r in self.rows
            ],
        }


def no_data_reason(slo: Slo, value: Reading, window: str) -> str | None:
    """Why ``value`` is no reading for ``slo`` (None when it is one): missing, NaN, infinite,
    negative, or an error ratio above 1."""
    if isinstance(value, NoData):
        return value.reason
    if value is None:
        return f"no series matched in the last {window}: is the exporter scraped?"
    if math.isnan(value):
        return f"NaN: no requests in the last {window}: is the region serving?"
    if math.isinf(value):
        return f"the value is {value}, not a measurement"
    if value < 0:
        return f"the value {value:g} is negative, not a measurement"
    if slo.quantile is None and value > 1:
        return f"the error ratio {value:g} is above 1, not a measurement"
    return None


def verdict(
    region: str,
    window: str,
    slos: Sequence[Slo],
    queries: Sequence[str],
    values: Sequence[Reading],
) -> GateResult:
    """Pure decision: each value against its SLO. Anything that is not one finite reading in
    range (see :func:`no_data_reason`) is ``no-data``, never a pass."""
    rows = []
    for slo, query, value in zip(slos, queries, values, strict=True):
        reason = no_data_reason(slo, value, window)
        if reason is not None or not isinstance(value, float | int):
            rows.append(
                Row(slo.text, slo.signal, query, None, slo.threshold, slo.unit, "no-data", reason)
            )
            continue
        status: Status = "pass" if slo.holds(value) else "fail"
        rows.append(Row(slo.text, slo.signal, query, float(value), slo.threshold, slo.unit, status))
    return GateResult(region=region, window=window, rows=rows)


def _sample(value: Any, where: str) -> float | NoData:
    """A sample's ``[time, "value"]`` as a float (Prometheus writes NaN and Inf as text)."""
    if not isinstance(value, list) or len(value) != 2 or not isinstance(value[1], str):
        return NoData(f'{where} is {found(value)}, expected [time, "value"]')
    text = value[1].strip()
    if text in ("NaN", "+Inf", "-Inf", "Inf"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    try:
        return numbers.parse_decimal(text, source=None, key=None, low=None)
    except UserError:
        return NoData(f"{where} holds {found(value[1])}, not a number")


def read_answer(body: Any) -> Reading:
    """The reading in a ``/api/v1/query`` answer (pure): the scalar, or the one sample of an
    instant vector (several series, which the aggregated queries never give, read as the
    worst, i.e. largest, value; NaN series are skipped, and a negative or infinite one makes
    the whole answer no data). Anything else is :class:`NoData` saying why."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return NoData(f"Prometheus answered {found(body)} without a data object")
    data = body["data"]
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return _sample(result, "the scalar")
    if kind != "vector":
        return NoData(f"Prometheus answered resultType {found(kind)}, expected a vector or scalar")
    if not isinstance(result, list):
        return NoData(f"the vector's result is {found(result)}, expected a list")
    if not result:
        return None
    values = []
    for i, series in enumerate(result):
        if not isinstance(series, dict):
            return NoData(f"result[{i}] is {found(series)}, expected a series")
        value = _sample(series.get("value"), f"result[{i}].value")
        if isinstance(value, NoData):
            return value
        if math.isinf(value) or value < 0:  # one impossible series spoils the answer
            what = "infinite" if math.isinf(value) else "negative"
            return NoData(f"result[{i}] holds {value:g}: {what}, not a measurement")
        values.append(value)
    finite = [v for v in values if not math.isnan(v)]
    return max(finite) if finite else math.nan


class PrometheusClient:
    """Instant queries against the Prometheus HTTP API (``/api/v1/query``). A
    ``user:pass@`` in the URL is sent as basic auth and never printed."""

    def __init__(self, base_url: str, timeout: float = 10.0):
        self.base_url = check_prometheus_url(base_url).rstrip("/")
        self.shown = redact_url(self.base_url)
        self.timeout = timeout

    def query(self, promql: str, at: float | None = None) -> Reading:
        """The reading of one instant query (see :func:`read_answer`); an unreachable
        Prometheus, a refused query or an answer that is not JSON is :class:`NoData`."""
        import requests  # ~0.2 s to import; only the commands that query Prometheus need it

        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        url = f"{self.base_url}/api/v1/query"
        raw = bytearray()
        try:
            with requests.get(url, params=params, timeout=self.timeout, stream=True) as resp:
                for chunk in resp.iter_content(64 * 1024):
                    raw += chunk
                    if len(raw) > MAX_ANSWER_BYTES:
                        break
        except (requests.RequestException, OSError) as err:
            return NoData(f"Prometheus at {self.shown} unreachable: {redact_text(str(err))[:200]}")
        try:
            if len(raw) > MAX_ANSWER_BYTES:
                raise UserError(f"larger than {MAX_ANSWER_BYTES} bytes")
            body = safe_io.load_json_text(safe_io.decode_utf8(bytes(raw), "answer"), "answer")
        except UserError as err:
            return NoData(f"Prometheus at {self.shown} answered HTTP {resp.status_code}: {err}")
        error = body.get("error") if isinstance(body, dict) else None
        if resp.status_code != 200 or (isinstance(body, dict) and body.get("status") == "error"):
            detail = redact_text(str(error))[:200] if error else f"HTTP {resp.status_code}"
            return NoData(f"Prometheus at {self.shown} rejected the query: {detail}")
        return read_answer(body)


def check_prometheus_url(url: str, flag: str = "--prometheus") -> str:
    """``url`` when it is an http(s) URL with a host and nothing after the path; otherwise
    :class:`UserError` naming ``flag`` (the message shows the URL redacted)."""
    try:
        parts = urlsplit(url or "")
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        ok = False
    clean = all(c.isprintable() and not c.isspace() for c in url or "")
    if not ok or not clean or parts.query or parts.fragment:
        raise UserError(
            f"expected a Prometheus URL like http://127.0.0.1:9090, found {redact_url(url or '')}",
            key=flag,
        )
    return url


def run_gate(
    query: Callable[[str], Reading],
    region: str,
    window: str,
    slos: Sequence[Slo],
    service: str | None = None,
) -> GateResult:
    """Build the queries, run them through ``query`` and decide."""
    queries = build_queries(slos, region, window, check_service(service))
    values = [query(q) for q in queries]
    return verdict(region, window, slos, queries, values)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if unit == "s":
        return f"{value * 1000:.0f}ms"
    return f"{value * 100:.2f}%"


def markdown(result: GateResult) -> str:
    """A PR/workflow-summary table."""
    icon = {"pass": "pass", "fail": "**FAIL**", "no-data": "**NO DATA**"}
    lines = [
        f"### Health gate {result.region} ({result.window}): "
        + ("passed" if result.passed else "failed"),
        "",
        "| SLO | value | threshold | result |",
        "|---|---|---|---|",
    ]
    for r in result.rows:
        why = f" ({r.reason})".replace("|", "\\|") if r.reason else ""
        lines.append(
            f"| `{r.slo}` | {_fmt(r.value, r.unit)} | {_fmt(r.threshold, r.unit)} |"
            f" {icon[r.status]}{why} |"
        )
    lines += ["", result.summary, ""]
    return "\n".join(lines)


def table(result: GateResult) -> Any:
    """A rich table for people."""
    t = Table(title=f"health gate {result.region} over {result.window}")
    for col in ("SLO", "value", "threshold", "result"):
        t.add_column(col)
    style = {"pass": "green", "fail": "bold red", "no-data": "bold yellow"}
    for r in result.rows:
        t.add_row(
            r.slo,
            _fmt(r.value, r.unit),
            _fmt(r.threshold, r.unit),
            f"[{style[r.status]}]{r.status}[/]",
        )
    return t


def slos_from(
    texts: Sequence[str] | None, defaults: Mapping[str, float] | None = None
) -> list[Slo]:
    """Parse ``--slo`` flags; none given -> the defaults (``p95<1500ms``, ``err<1%``, or the
    stack's ``rollout.p95Ms``/``errorRatio`` when ``defaults`` gives them)."""
    if texts:
        return [parse_slo(t) for t in texts]
    if defaults:
        return [
            parse_slo(f"p95<{defaults['p95_ms']:g}ms"),
            parse_slo(f"err<{defaults['error_ratio'] * 100:g}%"),
        ]
    return [parse_slo(t) for t in DEFAULT_SLOS]
