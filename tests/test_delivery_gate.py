"""`summit gate` against a real Prometheus server on 127.0.0.1, with controlled series
backfilled through ``promtool tsdb create-blocks-from openmetrics``: a healthy region, a
breaching region, a region whose series are flat (NaN: no requests in the window) and a service
with no series at all. Plus the pure SLO parser and verdict."""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from summit_platform.automation.cli import main
from summit_platform.automation.delivery import gate as g
from summit_platform.automation.errors import UserError

pytestmark = pytest.mark.prometheus

BUCKETS = (0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, math.inf)
STEP = 15
SPAN = 20 * 60
# per 15 s step: {(region, service, code): {upper bound of the bucket a request lands in: n}}
TRAFFIC = {
    ("us-east-1", "web", "200"): {0.1: 100, 0.25: 50},
    ("us-east-1", "web", "500"): {0.1: 1},
    ("us-west-2", "web", "200"): {0.5: 50, 2.5: 50},
    ("us-west-2", "web", "500"): {0.1: 5},
    ("ap-south-1", "web", "200"): {},  # series exist, no request in the window: NaN
}


def _openmetrics(end: int) -> str:
    name = "http_server_request_duration_seconds"
    lines = [f"# TYPE {name} histogram"]
    start = end - SPAN
    for (region, service, code), per_step in TRAFFIC.items():
        labels = f'code="{code}",region="{region}",service="{service}"'
        for i, ts in enumerate(range(start, end + 1, STEP)):
            total = 0
            for le in BUCKETS:
                total = sum(c for ub, c in per_step.items() if ub <= le) * i
                le_txt = "+Inf" if math.isinf(le) else f"{le:g}"
                lines.append(f'{name}_bucket{{{labels},le="{le_txt}"}} {total} {ts}')
            lines.append(f"{name}_count{{{labels}}} {total} {ts}")
            lines.append(f"{name}_sum{{{labels}}} {total * 0.2:.1f} {ts}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    from obs_helpers import running_prometheus, tsdb_from_openmetrics

    tmp = tmp_path_factory.mktemp("prom")
    end = int(time.time()) - 120
    data = tsdb_from_openmetrics(_openmetrics(end), tmp)
    config = "global:\n  scrape_interval: 15s\nscrape_configs: []\n"
    with running_prometheus(tmp, config, data, "--storage.tsdb.retention.time=30d") as url:
        yield url, end
    shutil.rmtree(data, ignore_errors=True)


def _gate(prom, *args: str, tmp_path: Path) -> tuple[int, dict]:
    url, end = prom
    out = tmp_path / "gate.json"
    md = tmp_path / "gate.md"
    rc = main(
        [
            "gate",
            "--prometheus",
            url,
            "--window",
            "10m",
            "--at",
            str(end),
            "--json",
            str(out),
            "--markdown",
            str(md),
            *args,
        ]
    )
    doc = json.loads(out.read_text()) if out.exists() else {}
    if doc:
        assert md.read_text().startswith("### Health gate")
    return rc, doc


def test_healthy_region_passes(prom, tmp_path):
    rc, doc = _gate(
        prom, "--region", "us-east-1", "--slo", "p95<1500ms", "--slo", "err<1%", tmp_path=tmp_path
    )
    assert rc == 0, doc
    assert doc["passed"] is True
    rows = {r["signal"]: r for r in doc["rows"]}
    # p95 interpolated inside (0.1, 0.25]: 0.1 + (0.95*151 - 101) / 50 * 0.15
    assert rows["p95"]["value"] == pytest.approx(0.1 + (0.95 * 151 - 101) / 50 * 0.15, rel=1e-6)
    assert rows["err"]["value"] == pytest.approx(1 / 151, rel=1e-6)
    assert all(r["status"] == "pass" for r in doc["rows"])


def test_breaching_region_fails_with_values(prom, tmp_path):
    rc, doc = _gate(prom, "--region", "us-west-2", tmp_path=tmp_path)
    assert rc == 1
    rows = {r["signal"]: r for r in doc["rows"]}
    assert rows["p95"]["status"] == "fail"
    assert rows["p95"]["value"] == pytest.approx(1.5 + (0.95 * 105 - 55) / 50 * 1.0, rel=1e-6)
    assert rows["err"]["status"] == "fail"
    assert rows["err"]["value"] == pytest.approx(5 / 105, rel=1e-6)
    assert "breached" in doc["summary"]


def test_a_looser_slo_lets_the_breaching_latency_pass(prom, tmp_path):
    rc, doc = _gate(prom, "--region", "us-west-2", "--slo", "p95<3s", tmp_path=tmp_path)
    assert rc == 0 and doc["passed"]


@pytest.mark.parametrize(
    "args",
    [
        ("--region", "us-east-1", "--service", "ghost"),  # no series at all: empty vector
        ("--region", "ap-south-1"),  # series, but no request in the window: NaN
    ],
)
def test_no_data_is_a_failure_with_its_own_message(prom, tmp_path, args, capsys):
    rc, doc = _gate(prom, *args, tmp_path=tmp_path)
    assert rc == 1
    assert doc["passed"] is False and doc["noData"] is True
    assert {r["status"] for r in doc["rows"]} == {"no-data"}
    assert all(r["value"] is None for r in doc["rows"])
    assert "no data" in capsys.readouterr().err


def test_bad_input_exits_2_and_queries_nothing(tmp_path, capsys):
    assert (
        main(
            [
                "gate",
                "--region",
                "us-east-1",
                "--prometheus",
                "http://127.0.0.1:9",
                "--slo",
                "latency<1",
            ]
        )
        == 2
    )
    assert "--slo" in capsys.readouterr().err
    assert main(["gate", "--region", "useast", "--prometheus", "http://127.0.0.1:9"]) == 2
    assert main(["gate", "--region", "us-east-1", "--prometheus", "nope"]) == 2
    assert main(["gate", "--region", "us-east-1", "--prometheus", "http://x", "--window", "5"]) == 2


def test_unreachable_prometheus_fails_not_passes(capsys):
    from obs_helpers import free_port

    rc = main(["gate", "--region", "us-east-1", "--prometheus", f"http://127.0.0.1:{free_port()}"])
    assert rc == 1
    assert "unreachable" in capsys.readouterr().err


# -- pure parts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "signal", "threshold", "q"),
    [
        ("p95<1500ms", "p95", 1.5, 0.95),
        ("p99<=2s", "p99", 2.0, 0.99),
        ("p99.9<800ms", "p99.9", 0.8, 0.999),
        ("err<1%", "err", 0.01, None),
        ("err<0.005", "err", 0.005, None),
        (" err < 2.5% ", "err", 0.025, None),
    ],
)
def test_parse_slo(text, signal, threshold, q):
    slo = g.parse_slo(text)
    assert slo.signal == signal
    assert slo.threshold == pytest.approx(threshold)
    assert slo.quantile == (pytest.approx(q) if q else None)


@pytest.mark.parametrize("bad", ["p95>1s", "p95<1500", "err<150%", "err<1ms", "p0<1s", "x<1"])
def test_parse_slo_rejects(bad):
    with pytest.raises(UserError):
        g.parse_slo(bad)


values = st.one_of(st.none(), st.just(math.nan), st.floats(0, 10, allow_nan=False))


@given(
    st.lists(
        st.tuples(st.sampled_from(["p95<1500ms", "err<1%", "p99<=2s"]), values),
        min_size=1,
        max_size=4,
    )
)
def test_verdict_passes_only_when_every_slo_has_a_value_under_its_threshold(pairs):
    slos = [g.parse_slo(t) for t, _ in pairs]
    vals = [v for _, v in pairs]
    res = g.verdict("us-east-1", "600s", slos, ["q"] * len(slos), vals)
    expected = all(
        v is not None and not math.isnan(v) and s.holds(v) for s, v in zip(slos, vals, strict=True)
    )
    assert res.passed == expected
    # An error ratio above 1 cannot be measured (errors are a subset of requests): no data.
    assert res.no_data == any(
        v is None or math.isnan(v) or (s.signal == "err" and v > 1)
        for s, v in zip(slos, vals, strict=True)
    )
    if res.no_data:
        assert not res.passed and "no data" in res.summary
