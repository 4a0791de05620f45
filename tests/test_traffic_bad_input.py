"""The traffic surfaces' reproducers from the bad-input issue, one test each, named for it: each
ends in a clean exit 2 naming the file or flag (or a fail-closed hold), no traceback, nothing
changed. The property tests over every surface live in tests/test_traffic_fuzz.py."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import fuzz
import pytest
import yaml

from summit_platform.automation.traffic import files
from summit_platform.automation.traffic.controller import MAX_CLOCK_SKEW_SECONDS

REPO = Path(__file__).resolve().parents[1]
E, W = "us-east-1", "us-west-2"
NOW = 1_796_000_000.0  # 2026-12-01


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        shutil.copy(REPO / name, root / name)
    return root


def metrics_doc(w_p95: float = 1.9, *, top_ts: Any = NOW, **west: Any) -> dict[str, Any]:
    """Healthy us-east-1, breaching us-west-2 (``west`` overrides its keys, ``ts`` too)."""
    return {
        "ts": top_ts,
        "regions": [
            {"name": E, "p95": 0.4, "err": 0.001, "sat": 0.4},
            {"name": W, "p95": w_p95, "err": 0.001, "sat": 0.4, **west},
        ],
    }


def about_to_shed() -> dict[str, Any]:
    """A saved state one breaching evaluation away from shedding us-west-2 (breachHold 3)."""
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


def write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path


def set_pin(project: Path, pin: Any) -> None:
    """Hand-edit ``summit-platform:traffic.pin`` in the stack file."""
    path = project / "Pulumi.prod.yaml"
    doc = yaml.safe_load(path.read_text())
    traffic = doc["config"].setdefault(
        "summit-platform:traffic", {"mode": "ga", "floorPercent": 20}
    )
    traffic["pin"] = pin
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


def compute(tmp: Path, metrics: Path, *extra: str, watch: list[Path] | None = None):
    argv = ["traffic", "compute", str(metrics), "--now", str(NOW), "--json", "-", *extra]
    return fuzz.run("traffic-reproducers", argv, watch=watch or [metrics])


# ------------------------------------------------------------------- invalid bytes, inf, digits


def test_invalid_utf8_in_metrics_json_exits_2(tmp_path: Path) -> None:
    m = tmp_path / "metrics.json"
    m.write_bytes(json.dumps(metrics_doc()).encode()[:-2] + b"\xff]}")
    out = compute(tmp_path, m)
    fuzz.assert_clean(out, names="metrics.json")
    assert "not valid UTF-8 at byte" in out.err


def test_invalid_utf8_in_weights_json_exits_2(project: Path, tmp_path: Path) -> None:
    w = tmp_path / "weights.json"
    w.write_bytes(b'[{"region": "us-east-1", "weight": 50}, {"region": "us-w\xe9st-2"}]')
    argv = ["traffic", "apply", "-s", "prod", "--weights", str(w), "--offline", "-C", str(project)]
    out = fuzz.run("traffic-reproducers", argv, watch=[project, w])
    fuzz.assert_clean(out, names="weights.json")
    assert "not valid UTF-8" in out.err
    assert not (project / ".summit").exists()  # no audit entry either


def test_invalid_utf8_in_the_traffic_state_file_exits_2(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(json.dumps(about_to_shed()).encode().replace(b'"ok"', b'"\xc3\x28k"', 1))
    m = write_json(tmp_path / "m.json", metrics_doc())
    out = compute(tmp_path, m, "--state", str(state), watch=[m, state])
    fuzz.assert_clean(out, names="state.json")


def test_inf_share_in_the_state_file_exits_2(tmp_path: Path) -> None:
    m = write_json(tmp_path / "m.json", metrics_doc())
    for raw in ('"inf"', "1e400", "Infinity", str(10**400)):
        doc = json.dumps(about_to_shed()).replace('"us-east-1": 50', f'"us-east-1": {raw}', 1)
        state = tmp_path / "state.json"
        state.write_text(doc)
        out = compute(tmp_path, m, "--state", str(state), watch=[m, state])
        fuzz.assert_clean(out, names="state.json")


# superscript two, full-width 100, Arabic-Indic 100 and 50, a sign, 5000 digits, a fraction
@pytest.mark.parametrize(
    "share",
    [
        "10\u00b2",
        "\uff11\uff10\uff10",
        "\u0661\u0660\u0660",
        "\u0665\u0660",
        "+100",
        "1" * 5000,
        "100.0",
    ],
)
def test_pin_share_written_with_odd_digits_exits_2(project: Path, share: str) -> None:
    argv = ["traffic", "pin", f"{E}={share}", f"{W}=0", "-s", "prod", "--offline"]
    argv += ["--reason", "drill", "-C", str(project)]
    out = fuzz.run("traffic-reproducers", argv, watch=[project])
    fuzz.assert_clean(out, names="SHARES")


# ------------------------------------------------------------------------- the pin in config


GARBAGE_PINS = [
    "garbage",
    ["us-east-1", 100],
    {"shares": "us-east-1=100"},
    {"shares": {E: 100, W: 0}, "reason": "x", "at": 5, "expiresAt": 10},
    {"shares": {E: "\u0661\u0660\u0660", W: 0}, "reason": "x", "at": "2026-12-01T00:00:00Z",
     "expiresAt": "2026-12-01T00:30:00Z"},
]  # fmt: skip


@pytest.mark.parametrize("pin", GARBAGE_PINS)
def test_garbage_traffic_pin_in_config_exits_2_for_compute_and_apply(
    project: Path, tmp_path: Path, pin: Any
) -> None:
    set_pin(project, pin)
    m = write_json(tmp_path / "m.json", metrics_doc())
    out = compute(tmp_path, m, "--stack", "prod", "-C", str(project), watch=[m, project])
    fuzz.assert_clean(out, names="summit-platform:traffic.pin")
    w = write_json(tmp_path / "w.json", [{"region": E, "weight": 50}, {"region": W, "weight": 50}])
    argv = ["traffic", "apply", "-s", "prod", "--weights", str(w), "--offline", "-C", str(project)]
    out = fuzz.run("traffic-reproducers", argv, watch=[project])
    fuzz.assert_clean(out, names="summit-platform:traffic.pin")


def test_garbage_traffic_pin_before_run_starts_exits_2(project: Path) -> None:
    """Before the loop starts there is nothing to hold: a bad pin is bad input (while it runs,
    a bad edit holds instead: test_garbage_traffic_pin_during_run_holds_and_the_loop_lives_on)."""
    set_pin(project, GARBAGE_PINS[0])
    argv = ["traffic", "run", "-s", "prod", "--dry-run", "--max-iterations", "1"]
    out = fuzz.run(
        "traffic-reproducers",
        [*argv, "--prometheus-url", "http://127.0.0.1:9", "-C", str(project)],
        watch=[project],
    )
    fuzz.assert_clean(out, names="summit-platform:traffic.pin")


def test_hand_edited_pin_500_400_expiring_2099_fails_summit_plan(project: Path) -> None:
    set_pin(
        project,
        {
            "shares": {E: 500, W: -400},
            "reason": "x",
            "by": "someone",
            "at": "2026-12-01T00:00:00Z",
            "expiresAt": "2099-01-01T00:00:00Z",
        },
    )
    out = fuzz.run(
        "traffic-reproducers", ["plan", "-s", "prod", "-C", str(project)], watch=[project]
    )
    fuzz.assert_clean(out, names="summit-platform:traffic.pin.shares.us-east-1")
    assert "summit-platform:traffic.pin.shares.us-west-2" in out.err
    # Shares in range but an expiry 73 years after `at`: still refused, naming expiresAt.
    set_pin(
        project,
        {
            "shares": {E: 100, W: 0},
            "reason": "x",
            "at": "2026-12-01T00:00:00Z",
            "expiresAt": "2099-01-01T00:00:00Z",
        },
    )
    out = fuzz.run(
        "traffic-reproducers", ["plan", "-s", "prod", "-C", str(project)], watch=[project]
    )
    fuzz.assert_clean(out, names="expiresAt")
    assert "at most 60 minutes" in out.err


@pytest.mark.parametrize(
    ("ttl", "words"),
    [
        ("0.001s", "between 1m and 60m"),
        ("30s", "between 1m and 60m"),
        ("61m", "between 1m and 60m"),
        ("90.5s", "whole seconds"),
        ("\u0665m", "--ttl"),  # Arabic-Indic 5
        ("\uff15m", "--ttl"),  # full-width 5
        ("nan", "--ttl"),
        ("60", "--ttl"),
    ],
)
def test_ttl_of_a_thousandth_of_a_second_or_odd_digits_exits_2(
    project: Path, ttl: str, words: str
) -> None:
    argv = ["traffic", "pin", f"{E}=100", f"{W}=0", "-s", "prod", "--offline", "--reason", "x"]
    argv += ["--ttl", ttl, "-C", str(project)]
    out = fuzz.run("traffic-reproducers", argv, watch=[project])
    fuzz.assert_clean(out, names="--ttl")
    assert words in out.err


def test_unpin_with_nothing_pinned_exits_2_and_changes_nothing(project: Path) -> None:
    log = project / ".summit" / "traffic-audit.jsonl"
    for extra in ([], ["--json", "-"]):
        argv = ["traffic", "unpin", "-s", "prod", "--offline", "-C", str(project), *extra]
        out = fuzz.run("traffic-reproducers", argv, watch=[project])
        assert out.code == 2 and not out.changed, out.err
        fuzz.assert_clean(out, names="traffic.pin")
        assert "Pulumi.prod.yaml" in out.err and "nothing is pinned" in out.err
        assert out.out == ""  # no report claims an unpin
        assert not log.exists()  # no `what: null` entry


def test_unpin_removes_a_pin_the_config_model_refuses(project: Path) -> None:
    """A hand-edited bad pin blocks `plan`; `unpin` is how to get rid of it."""
    set_pin(project, {"shares": {E: 500, W: -400}, "reason": "x", "at": "2099"})
    argv = ["traffic", "unpin", "-s", "prod", "--offline", "-C", str(project), "--json", "-"]
    out = fuzz.run("traffic-reproducers", argv)
    assert out.code == 0, out.err
    assert json.loads(out.out)["unpinned"] is True
    cfg = yaml.safe_load((project / "Pulumi.prod.yaml").read_text())["config"]
    assert "pin" not in cfg["summit-platform:traffic"]


@pytest.mark.parametrize(
    "flags",
    [
        ("--interval", "0s"),
        ("--interval", "500ms"),
        ("--interval", "2h"),
        ("--latency", "nan"),
        ("--latency", "0s"),
        ("--latency", "2h"),
        ("--apply-latency", "1000h"),
        ("--seed", "-1"),
    ],
)
def test_simulate_interval_0s_or_latency_nan_prints_no_figures(flags: tuple[str, str]) -> None:
    out = fuzz.run("traffic-reproducers", ["traffic", "simulate", *flags, "--json", "-"])
    fuzz.assert_clean(out, names=flags[0])
    assert out.out == ""  # no figures


# -------------------------------------------------------------------------- fail-static times


@pytest.mark.parametrize(
    ("ts", "why"),
    [
        (NOW + 3600, "in the future"),
        (NOW + MAX_CLOCK_SKEW_SECONDS + 1, "in the future"),
        (NOW * 1000, "milliseconds"),
        (NOW - 61, "old"),
        ("2099-01-01T00:00:00Z", "in the future"),
    ],
)
def test_sample_times_in_the_future_or_in_milliseconds_hold(
    tmp_path: Path, ts: Any, why: str
) -> None:
    """Times in the future, in milliseconds or stale are no data: the controller holds even
    one breach short of shedding (a NaN time is not JSON; as a string it is refused)."""
    state = write_json(tmp_path / "state.json", about_to_shed())
    m = write_json(tmp_path / "m.json", metrics_doc(1.9, ts=ts))
    out = compute(tmp_path, m, "--state", str(state))
    assert out.code == 0, out.err
    weights = {d["region"]: d for d in json.loads(out.out)}
    assert weights[W]["weight"] == 50 and weights[W]["dial"] == 100  # never shed
    assert why in weights[W]["reason"] and "fail-static" in weights[W]["reason"]
    saved = json.loads(state.read_text())
    assert saved["regions"][W]["breachStreak"] == 2 and saved["regions"][W]["mode"] == "ok"


def test_the_same_metrics_with_a_good_time_do_shed(tmp_path: Path) -> None:
    """The control for the test above: what holds there is the time, nothing else."""
    state = write_json(tmp_path / "state.json", about_to_shed())
    m = write_json(tmp_path / "m.json", metrics_doc(1.9))
    out = compute(tmp_path, m, "--state", str(state))
    assert {d["region"]: d["weight"] for d in json.loads(out.out)} == {E: 80, W: 20}


@pytest.mark.parametrize("ts", ['"NaN"', '"nan"', "NaN", "1e999"])
def test_a_nan_sample_time_is_refused(tmp_path: Path, ts: str) -> None:
    m = tmp_path / "m.json"
    m.write_text(json.dumps(metrics_doc()).replace(f'"ts": {NOW}', f'"ts": {ts}', 1))
    out = compute(tmp_path, m)
    fuzz.assert_clean(out, names="m.json")


# ----------------------------------------------------------------------- corrupted state files


CORRUPTED_STATES = [
    ("regions.us-west-2.breachStreak", lambda d: d["regions"][W].update(breachStreak=-1)),
    ("shares.us-east-1", lambda d: d["shares"].update({E: 500, W: -400})),
    ("regions.us-west-2.mode", lambda d: d["regions"][W].update(mode="shedd")),
    ("regions.us-west-2.shedWeight", lambda d: d["regions"][W].update(shedWeight=12.0)),
    ("regions.us-east-1.healthyStreak", lambda d: d["regions"][E].update(healthyStreak=True)),
    ("evaluations", lambda d: d.update(evaluations=2.5)),
    ("shares", lambda d: d["shares"].update({E: 60})),
]


@pytest.mark.parametrize(("key", "corrupt"), CORRUPTED_STATES, ids=[k for k, _ in CORRUPTED_STATES])
def test_corrupted_controller_state_is_rejected_not_trusted(
    tmp_path: Path, key: str, corrupt: Any
) -> None:
    doc = about_to_shed()
    corrupt(doc)
    state = write_json(tmp_path / "state.json", doc)
    m = write_json(tmp_path / "m.json", metrics_doc())
    out = compute(tmp_path, m, "--state", str(state), watch=[m, state])
    fuzz.assert_clean(out, names="state.json")
    assert key.split(".")[0] in out.err


def test_valid_state_file_round_trips(tmp_path: Path) -> None:
    state = files.state_from_doc(about_to_shed(), "s")
    path = tmp_path / "s.json"
    files.write_state(path, state)
    assert files.read_state(path) == state


# ------------------------------------------------------------------ the loop survives bad edits


class _Prometheus(BaseHTTPRequestHandler):
    """Healthy us-east-1, breaching us-west-2, samples taken a second ago."""

    def do_GET(self) -> None:
        q = urllib.parse.unquote_plus(self.path)
        now = time.time()
        if "timestamp(" in q:
            value = {E: f"{now - 1:.3f}", W: f"{now - 1:.3f}"}
        elif "p95" in q:
            value = {E: "0.3", W: "1.9"}
        else:
            value = {E: "0.001", W: "0.001"}
        result = [{"metric": {"region": r}, "value": [now, v]} for r, v in value.items()]
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def prometheus() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Prometheus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _run_loop(project: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    argv = [
        sys.executable,
        "-m",
        "summit_platform.automation.cli",
        "traffic",
        "run",
        "-s",
        "prod",
        "--dry-run",
    ]
    argv += ["--prometheus-url", url, "--interval", "200ms", "-C", str(project), *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _next(proc: subprocess.Popen[str], pred: Any, limit: int = 60) -> dict[str, Any]:
    assert proc.stdout is not None
    for _ in range(limit):
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else ""
        doc = json.loads(line)
        if pred(doc):
            return doc
    raise AssertionError("the loop never logged the expected line")


def test_garbage_traffic_pin_during_run_holds_and_the_loop_lives_on(
    project: Path, prometheus: str
) -> None:
    proc = _run_loop(project, prometheus)
    try:
        _next(proc, lambda d: "regions" in d)  # running with a good config
        set_pin(project, {"shares": {E: 500, W: -400}, "reason": "x"})
        held = _next(proc, lambda d: "configError" in d)
        assert held["action"] == "hold" and held["failStatic"] and "apply" not in held
        assert "summit-platform:traffic.pin" in held["configError"]
        set_pin(project, None)  # fixed: evaluations resume
        _next(proc, lambda d: "regions" in d and "configError" not in d)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err


def test_corrupted_state_at_start_gives_a_safe_state_and_says_so(
    project: Path, prometheus: str, tmp_path: Path
) -> None:
    """The loop never trusts a bad state file nor dies of it: it starts from what is applied
    (us-west-2's dial 40 = 20% of traffic, held as shed) and logs why."""
    path = project / "Pulumi.prod.yaml"
    path.write_text(path.read_text().replace("dial: 100", "dial: 40", 2).replace(
        "dial: 40", "dial: 100", 1))  # fmt: skip
    doc = about_to_shed()
    doc["shares"] = {E: 500, W: -400}
    state = write_json(tmp_path / "state.json", doc)
    proc = _run_loop(project, prometheus, "--state", str(state), "--max-iterations", "2")
    out, err = proc.communicate(timeout=60)
    lines = [json.loads(x) for x in out.splitlines()]
    assert proc.returncode == 0, err
    assert lines[0]["action"] == "state-rejected" and "shares" in lines[0]["reason"]
    assert "us-west-2=20%" in lines[0]["reason"] and "summit: warning:" in err
    decisions = [x for x in lines if "regions" in x]
    assert all(
        {r["region"]: r["weight"] for r in d["regions"]} == {E: 80, W: 20} for d in decisions
    )
    saved = json.loads(state.read_text())  # replaced by a valid state
    assert saved["shares"] == {E: 80, W: 20} and saved["regions"][W]["mode"] == "shed"


@pytest.mark.parametrize(
    "url", ["not-a-url", "ftp://metrics:9090", "http://user:hunter2@[::1", "http://h:99999"]
)
def test_a_prometheus_url_that_is_not_http_exits_2_without_echoing_it(
    project: Path, url: str
) -> None:
    argv = ["traffic", "run", "-s", "prod", "--dry-run", "--max-iterations", "1"]
    out = fuzz.run("traffic-reproducers", [*argv, "--prometheus-url", url, "-C", str(project)])
    fuzz.assert_clean(out, names="--prometheus-url")
    assert "hunter2" not in out.text and out.out == ""


@pytest.mark.parametrize("command", ["pin", "apply", "run"])
def test_a_stack_without_a_global_entry_point_cannot_be_steered(
    project: Path, tmp_path: Path, command: str
) -> None:
    """traffic.mode none (a preview): nothing to pin, apply or run; exit 2, nothing written."""
    path = project / "Pulumi.prod.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["summit-platform:traffic"] = {"mode": "none"}
    for region in doc["config"]["summit-platform:regions"]:
        region.pop("endpointArn", None)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    w = write_json(tmp_path / "w.json", [{"region": E, "weight": 50}, {"region": W, "weight": 50}])
    argv = {
        "pin": ["traffic", "pin", f"{E}=100", f"{W}=0", "--reason", "x", "--offline"],
        "apply": ["traffic", "apply", "--weights", str(w), "--offline"],
        "run": ["traffic", "run", "--dry-run", "--prometheus-url", "http://127.0.0.1:9"],
    }[command]
    out = fuzz.run(
        "traffic-reproducers", [*argv, "-s", "prod", "-C", str(project)], watch=[project]
    )
    fuzz.assert_clean(out, names="summit-platform:traffic.mode")
