"""The drill's parts, fast: the fault knob, the HAProxy actuator (a real HAProxy), the process
supervisor, the evidence arithmetic and the input checks. The whole lab runs in
``test_traffic_drill.py``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, require_tool
from hypothesis import given
from hypothesis import strategies as st

from summit_platform.apps.gateway.app import fault_table, start, start_admin
from summit_platform.automation.errors import UserError
from summit_platform.automation.stack_files import load_stack
from summit_platform.automation.traffic.drill import evidence as ev
from summit_platform.automation.traffic.drill import lab as labmod
from summit_platform.automation.traffic.drill import report
from summit_platform.automation.traffic.drill.scenarios import parse_induce
from summit_platform.automation.traffic.drill.supervisor import Supervisor, group_alive
from summit_platform.automation.traffic.haproxy import (
    WEIGHT_PER_PERCENT,
    HAProxyAdmin,
    apply_decision,
    weights_for_dials,
)
from summit_platform.components.render.spill import dials_for_shares, region_loads

REGIONS = ["us-east-1", "us-west-2"]
NATURAL = {"us-east-1": 50.0, "us-west-2": 50.0}


def put(url: str, doc: object) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), method="PUT")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def timed_get(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as resp:
        resp.read()
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- the fault knob


def test_fault_knob_changes_a_running_server_and_rejects_bad_input() -> None:
    with start(0, region="us-west-2", inject_latency_ms={}) as gw:
        admin = start_admin(gw.app)
        try:
            assert timed_get(gw.url + "/cart") < 0.1
            status, doc = put(admin.url + "/faults", {"latencyMs": {"*": 200}})
            assert status == 200 and doc == {"latencyMs": {"*": 200.0}, "errorPct": {}}
            assert timed_get(gw.url + "/cart") >= 0.2
            assert timed_get(gw.url + "/metrics") < 0.1  # the exporter is never slowed
            for bad in (
                {"latencyMs": {"*": -1}},
                {"latencyMs": {"cart": 5}},
                {"latencyMs": {"*": "NaN"}},
                {"errorPct": {"*": 101}},
                {"latencyMs": {"*": True}},
                {"other": {}},
                [1, 2],
            ):
                status, doc = put(admin.url + "/faults", bad)
                assert status == 400 and "error" in doc, bad
            # a rejected change left the knob as it was
            with urllib.request.urlopen(admin.url + "/faults", timeout=5) as resp:
                assert json.load(resp)["latencyMs"] == {"*": 200.0}
            put(admin.url + "/faults", {"errorPct": {"*": 50}})
            codes = []
            for _ in range(4):
                try:
                    with urllib.request.urlopen(gw.url + "/cart", timeout=5) as resp:
                        codes.append(resp.status)
                except urllib.error.HTTPError as err:
                    codes.append(err.code)
            assert sorted(codes) == [200, 200, 500, 500]
        finally:
            admin.stop()


def test_admin_socket_is_loopback_only() -> None:
    with start(0) as gw, pytest.raises(ValueError, match="loopback"):
        start_admin(gw.app, host="0.0.0.0")


def test_fault_table_bounds() -> None:
    assert fault_table({"*": 1, "/search": 2.5}, "latencyMs") == {"*": 1.0, "/search": 2.5}
    for bad in ({"*": float("inf")}, {"*": float("nan")}, {"x": 1}, "300"):
        with pytest.raises(ValueError):
            fault_table(bad, "latencyMs")


# --------------------------------------------------------------------------- --induce


def test_parse_induce() -> None:
    f = parse_induce("us-west-2:latency=300ms", REGIONS)
    assert (f.region, f.latency_ms, f.error_pct) == ("us-west-2", 300.0, 0.0)
    f = parse_induce("us-east-1:latency=1.5s,errors=2.5%", REGIONS)
    assert (f.latency_ms, f.error_pct) == (1500.0, 2.5)
    for bad in (
        "us-west-2:latency=300",  # a duration needs a unit
        "us-west-2:latency=\u0663\u0660\u0660ms",  # Arabic-Indic digits
        "eu-west-1:latency=300ms",
        "us-west-2:errors=5",
        "us-west-2:errors=150%",
        "us-west-2:errors=nan%",
        "us-west-2:latency=1h",
        "us-west-2:slow",
        "us-west-2",
    ):
        with pytest.raises(UserError):
            parse_induce(bad, REGIONS)


def test_drill_rejects_bad_input_before_starting_anything(tmp_path: Path) -> None:
    def summit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "summit_platform.automation.cli", "traffic", "drill", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    res = summit("--scenario", "meteor-strike")
    assert res.returncode == 2 and "--scenario" in res.stderr and "Traceback" not in res.stderr
    res = summit("--timeout", "300")
    assert res.returncode == 2 and "unit" in res.stderr
    res = summit("-C", str(tmp_path))
    assert res.returncode == 2 and "Pulumi.yaml" in res.stderr


# --------------------------------------------------------------------------- HAProxy actuator


@given(st.integers(0, 100), st.integers(0, 100))
def test_weights_serve_what_the_dials_deliver(dial_e: int, dial_w: int) -> None:
    dials = {"us-east-1": dial_e, "us-west-2": dial_w}
    weights = weights_for_dials(dials, NATURAL)
    loads = region_loads(dials, NATURAL)
    total = sum(weights.values())
    assert all(0 <= w <= 256 for w in weights.values())
    assert abs(total - 100 * WEIGHT_PER_PERCENT) <= 1
    for r in REGIONS:
        # round robin serves weight / total: within half a weight unit of the dials' load
        assert abs(100 * weights[r] / total - loads[r]) <= 0.5


def test_floor_dial_is_a_one_in_five_weight() -> None:
    dials = dials_for_shares({"us-east-1": 80, "us-west-2": 20}, NATURAL, 20)
    assert weights_for_dials(dials, NATURAL) == {"us-east-1": 160, "us-west-2": 40}


def _haproxy(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    exe = require_tool("haproxy")
    sock = tmp_path / "admin.sock"
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        labmod.haproxy_config(
            port=labmod.free_port(),
            metrics_port=labmod.free_port(),
            socket_path=sock,
            servers={r: labmod.free_port() for r in REGIONS},
        )
    )
    proc = subprocess.Popen([exe, "-db", "-f", str(cfg)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while not sock.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
        time.sleep(0.05)
    return proc, sock


@pytest.fixture
def lab_project(tmp_path: Path) -> Path:
    return labmod.prepare_project(ROOT, "drill", tmp_path / "project")


def test_haproxy_actuator_writes_config_then_weights(
    tmp_path: Path, lab_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", os.environ.get("PATH", "") + ":/usr/sbin")  # Debian's haproxy
    proc, sock = _haproxy(tmp_path)
    try:
        admin = HAProxyAdmin(sock)
        rep = apply_decision(lab_project, "drill", {"us-east-1": 100, "us-west-2": 40}, admin=admin)
        assert rep.consistent and rep.applied and rep.config_written, rep.messages
        assert admin.get_weight("regions", "us-west-2") == 40
        assert admin.get_weight("regions", "us-east-1") == 160
        cfg = load_stack(lab_project, "drill")
        assert {r.name: r.dial for r in cfg.regions} == {"us-east-1": 100, "us-west-2": 40}
        rows = {r["svname"]: r for r in admin.show_stat() if r["pxname"] == "regions"}
        assert rows["us-west-2"]["weight"] == "40"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # HAProxy gone: config is ahead of reality and the report says so
    rep = apply_decision(lab_project, "drill", {"us-east-1": 100, "us-west-2": 60}, admin=admin)
    assert rep.config_written and not rep.applied and not rep.consistent
    assert "NOT APPLIED" in rep.messages[-1]


def test_lab_configs_listen_on_loopback_only(tmp_path: Path) -> None:
    text = labmod.haproxy_config(
        port=1, metrics_port=2, socket_path=tmp_path / "s", servers={"us-east-1": 3}
    )
    lines = [ln.split() for ln in text.splitlines() if ln.strip().startswith(("bind", "server"))]
    addresses = [parts[1] if parts[0] == "bind" else parts[2] for parts in lines]
    assert addresses == ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
    am = labmod.alertmanager_config("http://127.0.0.1:9/alerts", "5s")
    assert am["receivers"][0]["webhook_configs"][0]["url"].startswith("http://127.0.0.1:")


# --------------------------------------------------------------------------- supervisor


def test_supervisor_stops_the_whole_process_group(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    child = sup.start("tree", ["bash", "-c", "sleep 300 & sleep 300 & wait"])
    time.sleep(0.3)
    assert group_alive(child.pid)
    assert sup.stop_all(grace_s=5) == []
    assert not group_alive(child.pid)


def test_supervisor_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    child = sup.start("stubborn", ["bash", "-c", "trap '' TERM; sleep 300 & wait; sleep 300"])
    time.sleep(0.3)
    assert sup.stop_all(grace_s=1) == []
    assert not group_alive(child.pid)


# --------------------------------------------------------------------------- evidence


def _record(w_share_by_second: list[float], *, rps: int = 40) -> ev.Record:
    """HAProxy samples where us-west-2 gets ``w_share`` of ``rps`` requests each second."""
    rec = ev.Record(REGIONS, dict(NATURAL), 20, 1.5, 0.01, started_at=1000.0)
    counts = {"us-east-1": 0, "us-west-2": 0}
    for i, share in enumerate(w_share_by_second):
        w = round(rps * share / 100)
        counts = {"us-east-1": counts["us-east-1"] + rps - w, "us-west-2": counts["us-west-2"] + w}
        weight = {"us-east-1": round(2 * (100 - share)), "us-west-2": round(2 * share)}
        rec.haproxy.append({"at": 1000.0 + i, "lbtot": dict(counts), "weight": weight})
    return rec


def test_served_share_and_time_to_steer_from_counters() -> None:
    rec = _record([50.0] * 60 + [20.0] * 60)
    rec.events["fault_at"] = 1030.0
    served = ev.served_shares(rec.haproxy, REGIONS)
    assert served[10]["shares"]["us-west-2"] == pytest.approx(50.0)
    assert served[-1]["shares"]["us-west-2"] == pytest.approx(20.0)
    times = ev.steering_times(rec, "us-west-2", 1030.0)
    # the weights changed at t=60; the 5 s window reads <= 25% once 5/6 of it is new
    assert times["applied_at"] == 1060.0
    assert 1063.0 <= times["steered_at"] <= 1065.0
    assert times["time_to_steer_s"] == pytest.approx(times["steered_at"] - 1030.0)
    assert ev.flaps(rec) == 0
    assert ev.min_shares(rec) == {"us-east-1": 50.0, "us-west-2": 20.0}


def test_a_shed_restore_shed_is_one_flap_and_a_counter_reset_is_not_traffic() -> None:
    rec = _record([50.0] * 10 + [20.0] * 10 + [35.0] * 10 + [20.0] * 10)
    assert ev.flaps(rec) == 1
    rec = _record([50.0] * 20)
    rec.haproxy[10]["lbtot"] = {"us-east-1": 0, "us-west-2": 0}  # HAProxy restarted
    for s in rec.haproxy[11:]:
        s["lbtot"] = {r: v - rec.haproxy[9]["lbtot"][r] for r, v in s["lbtot"].items()}
    assert all(
        x["shares"]["us-west-2"] == pytest.approx(50.0)
        for x in ev.served_shares(rec.haproxy, REGIONS)
    )


def test_outage_check_fails_when_weights_moved_while_prometheus_was_down() -> None:
    rec = _record([50.0] * 30 + [20.0] * 30)
    rec.events.update(outage_at=1010.0, restored_at=1050.0)
    rec.decisions = [
        {"at": 1000.0 + t, "action": "hold", "failStatic": True, "regions": []}
        for t in range(15, 50, 5)
    ]
    checks = report.outage_checks(rec, {})
    assert not checks["no_weight_change_while_down"]["ok"]
    assert checks["controller_held"]["ok"]
    rec2 = _record([50.0] * 60)
    rec2.events.update(outage_at=1010.0, restored_at=1050.0)
    rec2.decisions = rec.decisions
    assert report.outage_checks(rec2, {})["no_weight_change_while_down"]["ok"]


def test_bundled_drill_stack_is_valid_and_renders_rules(lab_project: Path, tmp_path: Path) -> None:
    cfg = load_stack(lab_project, "drill")
    assert cfg.slo.p95_ms == 1500 and cfg.traffic.breach_hold == 3
    files = labmod.render_rules(lab_project, "drill", tmp_path / "rules")
    assert [p.relative_to(tmp_path / "rules").as_posix() for p in files] == [
        "us-east-1/gateway.rules.yml"
    ]
    if shutil.which("promtool"):
        res = subprocess.run(
            ["promtool", "check", "rules", str(files[0])], capture_output=True, text=True
        )
        assert res.returncode == 0, res.stdout + res.stderr


def test_report_of_a_breach_and_of_a_run_cut_short() -> None:
    rec = _record([50.0] * 60 + [20.0] * 60)
    rec.events["fault_at"] = 1030.0
    rec.decisions = [
        {
            "at": 1059.5,
            "action": "steer",
            "changed": True,
            "regions": [
                {"region": "us-east-1", "weight": 80, "dial": 100},
                {"region": "us-west-2", "weight": 20, "dial": 40},
            ],
        }
    ]
    doc = report.build("induced-latency", rec, slow="us-west-2", loop_s=5, leftovers=[])
    assert doc["ok"] is False  # no alert arrived
    assert [k for k, c in doc["checks"].items() if not c["ok"]] == ["alert_received"]
    assert doc["time_to_decide_s"] == 29.5 and doc["served_rps"] == 40.0
    rec.alerts = [{"name": "SLOErrorBudgetBurn", "at": 1070.0, "status": "firing", "labels": {}}]
    doc = report.build("induced-latency", rec, slow="us-west-2", loop_s=5, leftovers=["locust"])
    assert not doc["checks"]["no_process_left"]["ok"]
    assert doc["alerts"][0]["t_from_fault_s"] == 40.0
    short = _record([50.0] * 30)
    doc = report.build("pin", short, slow="us-west-2", loop_s=5, leftovers=[])
    assert doc["ok"] is False and "scenario_finished" in doc["checks"]
