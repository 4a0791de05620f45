"""Weight history as a signal: the controller's metrics (served for real on loopback), the
traffic dashboard's panels, and the "no leader acts" alert under Debian's promtool.

The alert's arithmetic, for prod's thresholds (p95 1.5 s) and 3m of silence: us-west-2's p95
goes to 1.9 s at minute 10. If the leader stops applying at minute 10, the last apply is
older than 180 s from minute 14 (840 - 600 = 240 > 180; at 13m it is exactly 180, not more),
the alert is pending at 14m and fires at 15m (``for: 1m``). A leader that keeps applying, or
a stopped leader with no breach, never fires it; with no controller at all (the metric absent)
it fires one minute after the breach shows."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from obs_helpers import promtool, write_rules

from summit_platform.automation.traffic.telemetry import ControllerMetrics
from summit_platform.components.render import dashboards as dash
from summit_platform.components.render import prometheus_rules as pr
from summit_platform.components.render import traffic_controller as tc

W = "us-west-2"
ALERT = pr.ControllerAlert(
    p95_seconds=1.5, error_ratio=0.01, saturation=0.85, not_acting_after="3m"
)


def _steering(p95: str) -> list[dict[str, str]]:
    labels = f'region="{W}", service="gateway"'
    return [
        {"series": f"{pr.STEERING_P95}{{{labels}}}", "values": p95},
        {"series": f"{pr.STEERING_ERROR_RATIO}{{{labels}}}", "values": "0.001x30"},
        {"series": f"{pr.STEERING_SATURATION}{{{labels}}}", "values": "0.3x30"},
    ]


def _applied(values: str) -> dict[str, str]:
    return {"series": f'{tc.METRIC_LAST_APPLY}{{holder="us-east-1/ctl-0"}}', "values": values}


def _expected() -> dict[str, Any]:
    (rule,) = pr.controller_alert_group(ALERT)["rules"]
    return {
        "exp_labels": {**rule["labels"], "region": W},
        "exp_annotations": {
            k: v.replace("{{ $labels.region }}", W) for k, v in rule["annotations"].items()
        },
    }


def _at(minute: int, firing: bool) -> dict[str, Any]:
    return {
        "eval_time": f"{minute}m",
        "alertname": tc.ALERT_NOT_ACTING,
        "exp_alerts": [_expected()] if firing else [],
    }


BREACH_AT_10 = "0.4x9 1.9x20"


@pytest.mark.prometheus
def test_the_not_acting_alert_under_promtool(tmp_path: Path) -> None:
    write_rules(tmp_path / "rules.yml", [pr.controller_alert_group(ALERT)])
    tests = [
        {  # the leader stops applying when the breach starts
            "interval": "1m",
            "input_series": [*_steering(BREACH_AT_10), _applied("0+60x10 600x20")],
            "alert_rule_test": [
                _at(12, False),
                _at(13, False),
                _at(14, False),
                _at(15, True),
                _at(25, True),
            ],
        },
        {  # a leader that keeps applying (or confirming) its decision
            "interval": "1m",
            "input_series": [*_steering(BREACH_AT_10), _applied("0+60x30")],
            "alert_rule_test": [_at(15, False), _at(25, False)],
        },
        {  # nobody applies, but nothing breaches: nothing to steer
            "interval": "1m",
            "input_series": [*_steering("0.4x30"), _applied("0+60x10 600x20")],
            "alert_rule_test": [_at(25, False)],
        },
        {  # no controller exports anything at all
            "interval": "1m",
            "input_series": _steering(BREACH_AT_10),
            "alert_rule_test": [_at(10, False), _at(11, True)],
        },
    ]
    suite = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "suite.yml").write_text(yaml.safe_dump(suite, sort_keys=False))
    checked = promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = promtool("test", "rules", "suite.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_reads_the_stacks_thresholds():
    (rule,) = pr.controller_alert_group(
        pr.ControllerAlert(
            p95_seconds=1.2, error_ratio=0.02, saturation=0.9, not_acting_after="90s"
        )
    )["rules"]
    assert f"({pr.STEERING_P95}) > 1.2" in rule["expr"]
    assert f"({pr.STEERING_ERROR_RATIO}) > 0.02" in rule["expr"]
    assert f"({pr.STEERING_SATURATION}) > 0.9" in rule["expr"]
    assert f"time() - max({tc.METRIC_LAST_APPLY}) > 90" in rule["expr"]
    assert rule["labels"]["severity"] == "page" and "90s" in rule["annotations"]["summary"]


def test_the_traffic_dashboard_has_shares_decisions_and_leadership():
    board = dash.traffic_dashboard()
    assert board["uid"] == dash.TRAFFIC_UID
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == ["Shares and dials", "Decisions", "Leadership"]
    titles = " | ".join(p["title"] for p in board["panels"])
    for wanted in ("Share of traffic", "Dial", "Decisions by kind", "Leader", "last applied"):
        assert wanted in titles, titles
    ids = [p["id"] for p in board["panels"]]
    assert len(set(ids)) == len(ids)
    known = set(tc.METRICS) | set(pr.STEERING_SERIES)
    for q in dash.panel_queries(board):
        names = {n for n in known if n in q}
        assert names, f"{q} reads neither a controller metric nor a steering series"
    queries = " ".join(dash.panel_queries(board))
    for metric in (
        tc.METRIC_SHARE,
        tc.METRIC_DIAL,
        tc.METRIC_DECISIONS,
        tc.METRIC_LEADER,
        tc.METRIC_LAST_APPLY,
    ):
        assert metric in queries


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_the_controller_serves_its_metrics_and_health():
    metrics = ControllerMetrics("us-east-1/ctl-0", "us-east-1", interval_s=5)
    port = metrics.serve(0, host="127.0.0.1")
    try:
        line = {
            "action": "steer",
            "leader": True,
            "sourceError": None,
            "regions": [
                {"region": "us-east-1", "weight": 80, "dial": 100, "breaching": False},
                {"region": W, "weight": 20, "dial": 40, "breaching": True},
            ],
        }
        metrics.observe(line, decision=line, token=7, last_applied_at=1_700_000_000.0)
        metrics.observe(
            {"action": "standby", "leader": False}, decision=None, token=7, last_applied_at=None
        )
        code, body = _get(f"http://127.0.0.1:{port}/metrics")
        assert code == 200
        assert f'{tc.METRIC_SHARE}{{region="{W}"}} 20.0' in body
        assert f'{tc.METRIC_DIAL}{{region="{W}"}} 40.0' in body
        assert f'{tc.METRIC_BREACHING}{{region="{W}"}} 1.0' in body
        assert f'{tc.METRIC_DECISIONS}{{action="steer"}} 1.0' in body
        assert f'{tc.METRIC_DECISIONS}{{action="standby"}} 1.0' in body
        assert f'{tc.METRIC_LEADER}{{holder="us-east-1/ctl-0",region="us-east-1"}} 0.0' in body
        assert f"{tc.METRIC_FENCING_TOKEN} 7.0" in body
        assert f"{tc.METRIC_LAST_APPLY} 1.7e+09" in body
        assert f'{tc.METRIC_SOURCE_ERRORS}{{holder="us-east-1/ctl-0"}} 1.0' in body
        assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        metrics._last_turn_at = time.time() - 31  # no turn for longer than max(3 x 5 s, 30 s)
        assert _get(f"http://127.0.0.1:{port}/healthz") == (503, "stale\n")
        assert _get(f"http://127.0.0.1:{port}/other")[0] == 404
    finally:
        metrics.close()


def test_every_metric_the_dashboard_and_alert_read_is_exported():
    metrics = ControllerMetrics("h", "r", interval_s=5)
    exported = {m.name for m in metrics.registry.collect()}
    # prometheus-client reports counters without their _total suffix.
    assert {n.removesuffix("_total") for n in tc.METRICS} <= exported
    assert json.dumps(sorted(exported))
