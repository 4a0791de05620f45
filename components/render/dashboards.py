"""Grafana dashboards (RED and USE per service, an overview per region, the traffic controller)
as plain dicts.

Built with ``grafana-foundation-sdk`` (Grafana's own typed builders, generated from the
dashboard schema), then encoded to the JSON the Grafana sidecar loads from ConfigMaps. Every
panel query reads a series the rules in :mod:`summit_platform.components.render.prometheus_rules` record, so
a dashboard never depends on a raw metric the exporters might rename; :func:`panel_queries`
lets the tests check that. The traffic dashboard reads the controller's own metrics, whose
names are the contract in :mod:`summit_platform.components.render.traffic_controller`.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DatasourceVariable,
    QueryVariable,
    Row,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as StatPanel
from grafana_foundation_sdk.builders.timeseries import Panel as TimeseriesPanel
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from summit_platform.components.render import prometheus_rules as pr
from summit_platform.components.render import traffic_controller as tc

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
TAGS = ["summit", "generated"]


def dashboard_uid(service: str, kind: str) -> str:
    """Stable uid (Grafana allows 40 characters): ``summit-<service>-<kind>``."""
    uid = f"summit-{service}-{kind}"
    if len(uid) > 40:
        raise ValueError(f"dashboard uid {uid!r} is longer than Grafana's 40 characters")
    return uid


def overview_uid(region: str, prefix: str = "") -> str:
    """``summit-<prefix>overview-<region>``: the prefix (a preview's ``pr-<N>-``) keeps two
    stacks' overviews apart in a Grafana that reads every namespace."""
    return f"summit-{prefix}overview-{region}"


def _query(expr: str, legend: str, ref: str = "A") -> Dataquery:
    return Dataquery().expr(expr).legend_format(legend).ref_id(ref)


def _timeseries(
    title: str, unit: str, queries: list[tuple[str, str]], *, span: int = 12
) -> TimeseriesPanel:
    panel = TimeseriesPanel().title(title).unit(unit).datasource(DATASOURCE).height(8).span(span)
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, legend, chr(ord("A") + i)))
    return panel


def _stat(title: str, unit: str, expr: str, legend: str, *, span: int = 6) -> StatPanel:
    return (
        StatPanel()
        .title(title)
        .unit(unit)
        .datasource(DATASOURCE)
        .height(4)
        .span(span)
        .with_target(_query(expr, legend))
    )


def _base(uid: str, title: str, *, region_variable: bool = True) -> Dashboard:
    d = (
        Dashboard(title)
        .uid(uid)
        .tags(TAGS)
        .refresh("1m")
        .time("now-6h", "now")
        .timezone("utc")
        .with_variable(DatasourceVariable("datasource").label("Data source").type("prometheus"))
    )
    if region_variable:
        d = d.with_variable(
            QueryVariable("region")
            .label("Region")
            .datasource(DATASOURCE)
            .query(f"label_values({pr.STEERING_REQUEST_RATE}, region)")
            .multi(True)
            .include_all(True)
        )
    return d


def _encode(d: Dashboard) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(d.build(), cls=JSONEncoder))
    for i, panel in enumerate(out.get("panels", []), start=1):
        panel["id"] = i  # the SDK leaves ids unset; Grafana wants them unique per dashboard
    return out


def red_dashboard(service: str) -> dict[str, Any]:
    """Rate, errors, duration and the SLOs of one service, across the selected regions."""
    sel = f'{{service="{service}", region=~"$region"}}'
    slo = f'{{slo_service="{service}", region=~"$region"}}'
    d = (
        _base(dashboard_uid(service, "red"), f"Summit / {service} / RED")
        .with_row(Row("Rate, errors, duration"))
        .with_panel(
            _timeseries(
                "Request rate",
                "reqps",
                [
                    (f"{pr.RED_REQUEST_RATE}{sel}", "{{region}} 5m"),
                    (f"{pr.STEERING_REQUEST_RATE}{sel}", "{{region}} 1m"),
                ],
            )
        )
        .with_panel(
            _timeseries(
                "Error ratio (5xx)",
                "percentunit",
                [
                    (f"{pr.RED_ERROR_RATIO}{sel}", "{{region}} 5m"),
                    (f"{pr.STEERING_ERROR_RATIO}{sel}", "{{region}} 1m"),
                ],
            )
        )
        .with_panel(
            _timeseries(
                "Latency",
                "s",
                [
                    (f"{pr.RED_P95}{sel}", "{{region}} p95 5m"),
                    (f"{pr.RED_P99}{sel}", "{{region}} p99 5m"),
                    (f"{pr.STEERING_P95}{sel}", "{{region}} p95 1m"),
                ],
            )
        )
        .with_panel(
            _timeseries(
                "Errors per second (5xx)", "reqps", [(f"{pr.RED_ERROR_RATE}{sel}", "{{region}}")]
            )
        )
        .with_row(Row("SLOs"))
        .with_panel(
            _timeseries(
                "Error budget remaining (period)",
                "percentunit",
                [(f"{pr.SLO_BUDGET_REMAINING}{slo}", "{{region}} {{slo_name}}")],
            )
        )
        .with_panel(
            _timeseries(
                "Burn rate (5m)",
                "none",
                [(f"{pr.SLO_CURRENT_BURN}{slo}", "{{region}} {{slo_name}}")],
            )
        )
        .with_panel(
            _timeseries(
                "SLI error ratio (1h)",
                "percentunit",
                [(pr.SLI_ERROR.format(window="1h") + slo, "{{region}} {{slo_name}}")],
                span=24,
            )
        )
    )
    return _encode(d)


def use_dashboard(service: str) -> dict[str, Any]:
    """Utilisation, saturation and errors of one service's containers."""
    sel = f'{{service="{service}", region=~"$region"}}'
    d = (
        _base(dashboard_uid(service, "use"), f"Summit / {service} / USE")
        .with_row(Row("Utilisation"))
        .with_panel(
            _timeseries(
                "CPU against requests and limits",
                "percentunit",
                [
                    (f"{pr.USE_CPU_REQUESTS}{sel}", "{{region}} of requests"),
                    (f"{pr.USE_CPU_LIMITS}{sel}", "{{region}} of limits"),
                ],
            )
        )
        .with_panel(
            _timeseries(
                "Memory working set against limits",
                "percentunit",
                [(f"{pr.USE_MEMORY_LIMITS}{sel}", "{{region}}")],
            )
        )
        .with_row(Row("Saturation and errors"))
        .with_panel(
            _timeseries(
                "CPU throttled periods",
                "percentunit",
                [(f"{pr.USE_CPU_THROTTLED}{sel}", "{{region}}")],
                span=8,
            )
        )
        .with_panel(
            _timeseries(
                "In-flight requests against capacity",
                "percentunit",
                [
                    (f"{pr.USE_SATURATION}{sel}", "{{region}}"),
                    (f"{pr.STEERING_SATURATION}{sel}", "{{region}} 1m"),
                ],
                span=8,
            )
        )
        .with_panel(
            _timeseries(
                "Container restarts (1h)",
                "none",
                [(f"{pr.USE_RESTARTS}{sel}", "{{region}}")],
                span=8,
            )
        )
    )
    return _encode(d)


def overview_dashboard(region: str, services: list[str], prefix: str = "") -> dict[str, Any]:
    """One region at a glance: the steering signals and budgets of every service. With a
    ``prefix`` (the stack's service label prefix) the steering panels show only the services
    whose label starts with it, and the uid and title carry it."""
    reg = f'region="{region}"' + (f', service=~"{prefix}.*"' if prefix else "")
    heading = f"Summit / {prefix}{region} / overview" if prefix else f"Summit / {region} / overview"
    d = _base(overview_uid(region, prefix), heading, region_variable=False)
    d = d.with_row(Row("Steering signals (what the traffic controller reads)"))
    for title, name, unit in (
        ("p95 latency (1m)", pr.STEERING_P95, "s"),
        ("Error ratio (1m)", pr.STEERING_ERROR_RATIO, "percentunit"),
        ("Request rate (1m)", pr.STEERING_REQUEST_RATE, "reqps"),
        ("Saturation (1m)", pr.STEERING_SATURATION, "percentunit"),
    ):
        d = d.with_panel(_timeseries(title, unit, [(f"{name}{{{reg}}}", "{{service}}")], span=6))
    d = d.with_row(Row("Error budgets"))
    for service in services:
        d = d.with_panel(
            _stat(
                f"{service}: budget remaining",
                "percentunit",
                f'{pr.SLO_BUDGET_REMAINING}{{slo_service="{service}", {reg}}}',
                "{{slo_name}}",
                span=max(4, 24 // max(1, len(services))),
            )
        )
    return _encode(d)


TRAFFIC_UID = "summit-traffic"


def traffic_dashboard() -> dict[str, Any]:
    """Adaptive traffic: the shares and dials the controller chose, its decisions, who leads
    and when a leader last applied, next to the steering signals it decides on.

    Every controller exports the lease table's view (the leader's last decision and apply
    time), so ``max by (region)`` gives one line per region whichever pod is scraped."""
    sel = '{region=~"$region"}'
    d = _base(TRAFFIC_UID, "Summit / traffic controller")
    d = d.with_row(Row("Shares and dials"))
    d = d.with_panel(
        _timeseries(
            "Share of traffic (percent)",
            "percent",
            [(f"max by (region) ({tc.METRIC_SHARE}{sel})", "{{region}}")],
        )
    )
    d = d.with_panel(
        _timeseries(
            "Dial (percent)",
            "percent",
            [(f"max by (region) ({tc.METRIC_DIAL}{sel})", "{{region}}")],
        )
    )
    d = d.with_row(Row("Decisions"))
    d = d.with_panel(
        _timeseries(
            "Decisions by kind (per minute)",
            "none",
            [(f"sum by (action) (rate({tc.METRIC_DECISIONS}[5m])) * 60", "{{action}}")],
        )
    )
    d = d.with_panel(
        _timeseries(
            "Breaching regions, and the p95 they steer on",
            "none",
            [
                (f"max by (region) ({tc.METRIC_BREACHING}{sel})", "{{region}} breaching"),
                (f"max by (region) ({pr.STEERING_P95}{sel})", "{{region}} p95 (s)"),
            ],
        )
    )
    d = d.with_row(Row("Leadership"))
    d = d.with_panel(
        _timeseries(
            "Leader (1 = holds the lease)",
            "none",
            [(f"max by (holder, region) ({tc.METRIC_LEADER})", "{{holder}}")],
            span=8,
        )
    )
    d = d.with_panel(
        _stat(
            "Since a leader last applied",
            "s",
            f"time() - max({tc.METRIC_LAST_APPLY})",
            "age",
            span=4,
        )
    )
    d = d.with_panel(
        _stat("Fencing token", "none", f"max({tc.METRIC_FENCING_TOKEN})", "token", span=4)
    )
    d = d.with_panel(
        _timeseries(
            "Metric source errors (per minute)",
            "none",
            [(f"sum by (holder) (rate({tc.METRIC_SOURCE_ERRORS}[5m])) * 60", "{{holder}}")],
            span=8,
        )
    )
    return _encode(d)


def service_dashboards(service: str) -> dict[str, dict[str, Any]]:
    """File name -> dashboard, for one service's ConfigMap."""
    return {
        f"{dashboard_uid(service, 'red')}.json": red_dashboard(service),
        f"{dashboard_uid(service, 'use')}.json": use_dashboard(service),
    }


def panel_queries(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard: panel targets and query variables."""
    out: list[str] = []
    panels = list(dashboard.get("panels", []))
    while panels:
        panel = panels.pop()
        panels.extend(panel.get("panels", []))
        out.extend(t["expr"] for t in panel.get("targets", []) if t.get("expr"))
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query" and isinstance(var.get("query"), str):
            out.append(var["query"])
    return out
