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
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from automation.traffic.controller import Sample

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


class PrometheusSource:
    """Instant queries against ``base_url``/api/v1/query."""

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
        unknown = set(self.queries) - {"p95", "errorRatio", "saturation", "requestRate"}
        if unknown:
            raise ValueError(f"unknown signals {sorted(unknown)}")
        self.region_label = region_label
        self.timeout_s = timeout_s

    def query(self, promql: str, at: float | None = None) -> dict[str, tuple[float, float]]:
        """region -> (timestamp, value) of an instant vector query."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        url = f"{self.base_url}/api/v1/query?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as resp:
                doc = json.load(resp)
        except urllib.error.HTTPError as err:
            body = err.read().decode(errors="replace")[:300]
            raise SourceError(f"Prometheus {err.code} for {promql!r}: {body}") from None
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as err:
            raise SourceError(f"Prometheus at {self.base_url} unreachable: {err}") from None
        if doc.get("status") != "success":
            raise SourceError(f"Prometheus error for {promql!r}: {doc.get('error')}")
        data = doc.get("data") or {}
        if data.get("resultType") != "vector":
            raise SourceError(f"expected an instant vector for {promql!r}")
        out: dict[str, tuple[float, float]] = {}
        for series in data.get("result", []):
            region = series.get("metric", {}).get(self.region_label)
            if region is None:
                continue
            ts, value = series["value"]
            v = float(value)  # "NaN" and "+Inf" parse too
            if region in out and math.isfinite(out[region][1]):
                v = max(v, out[region][1]) if math.isfinite(v) else out[region][1]
            out[region] = (float(ts), v)
        return out

    def fetch(self, regions: list[str], at: float | None = None) -> dict[str, Sample]:
        """One sample per region; a missing series gives NaN (required) or None (optional)."""
        results = {name: self.query(q, at) for name, q in self.queries.items()}
        samples = {}
        for r in regions:
            stamps = [results[n][r][0] for n in results if r in results[n]]
            ts = min(stamps) if stamps else 0.0

            def get(name: str, r: str = r) -> float | None:
                if name not in results:
                    return None
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
