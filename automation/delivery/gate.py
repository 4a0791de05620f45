"""The regional health gate (``summit gate``): query a region's request histogram in
Prometheus and decide pass/fail per SLO.

Pure parts: :func:`parse_slo`, :func:`build_queries` and :func:`verdict` (values in, rows and a
verdict out). The thin part: :class:`PrometheusClient` (one ``/api/v1/query`` per SLO) and
:func:`run_gate` which glues them. The PromQL is the same the canary's AnalysisTemplate uses
(:mod:`components.render.canary`), scoped to the region instead of the canary's pods.

No data (an empty vector, or NaN because the series saw no request in the window) is a failure
with its own status and message, never a pass: a region nobody is talking to has not shown
that the release works.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from rich.table import Table

from automation.errors import CheckFailed, UserError
from components.render import canary as render
from components.render.durations import format_duration

DEFAULT_SLOS = ("p95<1500ms", "err<1%")
_SLO = re.compile(
    r"^\s*(?P<signal>p(?P<q>\d{1,2}(?:\.\d+)?)|err)\s*(?P<op><=|<)\s*"
    r"(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|%)?\s*$"
)
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")

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
    m = _SLO.match(text)
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
    if not _REGION.match(region):
        raise UserError(
            f"expected an AWS region like 'us-east-1', found {region!r}", key="--region"
        )
    return region


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
    """None when Prometheus returned no sample or NaN (no traffic)."""
    threshold: float
    unit: str
    status: Status


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
        empty = [r.slo for r in self.rows if r.status == "no-data"]
        parts = []
        if failed:
            parts.append(f"breached {', '.join(failed)}")
        if empty:
            parts.append(
                f"no data for {', '.join(empty)} (no requests in the last {self.window}:"
                " is the region serving, is the exporter scraped?)"
            )
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


def verdict(
    region: str,
    window: str,
    slos: Sequence[Slo],
    queries: Sequence[str],
    values: Sequence[float | None],
) -> GateResult:
    """Pure decision: each value against its SLO. None/NaN/inf -> ``no-data``."""
    rows = []
    for slo, query, value in zip(slos, queries, values, strict=True):
        if value is None or math.isnan(value):
            rows.append(Row(slo.text, slo.signal, query, None, slo.threshold, slo.unit, "no-data"))
            continue
        status: Status = "pass" if slo.holds(value) else "fail"
        rows.append(Row(slo.text, slo.signal, query, value, slo.threshold, slo.unit, status))
    return GateResult(region=region, window=window, rows=rows)


class PrometheusClient:
    """Instant queries against the Prometheus HTTP API (``/api/v1/query``)."""

    def __init__(self, base_url: str, timeout: float = 10.0):
        if not re.match(r"^https?://[^\s/]+", base_url or ""):
            raise UserError(
                f"expected a Prometheus URL like http://127.0.0.1:9090, found {base_url!r}",
                key="--prometheus",
            )
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def query(self, promql: str, at: float | None = None) -> float | None:
        """The single value of an instant vector/scalar; None when the vector is empty.

        Several series (should not happen: the queries aggregate) give the worst (largest)."""
        import requests  # ~0.2 s to import; only the commands that query Prometheus need it

        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        try:
            resp = requests.get(
                f"{self.base_url}/api/v1/query", params=params, timeout=self.timeout
            )
        except requests.RequestException as err:
            raise CheckFailed(
                f"gate failed: Prometheus at {self.base_url} unreachable: {err}"
            ) from None
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code != 200 or body.get("status") != "success":
            raise CheckFailed(
                f"gate failed: Prometheus rejected the query ({resp.status_code}):"
                f" {body.get('error', resp.text[:200])}"
            )
        data = body["data"]
        if data["resultType"] == "scalar":
            return float(data["result"][1])
        values = [float(s["value"][1]) for s in data["result"]]
        if not values:
            return None
        finite = [v for v in values if not math.isnan(v)]
        return max(finite) if finite else math.nan


def run_gate(
    query: Callable[[str], float | None],
    region: str,
    window: str,
    slos: Sequence[Slo],
    service: str | None = None,
) -> GateResult:
    """Build the queries, run them through ``query`` and decide."""
    queries = build_queries(slos, region, window, service)
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
        lines.append(
            f"| `{r.slo}` | {_fmt(r.value, r.unit)} | {_fmt(r.threshold, r.unit)} |"
            f" {icon[r.status]} |"
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
