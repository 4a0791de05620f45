"""The gateway sample app: endpoints, Prometheus histogram labels, injected faults, process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from summit_platform.apps.gateway.app import METRIC, parse_fault_spec, start

ROOT = Path(__file__).resolve().parents[1]


def get(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def histogram_counts(url: str) -> dict[tuple[str, str, str], float]:
    _, body = get(url + "/metrics")
    out = {}
    for fam in text_string_to_metric_families(body.decode()):
        if fam.name == METRIC:
            for s in fam.samples:
                if s.name == METRIC + "_count":
                    out[(s.labels["service"], s.labels["region"], s.labels["code"])] = s.value
    return out


def test_endpoints_and_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUMMIT_INJECT_LATENCY_MS", raising=False)
    monkeypatch.setenv("SUMMIT_REGION", "us-west-2")
    with start(0) as gw:
        assert gw.host == "127.0.0.1"
        assert get(gw.url + "/healthz") == (200, b'{"status": "ok"}')
        status, body = get(gw.url + "/search?q=item%2012")
        assert status == 200 and json.loads(body)["total"] >= 1
        assert get(gw.url + "/ingest", b'{"events": [1, 2, 3]}') == (202, b'{"accepted": 3}')
        assert get(gw.url + "/ingest", b"nope")[0] == 400
        assert get(gw.url + "/users/7")[0] == 200 and get(gw.url + "/users/x")[0] == 404
        assert get(gw.url + "/orders", b"{}")[0] == 201
        assert get(gw.url + "/healthz", b"")[0] == 405
        for path in ("/orders", "/catalog?page=3", "/cart", "/recommendations"):
            assert get(gw.url + path)[0] == 200
        assert get(gw.url + "/checkout", b"{}")[0] == 200
        counts = histogram_counts(gw.url)
    assert counts[("gateway", "us-west-2", "200")] == 8
    assert counts[("gateway", "us-west-2", "201")] == 1
    assert counts[("gateway", "us-west-2", "405")] == 1
    assert counts[("gateway", "us-west-2", "202")] == 1
    assert counts[("gateway", "us-west-2", "404")] == 1
    assert counts[("gateway", "us-west-2", "400")] == 1


def test_two_instances_have_separate_registries() -> None:
    with start(0, region="us-east-1") as a, start(0, region="us-west-2", service="edge") as b:
        get(a.url + "/healthz")
        assert histogram_counts(a.url) == {("gateway", "us-east-1", "200"): 1}
        assert histogram_counts(b.url) == {}


def test_injected_latency_and_errors() -> None:
    with start(0, inject_latency_ms={"/search": 120}, inject_error_pct={"/users/{id}": 50}) as gw:
        t0 = time.perf_counter()
        get(gw.url + "/search?q=x")
        slow = time.perf_counter() - t0
        t0 = time.perf_counter()
        get(gw.url + "/cart")
        assert slow >= 0.12 and slow > time.perf_counter() - t0
        codes = [get(gw.url + f"/users/{i}")[0] for i in range(10)]
    assert codes.count(500) == 5 and codes.count(200) == 5


def test_fault_spec_parsing() -> None:
    assert parse_fault_spec("/search=300, /ingest=50") == {"/search": 300.0, "/ingest": 50.0}
    assert parse_fault_spec("") == {}
    for bad in ("search=3", "/search", "/search=slow", "/search=-1"):
        with pytest.raises(ValueError, match="SUMMIT_INJECT_LATENCY_MS"):
            parse_fault_spec(bad)


def test_runs_as_a_process_with_env_latency() -> None:
    env = {**os.environ, "SUMMIT_INJECT_LATENCY_MS": "/cart=150", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "summit_platform.apps.gateway.app", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.split()[-1]
        t0 = time.perf_counter()
        assert get(url + "/cart")[0] == 200
        assert time.perf_counter() - t0 >= 0.15
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_bad_env_exits_2() -> None:
    env = {**os.environ, "SUMMIT_INJECT_LATENCY_MS": "search", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "summit_platform.apps.gateway.app", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=30,
    )
    assert proc.returncode == 2 and "SUMMIT_INJECT_LATENCY_MS" in proc.stderr
