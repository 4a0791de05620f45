"""`summit perf` on bad input (issue: bad input never crashes, never passes, never leaks).

Each reproducer of the issue has a test named for it: `perf compare` on odd k6 summaries,
``inf``/``nan`` Locust rows, negative latencies, a NaN baseline and a truncated last line of a
k6 NDJSON file exits 2 naming the file (never passes); invalid UTF-8 in budgets files or
Locust CSV and gzip that is not gzip exit 2; `perf trend` replaces its history atomically under
a lock (no fixed ``.tmp``, concurrent nights all land); `perf baseline` writes strict JSON and
nothing on bad input. Property tests generate malformed inputs per surface (perf-k6,
perf-k6-summary, perf-locust, perf-budgets, perf-baseline, perf-history)."""

from __future__ import annotations

import gzip
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fuzz
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from summit_platform.automation import safe_io
from summit_platform.automation.perf.trend import append_history

NAME = "GET /search"
BUDGETS = {
    "version": 1,
    "defaults": {"p95_ms": 300, "err_rate": 5, "min_samples": 1, "min_runs": 1},
    "endpoints": [{"path": "/search", "method": "GET"}],
}
DECL = {
    "type": "Metric",
    "data": {"name": "http_req_duration", "type": "trend", "contains": "time"},
    "metric": "http_req_duration",
}


def point(value: Any, metric: str = "http_req_duration", **tags: str) -> dict[str, Any]:
    """A k6 ``--out json`` point in k6's own key order."""
    all_tags = {"expected_response": "true", "method": "GET", "name": NAME, "status": "200"}
    return {
        "metric": metric,
        "type": "Point",
        "data": {"time": "2026-11-01T00:00:00Z", "value": value, "tags": {**all_tags, **tags}},
    }


def ndjson(*objs: Any) -> bytes:
    return b"".join(json.dumps(o, separators=(",", ":")).encode() + b"\n" for o in objs)


GOOD_LINES = [
    DECL,
    *(point(10.0 + i) for i in range(20)),
    *(point(0, "http_req_failed") for _ in range(20)),
]
GOOD = ndjson(*GOOD_LINES)

LOCUST_HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
)
LOCUST_ROW = ["GET", "/search", "1000", "20", "4", "5.1", "1.2", "250.5", "900", "100.0", "2.0"]
LOCUST_ROW += ["4", "5", "6", "7", "9", "12", "20", "40", "200", "250", "250"]
LOCUST_COLS = LOCUST_HEADER.strip().split(",")


def locust(row: list[str]) -> bytes:
    return (LOCUST_HEADER + ",".join(row) + "\n").encode()


SUMMARY = {
    "metrics": {
        "http_req_duration": {
            "avg": 12.0,
            "min": 1.0,
            "med": 10.0,
            "max": 90.0,
            "p(90)": 30.0,
            "p(95)": 40.0,
        },
        f"http_req_duration{{name:{NAME}}}": {
            "med": 10.0,
            "max": 90.0,
            "p(90)": 30.0,
            "p(95)": 40.0,
        },
        f"http_req_failed{{name:{NAME}}}": {"passes": 1, "fails": 199, "value": 0.005},
        "http_reqs": {"count": 200, "rate": 20.0},
    }
}


def _compare(
    tmp: Path, result: Path, *extra: str, surface: str, budgets: Path | None = None
) -> fuzz.Outcome:
    if budgets is None:
        budgets = tmp / "api.yaml"
        budgets.write_text(yaml.safe_dump(BUDGETS))
    argv = ["perf", "compare", str(result), "--budgets", str(budgets)]
    argv += ["--json", str(tmp / "verdict.json"), "--markdown", str(tmp / "verdict.md"), *extra]
    return fuzz.run(surface, argv, watch=[tmp])


def test_good_inputs_pass(tmp_path: Path) -> None:
    """The fixtures these tests break are themselves read and pass (so every refusal below
    is the one change each makes)."""
    for name, data in (("run.ndjson", GOOD), ("run_stats.csv", locust(LOCUST_ROW))):
        f = tmp_path / name
        f.write_bytes(data)
        out = _compare(tmp_path, f, surface="perf-k6")
        assert out.code == 0, out.err
        for report in ("verdict.json", "verdict.md"):
            (tmp_path / report).unlink()
    f = tmp_path / "summary.json"
    f.write_text(json.dumps(SUMMARY))
    assert _compare(tmp_path, f, surface="perf-k6-summary").code == 0


# -- k6 NDJSON ---------------------------------------------------------------------------------


def _k6(tmp: Path, data: bytes, name: str = "run.ndjson") -> fuzz.Outcome:
    f = tmp / name
    f.write_bytes(data)
    return _compare(tmp, f, surface="perf-k6")


@pytest.mark.parametrize(
    "line",
    [
        point(-3.5),  # the compact fast path
        {
            "type": "Point",
            "metric": "http_req_duration",
            "data": {"value": -1, "tags": {"name": NAME}},
        },
        point(-0.001, method="POST"),
    ],
    ids=["fast path", "other key order", "tiny"],
)
def test_compare_negative_latencies_exit_2(tmp_path: Path, line: dict[str, Any]) -> None:
    out = _k6(tmp_path, GOOD + ndjson(line))
    fuzz.assert_clean(out, names="run.ndjson")
    assert "line 42" in out.err and "data.value" in out.err


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (
            b'{"metric":"http_req_duration","type":"Point","data":{"value":NaN,"tags":{"name":"x"}}}',
            "found nan",
        ),
        (
            b'{"metric":"http_req_duration","type":"Point","data":{"value":Infinity,"tags":{"name":"x"}}}',
            "inf",
        ),
        (
            b'{"metric":"http_req_duration","type":"Point","data":{"value":1e999,"tags":{"name":"x"}}}',
            "inf",
        ),
        (
            b'{"metric":"http_req_duration","type":"Point","data":{"value":1e5-3,"tags":{"name":"x"}}}',
            "not JSON",
        ),
        (
            b'{"metric":"http_req_duration","type":"Point","data":{"value":"12","tags":{"name":"x"}}}',
            "data.value",
        ),
        (
            b'{"metric":"http_req_failed","type":"Point","data":{"value":3,"tags":{"name":"x"}}}',
            "0 or 1",
        ),
        (
            b'{"metric":"http_req_duration","type":"Point","data":[1],"tags":{"name":"x"}}',
            "data must",
        ),
        (
            b'{"metric":"http_req_duration","type":"Point","data":{"value":1,"tags":[1]}}',
            "data.tags",
        ),
        (
            b'{"metric":"http_req_duration","type":"Point","data":{"value":1,"tags":{"name":"\xff"}}}',
            "not JSON",
        ),
    ],
    ids=[
        "NaN",
        "Infinity",
        "1e999",
        "loose number",
        "text",
        "rate of 3",
        "data list",
        "tags list",
        "bad byte",
    ],
)
def test_compare_inf_nan_and_odd_k6_points_exit_2(tmp_path: Path, raw: bytes, why: str) -> None:
    out = _k6(tmp_path, GOOD + raw + b"\n")
    fuzz.assert_clean(out, names="run.ndjson: line 42")
    assert why in out.err, out.err


@pytest.mark.parametrize(
    "cut",
    [
        lambda line: line[: len(line) // 2],  # mid-line
        lambda line: line[:-1],  # only the final brace is gone: the rest still ends with "}"
        lambda line: line[: line.index(b'"value"') + 10],  # inside the number
    ],
    ids=["mid-line", "last brace", "inside the value"],
)
def test_compare_truncated_last_line_exits_2(tmp_path: Path, cut: Any) -> None:
    last = ndjson(point(99999.0)).rstrip(b"\n")
    out = _k6(tmp_path, GOOD + cut(last))
    fuzz.assert_clean(out, names="run.ndjson: line 42")
    assert "truncated" in out.err or "not JSON" in out.err, out.err


def test_a_last_line_without_newline_that_is_whole_is_read(tmp_path: Path) -> None:
    out = _k6(tmp_path, GOOD + ndjson(point(11.0)).rstrip(b"\n"))
    assert out.code == 0, out.err
    assert json.loads((tmp_path / "verdict.json").read_text())["endpoints"][0]["count"] == 21


def test_compare_truncated_gzip_exits_2(tmp_path: Path) -> None:
    packed = gzip.compress(GOOD * 50)
    out = _k6(tmp_path, packed[: len(packed) // 2], name="run.ndjson.gz")
    fuzz.assert_clean(out, names="run.ndjson.gz")


@pytest.mark.parametrize(
    "data",
    [GOOD, b"\x1f\x8b\x08\x00garbage", b"\x00\xff" * 40],
    ids=["plain NDJSON", "a gzip header then garbage", "random bytes"],
)
def test_gzip_that_is_not_gzip_exits_2(tmp_path: Path, data: bytes) -> None:
    out = _k6(tmp_path, data, name="run.ndjson.gz")
    fuzz.assert_clean(out, names="run.ndjson.gz")


def test_more_failures_than_requests_exits_2(tmp_path: Path) -> None:
    fails = [point(1, "http_req_failed") for _ in range(30)]
    out = _k6(tmp_path, ndjson(DECL, point(5.0), *fails))
    fuzz.assert_clean(out, names="run.ndjson")
    assert "30 failed requests but only 1 durations" in out.err


@st.composite
def broken_ndjson(draw: st.DrawFn) -> bytes:
    """A good k6 file with one relevant line broken, by construction."""
    kind = draw(st.sampled_from(["value", "bytes", "cut", "shape"]))
    at = draw(st.integers(1, len(GOOD_LINES)))
    head, tail = GOOD_LINES[:at], GOOD_LINES[at:]
    if kind == "value":
        metric = draw(st.sampled_from(["http_req_duration", "http_req_failed"]))
        bad = draw(
            st.one_of(
                st.floats(max_value=-1e-9, allow_infinity=True, allow_nan=False),
                st.floats(min_value=1.000001, max_value=1e9)
                if metric == "http_req_failed"
                else st.nothing(),
                st.just(float("nan")),
                st.just(float("inf")),
                st.text(max_size=5),
                st.none(),
                st.booleans(),
                st.lists(st.integers(), max_size=2),
            )
        )
        return ndjson(*head) + json.dumps(point(bad, metric)).encode() + b"\n" + ndjson(*tail)
    if kind == "bytes":  # a relevant line with a byte that is not UTF-8
        line = json.dumps(point(12.0)).encode().replace(b"GET /search", b"GET /s\xff")
        return ndjson(*head) + line + b"\n" + ndjson(*tail)
    if kind == "cut":  # the file ends inside a relevant line
        line = json.dumps(point(12.0), separators=(",", ":")).encode()
        return GOOD + line[: draw(st.integers(1, len(line) - 1))]
    data = draw(st.sampled_from(["[1]", '"x"', "null", "{}"]))
    line = b'{"metric":"http_req_duration","type":"Point","data":' + data.encode() + b"}"
    return ndjson(*head) + line + b"\n" + ndjson(*tail)


@pytest.mark.fuzz
@fuzz.surface_settings()
@given(data=broken_ndjson(), gz=st.booleans())
def test_generated_broken_k6_files_exit_2(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, gz: bool
) -> None:
    tmp = tmp_path_factory.mktemp("k6")
    name = "run.ndjson.gz" if gz else "run.ndjson"
    out = _k6(tmp, gzip.compress(data) if gz else data, name=name)
    fuzz.assert_clean(out, names=name)


# -- k6 summaries ------------------------------------------------------------------------------


def _summary(tmp: Path, doc: Any) -> fuzz.Outcome:
    f = tmp / "summary.json"
    f.write_bytes(doc if isinstance(doc, bytes) else json.dumps(doc).encode())
    return _compare(tmp, f, surface="perf-k6-summary")


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(SUMMARY))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


DUR = f"http_req_duration{{name:{NAME}}}"
FAIL = f"http_req_failed{{name:{NAME}}}"
SUMMARIES = {
    "negative p95": (_with(("metrics", DUR, "p(95)"), -40.0), "p(95)"),
    "p95 text": (_with(("metrics", DUR, "p(95)"), "40"), "p(95)"),
    "p95 null-ish list": (_with(("metrics", DUR, "p(95)"), [40]), "p(95)"),
    "huge max": (_with(("metrics", DUR, "max"), 10**400), "max"),
    "passes negative": (_with(("metrics", FAIL, "passes"), -1), "passes"),
    "fails fractional": (_with(("metrics", FAIL, "fails"), 1.5), "fails"),
    "failures above requests": (_with(("metrics", FAIL), {"passes": 10, "fails": -5}), "fails"),
    "rate above 1": (_with(("metrics", FAIL), {"rate": 2.0}), "rate"),
    "thresholds a list": (_with(("metrics", DUR, "thresholds"), ["p(95)<500"]), "thresholds"),
    "metric a number": (_with(("metrics", "http_reqs"), 5), "metrics.http_reqs"),
    "NaN token": (json.dumps(SUMMARY).replace("40.0", "NaN", 1).encode(), "NaN"),
    "invalid UTF-8": (
        json.dumps(SUMMARY).encode().replace(b"GET /search", b"GET /\xff", 1),
        "UTF-8",
    ),
    "duplicate key": (b'{"metrics": {}, "metrics": {}}', "duplicate key"),
}


@pytest.mark.parametrize("case", SUMMARIES, ids=list(SUMMARIES))
def test_compare_odd_summaries_exit_2(tmp_path: Path, case: str) -> None:
    doc, why = SUMMARIES[case]
    out = _summary(tmp_path, doc)
    fuzz.assert_clean(out, names="summary.json")
    assert why in out.err, out.err


STAT_KEYS = [
    ("metrics", DUR, "p(95)"),
    ("metrics", DUR, "p(90)"),
    ("metrics", DUR, "med"),
    ("metrics", DUR, "max"),
    ("metrics", FAIL, "passes"),
    ("metrics", FAIL, "fails"),
    ("metrics", "http_reqs", "count"),
]
BAD_STAT = st.one_of(
    st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False),
    st.integers(min_value=10**310, max_value=10**311),
    st.text(max_size=5),
    st.booleans(),
    st.lists(st.integers(), min_size=1, max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), min_size=1, max_size=2),
)


@pytest.mark.fuzz
@fuzz.surface_settings()
@given(path=st.sampled_from(STAT_KEYS), value=BAD_STAT)
def test_generated_odd_summaries_exit_2(
    tmp_path_factory: pytest.TempPathFactory, path: tuple[str, ...], value: Any
) -> None:
    out = _summary(tmp_path_factory.mktemp("summary"), _with(path, value))
    fuzz.assert_clean(out, names="summary.json")


# -- Locust CSV --------------------------------------------------------------------------------


def _row(col: str, value: str) -> list[str]:
    row = list(LOCUST_ROW)
    row[LOCUST_COLS.index(col)] = value
    return row


@pytest.mark.parametrize(
    ("col", "value"),
    [
        ("95%", "inf"),
        ("95%", "nan"),
        ("95%", "NaN"),
        ("95%", "-12"),
        ("95%", "1e999"),
        ("95%", "\u0661\u0662"),
        ("95%", "\uff11\uff12"),
        ("95%", "12ms"),
        ("Max Response Time", "Infinity"),
        ("Request Count", "12.5"),
        ("Request Count", "-1000"),
        ("Failure Count", "1001"),
    ],
)
def test_compare_inf_nan_locust_rows_exit_2(tmp_path: Path, col: str, value: str) -> None:
    f = tmp_path / "run_stats.csv"
    f.write_bytes(locust(_row(col, value)))
    out = _compare(tmp_path, f, surface="perf-locust")
    fuzz.assert_clean(out, names=f"{f}: line 2: ")
    assert col in out.err


def test_locust_csv_invalid_utf8_exits_2(tmp_path: Path) -> None:
    f = tmp_path / "run_stats.csv"
    f.write_bytes(locust(LOCUST_ROW).replace(b"/search", b"/se\xffarch"))
    out = _compare(tmp_path, f, surface="perf-locust")
    fuzz.assert_clean(out, names=str(f))
    assert "not valid UTF-8 at byte" in out.err


def test_locust_csv_with_a_ragged_row_exits_2(tmp_path: Path) -> None:
    f = tmp_path / "run_stats.csv"
    f.write_bytes(locust(LOCUST_ROW[:-3]))
    out = _compare(tmp_path, f, surface="perf-locust")
    fuzz.assert_clean(out, names=str(f))
    assert "line 2" in out.err


@pytest.mark.fuzz
@fuzz.surface_settings()
@given(
    col=st.sampled_from(
        ["Request Count", "Failure Count", "50%", "90%", "95%", "99%", "Max Response Time"]
    ),
    value=st.one_of(
        st.sampled_from(["inf", "-inf", "nan", "NaN", "Infinity", "1e999", "-1", "0x10", "1_0"]),
        st.text(alphabet=st.characters(whitelist_categories=["Nd"]), min_size=1, max_size=4).filter(
            lambda t: not t.isascii()
        ),
        st.floats(max_value=-1e-6, allow_nan=False, allow_infinity=False).map(repr),
        st.text(alphabet="abcxyz%ms ", min_size=1, max_size=4).filter(
            lambda t: t.strip() not in ("", "N/A")
        ),
    ),
)
def test_generated_odd_locust_rows_exit_2(
    tmp_path_factory: pytest.TempPathFactory, col: str, value: str
) -> None:
    tmp = tmp_path_factory.mktemp("locust")
    f = tmp / "run_stats.csv"
    f.write_bytes(locust(_row(col, value.replace(",", ";").replace('"', "'").replace("\n", " "))))
    out = _compare(tmp, f, surface="perf-locust")
    fuzz.assert_clean(out, names=str(f))


# -- budgets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'version: 1\nendpoints:\n  - name: "GET /\xff"\n', "not valid UTF-8 at byte"),
        (b"version: 1\nendpoints:\n  - {name: x, p95_ms: .nan}\n", "endpoints[0].p95_ms"),
        (b"version: 1\nendpoints:\n  - {name: x, p95_ms: .inf}\n", "endpoints[0].p95_ms"),
        (b"version: 1\nendpoints:\n  - {name: x, p95_ms: -5}\n", "endpoints[0].p95_ms"),
        (b"version: 1\nversion: 1\nendpoints: [{name: x}]\n", "duplicate key"),
        (b"1: 2\n", "keys must be strings"),
        (
            "version: 1\nendpoints:\n  - {name: x, p95_ms: \u0663\u0660\u0660}\n".encode(),
            "endpoints[0].p95_ms",
        ),
    ],
    ids=[
        "invalid UTF-8",
        "NaN",
        "inf",
        "negative",
        "duplicate key",
        "non-string key",
        "Arabic-Indic digits",
    ],
)
def test_budgets_invalid_utf8_or_values_exit_2(tmp_path: Path, content: bytes, why: str) -> None:
    budgets = tmp_path / "api.yaml"
    budgets.write_bytes(content)
    result = tmp_path / "run.ndjson"
    result.write_bytes(GOOD)
    out = _compare(tmp_path, result, surface="perf-budgets", budgets=budgets)
    fuzz.assert_clean(out, names=str(budgets))
    assert why in out.err, out.err


@pytest.mark.fuzz
@fuzz.surface_settings()
@given(
    key=st.sampled_from(
        ["p95_ms", "p99_ms", "err_rate", "min_samples", "min_runs", "baseline_tolerance_pct"]
    ),
    value=st.one_of(
        st.floats(max_value=-1e-9, allow_nan=False),
        st.just(float("nan")),
        st.just(float("inf")),
        st.integers(min_value=10**400, max_value=10**401),
        st.text(max_size=5),
        st.booleans(),
        st.lists(st.integers(), max_size=2),
    ),
    raw=st.one_of(st.none(), st.binary(min_size=1, max_size=20).map(lambda b: b"\xff" + b)),
)
def test_generated_bad_budgets_exit_2(
    tmp_path_factory: pytest.TempPathFactory, key: str, value: Any, raw: bytes | None
) -> None:
    tmp = tmp_path_factory.mktemp("budgets")
    budgets = tmp / "api.yaml"
    spec = json.loads(json.dumps(BUDGETS))
    spec["defaults"][key] = value
    # YAML has .nan/.inf; a huge int is written as digits; bytes that are not UTF-8 go first.
    text = yaml.safe_dump(spec, allow_unicode=True).encode()
    budgets.write_bytes(raw + text if raw is not None else text)
    result = tmp / "run.ndjson"
    result.write_bytes(GOOD)
    out = _compare(tmp, result, surface="perf-budgets", budgets=budgets)
    fuzz.assert_clean(out, names=str(budgets))


# -- baseline ----------------------------------------------------------------------------------


def _baseline_doc(**endpoint: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "kind": "summit-perf-baseline",
        "endpoints": [{"name": NAME, "count": 100, "errors": 0, "p95_ms": 20.0, **endpoint}],
        "budgeted": {},
    }


BASELINES = {
    "NaN p95": (json.dumps(_baseline_doc()).replace("20.0", "NaN").encode(), "NaN"),
    "NaN as text": (json.dumps(_baseline_doc(p95_ms="NaN")).encode(), "endpoints[0].p95_ms"),
    "negative p95": (json.dumps(_baseline_doc(p95_ms=-1)).encode(), "endpoints[0].p95_ms"),
    "fractional count": (json.dumps(_baseline_doc(count=1.5)).encode(), "endpoints[0].count"),
    "errors above count": (json.dumps(_baseline_doc(errors=101)).encode(), "endpoints[0].errors"),
    "method a number": (json.dumps(_baseline_doc(method=5)).encode(), "endpoints[0].method"),
    "budgeted NaN": (
        json.dumps(
            {**_baseline_doc(), "budgeted": {NAME: {"runs": 1, "p95_ms": float("nan")}}}
        ).encode(),
        "NaN",
    ),
    "budgeted rate above 100": (
        json.dumps({**_baseline_doc(), "budgeted": {NAME: {"runs": 1, "err_rate": 250}}}).encode(),
        "err_rate",
    ),
    "invalid UTF-8": (b'{"kind": "summit-perf-baseline", "x": "\xff"}', "not valid UTF-8"),
}


@pytest.mark.parametrize("case", BASELINES, ids=list(BASELINES))
def test_compare_nan_baseline_exits_2(tmp_path: Path, case: str) -> None:
    data, why = BASELINES[case]
    baseline = tmp_path / "baseline.json"
    baseline.write_bytes(data)
    result = tmp_path / "run.ndjson"
    result.write_bytes(GOOD)
    out = _compare(tmp_path, result, "--baseline", str(baseline), surface="perf-baseline")
    fuzz.assert_clean(out, names=str(baseline))
    assert why in out.err, out.err


@pytest.mark.fuzz
@fuzz.surface_settings()
@given(
    key=st.sampled_from(["count", "errors", "p50_ms", "p95_ms", "p99_ms", "max_ms"]),
    value=st.one_of(
        st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False),
        st.integers(min_value=10**310, max_value=10**311),
        st.text(max_size=5),
        st.booleans(),
        st.lists(st.integers(), max_size=2),
    ),
)
def test_generated_bad_baselines_exit_2(
    tmp_path_factory: pytest.TempPathFactory, key: str, value: Any
) -> None:
    tmp = tmp_path_factory.mktemp("baseline")
    baseline = tmp / "baseline.json"
    baseline.write_text(json.dumps(_baseline_doc(**{key: value})))
    result = tmp / "run.ndjson"
    result.write_bytes(GOOD)
    out = _compare(tmp, result, "--baseline", str(baseline), surface="perf-baseline")
    fuzz.assert_clean(out, names=str(baseline))


def test_perf_baseline_writes_strict_json_and_nothing_on_bad_input(tmp_path: Path) -> None:
    good = tmp_path / "run.ndjson"
    good.write_bytes(GOOD)
    target = tmp_path / "out" / "baseline.json"
    out = fuzz.run(
        "perf-baseline",
        ["perf", "baseline", "--from", str(good), "--json", str(target), "-C", str(tmp_path)],
    )
    assert out.code == 0, out.err
    doc = safe_io.load_json(target)  # strict: NaN, Infinity and duplicate keys refused
    assert doc["kind"] == "summit-perf-baseline" and doc["endpoints"][0]["count"] == 20
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(GOOD + ndjson(point(-1.0)))
    other = tmp_path / "out" / "other.json"
    argv = [
        "perf",
        "baseline",
        "--from",
        str(good),
        str(bad),
        "--json",
        str(other),
        "-C",
        str(tmp_path),
    ]
    out = fuzz.run("perf-baseline", argv, watch=[tmp_path / "out"])
    fuzz.assert_clean(out, names=str(bad))
    assert not other.exists()


# -- trend history -----------------------------------------------------------------------------


def _entry(day: int, p95: float = 20.0) -> dict[str, Any]:
    when = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=day)
    return {
        "time": when.isoformat(timespec="seconds"),
        "commit": f"c{day}",
        "sources": [],
        "endpoints": [{"name": NAME, "count": 100, "runs": 1, "p95_ms": p95, "budget_p95_ms": 300}],
    }


def test_trend_history_is_replaced_atomically_under_a_lock(tmp_path: Path) -> None:
    """Twelve nights appended at once all land, in whole lines, and the old fixed temp name
    (``history.jsonl.tmp``) is neither written nor left behind."""
    history = tmp_path / "history.jsonl"
    decoy = tmp_path / "history.jsonl.tmp"
    decoy.write_text("someone else's file\n")
    errors: list[BaseException] = []

    def night(day: int) -> None:
        try:
            append_history(history, _entry(day))
        except BaseException as err:  # collected: a thread's exception would be lost
            errors.append(err)

    threads = [threading.Thread(target=night, args=(d,)) for d in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    lines = history.read_text().splitlines()
    assert sorted(json.loads(line)["commit"] for line in lines) == sorted(
        f"c{d}" for d in range(12)
    )
    assert decoy.read_text() == "someone else's file\n"
    assert {p.name for p in tmp_path.iterdir()} == {history.name, decoy.name, ".history.jsonl.lock"}


def test_trend_append_keeps_the_inode_changing_and_the_newest(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    append_history(history, _entry(0))
    first = history.stat().st_ino
    assert append_history(history, _entry(1), keep=1) == 1
    assert history.stat().st_ino != first  # a new file renamed over, never rewritten in place
    assert json.loads(history.read_text())["commit"] == "c1"


HISTORIES = {
    "NaN p95": (json.dumps(_entry(0)).replace("20.0", "NaN"), "NaN"),
    "negative p95": (json.dumps(_entry(0, p95=-5.0)), "p95_ms"),
    "time without offset": (json.dumps({**_entry(0), "time": "2026-11-01T00:00:00"}), "UTC offset"),
    "endpoint a number": (json.dumps({**_entry(0), "endpoints": [5]}), "endpoints[0]"),
    "invalid UTF-8": ('{"time": "\udcff"}', "not valid UTF-8"),
}


@pytest.mark.parametrize("case", HISTORIES, ids=list(HISTORIES))
def test_trend_bad_history_exits_2_and_changes_nothing(tmp_path: Path, case: str) -> None:
    text, why = HISTORIES[case]
    history = tmp_path / "history.jsonl"
    history.write_bytes(text.encode("utf-8", "surrogateescape") + b"\n")
    budgets = tmp_path / "api.yaml"
    budgets.write_text(yaml.safe_dump(BUDGETS))
    result = tmp_path / "run.ndjson"
    result.write_bytes(GOOD)
    argv = [
        "perf",
        "trend",
        "--history",
        str(history),
        "--append",
        str(result),
        "--budgets",
        str(budgets),
    ]
    out = fuzz.run("perf-history", [*argv, "--plot", str(tmp_path / "trend.png")], watch=[history])
    fuzz.assert_clean(out, names=str(history))
    assert why in out.err, out.err
    assert not (tmp_path / "trend.png").exists()
