"""`summit traffic`: compute (the metrics and weights file shapes, state between calls), pin/unpin (reason, TTL,
audit log, config), simulate (the issue's done-when figures), run (loop, SIGTERM)."""

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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from summit_platform.automation.cli import main
from summit_platform.automation.stack_files import load_stack
from summit_platform.automation.traffic import simulator as sim
from summit_platform.automation.traffic.files import parse_time

REPO = Path(__file__).resolve().parents[1]
E, W = "us-east-1", "us-west-2"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.stage.yaml", "Pulumi.dev.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def _metrics(path: Path, w_p95: float, ts: float) -> Path:
    path.write_text(
        json.dumps(
            {
                "ts": ts,
                "regions": [
                    {"name": E, "p95": 0.42, "err": 0.002, "sat": 0.55},
                    {"name": W, "p95": w_p95, "err": 0.002, "sat": 0.55},
                ],
            }
        )
    )
    return path


def test_compute_json_is_the_weights_file_shape_and_state_carries_over(tmp_path, capsys):
    state = tmp_path / "state.json"
    outs = []
    for i in range(3):  # breachHold defaults to 3
        m = _metrics(tmp_path / "m.json", 1.9, 1000 + i)
        rc = main(
            [
                "traffic",
                "compute",
                str(m),
                "--state",
                str(state),
                "--now",
                str(1000 + i),
                "--json",
                "-",
            ]
        )
        assert rc == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert [o[1]["weight"] for o in outs] == [50, 50, 20]
    first = outs[0][0]
    assert {"region", "weight", "dial", "reason"} <= set(first)
    assert outs[2][1]["dial"] == 40
    assert json.loads(state.read_text())["regions"][W]["mode"] == "shed"


def test_compute_bad_metrics_exit_2_naming_file_and_key(tmp_path, capsys):
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"regions": [{"name": E, "p95": "fast", "err": 0}]}))
    assert main(["traffic", "compute", str(m)]) == 2
    err = capsys.readouterr().err
    assert "m.json" in err and "regions[0].p95" in err


def _pin(project, *extra):
    return main(
        [
            "traffic",
            "pin",
            "us-east-1=100",
            "us-west-2=0",
            "--stack",
            "prod",
            "--offline",
            "-C",
            str(project),
            "--audit-log",
            str(project / "audit.jsonl"),
            *extra,
        ]
    )


@pytest.mark.parametrize(
    "extra",
    [
        (),
        ("--reason", "  "),
        ("--reason", "drill", "--ttl", "61m"),
        ("--reason", "x", "--ttl", "2h"),
    ],
)
def test_pin_without_reason_or_with_long_ttl_exits_2_and_changes_nothing(project, extra, capsys):
    before = (project / "Pulumi.prod.yaml").read_bytes()
    assert _pin(project, *extra) == 2
    assert (project / "Pulumi.prod.yaml").read_bytes() == before
    assert not (project / "audit.jsonl").exists()
    assert "summit: error:" in capsys.readouterr().err


def test_pin_shares_must_cover_regions_and_add_to_100(project):
    before = (project / "Pulumi.prod.yaml").read_bytes()
    rc = main(
        [
            "traffic",
            "pin",
            "us-east-1=90",
            "us-west-2=0",
            "--stack",
            "prod",
            "--offline",
            "--reason",
            "x",
            "-C",
            str(project),
        ]
    )
    assert rc == 2
    assert (project / "Pulumi.prod.yaml").read_bytes() == before


def test_pin_writes_config_and_audit_then_holds_until_expiry(
    project, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    now = 1_800_000_000.0
    assert (
        _pin(project, "--reason", "us-west-2 db failover", "--ttl", "30m", "--now", str(now)) == 0
    )
    capsys.readouterr()
    text = (project / "Pulumi.prod.yaml").read_text()
    assert text.startswith("# prod serves")  # comments kept
    cfg = load_stack(project, "prod")
    assert cfg.traffic.pin is not None and cfg.traffic.pin.shares == {E: 100, W: 0}
    assert cfg.traffic.mode == "ga" and cfg.traffic.floor_percent == 20  # defaults kept
    assert cfg.traffic.pin.expires_at.timestamp() == now + 1800
    raw_pin = yaml.safe_load(text)["config"]["summit-platform:traffic"]["pin"]
    assert parse_time(raw_pin["expiresAt"], source="", key="") == now + 1800
    intent, result = [json.loads(x) for x in (project / "audit.jsonl").read_text().splitlines()]
    assert intent["phase"] == "intent" and result["phase"] == "result"
    assert intent["id"] == result["id"] and result["ok"] is True
    assert intent["who"].startswith("octocat") and intent["why"] == "us-west-2 db failover"
    assert intent["what"] == {E: 100, W: 0} and intent["action"] == "pin"
    assert result["before"]["pin"] is None
    assert result["after"]["pin"]["shares"] == {E: 100, W: 0}

    state = tmp_path / "s.json"

    def compute(t):
        m = _metrics(tmp_path / "m.json", 0.5, t)
        args = [
            "traffic",
            "compute",
            str(m),
            "--stack",
            "prod",
            "-C",
            str(project),
            "--state",
            str(state),
            "--now",
            str(t),
            "--json",
            "-",
        ]
        assert main(args) == 0
        return {d["region"]: d for d in json.loads(capsys.readouterr().out)}

    held = compute(now + 1799)
    assert held[W]["weight"] == 0 and held[W]["dial"] == 0 and "pinned" in held[W]["reason"]
    after = compute(now + 1800)
    assert after[W]["weight"] >= 20  # expired: the floor returns at once, automation resumes
    assert (
        main(
            [
                "traffic",
                "unpin",
                "--stack",
                "prod",
                "--offline",
                "-C",
                str(project),
                "--audit-log",
                str(project / "audit.jsonl"),
            ]
        )
        == 0
    )
    assert load_stack(project, "prod").traffic.pin is None
    entries = [json.loads(x) for x in (project / "audit.jsonl").read_text().splitlines()]
    assert [(e["action"], e["phase"]) for e in entries] == [
        ("pin", "intent"),
        ("pin", "result"),
        ("unpin", "intent"),
        ("unpin", "result"),
    ]
    assert entries[2]["what"] == {E: 100, W: 0} and entries[3]["after"]["pin"] is None


@pytest.mark.parametrize("name", sim.SCENARIOS)
def test_simulate_json_figures(name, capsys):
    assert main(["traffic", "simulate", "--scenario", name, "--json", "-"]) == 0
    figs = json.loads(capsys.readouterr().out)
    assert {"time_to_steer_s", "flaps_per_hour", "min_share", "breached_region_share"} <= set(figs)
    assert all(v >= 20 for v in figs["min_share"].values())
    if name == "induced-latency":
        assert figs["time_to_steer_s"] is not None and figs["time_to_steer_s"] <= 60
        assert figs["breached_region_share"] < 30
    if name in ("noisy-healthy", "metrics-outage"):
        assert figs["flaps_per_hour"] == 0 and figs["steers"] == 0
        assert figs["min_share"] == {E: 50.0, W: 50.0}
    if name == "flapping":
        assert figs["flaps_per_hour"] == 0


def test_simulate_plot_writes_png(tmp_path):
    out = tmp_path / "p.png"
    assert (
        main(["traffic", "simulate", "--scenario", "recovery", "--plot", str(out), "--json", "-"])
        == 0
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class _FakePrometheus(BaseHTTPRequestHandler):
    """Answers instant queries like /api/v1/query (a loopback stand-in for the loop test)."""

    def do_GET(self):
        now = time.time()
        q = urllib.parse.unquote_plus(self.path)
        healthy = "0.3" if "p95" in q else "0.001" if "error" in q else "0.3"
        bad = "1.9" if "p95" in q else healthy
        if "timestamp(" in q:  # the source asks when the samples were taken: just now
            healthy = bad = f"{now - 1:.3f}"
        result = [
            {"metric": {"region": r}, "value": [now, bad if r == W else healthy]} for r in (E, W)
        ]
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *a):
        pass


@pytest.fixture()
def fake_prom():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakePrometheus)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_run_dry_run_logs_json_lines_and_changes_nothing(project, fake_prom, capsys):
    before = (project / "Pulumi.prod.yaml").read_bytes()
    rc = main(
        [
            "traffic",
            "run",
            "--stack",
            "prod",
            "--prometheus-url",
            fake_prom,
            "--interval",
            "50ms",
            "--dry-run",
            "--max-iterations",
            "4",
            "-C",
            str(project),
        ]
    )
    assert rc == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[-1]["action"] == "stopped"
    steer = [x for x in lines if x.get("action") == "steer"]
    assert steer and steer[0]["apply"]["path"] == "dry-run"
    assert steer[0]["apply"]["dials"] == {E: 100, W: 40}
    assert (project / "Pulumi.prod.yaml").read_bytes() == before


def test_run_source_outage_is_fail_static(project, capsys):
    rc = main(
        [
            "traffic",
            "run",
            "--stack",
            "prod",
            "--prometheus-url",
            "http://127.0.0.1:9",
            "--interval",
            "10ms",
            "--dry-run",
            "--max-iterations",
            "2",
            "-C",
            str(project),
        ]
    )
    assert rc == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0]["failStatic"] and "sourceError" in lines[0]


def test_run_stops_cleanly_on_sigterm(project, fake_prom):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "summit_platform.automation.cli",
            "traffic",
            "run",
            "--stack",
            "prod",
            "--prometheus-url",
            fake_prom,
            "--interval",
            "200ms",
            "--dry-run",
            "-C",
            str(project),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        first = proc.stdout.readline()  # the loop is running once it logged a decision
        assert json.loads(first)["regions"]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert json.loads(out.splitlines()[-1])["action"] == "stopped"
    assert "Traceback" not in err
    assert yaml.safe_load((project / "Pulumi.prod.yaml").read_text())  # untouched & valid


def test_pin_through_the_automation_api_writes_the_same_config(project, tmp_path, monkeypatch):
    from summit_platform.automation import pulumi_ops
    from tests.support.pulumi_standin import PulumiStandin

    standin = PulumiStandin(tmp_path / "pulumi")
    standin.add_stack("prod")
    monkeypatch.setenv(pulumi_ops.PULUMI_ROOT_ENV, str(standin.root))
    rc = main(
        [
            "traffic",
            "pin",
            "us-east-1=100",
            "us-west-2=0",
            "--stack",
            "prod",
            "--reason",
            "drill",
            "--ttl",
            "15m",
            "-C",
            str(project),
            "--audit-log",
            str(tmp_path / "audit.jsonl"),
        ]
    )
    assert rc == 0
    assert standin.calls("config set-all")
    cfg = load_stack(project, "prod")
    assert cfg.traffic.pin is not None
    assert cfg.traffic.pin.shares == {E: 100, W: 0} and cfg.traffic.pin.reason == "drill"
    assert cfg.traffic.floor_percent == 20 and cfg.traffic.mode == "ga"
