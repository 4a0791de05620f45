"""Property tests over every traffic input surface (tests/fuzz.py): generated malformed inputs
(bytes, invalid UTF-8, truncations, wrong types, NaN/inf, odd Unicode digits, out-of-range
numbers and times) end in exit 2 naming the file or flag with nothing changed, or, for
telemetry, in a fail-closed hold that never sheds - checked one breach short of shedding, where
a valid breaching input would shed.

Surfaces: traffic-metrics (compute's metrics file), traffic-weights (apply's weights file),
traffic-state (the controller state file), traffic-pin-flags (pin's shares, --ttl, --reason),
traffic-config-pin (a hand-edited traffic.pin in the stack file), prometheus-answer (what
`traffic run` reads from Prometheus). `make fuzz` runs them with ten times the inputs.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import fuzz
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from summit_platform.components.render.durations import DurationError, parse_duration

REPO = Path(__file__).resolve().parents[1]
E, W = "us-east-1", "us-west-2"
NOW = 1_796_000_000.0

pytestmark = pytest.mark.fuzz

# ------------------------------------------------------------------------------ generators

ODD_NUMBERS: list[Any] = [
    "NaN", "nan", "+Inf", "-Infinity", "inf", "1e999", "-1", "-0.5", "abc", "", " ", "0x1F",
    "1_000", "\u0665", "\uff15", "\u00b2", "1.5.5", True, False, [], {}, [0.4], {"v": 1},
    -1, -0.001, 10**400, -(10**400),
]  # fmt: skip
"""Values that are not a usable latency or error ratio (Arabic-Indic 5, full-width 5, ²)."""

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


def _bytes_of(valid: bytes) -> st.SearchStrategy[bytes]:
    """Garbage, a truncation, or the valid document with one invalid UTF-8 byte spliced in."""
    return st.one_of(
        st.binary(max_size=300),
        st.integers(0, len(valid) - 1).map(lambda n: valid[:n]),
        st.tuples(st.integers(0, len(valid)), st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\x80"]))
        .map(lambda t: valid[: t[0]] + t[1] + valid[t[0] :]),
    )  # fmt: skip


def _json_bytes(doc: Any) -> bytes:
    return json.dumps(doc).encode()


@contextmanager
def _workdir() -> Iterator[Path]:
    """A fresh folder per generated example (function-scoped fixtures are shared across
    hypothesis examples)."""
    with tempfile.TemporaryDirectory(prefix="summit-fuzz-") as d:
        yield Path(d)


def _project(root: Path) -> Path:
    project = root / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        shutil.copy(REPO / name, project / name)
    return project


def _metrics(w: dict[str, Any] | None = None) -> dict[str, Any]:
    west = {"name": W, "p95": 1.9, "err": 0.001, "sat": 0.4, **(w or {})}
    return {"ts": NOW, "regions": [{"name": E, "p95": 0.4, "err": 0.001, "sat": 0.4}, west]}


def _state() -> dict[str, Any]:
    """One breaching evaluation away from shedding us-west-2."""
    return {
        "version": 1,
        "shares": {E: 50, W: 50},
        "regions": {
            E: {"mode": "ok", "breachStreak": 0, "healthyStreak": 9, "shedWeight": None},
            W: {"mode": "ok", "breachStreak": 2, "healthyStreak": 0, "shedWeight": None},
        },
        "pinned": False,
        "evaluations": 11,
        "lastAt": NOW - 5,
    }


def _never_shed(out: fuzz.Outcome) -> None:
    """Exit 0 is allowed for telemetry only as a hold: us-west-2 keeps its 50%."""
    weights = {d["region"]: d for d in json.loads(out.out)}
    assert weights[W]["weight"] == 50 and weights[W]["dial"] == 100, weights
    assert "fail-static" in weights[W]["reason"] or "hold" in weights[W]["reason"], weights


# ---------------------------------------------------------------------------- traffic-metrics

bad_sample = st.one_of(
    st.tuples(st.sampled_from(["p95", "err", "sat"]), st.sampled_from(ODD_NUMBERS)),
    st.tuples(st.just("err"), st.floats(1.0001, 1e6)),
    st.tuples(
        st.just("ts"),
        st.one_of(
            st.floats(NOW + 11, NOW * 2000),  # future (or milliseconds)
            st.floats(1, NOW - 61),  # stale
            st.sampled_from(["NaN", "yesterday", "\u0662\u0660\u0662\u0666-01-01", True, []]),
        ),
    ),
    st.tuples(st.sampled_from(["p95", "err"]), st.just("<missing>")),
    st.tuples(st.text(min_size=1, max_size=6).filter(lambda k: k not in {"name", "p95", "err", "sat", "rps", "ts"}), json_values),
)  # fmt: skip


@given(case=st.one_of(
    bad_sample.map(lambda kv: ("sample", kv)),
    _bytes_of(_json_bytes(_metrics())).map(lambda b: ("bytes", b)),
    json_values.map(lambda v: ("json", v)),
))  # fmt: skip
@fuzz.surface_settings()
def test_metrics_files_that_are_not_data_exit_2_or_hold(case: tuple[str, Any]) -> None:
    kind, value = case
    with _workdir() as d:
        m, state = d / "metrics.json", d / "state.json"
        state.write_text(json.dumps(_state()))
        if kind == "sample":
            key, v = value
            doc = _metrics()
            if v == "<missing>":
                del doc["regions"][1][key]
            else:
                doc["regions"][1][key] = v
            m.write_text(json.dumps(doc))
        elif kind == "bytes":
            m.write_bytes(value)
        else:
            m.write_text(json.dumps(value))
        before = state.read_bytes()
        argv = ["traffic", "compute", str(m), "--state", str(state), "--now", str(NOW)]
        out = fuzz.run("traffic-metrics", [*argv, "--json", "-"], watch=[m])
        fuzz.assert_clean(out, allowed=(0, 2) if kind != "bytes" else (2,), names="metrics.json")
        if out.code == 2:
            assert state.read_bytes() == before
        elif kind == "sample":
            _never_shed(out)


# ---------------------------------------------------------------------------- traffic-weights

_VALID_WEIGHTS = [{"region": E, "weight": 60}, {"region": W, "weight": 40}]


def _mutate_weights(kind: str, value: Any) -> Any:
    doc = json.loads(json.dumps(_VALID_WEIGHTS))
    if kind == "weight":
        doc[1]["weight"] = value
    elif kind == "region":
        doc[1]["region"] = value
    elif kind == "duplicate":
        doc.append(dict(doc[0]))
    elif kind == "drop":
        doc.pop()
    elif kind == "sum":
        doc[0]["weight"], doc[1]["weight"] = value
    elif kind == "json":
        doc = value
    return doc


bad_weights = st.one_of(
    st.tuples(st.just("weight"), st.sampled_from([*ODD_NUMBERS, 40.5, 101, "40", None])),
    st.tuples(st.just("region"), st.one_of(json_values, st.sampled_from(["eu-west-1", "US-WEST-2", "us-west-2 "]))),
    st.tuples(st.sampled_from(["duplicate", "drop"]), st.none()),
    st.tuples(st.just("sum"), st.tuples(st.integers(0, 100), st.integers(0, 100)).filter(lambda t: sum(t) != 100)),
    st.tuples(st.just("json"), json_values),
)  # fmt: skip


@given(case=st.one_of(
    bad_weights.map(lambda kv: ("doc", kv)),
    _bytes_of(_json_bytes(_VALID_WEIGHTS)).map(lambda b: ("bytes", b)),
))  # fmt: skip
@fuzz.surface_settings()
def test_weights_files_that_are_not_weights_exit_2_and_change_nothing(
    case: tuple[str, Any],
) -> None:
    kind, value = case
    with _workdir() as d:
        project, w = _project(d), d / "weights.json"
        if kind == "bytes":
            w.write_bytes(value)
        else:
            w.write_text(json.dumps(_mutate_weights(*value)))
        argv = ["traffic", "apply", "-s", "prod", "--weights", str(w), "--offline"]
        out = fuzz.run("traffic-weights", [*argv, "-C", str(project)], watch=[project, w])
        fuzz.assert_clean(out, names="weights.json")


# ------------------------------------------------------------------------------ traffic-state

_COUNTS_BAD = st.one_of(
    st.integers(max_value=-1), st.integers(min_value=10**9 + 1), st.floats(0.1, 1e9).filter(lambda f: f != int(f)),
    st.sampled_from([True, False, None, "3", "\u0663", [], {}]),
)  # fmt: skip
_STATE_PATHS: list[tuple[tuple[str, ...], st.SearchStrategy[Any]]] = [
    (("version",), st.sampled_from([0, 2, "1", True, None, 1.5])),
    (("shares", E), st.one_of(st.sampled_from([500, -400, 50.5, "50", True, None, "inf"]), st.integers(101, 10**6))),
    (("shares",), st.one_of(json_values.filter(lambda v: not isinstance(v, dict) or v == {}), st.just({E: 50}))),
    (("regions",), st.one_of(json_values.filter(lambda v: not isinstance(v, dict)), st.just({E: {}}))),
    (("regions", W, "mode"), st.one_of(st.text(max_size=8).filter(lambda m: m not in ("ok", "shed")), st.none())),
    (("regions", W, "breachStreak"), _COUNTS_BAD),
    (("regions", E, "healthyStreak"), _COUNTS_BAD),
    (("regions", W, "shedWeight"), st.one_of(st.floats(allow_nan=False), st.sampled_from(["x", True, []]))),
    (("evaluations",), _COUNTS_BAD),
    (("lastAt",), st.sampled_from(["NaN", "now", True, [], {}])),
    (("pinned",), st.sampled_from([0, 1, "true", None, []])),
    (("extra",), json_values),
]  # fmt: skip


def _set(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@given(case=st.one_of(
    st.sampled_from(range(len(_STATE_PATHS))).flatmap(
        lambda i: _STATE_PATHS[i][1].map(lambda v, i=i: ("set", (_STATE_PATHS[i][0], v)))
    ),
    _bytes_of(_json_bytes(_state())).map(lambda b: ("bytes", b)),
    json_values.map(lambda v: ("json", v)),
))  # fmt: skip
@fuzz.surface_settings()
def test_state_files_that_do_not_validate_are_rejected(case: tuple[str, Any]) -> None:
    kind, value = case
    with _workdir() as d:
        m, state = d / "metrics.json", d / "state.json"
        m.write_text(json.dumps(_metrics()))
        if kind == "set":
            doc = _state()
            _set(doc, *value)
            state.write_text(json.dumps(doc))
        elif kind == "bytes":
            state.write_bytes(value)
        else:
            state.write_text(json.dumps(value))
        argv = ["traffic", "compute", str(m), "--state", str(state), "--now", str(NOW)]
        out = fuzz.run("traffic-state", [*argv, "--json", "-"], watch=[m, state])
        fuzz.assert_clean(out, names="state.json")


# -------------------------------------------------------------------------- traffic-pin-flags


def _valid_ttl(text: str) -> bool:
    try:
        seconds = parse_duration(text)
    except DurationError:
        return False
    return 60 <= seconds <= 3600 and seconds == int(seconds)


bad_shares = st.one_of(
    st.lists(st.text(max_size=12), min_size=0, max_size=3),
    st.sampled_from(ODD_NUMBERS).map(lambda v: [f"{E}={v}", f"{W}=0"]),
    st.tuples(st.integers(0, 999), st.integers(0, 999)).filter(lambda t: sum(t) != 100 or max(t) > 100)
    .map(lambda t: [f"{E}={t[0]}", f"{W}={t[1]}"]),
    st.just([f"{E}=100"]),
    st.just([f"{E}=50", f"{E}=50"]),
    st.just([f"{E}=50", "eu-west-1=50"]),
    st.just([f"{E}:50", f"{W}:50"]),
)  # fmt: skip
bad_ttls = st.one_of(
    st.sampled_from(["0.001s", "30s", "59s", "61m", "2h", "90.5s", "nan", "inf", "60", "", "-5m",
                     "\u0665m", "\uff15m", "1e3s", "5 m", "1h1s"]),
    st.text(max_size=8).filter(lambda t: not _valid_ttl(t) and not t.startswith("-")),
)  # fmt: skip


@given(case=st.one_of(
    bad_shares.map(lambda s: ("shares", s)),
    bad_ttls.map(lambda t: ("ttl", t)),
    st.text(alphabet=" \t\n\u00a0\u2003", max_size=5).map(lambda r: ("reason", r)),
))  # fmt: skip
@fuzz.surface_settings()
def test_pin_flags_that_are_wrong_exit_2_and_change_nothing(case: tuple[str, Any]) -> None:
    kind, value = case
    shares = value if kind == "shares" else [f"{E}=100", f"{W}=0"]
    ttl = value if kind == "ttl" else "30m"
    reason = value if kind == "reason" else "fuzz"
    with _workdir() as d:
        project = _project(d)
        argv = ["traffic", "pin", *shares, "-s", "prod", "--offline", f"--ttl={ttl}"]
        out = fuzz.run(
            "traffic-pin-flags",
            [*argv, f"--reason={reason}", "-C", str(project)],
            watch=[project],
        )
        fuzz.assert_clean(out, names={"shares": None, "ttl": "--ttl", "reason": "--reason"}[kind])


# ------------------------------------------------------------------------- traffic-config-pin

_GOOD_PIN = {
    "shares": {E: 100, W: 0},
    "reason": "drill",
    "by": "someone",
    "at": "2026-12-01T00:00:00Z",
    "expiresAt": "2026-12-01T00:30:00Z",
}
_TIMES_BAD = st.one_of(
    st.sampled_from([NOW, int(NOW), "yesterday", "", "2026-13-01T00:00:00Z", True, None, [],
                     "\u0662\u0660\u0662\u0666-12-01T00:00:00Z"]),
    json_values.filter(lambda v: not isinstance(v, str)),
)  # fmt: skip
_PIN_KEYS: list[tuple[str, st.SearchStrategy[Any]]] = [
    ("shares", st.one_of(
        json_values.filter(lambda v: not isinstance(v, dict)),
        st.sampled_from(ODD_NUMBERS).map(lambda v: {E: v, W: 0}),
        st.tuples(st.integers(-1000, 1000), st.integers(-1000, 1000))
        .filter(lambda t: sum(t) != 100 or min(t) < 0 or max(t) > 100).map(lambda t: {E: t[0], W: t[1]}),
        st.just({E: 100}), st.just({E: 50, W: 30, "eu-west-1": 20}), st.just({E: 50.0, W: 50}),
    )),
    ("reason", st.one_of(st.text(alphabet=" \t", max_size=3), st.sampled_from([None, 5, [], {}]))),
    ("by", st.sampled_from(["", None, 7, []])),
    ("at", _TIMES_BAD),
    ("expiresAt", st.one_of(_TIMES_BAD, st.sampled_from(
        ["2026-12-01T00:00:00Z", "2026-11-30T23:00:00Z", "2026-12-01T01:00:01Z", "2099-01-01T00:00:00Z"]))),
    ("extra", json_values),
]  # fmt: skip


def _write_pin(project: Path, pin: Any) -> None:
    path = project / "Pulumi.prod.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["summit-platform:traffic"] = {"mode": "ga", "floorPercent": 20, "pin": pin}
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


@given(case=st.one_of(
    st.sampled_from(range(len(_PIN_KEYS))).flatmap(
        lambda i: _PIN_KEYS[i][1].map(lambda v, i=i: {**_GOOD_PIN, _PIN_KEYS[i][0]: v})
    ),
    json_values.filter(lambda v: v is not None and v != {}),
    st.sampled_from(["shares", "reason", "at", "expiresAt"]).map(
        lambda k: {key: v for key, v in _GOOD_PIN.items() if key != k}
    ),
), command=st.sampled_from(["compute", "apply"]))  # fmt: skip
@fuzz.surface_settings()
def test_hand_edited_pins_the_model_refuses_exit_2(case: Any, command: str) -> None:
    with _workdir() as d:
        project = _project(d)
        _write_pin(project, case)
        m, w = d / "metrics.json", d / "weights.json"
        m.write_text(json.dumps(_metrics()))
        w.write_text(json.dumps(_VALID_WEIGHTS))
        argv = (
            ["traffic", "compute", str(m), "-s", "prod", "--now", str(NOW)]
            if command == "compute"
            else ["traffic", "apply", "-s", "prod", "--weights", str(w), "--offline"]
        )
        out = fuzz.run("traffic-config-pin", [*argv, "-C", str(project)], watch=[project, m, w])
        fuzz.assert_clean(out, names="summit-platform:traffic.pin")


# -------------------------------------------------------------------------- prometheus-answer


def _vector(values: dict[str, Any], at: Any = None) -> dict[str, Any]:
    at = time.time() if at is None else at
    result = [{"metric": {"region": r}, "value": [at, v]} for r, v in values.items()]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


class _Prometheus:
    """Answers each kind of query (p95, errorRatio, timestamp) validly - us-west-2 breaching,
    samples a second old - except the one kind ``odd`` names, which gets ``body``."""

    def __init__(self) -> None:
        self.odd: tuple[str, Callable[[], bytes]] | None = None
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                q = urllib.parse.unquote_plus(self.path)
                kind = "timestamp" if "timestamp(" in q else "p95" if "p95" in q else (
                    "errorRatio" if "error" in q else "other")  # fmt: skip
                body = owner.odd[1]() if owner.odd and owner.odd[0] == kind else owner.good(kind)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def good(kind: str) -> bytes:
        now = time.time()
        values = {
            "timestamp": {E: f"{now - 1:.3f}", W: f"{now - 1:.3f}"},
            "p95": {E: "0.3", W: "1.9"},
            "errorRatio": {E: "0.001", W: "0.001"},
        }.get(kind, {})
        return json.dumps(_vector(values)).encode()


@pytest.fixture(scope="module")
def prometheus() -> Iterator[_Prometheus]:
    p = _Prometheus()
    yield p
    p.server.shutdown()


_ODD_VALUES = st.sampled_from(["abc", "NaN", "+Inf", "-Inf", "-1", "-0.0001", "", "\u0661\u066b\u0669", None, 1.9, [], {}])  # fmt: skip
_ODD_STAMPS = st.one_of(
    st.sampled_from(["abc", "NaN", "+Inf", "", None]),
    st.floats(61, 1e6).map(lambda age: ("age", age)),  # older than staleAfterSeconds
    st.floats(11, 1e6).map(lambda ahead: ("ahead", ahead)),  # in the future
    st.just(("ms", 0)),  # in milliseconds
)  # fmt: skip


def _stamp(v: Any) -> Any:
    if isinstance(v, tuple):
        kind, x = v
        now = time.time()
        return (
            f"{now - x:.3f}"
            if kind == "age"
            else f"{now + x:.3f}"
            if kind == "ahead"
            else f"{now * 1000:.0f}"
        )
    return v  # fmt: skip


_SHAPES = st.sampled_from([
    b"[1, 2]", b"null", b'"vector"', b"{}", b'{"status": "success"}',
    b'{"status": "success", "data": {"result": []}}',
    b'{"status": "success", "data": {"resultType": "matrix", "result": []}}',
    b'{"status": "success", "data": {"resultType": "vector", "result": null}}',
    b'{"status": "success", "data": {"resultType": "vector", "result": {}}}',
    b'{"status": "error", "error": "boom"}',
    b'{"status": "success", "data": {"resultType": "vector", "result": [{"metric": {"region": "us-west-2"}}]}}',
    b'{"status": "success", "data": {"resultType": "vector", "result": [{"metric": {"region": "us-west-2"}, "value": "1.9"}]}}',
    b'{"status": "success", "data": {"resultType": "vector", "result": []}}',
])  # fmt: skip


def _odd_body(kind: str, how: str, value: Any) -> Callable[[], bytes]:
    if how == "bytes":
        return lambda: value
    if how == "shape":
        return lambda: value
    if how == "json":
        return lambda: json.dumps(value).encode()
    if kind == "timestamp":
        return lambda: json.dumps(_vector({E: f"{time.time() - 1:.3f}", W: _stamp(value)})).encode()
    good = {"p95": "0.3", "errorRatio": "0.001"}[kind]
    if kind == "errorRatio" and how == "over-one":
        return lambda: json.dumps(_vector({E: good, W: str(value)})).encode()
    return lambda: json.dumps(_vector({E: good, W: value})).encode()


answers = st.one_of(
    st.tuples(st.sampled_from(["p95", "errorRatio"]), st.just("value"), _ODD_VALUES),
    st.tuples(st.just("errorRatio"), st.just("over-one"), st.floats(1.0001, 1e6)),
    st.tuples(st.just("timestamp"), st.just("value"), _ODD_STAMPS),
    st.tuples(st.sampled_from(["p95", "errorRatio", "timestamp"]), st.just("shape"), _SHAPES),
    st.tuples(st.sampled_from(["p95", "errorRatio", "timestamp"]), st.just("bytes"), st.binary(max_size=200)),
    st.tuples(st.sampled_from(["p95", "errorRatio", "timestamp"]), st.just("json"), json_values),
)  # fmt: skip


@given(answer=answers)
@fuzz.surface_settings()
def test_prometheus_answers_that_are_not_data_hold_never_shed(
    prometheus: _Prometheus, answer: tuple[str, str, Any]
) -> None:
    kind, how, value = answer
    prometheus.odd = (kind, _odd_body(kind, how, value))
    with _workdir() as d:
        project, state = _project(d), d / "state.json"
        doc = _state()
        doc["lastAt"] = time.time() - 5
        state.write_text(json.dumps(doc))
        argv = ["traffic", "run", "-s", "prod", "--dry-run", "--max-iterations", "1"]
        argv += ["--prometheus-url", prometheus.url, "--state", str(state), "-C", str(project)]
        out = fuzz.run("prometheus-answer", argv, watch=[project])
        fuzz.assert_clean(out, allowed=(0,))
        (decision,) = [json.loads(x) for x in out.out.splitlines() if '"regions"' in x]
        assert decision["action"] == "hold" and decision["failStatic"], (answer, decision["reason"])
        shares = {r["region"]: r["weight"] for r in decision["regions"]}
        assert shares == {E: 50, W: 50} and "apply" not in decision
        assert json.loads(state.read_text())["regions"][W]["mode"] == "ok"


def test_the_same_run_with_valid_answers_sheds(prometheus: _Prometheus) -> None:
    """The control for the property above: valid answers, one breach short: it sheds."""
    prometheus.odd = None
    with _workdir() as d:
        project, state = _project(d), d / "state.json"
        doc = _state()
        doc["lastAt"] = time.time() - 5
        state.write_text(json.dumps(doc))
        argv = ["traffic", "run", "-s", "prod", "--dry-run", "--max-iterations", "1"]
        argv += ["--prometheus-url", prometheus.url, "--state", str(state), "-C", str(project)]
        out = fuzz.run("prometheus-answer", argv, watch=[project])
        (decision,) = [json.loads(x) for x in out.out.splitlines() if '"regions"' in x]
        assert decision["action"] == "steer"
        assert {r["region"]: r["weight"] for r in decision["regions"]} == {E: 80, W: 20}
