"""`summit gate` on Prometheus answers as untrusted input (issue: bad input never crashes,
never passes, never leaks).

A loopback server answers byte for byte what each test sets: answers of an unexpected shape
(a list, no ``resultType``, a matrix, ``value: "abc"``, ``result: null``, not JSON, not UTF-8)
and readings no request can give (negative, ``-Inf``, ``+Inf``, an error ratio above 1) make
the gate fail closed: exit 1, a message that says "no data" and why, the same reason in the
JSON report. Bad flags exit 2 before any query; credentials in the URL are sent as basic auth
and never printed. The property test generates such answers and checks every one."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fuzz
import pytest
from hypothesis import given
from hypothesis import strategies as st
from loopback import AnswerServer

from summit_platform.automation.delivery import gate as g

GOOD_SAMPLE = [1_700_000_000.0, "0.2"]


def vector(*values: Any) -> dict[str, Any]:
    """A successful instant-vector answer with one series per value."""
    result = [{"metric": {}, "value": v} for v in values]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def answer_bytes(doc: Any) -> bytes:
    return json.dumps(doc).encode()


@pytest.fixture(scope="module")
def prom() -> Iterator[AnswerServer]:
    with AnswerServer() as server:
        yield server


def _gate(prom: AnswerServer, tmp: Path, *extra: str, url: str | None = None) -> fuzz.Outcome:
    argv = [
        "gate",
        "--region",
        "us-east-1",
        "--prometheus",
        url or prom.url,
        "--json",
        str(tmp / "gate.json"),
        *extra,
    ]
    return fuzz.run("prometheus-gate-answer", argv, watch=[tmp / "watched"])


def _assert_no_data(out: fuzz.Outcome, tmp: Path, why: str | None = None) -> dict[str, Any]:
    fuzz.assert_clean(out, allowed=(1,))
    assert "no data" in out.err, out.err
    doc = json.loads((tmp / "gate.json").read_text())
    assert doc["passed"] is False and doc["noData"] is True
    rows = [r for r in doc["rows"] if r["status"] == "no-data"]
    assert rows and all(r["value"] is None and r["reason"] for r in rows)
    if why is not None:
        assert why in out.err and all(why in r["reason"] for r in rows), out.err
    return doc


SHAPES = {
    "a list": (b'[{"value": [1, "0.1"]}]', "without a data object"),
    "no resultType": (answer_bytes({"status": "success", "data": {"result": []}}), "resultType"),
    "a matrix": (
        answer_bytes(
            {
                "status": "success",
                "data": {"resultType": "matrix", "result": [{"values": [[1, "0.1"]]}]},
            }
        ),
        "resultType text 'matrix'",
    ),
    'value "abc"': (answer_bytes(vector([1, "abc"])), "not a number"),
    "result null": (
        answer_bytes({"status": "success", "data": {"resultType": "vector", "result": None}}),
        "expected a list",
    ),
    "a string result": (
        answer_bytes({"status": "success", "data": {"resultType": "string", "result": [1, "x"]}}),
        "resultType text 'string'",
    ),
    "value not a pair": (answer_bytes(vector("0.1")), 'expected [time, "value"]'),
    "value as a JSON number": (answer_bytes(vector([1, 0.1])), 'expected [time, "value"]'),
    "Arabic-Indic digits": (answer_bytes(vector([1, "\u0660\u066b\u0661"])), "not a number"),
    "not JSON": (b"<html>oops</html>", "not valid JSON"),
    "not UTF-8": (b'{"status": "success", "data": "\xff"}', "not valid UTF-8"),
    "bare NaN token": (
        b'{"status": "success", "data": {"resultType": "scalar", "result": NaN}}',
        "NaN",
    ),
}


@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_gate_answer_of_an_unexpected_shape_fails_closed_with_no_data(
    prom: AnswerServer, tmp_path: Path, shape: str
) -> None:
    body, why = SHAPES[shape]
    prom.answer(200, body)
    _assert_no_data(_gate(prom, tmp_path), tmp_path, why)


@pytest.mark.parametrize(
    ("sample", "slo", "why"),
    [
        ("-1", "p95<1500ms", "negative"),
        ("-Inf", "p95<1500ms", "infinite"),
        ("+Inf", "p95<1500ms", "infinite"),
        ("-0.25", "err<1%", "negative"),
        ("-Inf", "err<1%", "infinite"),
        ("1.5", "err<1%", "above 1"),
        ("NaN", "p95<1500ms", "no requests"),
    ],
)
def test_gate_negative_or_infinite_values_fail_closed_with_no_data(
    prom: AnswerServer, tmp_path: Path, sample: str, slo: str, why: str
) -> None:
    prom.answer(200, answer_bytes(vector([1_700_000_000.0, sample])))
    _assert_no_data(_gate(prom, tmp_path, "--slo", slo), tmp_path, why)


def test_one_impossible_series_spoils_a_vector(prom: AnswerServer, tmp_path: Path) -> None:
    prom.answer(200, answer_bytes(vector(GOOD_SAMPLE, [1_700_000_000.0, "-Inf"])))
    _assert_no_data(_gate(prom, tmp_path, "--slo", "p95<1500ms"), tmp_path, "result[1]")


def test_a_clean_reading_still_passes_and_fails(prom: AnswerServer, tmp_path: Path) -> None:
    """The hardening refuses only what is not a reading: 0.2 s passes p95<1500ms, breaches
    p95<100ms, and 0.2 is far above err<1%."""
    prom.answer(200, answer_bytes(vector(GOOD_SAMPLE)))
    ok = _gate(prom, tmp_path, "--slo", "p95<1500ms")
    fuzz.assert_clean(ok, allowed=(0,))
    breach = _gate(prom, tmp_path, "--slo", "p95<100ms", "--slo", "err<1%")
    fuzz.assert_clean(breach, allowed=(1,))
    assert "breached p95<100ms, err<1%" in breach.err and "no data" not in breach.err


def test_a_refused_query_or_a_server_error_is_no_data(prom: AnswerServer, tmp_path: Path) -> None:
    prom.answer(400, answer_bytes({"status": "error", "error": "parse error at char 3"}))
    _assert_no_data(_gate(prom, tmp_path), tmp_path, "rejected the query: parse error")
    prom.answer(200, answer_bytes({"status": "error", "error": "timeout"}))
    _assert_no_data(_gate(prom, tmp_path), tmp_path, "rejected the query: timeout")
    prom.answer(503, b"upstream down")
    _assert_no_data(_gate(prom, tmp_path), tmp_path, "HTTP 503")


def test_gate_prometheus_credentials_go_as_basic_auth_and_are_never_printed(
    prom: AnswerServer, tmp_path: Path
) -> None:
    prom.answer(500, b"{}")  # the message names the Prometheus it asked
    url = f"http://alice:s3cr3t-pw@127.0.0.1:{prom.port}"
    out = _gate(prom, tmp_path, url=url)
    _assert_no_data(out, tmp_path)
    token = base64.b64encode(b"alice:s3cr3t-pw").decode()
    assert prom.seen and all(s.headers.get("Authorization") == f"Basic {token}" for s in prom.seen)
    report = (tmp_path / "gate.json").read_text()
    for text in (out.text, report):
        assert "s3cr3t" not in text and "alice" not in text
    assert f"http://***@127.0.0.1:{prom.port}" in out.err


def test_unreachable_prometheus_with_credentials_never_prints_them(tmp_path: Path) -> None:
    from obs_helpers import free_port

    url = f"http://bob:hunter2@127.0.0.1:{free_port()}"
    argv = ["gate", "--region", "us-east-1", "--prometheus", url]
    out = fuzz.run("prometheus-gate-answer", argv)
    fuzz.assert_clean(out, allowed=(1,))
    assert "unreachable" in out.err and "no data" in out.err
    assert "hunter2" not in out.text and "bob" not in out.text


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--at", "nan"], "--at"),
        (["--at", "inf"], "--at"),
        (["--at", "-5"], "--at"),
        (["--service", 'web"} or vector(0) #'], "--service"),
        (["--service", "web\n"], "--service"),
        (["--slo", "p\u0669\u0665<1500ms"], "--slo"),
        (["--slo", "err<\uff11%"], "--slo"),
    ],
)
def test_gate_bad_flags_exit_2_and_query_nothing(
    prom: AnswerServer, tmp_path: Path, args: list[str], names: str
) -> None:
    prom.answer(200, answer_bytes(vector(GOOD_SAMPLE)))
    out = _gate(prom, tmp_path, *args)
    fuzz.assert_clean(out, names=names)
    assert prom.seen == [] and not (tmp_path / "gate.json").exists()


@pytest.mark.parametrize(
    "url",
    ["not-a-url", "ftp://127.0.0.1:9090", "http://127.0.0.1:port", "http://x y", "http://h/?q=1"],
)
def test_gate_bad_prometheus_url_exits_2(tmp_path: Path, url: str) -> None:
    argv = ["gate", "--region", "us-east-1", "--prometheus", url, "--json", str(tmp_path / "g")]
    out = fuzz.run("prometheus-gate-answer", argv)
    fuzz.assert_clean(out, names="--prometheus")
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize("region", ["us-east-1\n", "us-east-\u0661", "US-EAST-1", "us-east-1 "])
def test_gate_region_matches_in_full(region: str) -> None:
    out = fuzz.run(
        "prometheus-gate-answer", ["gate", "--region", region, "--prometheus", "http://h"]
    )
    fuzz.assert_clean(out, names="--region")


# -- the property: generated answers that are no reading never pass ----------------------------

ODD_SAMPLE_TEXT = st.one_of(
    st.sampled_from(["NaN", "+Inf", "-Inf", "Inf", "", "abc", "0x10", "1_0", "\u0663", "\uff12"]),
    st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False).map(repr),
    st.text(alphabet=st.characters(blacklist_categories=["Nd"]), max_size=6),
)
ODD_VALUE = st.one_of(
    ODD_SAMPLE_TEXT.map(lambda t: [1_700_000_000.0, t]),
    st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=5), st.booleans()),
    st.lists(st.integers(), max_size=3),
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def bad_answers(draw: st.DrawFn) -> bytes:
    """Answers that hold no usable reading, by construction."""
    kind = draw(st.sampled_from(["value", "shape", "result", "bytes", "cut", "toplevel"]))
    if kind == "value":  # one series with an odd value, maybe after good ones
        odd = draw(ODD_VALUE)
        nan = isinstance(odd, list) and len(odd) == 2 and str(odd[1]).strip() == "NaN"
        # A NaN series beside good ones is a series without traffic: the others are read.
        good = [] if nan else draw(st.lists(st.just(GOOD_SAMPLE), max_size=2))
        return answer_bytes(vector(*good, odd))
    if kind == "shape":  # a resultType that is not vector or scalar
        rtype = draw(st.one_of(st.sampled_from(["matrix", "string", ""]), JSONISH))
        data = {"resultType": rtype, "result": draw(JSONISH)}
        if draw(st.booleans()):
            del data["resultType"]
        return answer_bytes({"status": "success", "data": data})
    if kind == "result":  # a vector whose result is not a list of series
        result = draw(JSONISH.filter(lambda r: not isinstance(r, list) or (r and r[0] != {})))
        if isinstance(result, list):
            result = [x for x in result if not isinstance(x, dict)] or None
        return answer_bytes(
            {"status": "success", "data": {"resultType": "vector", "result": result}}
        )
    if kind == "bytes":  # not UTF-8, or not JSON
        return b"\xff" + draw(st.binary(max_size=40))
    if kind == "cut":  # a good answer cut short
        whole = answer_bytes(vector(GOOD_SAMPLE))
        return whole[: draw(st.integers(0, len(whole) - 1))]
    return answer_bytes(draw(JSONISH.filter(lambda d: not isinstance(d, dict) or "data" not in d)))


@pytest.mark.fuzz
@fuzz.surface_settings()
@given(body=bad_answers(), status=st.sampled_from([200, 200, 200, 400, 500]))
def test_prometheus_answers_that_are_no_reading_never_pass(
    prom: AnswerServer, tmp_path_factory: pytest.TempPathFactory, body: bytes, status: int
) -> None:
    tmp = tmp_path_factory.mktemp("gate")
    prom.answer(status, body)
    out = _gate(prom, tmp, "--slo", "p95<1500ms", "--slo", "err<1%")
    _assert_no_data(out, tmp)


@given(body=JSONISH)
@fuzz.surface_settings()
def test_read_answer_is_total(body: Any) -> None:
    """The pure reader gives a finite value >= 0, None, NaN or NoData: never an exception."""
    reading = g.read_answer(body)
    assert reading is None or isinstance(reading, g.NoData | float)
