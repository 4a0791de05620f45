"""The platform's services in the composition: each entry of ``services`` mapped onto one
:class:`~summit_platform.components.service.ServiceComponent` per region, through that region's Kubernetes
provider."""

from __future__ import annotations

from typing import Any

from summit_platform.components.canary_rollout import component_name
from summit_platform.components.service import Caller, ServiceComponent, ServiceComponentArgs
from summit_platform.stacks.config import ServiceConfig, StackConfig
from summit_platform.stacks.delivery import analysis_settings, region_flags, service_version
from summit_platform.stacks.observability import metric_contract
from summit_platform.stacks.region import RegionContext


def network_args(cfg: StackConfig, svc: ServiceConfig, region: str) -> dict[str, Any]:
    """Who may reach the service's pods in ``region``: its declared callers (a bare name is a
    service of this stack, in the region's namespace) and, when it is ``public``, the region's
    entry path; ServiceComponent turns these into its NetworkPolicies."""
    entry = cfg.region(region).entry
    callers = [
        Caller(service=c.rpartition("/")[2], namespace=c.rpartition("/")[0] or None)
        for c in svc.callers
    ]
    return {
        "callers": callers,
        "ingress_namespace": entry.ingress_namespace if svc.public else None,
        "entry_cidrs": list(entry.source_ranges) if svc.public else [],
    }


def service_args(cfg: StackConfig, svc: ServiceConfig, region: str) -> ServiceComponentArgs:
    """Map the platform's typed config onto one service's args in one region."""
    r = cfg.rollout
    o = cfg.observability
    return ServiceComponentArgs.of(
        name=svc.name,
        team=svc.team,
        image=svc.image,
        version=service_version(svc, region),
        region=region,
        env=cfg.tags.env,
        cost_center=cfg.tags.cost_center,
        # The platform's services share the region namespace: the cluster bootstrap's, or the
        # stack's own (summit_platform.stacks.namespaces); moving them would replace live workloads.
        namespace=cfg.region(region).kubernetes.namespace,
        create_namespace=False,
        port=svc.port,
        min_replicas=max(svc.replicas.min, 1),
        max_replicas=max(svc.replicas.max, 1),
        cpu_request=svc.resources.cpu_request,
        memory_request=svc.resources.memory_request,
        cpu_limit=svc.resources.cpu_limit,
        memory_limit=svc.resources.memory_limit,
        slo_objective=svc.slo.objective,
        latency_threshold_ms=svc.slo.latency_threshold_ms,
        latency_objective=svc.slo.latency_objective,
        min_request_rate=svc.slo.min_request_rate,
        error_ratio=r.error_ratio,
        steps=list(r.steps),
        flags=region_flags(cfg, region),
        deliver=svc.deliver,
        runtime_class=svc.runtime_class,
        prometheus_namespace=o.namespace,
        rules_namespace=o.rule_namespace,
        metric_service=f"{o.service_label_prefix}{svc.name}" if o.service_label_prefix else None,
        alert_labels=dict(o.alert_labels),
        **network_args(cfg, svc, region),
        rule_selector_labels=dict(o.rule_selector_labels),
        dashboard_label=o.dashboard_label,
        slo_period_days=o.slo_period_days,
        runbook_base_url=o.runbook_base_url,
        dashboard_base_url=o.dashboard_base_url,
        metrics=metric_contract(cfg),
        analysis=analysis_settings(cfg),
        progress_deadline_seconds=r.progress_deadline_seconds,
        abort_scale_down_delay_seconds=r.abort_scale_down_delay_seconds,
        analysis_starting_step=r.analysis_starting_step,
        max_surge=r.max_surge,
        max_unavailable=r.max_unavailable,
        traffic_routing=r.traffic_routing,
        monitoring=o.enabled,
        # Stacks deployed before ServiceComponent existed keep their resources (aliases).
        legacy_aliases=True,
    )


def platform_services(cfg: StackConfig, ctx: RegionContext) -> dict[str, ServiceComponent]:
    """One ServiceComponent per service of ``cfg.services`` in the region of ``ctx``, through
    that region's Kubernetes provider."""
    region = ctx.region.name
    return {
        svc.name: ServiceComponent(
            component_name(svc.name, region),
            service_args(cfg, svc, region),
            opts=ctx.kube_opts(),
        )
        for svc in cfg.services
    }
