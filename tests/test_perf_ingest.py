"""Readers: every k6 fixture, both summary formats, gzip, Locust CSV, and rejected input."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from summit_platform.automation.cli import main
from summit_platform.automation.errors import UserError
from summit_platform.automation.perf.ingest import read_result
from summit_platform.automation.perf.model import AGGREGATE, split_endpoint

FIXTURES = Path(__file__).resolve().parent / "fixtures"
K6 = FIXTURES / "k6"
K6_FILES = sorted(p for p in K6.iterdir() if p.suffix in (".json", ".ndjson"))

LOCUST_CSV = """\
Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%
GET,/search,1000,20,4,5.1,1.2,250.5,900,100.0,2.0,4,5,6,7,9,12,20,40,200,250,250
POST,/ingest,10,0,3,3.0,2.0,8.1,15,1.0,0.0,3,3,3,3,4,5,8,8,8,8,8
GET,/idle,0,0,0,0,0,0,0,0,0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A
,Aggregated,1010,20,4,5.0,1.2,250.5,890,101.0,2.0,4,5,6,7,9,12,20,40,200,250,250
"""


def independent_ndjson_p95(path: Path) -> dict[str, tuple[int, float]]:
    """Per name tag: (count, p95) with plain json + numpy, no code shared with the reader."""
    values: dict[str, list[float]] = defaultdict(list)
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            obj = json.loads(line)
            if obj["type"] == "Point" and obj["metric"] == "http_req_duration":
                values[obj["data"]["tags"]["name"]].append(obj["data"]["value"])
    return {k: (len(v), float(np.percentile(v, 95))) for k, v in values.items()}


def test_every_k6_fixture_is_read() -> None:
    assert len(K6_FILES) == 6
    kinds = {p.name: read_result(p).kind for p in K6_FILES}
    assert sorted(set(kinds.values())) == ["k6-handle-summary", "k6-ndjson", "k6-summary-export"]


@pytest.mark.parametrize("path", [p for p in K6_FILES if p.suffix == ".ndjson"], ids=str)
def test_ndjson_p95_matches_independent_computation(path: Path) -> None:
    want = independent_ndjson_p95(path)
    got = read_result(path).by_name()
    assert set(got) == set(want) and len(want) == 2
    for name, (count, p95) in want.items():
        assert got[name].count == count
        assert got[name].p95_ms == pytest.approx(p95, rel=0.005)
        assert got[name].errors == 0
        assert got[name].path == "/"


def test_ndjson_reads_both_key_orders() -> None:
    # czrpb writes type,data,metric; xk6-dashboard writes metric,type,data.
    old = read_result(K6 / "out-json_czrpb-workloads_k6out.trimmed.ndjson").by_name()
    new = read_result(K6 / "out-json_grafana-xk6-dashboard_result.ndjson").by_name()
    assert old["http://test.k6.io"].count == 344
    assert new["https://test.k6.io/"].count == 161


@pytest.mark.parametrize("path", [p for p in K6_FILES if p.suffix == ".json"], ids=str)
def test_summary_p95_is_the_files_own(path: Path) -> None:
    doc = json.loads(path.read_text())
    dur = doc["metrics"].get("http_req_duration")
    result = read_result(path)
    if dur is None:  # the kafka and gRPC fixtures have no HTTP metrics
        assert result.endpoints == ()
        return
    values = dur.get("values", dur)
    (ep,) = result.endpoints
    assert ep.name == AGGREGATE
    assert ep.p95_ms == pytest.approx(values["p(95)"], rel=1e-12)


def test_summary_export_thresholds_are_normalised() -> None:
    r = read_result(K6 / "summary-export_svastiks-microservices-stress-test_2026-03-04-1.json")
    assert r.kind == "k6-summary-export"
    # The file says false = "not crossed": the thresholds held.
    assert {(t.expression, t.passed) for t in r.thresholds} == {
        ("p(95)<400", True),
        ("p(99)<800", True),
        ("rate<0.05", True),
    }
    (ep,) = r.endpoints
    assert (ep.count, ep.errors, ep.p99_ms) == (9001, 0, None)


def test_handle_summary_thresholds_and_error_rate() -> None:
    r = read_result(K6 / "handle-summary_benc-uk-k6-reporter_simple.json")
    assert r.kind == "k6-handle-summary"
    assert ("p(95)<1000", True) in {(t.expression, t.passed) for t in r.thresholds}
    (ep,) = r.endpoints
    # http_req_failed: 349 "passes" = 349 failed requests out of 878 (rate 0.397).
    assert (ep.count, ep.errors) == (878, 349)
    assert ep.err_rate == pytest.approx(39.749430523917995)
    assert ep.p99_ms == pytest.approx(39.57713638)
    grpc = read_result(K6 / "handle-summary_benc-uk-k6-reporter_grpc.json")
    assert {(t.expression, t.passed) for t in grpc.thresholds} == {
        ("rate >= 0.8", False),
        ("med <= 2", True),
    }


def test_summary_submetrics_by_name_become_endpoints(tmp_path: Path) -> None:
    doc = {
        "metrics": {
            "http_req_duration": {"avg": 1, "p(95)": 50, "med": 3, "max": 90},
            "http_req_duration{name:GET /search}": {"p(95)": 80, "med": 5, "max": 90},
            "http_req_duration{expected_response:true}": {"p(95)": 10},
            "http_reqs{name:GET /search}": {"count": 400, "rate": 4},
            "http_req_failed{name:GET /search}": {"passes": 4, "fails": 396, "value": 0.01},
        }
    }
    f = tmp_path / "s.json"
    f.write_text(json.dumps(doc))
    eps = read_result(f).by_name()
    assert set(eps) == {AGGREGATE, "GET /search"}
    s = eps["GET /search"]
    assert (s.method, s.path, s.count, s.errors, s.p95_ms) == ("GET", "/search", 400, 4, 80)


def test_gzip_ndjson_equals_plain(tmp_path: Path) -> None:
    src = K6 / "out-json_grafana-xk6-dashboard_result.ndjson"
    gz = tmp_path / "result.ndjson.gz"
    with open(src, "rb") as fi, gzip.open(gz, "wb") as fo:
        shutil.copyfileobj(fi, fo)
    plain, packed = read_result(src).by_name(), read_result(gz).by_name()
    assert {k: (v.count, v.p95_ms) for k, v in plain.items()} == {
        k: (v.count, v.p95_ms) for k, v in packed.items()
    }


def test_ndjson_errors_from_http_req_failed_and_from_tags(tmp_path: Path) -> None:
    def point(metric: str, value: float, status: str, **tags: str) -> str:
        t = {"name": "GET /x", "method": "GET", "status": status, **tags}
        return json.dumps({"type": "Point", "metric": metric, "data": {"value": value, "tags": t}})

    with_failed = [point("http_req_duration", 10, "200"), point("http_req_failed", 0, "200")]
    with_failed += [point("http_req_duration", 12, "500"), point("http_req_failed", 1, "500")]
    f = tmp_path / "a.ndjson"
    f.write_text("\n".join(with_failed) + "\n")
    assert read_result(f).by_name()["GET /x"].errors == 1
    # Older k6 without http_req_failed: status decides (expected_response absent).
    g = tmp_path / "b.ndjson"
    g.write_text(point("http_req_duration", 3, "503") + "\n" + point("http_req_duration", 4, "204"))
    e = read_result(g).by_name()["GET /x"]
    assert (e.count, e.errors, e.err_rate) == (2, 1, 50.0)


def test_locust_csv(tmp_path: Path) -> None:
    f = tmp_path / "run_stats.csv"
    f.write_text(LOCUST_CSV)
    # The --csv prefix works as well as the file itself.
    for arg in (f, tmp_path / "run"):
        r = read_result(arg)
        assert r.kind == "locust-csv"
        eps = r.by_name()
        assert eps["/search"].method == "GET" and eps["/search"].path == "/search"
        assert (eps["/search"].count, eps["/search"].err_rate, eps["/search"].p95_ms) == (
            1000,
            2.0,
            12.0,
        )
        assert eps["/idle"].p95_ms is None
        assert eps[AGGREGATE].count == 1010


def test_split_endpoint() -> None:
    assert split_endpoint("GET /users/7?x=1") == ("GET", "/users/7")
    assert split_endpoint("https://test.k6.io/") == (None, "/")
    assert split_endpoint("login", "https://h/api/login?next=/") == (None, "/api/login")
    assert split_endpoint("login") == (None, None)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("hello world\n", "not a k6 or Locust result"),
        ('{"foo": 1}\n', "not a k6 or Locust result"),
        ("Timestamp,User Count,Type\n", "_stats_history.csv"),
        ("", "empty"),
        (
            '{"type":"Point","metric":"http_req_duration","data":{"value":"x","tags":{}}}\n',
            "data.value",
        ),
    ],
)
def test_bad_result_files_exit_2_saying_what_was_expected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, needle: str
) -> None:
    f = tmp_path / "result.json"
    f.write_text(content)
    with pytest.raises(UserError):
        read_result(f)
    assert main(["perf", "show", str(f)]) == 2
    err = capsys.readouterr().err
    assert needle in err and str(f) in err
    assert "Traceback" not in err


def test_missing_and_corrupt_gzip_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["perf", "show", str(tmp_path / "nope.ndjson")]) == 2
    bad = tmp_path / "x.ndjson.gz"
    bad.write_bytes(b"not gzip at all")
    assert main(["perf", "show", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "no such result file" in err and "cannot read" in err
    assert main(["perf", "show", str(tmp_path)]) == 2
    assert f"{tmp_path}: expected a result file, found a folder" in capsys.readouterr().err


def _stats(path: Path) -> dict[str, tuple]:
    return {
        k: (e.count, e.errors, e.method, e.path, e.p95_ms, e.max_ms)
        for k, e in read_result(path).by_name().items()
    }


def test_chunk_boundaries_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    import summit_platform.automation.perf.ingest as ingest

    src = K6 / "out-json_czrpb-workloads_k6out.trimmed.ndjson"
    want = _stats(src)
    for size in (97, 4096):  # lines straddle chunks; carried partial lines are rejoined
        monkeypatch.setattr(ingest, "_CHUNK", size)
        assert _stats(src) == want


def test_json_fallback_agrees_with_fast_path(tmp_path: Path) -> None:
    """Pretty-printed, escaped or unnamed lines take json.loads and give the same numbers."""
    src = K6 / "out-json_grafana-xk6-dashboard_result.ndjson"
    spaced = tmp_path / "spaced.ndjson"
    with open(src) as fi, open(spaced, "w") as fo:
        for line in fi:
            fo.write(json.dumps(json.loads(line)) + "\n")  # ", " and ": " separators
    assert _stats(spaced) == _stats(src)

    odd = tmp_path / "odd.ndjson"
    pts = [
        {
            "type": "Point",
            "metric": "http_req_duration",
            "data": {"value": 5, "tags": {"name": 'GET /a"b', "status": "200"}},
        },
        {
            "type": "Point",
            "metric": "http_req_duration",
            "data": {"value": 7, "tags": {"method": "GET", "url": "http://h/x", "status": "500"}},
        },
        {
            "type": "Point",
            "metric": "http_reqs",
            "data": {"value": 1, "tags": {"url": "http://h/http_req_failed"}},
        },
    ]
    odd.write_text("".join(json.dumps(p, separators=(",", ":")) + "\n" for p in pts))
    got = read_result(odd).by_name()
    assert set(got) == {'GET /a"b', "GET http://h/x"}
    assert (got["GET http://h/x"].errors, got["GET http://h/x"].path) == (1, "/x")


def test_broken_line_is_reported_with_its_number(tmp_path: Path) -> None:
    f = tmp_path / "broken.ndjson"
    good = '{"type":"Point","metric":"http_req_duration","data":{"value":1,"tags":{"name":"a"}}}'
    f.write_text(f"{good}\n{good}\n{{oops http_req_duration\n")
    with pytest.raises(UserError, match="line 3 is not JSON"):
        read_result(f)
