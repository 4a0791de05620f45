"""Metric sources: the Prometheus source against a real Prometheus server (Debian's package)
scraping a real prometheus_client exporter whose latency and errors this test controls, and
the CloudWatch source with moto (sums) and botocore's Stubber (the p95 request shape)."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.stub import Stubber
from conftest import require_tool
from moto import mock_aws
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from summit_platform.automation.traffic.controller import (
    Policy,
    RegionState,
    State,
    evaluate,
    initial_state,
)
from summit_platform.automation.traffic.sources import (
    DEFAULT_QUERIES,
    RAW_HISTOGRAM_QUERIES,
    CloudWatchSource,
    PrometheusSource,
    SourceError,
    alb_dimension,
    freshness_query,
    metric_names,
)

E, W = "us-east-1", "us-west-2"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"

# The contract series, produced here by our own small rule file from the raw histogram.
RULES = """
groups:
  - name: steering-test
    interval: 1s
    rules:
      - record: summit:steering_p95_seconds:1m
        expr: >-
          histogram_quantile(0.95, sum by (region, service, le)
          (rate(http_request_duration_seconds_bucket[1m])))
      - record: summit:steering_error_ratio:1m
        expr: >-
          sum by (region, service) (rate(http_requests_total{code=~"5.."}[1m]))
          / sum by (region, service) (rate(http_requests_total[1m]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Exporter:
    """A real /metrics endpoint with per-region latency and error ratio set by the test."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.hist = Histogram(
            "http_request_duration_seconds",
            "latency",
            ["region", "service"],
            buckets=(0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0),
            registry=self.registry,
        )
        self.reqs = Counter(
            "http_requests", "requests", ["region", "service", "code"], registry=self.registry
        )
        for r in (E, W):  # zero-valued series exist from the start, as in a real service
            for code in ("200", "500"):
                self.reqs.labels(r, "gateway", code)
        self.latency = {E: 0.2, W: 0.2}
        self.errors = {E: 0.0, W: 0.0}
        self.port = _free_port()
        self.server, self.thread = start_http_server(
            self.port, addr="127.0.0.1", registry=self.registry
        )
        self._stop = threading.Event()
        self._load = threading.Thread(target=self._traffic, daemon=True)
        self._load.start()

    def _traffic(self):
        while not self._stop.is_set():
            for r in (E, W):
                for i in range(20):
                    self.hist.labels(r, "gateway").observe(self.latency[r])
                    bad = i < round(20 * self.errors[r])
                    self.reqs.labels(r, "gateway", "500" if bad else "200").inc()
            time.sleep(0.1)

    def close(self):
        self._stop.set()
        self.server.shutdown()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    if not os.path.exists(PROMETHEUS):
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus server missing (apt-get install prometheus)")
        pytest.skip("prometheus server not installed")
    exporter = Exporter()
    exporter.latency[W] = 1.8
    exporter.errors[W] = 0.05
    d = tmp_path_factory.mktemp("prom")
    (d / "rules.yml").write_text(RULES)
    (d / "prometheus.yml").write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(d / "rules.yml")],
                "scrape_configs": [
                    {
                        "job_name": "exporter",
                        "static_configs": [{"targets": [f"127.0.0.1:{exporter.port}"]}],
                    }
                ],
            }
        )
    )
    port = _free_port()
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={d / 'prometheus.yml'}",
            f"--storage.tsdb.path={d / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(d / "prometheus.log", "w"),  # noqa: SIM115
    )
    url = f"http://127.0.0.1:{port}"
    src = PrometheusSource(url)
    try:
        deadline = time.monotonic() + 60
        while True:  # bounded wait until both regions' rule series exist
            try:
                got = src.query(src.queries["errorRatio"])
                p95 = src.query(src.queries["p95"])
                if {E, W} <= set(got) and {E, W} <= set(p95):
                    break
            except SourceError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"Prometheus never produced data: {(d / 'prometheus.log').read_text()[-2000:]}"
                )
            time.sleep(0.5)
        yield url, exporter
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        exporter.close()


@pytest.mark.prometheus
def test_recording_rule_queries_per_region(prometheus):
    url, _ = prometheus
    samples = PrometheusSource(url).fetch([E, W], at=None)
    assert samples[W].p95_seconds > 1.5 > samples[E].p95_seconds
    assert samples[E].p95_seconds < 0.3
    assert samples[W].error_ratio == pytest.approx(0.05, abs=0.01)
    assert samples[E].error_ratio == pytest.approx(0.0, abs=1e-9)
    assert samples[W].saturation is None  # not exported: optional signal
    assert abs(samples[W].ts - time.time()) < 30


@pytest.mark.prometheus
def test_raw_histogram_queries_are_configurable(prometheus):
    url, _ = prometheus
    samples = PrometheusSource(url, RAW_HISTOGRAM_QUERIES).fetch([E, W])
    assert samples[W].p95_seconds > 1.5 > samples[E].p95_seconds
    assert samples[W].request_rate and samples[W].request_rate > 0


@pytest.mark.prometheus
def test_missing_region_is_nan_and_bad_query_raises(prometheus):
    url, _ = prometheus
    samples = PrometheusSource(url).fetch([E, W, "eu-west-1"])
    assert math.isnan(samples["eu-west-1"].p95_seconds)
    with pytest.raises(SourceError, match="400"):
        PrometheusSource(url).query("sum by (region (")


def test_unreachable_prometheus_raises_source_error():
    with pytest.raises(SourceError, match="unreachable"):
        PrometheusSource(f"http://127.0.0.1:{_free_port()}", timeout_s=1).query("up")


ALB = "arn:aws:elasticloadbalancing:us-west-2:111122223333:loadbalancer/app/summit-usw2/1fe7c2a4"


def test_alb_dimension():
    assert alb_dimension(ALB) == "app/summit-usw2/1fe7c2a4"


@mock_aws
def test_cloudwatch_source_with_moto():
    cw = boto3.client("cloudwatch", region_name="us-west-2")
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    dim = [{"Name": "LoadBalancer", "Value": alb_dimension(ALB)}]
    at = now - dt.timedelta(seconds=60)
    cw.put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {"MetricName": "TargetResponseTime", "Dimensions": dim, "Timestamp": at, "Value": 1.7},
            {"MetricName": "RequestCount", "Dimensions": dim, "Timestamp": at, "Value": 1200},
            {
                "MetricName": "HTTPCode_Target_5XX_Count",
                "Dimensions": dim,
                "Timestamp": at,
                "Value": 24,
            },
            {
                "MetricName": "HTTPCode_ELB_5XX_Count",
                "Dimensions": dim,
                "Timestamp": at,
                "Value": 12,
            },
        ],
    )
    # moto cannot compute percentile statistics; the p95 request is checked with Stubber below
    src = CloudWatchSource({W: ALB}, {W: cw}, latency_stat="Average")
    s = src.fetch([W], now.timestamp())[W]
    assert s.p95_seconds == pytest.approx(1.7)
    assert s.error_ratio == pytest.approx(36 / 1200)
    assert s.request_rate == pytest.approx(20)


def test_cloudwatch_p95_request_is_valid_for_the_service_model():
    cw = boto3.client("cloudwatch", region_name="us-west-2")
    ts = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    with Stubber(cw) as stub:
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    {"Id": "p95", "Timestamps": [ts], "Values": [1.62], "StatusCode": "Complete"},
                    {"Id": "requests", "Timestamps": [ts], "Values": [600.0]},
                    {"Id": "target5xx", "Timestamps": [ts], "Values": [3.0]},
                    {"Id": "elb5xx", "Timestamps": [], "Values": []},
                ]
            },
        )
        s = CloudWatchSource({W: ALB}, {W: cw}).fetch([W], ts.timestamp() + 90)[W]
        stub.assert_no_pending_responses()
    assert s.p95_seconds == pytest.approx(1.62)
    assert s.error_ratio == pytest.approx(3 / 600)
    assert s.ts == ts.timestamp() + 60


def test_exporter_is_real_http():
    exp = Exporter()
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{exp.port}/metrics", timeout=5).read()
        assert b"http_request_duration_seconds_bucket" in body
    finally:
        exp.close()


# --------------------------------------------------------------- answers that are not data


class _Answers:
    """A loopback stand-in for Prometheus that answers each query with a scripted body."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}  # "p95" | "errorRatio" | "timestamp" -> body
        answers = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                q = urllib.parse.unquote_plus(self.path)
                kind = (
                    "timestamp"
                    if "timestamp(" in q
                    else "p95"
                    if "p95" in q
                    else "errorRatio"
                    if "error" in q
                    else "other"
                )
                body = answers.bodies.get(kind) or answers.default(kind)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def vector(values: dict[str, str], at: float | None = None) -> bytes:
        at = time.time() if at is None else at
        result = [{"metric": {"region": r}, "value": [at, v]} for r, v in values.items()]
        return json.dumps(
            {"status": "success", "data": {"resultType": "vector", "result": result}}
        ).encode()

    def default(self, kind: str) -> bytes:
        now = time.time()
        if kind == "timestamp":
            return self.vector({E: f"{now - 1:.3f}", W: f"{now - 1:.3f}"})
        if kind == "p95":
            return self.vector({E: "0.3", W: "1.9"})
        if kind == "errorRatio":
            return self.vector({E: "0.001", W: "0.001"})
        return self.vector({})

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture()
def answers():
    a = _Answers()
    yield a
    a.close()


def _w(value: str) -> bytes:
    return _Answers.vector({E: "0.3", W: value})


ODD_ANSWERS = {
    "a list": b"[1, 2, 3]",
    "no resultType": b'{"status": "success", "data": {"result": []}}',
    "a matrix": json.dumps(
        {
            "status": "success",
            "data": {"resultType": "matrix", "result": [{"metric": {}, "values": []}]},
        }
    ).encode(),
    "result null": b'{"status": "success", "data": {"resultType": "vector", "result": null}}',
    "data a string": b'{"status": "success", "data": "vector"}',
    "not JSON": b"<html>502 Bad Gateway</html>",
    "invalid UTF-8": b'{"status": "success", "data": {"resultType": "vector\xff"}}',
    "status error": b'{"status": "error", "error": "query timed out"}',
    "value abc": _w("abc"),
    "value negative": _w("-0.5"),
    "value NaN": _w("NaN"),
    "value +Inf": _w("+Inf"),
    "value -Inf": _w("-Inf"),
    "value a number not a string": json.dumps(
        {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [{"metric": {"region": W}, "value": [1, {"v": 1}]}],
            },
        }
    ).encode(),
    "value Arabic-Indic digits": _w("\u0661\u066b\u0669"),  # 1.9 in Arabic-Indic digits
    "value without a time": json.dumps(
        {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [{"metric": {"region": W}, "value": ["1.9"]}],
            },
        }
    ).encode(),
    "series not an object": json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": ["x", 1, None]}}
    ).encode(),
    "duplicate keys": b'{"status": "success", "status": "success", "data": {}}',
}


@pytest.mark.parametrize("what", sorted(ODD_ANSWERS))
def test_prometheus_answers_of_an_unexpected_shape_are_no_data(answers, what):
    """For the p95 query: the source either raises SourceError (the loop holds, and logs it)
    or gives us-west-2 a sample the controller cannot use; the controller holds, never sheds,
    even one breach short of shedding."""
    answers.bodies["p95"] = ODD_ANSWERS[what]
    policy = Policy(natural={E: 50, W: 50})
    state = State(
        shares={E: 50, W: 50},
        regions={E: RegionState(), W: RegionState(breach_streak=policy.breach_hold - 1)},
    )
    now = time.time()
    try:
        samples = PrometheusSource(answers.url, timeout_s=5).fetch([E, W], at=now)
    except SourceError as err:
        assert "Prometheus" in str(err)
        samples = {}
    new, decision = evaluate(state, samples, policy, now=now)
    assert decision.action == "hold" and decision.fail_static, decision.reason
    assert decision.shares == {E: 50, W: 50}
    assert new.regions[W].mode == "ok"


@pytest.mark.parametrize("stamp", ["abc", "NaN", "+Inf", "milliseconds", "ten minutes ago", "-1"])
def test_sample_times_that_are_not_plausible_are_no_data(answers, stamp):
    """The freshness answer (each sample's own time) of NaN, text, milliseconds, ten minutes
    ago or negative: the sample is no data."""
    now = time.time()
    stamp = {"milliseconds": f"{now * 1000:.0f}", "ten minutes ago": f"{now - 600:.3f}"}.get(
        stamp, stamp
    )
    answers.bodies["timestamp"] = _Answers.vector({E: f"{now - 1:.3f}", W: stamp})
    now = time.time()
    samples = PrometheusSource(answers.url).fetch([E, W], at=now)
    policy = Policy(natural={E: 50, W: 50})
    _, decision = evaluate(initial_state(policy), samples, policy, now=now)
    assert decision.fail_static and W in decision.reason


def test_the_values_used_carry_their_own_times(answers):
    """A healthy answer: p95 1.9 s for us-west-2 and its time is the freshness answer's
    value, not the query's stamp."""
    stamp = time.time() - 42
    answers.bodies["timestamp"] = _Answers.vector({E: f"{stamp:.3f}", W: f"{stamp:.3f}"})
    samples = PrometheusSource(answers.url).fetch([E, W], at=time.time())
    assert samples[W].p95_seconds == 1.9 and samples[W].problem is None
    assert samples[W].ts == pytest.approx(stamp, abs=0.01)


def test_freshness_queries_name_the_series_behind_each_signal():
    assert freshness_query(DEFAULT_QUERIES["p95"]) == (
        'min by (region) (timestamp({__name__=~"summit:steering_p95_seconds:1m"}))'
    )
    assert metric_names(RAW_HISTOGRAM_QUERIES["errorRatio"]) == ["http_requests_total"]
    assert metric_names(
        'max without (le) (foo offset 5m) * on (region) group_left(x) bar:baz{a="b,c)"}[5m:1m]'
    ) == ["foo", "bar:baz"]
    with pytest.raises(ValueError, match="no metric name"):
        freshness_query('{__name__="x"}')


class _OldSamples(BaseHTTPRequestHandler):
    """/metrics with the steering series; us-west-2's samples carry a time 90 s ago (the
    exposition format's explicit timestamp, in ms): what Prometheus holds after a restart."""

    def do_GET(self) -> None:
        old = int((time.time() - 90) * 1000)
        lines = []
        for name, value in (("p95_seconds", "1.9"), ("error_ratio", "0.001")):
            lines.append(f'summit:steering_{name}:1m{{region="{E}",service="g"}} 0.3')
            lines.append(f'summit:steering_{name}:1m{{region="{W}",service="g"}} {value} {old}')
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.prometheus
def test_old_samples_read_through_a_real_prometheus_are_stale(tmp_path):
    """A real Prometheus answers an instant query for a 90-second-old sample stamped with the
    query time; the source reads the sample's own time, so the controller holds."""
    prometheus = require_tool("prometheus")
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), _OldSamples)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    port = _free_port()
    (tmp_path / "prometheus.yml").write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "steering",
                        "static_configs": [
                            {"targets": [f"127.0.0.1:{exporter.server_address[1]}"]}
                        ],
                    }
                ],
            }
        )
    )
    log = open(tmp_path / "prometheus.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        src = PrometheusSource(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        while True:
            try:
                raw = src.query(src.queries["p95"])
                if {E, W} <= set(raw):
                    break
            except SourceError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (
                tmp_path / "prometheus.log"
            ).read_text()[-2000:]
            time.sleep(0.3)
        now = time.time()
        assert abs(raw[W][0] - now) < 5  # Prometheus stamps the answer with the query time
        samples = src.fetch([E, W], at=now)
        assert samples[W].p95_seconds == 1.9
        assert now - samples[W].ts == pytest.approx(90, abs=5)  # its own time
        assert now - samples[E].ts < 10
        policy = Policy(natural={E: 50, W: 50})
        _, decision = evaluate(initial_state(policy), samples, policy, now=now)
        assert decision.fail_static and "old" in decision.reason
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        exporter.shutdown()
