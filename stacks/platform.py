"""The composition of one environment: providers, global traffic (if any), and per-region
platform workloads. Environments differ only in their stack files; nothing here branches on the name.

Each domain maps the config onto its components in its own module: :mod:`stacks.traffic`
(Global Accelerator or Route53), :mod:`stacks.traffic_controller` (the in-cluster traffic
controller and its lease table), :mod:`stacks.observability` (the region overview),
:mod:`stacks.services` (one ServiceComponent per service and region, with
:mod:`stacks.delivery`'s canary settings)."""

from __future__ import annotations

from typing import Any

from stacks import outputs as keys
from stacks.config import StackConfig
from stacks.namespaces import region_namespace
from stacks.observability import region_overview
from stacks.providers import build_providers
from stacks.region import RegionContext, region_contexts
from stacks.services import platform_services
from stacks.traffic import build_traffic
from stacks.traffic_controller import build_traffic_controllers


def build_region(cfg: StackConfig, ctx: RegionContext) -> None:
    """Per-region platform workloads, one call per region, through ``ctx``'s providers: the
    stack's own namespace (when the region's config asks for one), the region overview
    dashboard, then each service's ServiceComponent (its workload, delivery, rules and
    dashboards)."""
    ctx = region_namespace(cfg, ctx)
    region_overview(cfg, ctx)
    platform_services(cfg, ctx)


def build(cfg: StackConfig) -> dict[str, Any]:
    """Build the whole environment and return the stack outputs (keys from stacks.outputs)."""
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
