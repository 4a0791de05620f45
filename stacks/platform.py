"""The composition of one environment: providers, global traffic (if any), and per-region
platform workloads. Environments differ only in their stack files; nothing here branches on the name.

Each domain maps the config onto its components in its own module: :mod:`summit_platform.stacks.traffic`
(Global Accelerator or Route53), :mod:`summit_platform.stacks.traffic_controller` (the in-cluster traffic
controller and its lease table), :mod:`summit_platform.stacks.observability` (the region overview),
:mod:`summit_platform.stacks.services` (one ServiceComponent per service and region, with
:mod:`summit_platform.stacks.delivery`'s canary settings)."""

from __future__ import annotations

from typing import Any

from summit_platform.stacks import outputs as keys
from summit_platform.stacks.config import StackConfig
from summit_platform.stacks.namespaces import region_namespace
from summit_platform.stacks.observability import region_overview
from summit_platform.stacks.providers import build_providers
from summit_platform.stacks.region import RegionContext, region_contexts
from summit_platform.stacks.services import platform_services
from summit_platform.stacks.traffic import build_traffic
from summit_platform.stacks.traffic_controller import build_traffic_controllers


def build_region(cfg: StackConfig, ctx: RegionContext) -> None:
    """Per-region platform workloads, one call per region, through ``ctx``'s providers: the
    stack's own namespace (when the region's config asks for one), the region overview
    dashboard, then each service's ServiceComponent (its workload, delivery, rules and
    dashboards)."""
    ctx = region_namespace(cfg, ctx)
    region_overview(cfg, ctx)
    platform_services(cfg, ctx)


def build(cfg: StackConfig) -> dict[str, Any]:
    """Build the whole environment and return the stack outputs (keys from summit_platform.stacks.outputs)."""
    providers = build_providers(cfg)
    out: dict[str, Any] = {
        keys.ENVIRONMENT: cfg.environment,
        keys.REGIONS: cfg.region_names,
        keys.TRAFFIC_MODE: cfg.traffic.mode,
        keys.KUBE_CLUSTERS: {
            r.name: {"context": r.kubernetes.context, "cluster": r.kubernetes.cluster}
            for r in cfg.regions
        },
        keys.RUNTIME_CLASSES: list(cfg.runtime_classes),
    }
    out.update(build_traffic(cfg, providers))
    for ctx in region_contexts(cfg, providers):
        build_region(cfg, ctx)
    build_traffic_controllers(cfg, providers, out)
    return out
