"""End to end with a real Prometheus server on loopback: it loads the rendered rules, scrapes a
real exporter (prometheus_client's HTTP server in a thread), and the recorded steering series
carry the values the exporter's traffic implies.

The exporter serves a deterministic histogram: every 50 ms of wall clock adds one "cycle" of
100 requests (code 200: 88 at 20 ms and 10 at 300 ms; code 500: 2 at 20 ms), so every counter
is proportional to the same step function of time. rate() then extrapolates every series by
the same factor and ratios come out exact: error ratio 0.02, p95 = 0.25 + 0.25 * 5/10 =
0.375 s, latency SLI (threshold 1 s, bucket label ``"1.0"`` as Python clients write it) 0.
The request rate is 2000/s up to rate()'s extrapolation, so it gets a tolerance.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from obs_helpers import free_port, require_tool, running_prometheus, write_rules
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

from summit_platform.components.render import dashboards as dash
from summit_platform.components.render import prometheus_rules as pr

pytestmark = pytest.mark.prometheus

REGION = "us-east-1"
SERVICE = "gateway"
CYCLE_SECONDS = 0.05
BOUNDS = ("0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "+Inf")
PER_CYCLE = {"200": (88, 88, 88, 88, 98, 98, 98, 98), "500": (2, 2, 2, 2, 2, 2, 2, 2)}
SUM_PER_CYCLE = {"200": 88 * 0.02 + 10 * 0.3, "500": 2 * 0.02}


class SyntheticTraffic:
    """A collector whose counters are a pure function of elapsed time (no torn scrapes)."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def collect(self) -> Iterator[Any]:
        cycles = math.floor((time.monotonic() - self.start) / CYCLE_SECONDS)
        h = HistogramMetricFamily(
            "http_server_request_duration_seconds",
            "Request duration.",
            labels=["service", "region", "code"],
        )
        for code, cumulative in PER_CYCLE.items():
            h.add_metric(
                [SERVICE, REGION, code],
                buckets=[(le, n * cycles) for le, n in zip(BOUNDS, cumulative, strict=True)],
                sum_value=SUM_PER_CYCLE[code] * cycles,
            )
        yield h
        active = GaugeMetricFamily(
            "http_server_active_requests", "In flight.", labels=["service", "region"]
        )
        active.add_metric([SERVICE, REGION], 30)
        yield active
        limit = GaugeMetricFamily(
            "http_server_concurrency_limit", "Capacity.", labels=["service", "region"]
        )
        limit.add_metric([SERVICE, REGION], 100)
        yield limit


def query(base: str, expr: str) -> dict[str, Any]:
    """The API's answer; a 400 (bad PromQL) returns its error body instead of raising."""
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as err:
        if err.code == 400:
            return json.load(err)
        raise


def value(base: str, expr: str) -> float | None:
    result = query(base, expr)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[str]:
    require_tool("prometheus")  # before the exporter starts: a missing tool skips or fails
    registry = CollectorRegistry()
    registry.register(SyntheticTraffic())
    exporter_port = free_port()
    server, thread = start_http_server(exporter_port, addr="127.0.0.1", registry=registry)
    spec = pr.ServiceRules(service=SERVICE, region=REGION, latency_threshold_seconds=1.0)
    write_rules(tmp_path / "rules.yml", pr.service_rule_groups(spec))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yml")],
        "scrape_configs": [
            {"job_name": "gateway", "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}
        ],
    }
    try:
        with running_prometheus(tmp_path, yaml.safe_dump(config), tmp_path / "data") as base:
            yield base
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def wait_for(base: str, expr: str, timeout: float = 45) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = value(base, expr)
        if v is not None and math.isfinite(v):
            return v
        time.sleep(0.5)
    pytest.fail(f"{expr} never produced a value within {timeout}s")
    raise AssertionError  # unreachable


def test_prometheus_records_the_steering_series_from_a_real_exporter(prometheus: str) -> None:
    base = prometheus
    sel = f'{{service="{SERVICE}", region="{REGION}"}}'
    # Wait for a few scrapes so the 1m windows hold several samples.
    wait_for(base, f"{pr.STEERING_REQUEST_RATE}{sel}")
    time.sleep(4)

    assert wait_for(base, f"{pr.STEERING_P95}{sel}") == pytest.approx(0.375, abs=1e-9)
    assert wait_for(base, f"{pr.STEERING_ERROR_RATIO}{sel}") == pytest.approx(0.02, abs=1e-12)
    assert wait_for(base, f"{pr.STEERING_SATURATION}{sel}") == pytest.approx(0.3, abs=1e-12)

    # The same histogram feeds RED and the SLIs.
    assert wait_for(base, f"{pr.RED_P95}{sel}") == pytest.approx(0.375, abs=1e-9)
    slo = f'{{slo_service="{SERVICE}", region="{REGION}"'
    sli5m = pr.SLI_ERROR.format(window="5m")
    avail = wait_for(base, f'{sli5m}{slo}, slo_name="{pr.AVAILABILITY}"}}')
    assert avail == pytest.approx(0.02, abs=1e-12)
    slow = wait_for(base, f'{sli5m}{slo}, slo_name="{pr.LATENCY}"}}')
    assert slow == pytest.approx(0.0, abs=1e-12)  # le="1.0" matched by the 1 s threshold

    # Every labelled result carries exactly the contract's labels.
    result = query(base, pr.STEERING_P95)["data"]["result"]
    assert [r["metric"] for r in result] == [
        {"__name__": pr.STEERING_P95, "service": SERVICE, "region": REGION}
    ]

    # Every rule loaded and evaluates without error.
    with urllib.request.urlopen(f"{base}/api/v1/rules", timeout=5) as resp:
        groups = json.load(resp)["data"]["groups"]
    assert {g["name"] for g in groups} == {
        g["name"] for g in pr.service_rule_groups(pr.ServiceRules(service=SERVICE, region=REGION))
    }
    for g in groups:
        for r in g["rules"]:
            assert r["health"] in ("ok", "unknown"), (r["name"], r.get("lastError"))

    # Every dashboard query is valid PromQL for this server, and the RED panels have data.
    for board in [
        *dash.service_dashboards(SERVICE).values(),
        dash.overview_dashboard(REGION, [SERVICE]),
    ]:
        for q in dash.panel_queries(board):
            if q.startswith("label_values("):
                continue
            answer = query(base, q.replace("$region", ".*"))
            assert answer["status"] == "success", (board["uid"], q, answer)
    red = dash.service_dashboards(SERVICE)[f"{dash.dashboard_uid(SERVICE, 'red')}.json"]
    with_data = [
        q
        for q in dash.panel_queries(red)
        if not q.startswith("label_values(")
        and query(base, q.replace("$region", ".*"))["data"]["result"]
    ]
    assert any(pr.STEERING_P95 in q for q in with_data)

    # The request rate needs the whole 1m window: until then rate() extrapolates only over
    # the covered part of it. 100 requests per 50 ms cycle is 2000 requests/s.
    deadline = time.monotonic() + 90
    rate = 0.0
    while time.monotonic() < deadline:
        rate = wait_for(base, f"{pr.STEERING_REQUEST_RATE}{sel}")
        if rate == pytest.approx(100 / CYCLE_SECONDS, rel=0.05):
            break
        time.sleep(2)
    assert rate == pytest.approx(100 / CYCLE_SECONDS, rel=0.05)
    assert wait_for(base, f"{pr.RED_REQUEST_RATE}{sel}") > 0
