"""Pure rule and dashboard builders: names, labels, burn-rate math, dashboard queries."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from summit_platform.components.render import dashboards as dash
from summit_platform.components.render import prometheus_rules as pr

SERVICES = ("gateway", "web", "intelgraph")


def spec(**kw: object) -> pr.ServiceRules:
    base: dict[str, object] = {"service": "gateway", "region": "us-east-1"}
    base.update(kw)
    return pr.ServiceRules(**base)  # type: ignore[arg-type]


def rules_named(groups: list[dict], name: str) -> list[dict]:
    return [r for g in groups for r in g["rules"] if r.get("record") == name]


def test_steering_contract_names_are_exact() -> None:
    # Another engineer's controller reads these literal names: renaming one breaks steering.
    assert pr.STEERING_SERIES == (
        "summit:steering_p95_seconds:1m",
        "summit:steering_error_ratio:1m",
        "summit:steering_saturation:1m",
        "summit:steering_request_rate:1m",
    )
    group = pr.steering_group(spec())
    assert {r["record"] for r in group["rules"]} == set(pr.STEERING_SERIES)
    for rule in group["rules"]:
        assert "[1m]" in rule["expr"]
        assert "(service, region)" in rule["expr"] or "(le, service, region)" in rule["expr"]


def test_workbook_anchors_for_a_30_day_period() -> None:
    got = [(w.severity, w.long, w.short, w.factor(30)) for w in pr.BURN_WINDOWS]
    assert got == [
        ("page", "1h", "5m", 14.4),
        ("page", "6h", "30m", 6.0),
        ("ticket", "1d", "2h", 3.0),
        ("ticket", "3d", "6h", 1.0),
    ]


@given(period=st.integers(min_value=1, max_value=90))
def test_burn_factor_spends_the_stated_budget_fraction(period: int) -> None:
    for w in pr.BURN_WINDOWS:
        hours = {"1h": 1, "6h": 6, "1d": 24, "3d": 72}[w.long]
        spent = w.factor(period) * hours / (period * 24)
        assert spent == pytest.approx(w.budget_fraction, rel=1e-5)


@given(objective=st.floats(min_value=90, max_value=99.999, allow_nan=False))
def test_error_budget_and_thresholds_are_clean_numbers(objective: float) -> None:
    budget = pr.error_budget(objective)
    assert budget == pytest.approx(1 - objective / 100, rel=1e-9, abs=1e-15)
    group = pr.alert_group(spec(objective=objective))
    page = next(
        r
        for r in group["rules"]
        if r["labels"] == {**r["labels"], "severity": "page", "slo_name": pr.AVAILABILITY}
    )
    assert f"(14.4 * {pr.fmt(budget)})" in page["expr"]
    assert f"(6 * {pr.fmt(budget)})" in page["expr"]
    assert "e-" not in pr.fmt(budget) or budget < 1e-4


def test_sli_windows_and_labels_follow_sloth() -> None:
    group = pr.sli_group(spec())
    for slo in (pr.AVAILABILITY, pr.LATENCY):
        windows = [
            r["labels"]["slo_window"] for r in group["rules"] if r["labels"]["slo_name"] == slo
        ]
        assert windows == [*pr.SLI_WINDOWS, "30d"]
    for rule in group["rules"]:
        w = rule["labels"]["slo_window"]
        assert rule["record"] == f"slo:sli_error:ratio_rate{w}"
        assert rule["labels"]["slo_service"] == "gateway"
        if w != "30d":
            assert f"[{w}]" in rule["expr"]
            assert "sum by (region)" in rule["expr"]


def test_availability_sli_counts_only_5xx_and_reads_zero_without_errors() -> None:
    rule = next(
        r
        for r in pr.sli_group(spec())["rules"]
        if r["labels"]
        == {"slo_service": "gateway", "slo_name": pr.AVAILABILITY, "slo_window": "1h"}
    )
    assert 'code=~"5.."' in rule["expr"]
    assert "or on (region)\n  0 *" in rule["expr"]


def test_latency_sli_reads_the_threshold_bucket() -> None:
    rules = pr.sli_group(spec(latency_threshold_seconds=0.3))["rules"]
    lat = [r for r in rules if r["labels"]["slo_name"] == pr.LATENCY and "[5m]" in r["expr"]]
    assert len(lat) == 1 and 'le="0.3"' in lat[0]["expr"]
    assert pr.le_matcher(1.0) == 'le=~"1(\\\\.0)?"'
    assert pr.le_matcher(2.5) == 'le="2.5"'


def test_page_has_the_low_traffic_guard_and_ticket_does_not() -> None:
    rules = pr.alert_group(spec(min_request_rate=0.5))["rules"]
    assert {r["alert"] for r in rules} == {pr.ALERT_BURN}
    assert sorted((r["labels"]["slo_name"], r["labels"]["severity"]) for r in rules) == [
        (pr.AVAILABILITY, "page"),
        (pr.AVAILABILITY, "ticket"),
        (pr.LATENCY, "page"),
        (pr.LATENCY, "ticket"),
    ]
    for r in rules:
        guarded = "[1h])) >= 0.5" in r["expr"]
        assert guarded == (r["labels"]["severity"] == "page")
        assert r["annotations"]["runbook_url"].endswith(f"/gateway-{r['labels']['slo_name']}")
        assert r["annotations"]["dashboard_url"].endswith("/summit-gateway-red")
    off = pr.alert_group(spec(min_request_rate=0))["rules"]
    assert not any(">= 0" in r["expr"] for r in off)


def test_use_series_get_static_service_and_region_labels() -> None:
    group = pr.use_group(spec(namespace="apps", region="us-west-2"))
    for rule in group["rules"]:
        if rule["record"] == pr.USE_SATURATION:
            assert "labels" not in rule  # the exporter's own labels
            continue
        assert rule["labels"] == {"service": "gateway", "region": "us-west-2"}
        assert 'namespace="apps", container="gateway"' in rule["expr"]


def test_configured_label_names_are_used_everywhere() -> None:
    m = pr.MetricContract(
        histogram="req_seconds", service_label="app", region_label="zone", code_label="status"
    )
    groups = pr.service_rule_groups(spec(metrics=m))
    text = str([r["expr"] for g in groups for r in g["rules"]])
    assert "http_server_request_duration_seconds" not in text
    assert "req_seconds_count{app=" in text and 'status=~"5.."' in text
    assert "by (app, zone)" in text and "by (zone)" in text


def test_group_and_rule_shapes() -> None:
    for svc in SERVICES:
        groups = pr.service_rule_groups(spec(service=svc))
        names = [g["name"] for g in groups]
        assert len(set(names)) == len(names) and all(svc in n for n in names)
        for g in groups:
            for r in g["rules"]:
                assert ("record" in r) != ("alert" in r)
                assert r["expr"].strip()


METRIC = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")


@pytest.mark.parametrize("service", SERVICES)
def test_every_dashboard_query_reads_a_recorded_series(service: str) -> None:
    recorded = pr.recorded_names(pr.service_rule_groups(spec(service=service)))
    for board in dash.service_dashboards(service).values():
        queries = dash.panel_queries(board)
        assert len(queries) >= 6
        for q in queries:
            names = METRIC.findall(q) or re.findall(r"label_values\(([^,]+),", q)
            assert names, q
            for n in names:
                assert n in recorded, f"{board['uid']}: {q} reads {n}, which no rule records"


def test_overview_covers_every_service_and_reads_recorded_series() -> None:
    board = dash.overview_dashboard("us-east-1", list(SERVICES))
    recorded = set().union(
        *(pr.recorded_names(pr.service_rule_groups(spec(service=s))) for s in SERVICES)
    )
    queries = dash.panel_queries(board)
    for q in queries:
        assert 'region="us-east-1"' in q
        assert all(n in recorded for n in METRIC.findall(q)), q
    for s in SERVICES:
        assert any(f'slo_service="{s}"' in q for q in queries)
    assert board["uid"] == "summit-overview-us-east-1"


def test_dashboards_are_valid_grafana_json() -> None:
    board = dash.red_dashboard("gateway")
    assert board["uid"] == "summit-gateway-red" and board["title"]
    ids = [p["id"] for p in board["panels"]]
    assert len(set(ids)) == len(ids)
    for p in board["panels"]:
        assert {"x", "y", "w", "h"} <= set(p["gridPos"])
        if p["type"] != "row":
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    with pytest.raises(ValueError, match="40 characters"):
        dash.dashboard_uid("x" * 40, "red")


@settings(max_examples=25)
@given(
    service=st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True),
    objective=st.floats(min_value=90, max_value=99.99),
    threshold=st.sampled_from([0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
)
def test_any_service_renders_complete_groups(
    service: str, objective: float, threshold: float
) -> None:
    groups = pr.service_rule_groups(
        spec(service=service, objective=objective, latency_threshold_seconds=threshold)
    )
    recorded = pr.recorded_names(groups)
    assert set(pr.STEERING_SERIES) <= recorded
    assert {pr.SLI_ERROR.format(window=w) for w in pr.SLI_WINDOWS} <= recorded
    alerts = [r for g in groups for r in g["rules"] if "alert" in r]
    assert len(alerts) == 4
    for a in alerts:  # every SLI an alert reads is recorded
        for name in re.findall(r"slo:sli_error:ratio_rate\w+", a["expr"]):
            assert name in recorded


def test_steering_group_evaluates_faster_than_the_global_interval() -> None:
    """The controller must steer within 60 s of a breach; the steering series may not wait
    for kube-prometheus-stack's 30 s global evaluation interval."""
    group = pr.steering_group(pr.ServiceRules(service="gateway", region="us-east-1"))
    assert group["interval"] == "10s"
    slow = pr.steering_group(
        pr.ServiceRules(service="web", region="us-west-2", steering_interval="15s")
    )
    assert slow["interval"] == "15s"
