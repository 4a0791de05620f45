"""Metric sources: per-region short-window samples for the controller.

- :class:`PrometheusSource` - instant queries over the Prometheus HTTP API (plain HTTP, no
  client library), one query per signal, each returning one series per ``region`` label.
  Defaults read the observability recording rules (``summit:steering_*:1m``); queries are
  configurable (``summit-platform:traffic.queries``), e.g. raw histogram queries.
- :class:`CloudWatchSource` - ALB metrics through boto3 ``get_metric_data`` per region:
  TargetResponseTime p95, HTTPCode_Target_5XX_Count + HTTPCode_ELB_5XX_Count over RequestCount.

A signal a source cannot read comes back as NaN, which makes the controller hold (fail-static).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from summit_platform.automation import safe_io
from summit_platform.automation.errors import UserError
from summit_platform.automation.traffic.controller import Sample
from summit_platform.components.render.redact import redact_text, redact_url, short

DEFAULT_QUERIES = {
    "p95": "max by (region) (summit:steering_p95_seconds:1m)",
    "errorRatio": "max by (region) (summit:steering_error_ratio:1m)",
    "saturation": "max by (region) (summit:steering_saturation:1m)",
    "requestRate": "sum by (region) (summit:steering_request_rate:1m)",
}
"""Worst service per region (request rate: all services). Saturation and request rate are
optional: a missing series gives ``None``, not a hold."""

RAW_HISTOGRAM_QUERIES = {
    "p95": (
        "histogram_quantile(0.95, sum by (region, le) "
        "(rate(http_request_duration_seconds_bucket[1m])))"
    ),
    "errorRatio": (
        'sum by (region) (rate(http_requests_total{code=~"5.."}[1m])) / '
        "sum by (region) (rate(http_requests_total[1m]))"
    ),
    "requestRate": "sum by (region) (rate(http_requests_total[1m]))",
}
"""The same signals from raw metrics, for a Prometheus without the recording rules."""


class SourceError(Exception):
    """The source could not be read at all (the loop logs it and holds)."""


MAX_ANSWER_BYTES = 16 * 1024 * 1024
"""A Prometheus answer larger than this is refused (a per-region query answers a few KB)."""

_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_LABEL_LISTS = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_IDENT = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan", "start", "end", "atan2",
    # aggregation operators, which may stand before `by (...)` rather than `(`
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}  # fmt: skip


def metric_names(promql: str) -> list[str]:
    """The metric names a PromQL expression reads (``foo`` in ``rate(foo{a="b"}[1m])``), in
    order of appearance: identifiers that are not functions, keywords or label names."""
    text = _STRINGS.sub('""', promql)
    text = re.sub(r"\{[^{}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\[\]]*\]", " ", text)  # ranges and subqueries
    text = _LABEL_LISTS.sub(" ", text)
    out: list[str] = []
    for m in _IDENT.finditer(text):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in _KEYWORDS or name in out:
            continue
        out.append(name)
    return out


def freshness_query(promql: str, region_label: str = "region") -> str:
    """A query for when the samples behind ``promql`` were taken, per region.

    An instant query stamps every result with the query time, so an answer built on samples
    from minutes ago (a Prometheus just restarted, a rule group that stopped) looks fresh.
    ``timestamp()`` of a plain series selector gives each sample's own time; the oldest one
    per region is the sample's time. Raises ``ValueError`` when ``promql`` names no metric."""
    names = metric_names(promql)
    if not names:
        raise ValueError(f"no metric name in {promql!r}: cannot tell how old its samples are")
    pattern = "|".join(names)  # metric names hold no regex metacharacters but ':'
    return f'min by ({region_label}) (timestamp({{__name__=~"{pattern}"}}))'


def _shown(value: Any) -> str:
    return short(value) if isinstance(value, str) else "null" if value is None else repr(value)[:40]


def _vector(doc: Any, promql: str) -> list[Any]:
    """The ``result`` list of an instant-vector answer, or :class:`SourceError` saying how
    the answer is not one."""
    if not isinstance(doc, dict):
        raise SourceError(
            f"Prometheus answered {promql!r} with {type(doc).__name__}, not an object"
        )
    if doc.get("status") != "success":
        raise SourceError(f"Prometheus error for {promql!r}: {_shown(doc.get('error'))}")
    data = doc.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector":
        kind = data.get("resultType") if isinstance(data, dict) else data
        raise SourceError(
            f"Prometheus answered {promql!r} with resultType {_shown(kind)}, expected vector"
        )
    result = data.get("result")
    if not isinstance(result, list):
        raise SourceError(
            f"Prometheus answered {promql!r} with result {_shown(result)}, expected a list"
        )
    return result


def _point(series: Any, label: str) -> tuple[str, float, float] | None:
    """(region, ts, value) of one series; NaN for a value or time that is not what the API
    sends (no data); ``None`` for a series without the region label."""
    if not isinstance(series, dict) or not isinstance(series.get("metric"), dict):
        return None
    region = series["metric"].get(label)
    if not isinstance(region, str):
        return None
    pair = series.get("value")
    if not isinstance(pair, list) or len(pair) != 2:
        return region, math.nan, math.nan
    return region, _time(pair[0]), _value(pair[1])


def _time(value: Any) -> float:
    """The API sends a sample's time as a JSON number (unix seconds)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.nan


def _value(value: Any) -> float:
    """The API sends values as strings ("0.42", "NaN", "+Inf"); anything else is not data."""
    if not isinstance(value, str) or not value.isascii() or not value.strip():
        return math.nan  # float() would read Arabic-Indic or full-width digits
    try:
        return float(value)
    except (ValueError, OverflowError):
        return math.nan


class PrometheusSource:
    """Instant queries against ``base_url``/api/v1/query, each with its freshness query
    (:func:`freshness_query`): a sample's time is its own, not the query's."""

    def __init__(
        self,
        base_url: str,
        queries: Mapping[str, str] | None = None,
        *,
        region_label: str = "region",
        timeout_s: float = 5.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.queries = {**DEFAULT_QUERIES, **dict(queries or {})}
        unknown = set(self.queries) - set(DEFAULT_QUERIES)
        if unknown:
            raise ValueError(
                f"unknown signals {sorted(unknown)} (expected {list(DEFAULT_QUERIES)})"
            )
        self.freshness = {
            name: freshness_query(q, region_label) for name, q in self.queries.items()
        }
        self.region_label = region_label
        self.timeout_s = timeout_s

    def _get(self, promql: str, at: float | None) -> Any:
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        url = f"{self.base_url}/api/v1/query?{urllib.parse.urlencode(params)}"
        where = redact_url(self.base_url)
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as resp:
                body = resp.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as err:
            text = err.read(2000).decode(errors="replace")[:300]
            raise SourceError(
                f"Prometheus {err.code} for {promql!r}: {redact_text(text)}"
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise SourceError(
                f"Prometheus at {where} unreachable: {redact_text(str(err))}"
            ) from None
        if len(body) > MAX_ANSWER_BYTES:
            raise SourceError(f"Prometheus at {where} answered more than {MAX_ANSWER_BYTES} bytes")
        try:
            return safe_io.load_json_text(safe_io.decode_utf8(body, where), where)
        except UserError as err:
            raise SourceError(f"Prometheus answered {promql!r} with {err.detail}") from None

    def query(self, promql: str, at: float | None = None) -> dict[str, tuple[float, float]]:
        """region -> (timestamp, value) of an instant vector query. A value that is not a
        number is NaN (no data); a region answered twice keeps the larger finite value (as
        ``max by`` would), or NaN if one of its values is negative or infinite."""
        out: dict[str, tuple[float, float]] = {}
        for series in _vector(self._get(promql, at), promql):
            point = _point(series, self.region_label)
            if point is None:
                continue
            region, ts, v = point
            if region in out:
                old_ts, old = out[region]
                ts = min(ts, old_ts)
                if math.isinf(v) or math.isinf(old) or v < 0 or old < 0:
                    v = math.nan
                elif math.isnan(v) or math.isnan(old):
                    v = old if math.isnan(v) else v  # NaN is one empty series: the other wins
                else:
                    v = max(v, old)
            out[region] = (ts, v)
        return out

    def fetch(self, regions: list[str], at: float | None = None) -> dict[str, Sample]:
        """One sample per region; a missing series gives NaN (required) or None (optional).
        The sample's time is the oldest of its signals' own sample times (NaN when unknown)."""
        results = {name: self.query(q, at) for name, q in self.queries.items()}
        stamps = {name: self.query(q, at) for name, q in self.freshness.items()}
        samples = {}
        for r in regions:
            # The freshness answer's *value* is the sample time (its own stamp is the query's).
            times = [stamps[n].get(r, (0.0, math.nan))[1] for n in results if r in results[n]]
            ts = min(times) if times else math.nan
            problem = None
            if times and not all(math.isfinite(t) for t in times):
                problem = (
                    "no sample time: Prometheus has values but cannot say when they were taken"
                )

            def get(name: str, r: str = r) -> float | None:
                hit = results[name].get(r)
                return hit[1] if hit else None

            p95, err = get("p95"), get("errorRatio")
            samples[r] = Sample(
                region=r,
                p95_seconds=math.nan if p95 is None else p95,
                error_ratio=math.nan if err is None else err,
                saturation=get("saturation"),
                request_rate=get("requestRate"),
                ts=ts,
                problem=problem,
            )
        return samples


def alb_dimension(alb_arn: str) -> str:
    """CloudWatch's ``LoadBalancer`` dimension: ``app/<name>/<id>`` from the ALB ARN."""
    _, sep, tail = alb_arn.partition(":loadbalancer/")
    if not sep:
        raise ValueError(f"expected an ALB ARN, found {alb_arn!r}")
    return tail


class CloudWatchSource:
    """ALB metrics per region through boto3 (one CloudWatch client per region)."""

    def __init__(
        self,
        albs: Mapping[str, str],
        clients: Mapping[str, Any] | None = None,
        *,
        window_s: int = 60,
        latency_stat: str = "p95",
    ):
        self.albs = dict(albs)
        self.window_s = window_s
        # p95 is the SLI; moto cannot compute percentile stats, so its tests pass "Average".
        self.latency_stat = latency_stat
        if clients is None:
            import boto3  # deferred: about 0.35 s to import; only this metrics source uses it

            clients = {r: boto3.client("cloudwatch", region_name=r) for r in self.albs}
        self.clients = dict(clients)

    def fetch(self, regions: list[str], at: float) -> dict[str, Sample]:
        end = dt.datetime.fromtimestamp(at, dt.UTC)
        # ALB metrics land a minute or two late: read the last few periods, use the newest.
        start = end - dt.timedelta(seconds=self.window_s * 5)
        samples = {}
        for r in regions:
            dim = [{"Name": "LoadBalancer", "Value": alb_dimension(self.albs[r])}]

            def q(qid: str, metric: str, stat: str, dim=dim) -> dict[str, Any]:
                return {
                    "Id": qid,
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/ApplicationELB",
                            "MetricName": metric,
                            "Dimensions": dim,
                        },
                        "Period": self.window_s,
                        "Stat": stat,
                    },
                    "ReturnData": True,
                }

            resp = self.clients[r].get_metric_data(
                MetricDataQueries=[
                    q("p95", "TargetResponseTime", self.latency_stat),
                    q("target5xx", "HTTPCode_Target_5XX_Count", "Sum"),
                    q("elb5xx", "HTTPCode_ELB_5XX_Count", "Sum"),
                    q("requests", "RequestCount", "Sum"),
                ],
                StartTime=start,
                EndTime=end,
                ScanBy="TimestampDescending",
            )
            latest: dict[str, tuple[float, float]] = {}
            for res in resp["MetricDataResults"]:
                points = sorted(
                    zip(res.get("Timestamps", []), res.get("Values", []), strict=False),
                    reverse=True,
                )
                if points:
                    latest[res["Id"]] = (points[0][0].timestamp(), float(points[0][1]))
            reqs = latest.get("requests", (0.0, math.nan))[1]
            errors = latest.get("target5xx", (0.0, 0.0))[1] + latest.get("elb5xx", (0.0, 0.0))[1]
            err_ratio = errors / reqs if reqs and reqs > 0 else math.nan
            p95 = latest.get("p95", (0.0, math.nan))
            # the sample's time is the end of the newest period it comes from
            ts = p95[0] + self.window_s if "p95" in latest else 0.0
            samples[r] = Sample(
                region=r,
                p95_seconds=p95[1],
                error_ratio=err_ratio,
                saturation=None,
                request_rate=None if math.isnan(reqs) else reqs / self.window_s,
                ts=ts,
            )
        return samples
