"""Observability in the composition: ``observability`` and ``services`` of the stack config
mapped onto the rule builders' inputs, and the per-region MonitoringRules that keeps the region
overview dashboard (each service's own rules and dashboards come from its ServiceComponent).

``summit rules render`` reads the same mapping (:func:`region_services`), so the rules a stack
deploys and the files the CLI writes are the same."""

from __future__ import annotations

from summit_platform.components.monitoring_rules import MonitoringRules, MonitoringRulesArgs
from summit_platform.components.render import prometheus_rules as pr
from summit_platform.stacks.config import StackConfig
from summit_platform.stacks.region import RegionContext


def metric_contract(cfg: StackConfig) -> pr.MetricContract:
    """The exporters' metric and label names from ``observability``."""
    o = cfg.observability
    return pr.MetricContract(
        histogram=o.histogram_metric,
        service_label=o.service_label,
        region_label=o.region_label,
        code_label=o.code_label,
        inflight=o.inflight_metric,
        capacity=o.capacity_metric,
    )


def region_services(cfg: StackConfig, region: str) -> list[pr.ServiceRules]:
    """The builders' input for every service of ``cfg.services`` in one region."""
    o = cfg.observability
    metrics = metric_contract(cfg)
    namespace = cfg.region(region).kubernetes.namespace
    return [
        pr.ServiceRules(
            service=f"{o.service_label_prefix}{s.name}",
            container=s.name,
            alert_labels=dict(o.alert_labels),
            region=region,
            namespace=namespace,
            team=s.team,
            objective=s.slo.objective,
            latency_threshold_seconds=s.slo.latency_threshold_ms / 1000,
            latency_objective=s.slo.latency_objective,
            min_request_rate=s.slo.min_request_rate,
            period_days=o.slo_period_days,
            runbook_base_url=o.runbook_base_url,
            dashboard_base_url=o.dashboard_base_url,
            metrics=metrics,
        )
        for s in cfg.services
    ]


def region_overview(cfg: StackConfig, ctx: RegionContext) -> MonitoringRules | None:
    """The region's ``obs-<region>`` MonitoringRules holding only the overview dashboard
    (None when observability is off or there is no service)."""
    o = cfg.observability
    if not o.enabled or not cfg.services:
        return None
    region = ctx.region.name
    return MonitoringRules(
        f"obs-{region}",
        MonitoringRulesArgs(
            region=region,
            services=region_services(cfg, region),
            namespace=o.rules_namespace,
            labels=dict(ctx.labels),
            rule_selector_labels=dict(o.rule_selector_labels),
            dashboard_label=o.dashboard_label,
            # Each service's rules and dashboards come from its ServiceComponent.
            per_service=False,
            service_label_prefix=o.service_label_prefix,
        ),
        opts=ctx.kube_opts(),
    )
