"""Delivery in the composition: ``rollout``, ``flags`` and each service's versions of the stack
config mapped onto what a service's canary needs in one region, and the URNs ``summit deploy``
targets to move one region to a new version."""

from __future__ import annotations

from collections.abc import Collection

from summit_platform.components.canary_rollout import CHILDREN, component_name
from summit_platform.components.canary_rollout import TOKEN as CANARY_TOKEN
from summit_platform.components.render import canary as render
from summit_platform.components.service import TOKEN as SERVICE_TOKEN
from summit_platform.stacks.config import ServiceConfig, StackConfig


def service_version(svc: ServiceConfig, region: str) -> str:
    """The image version a region runs: its ``regionVersions`` entry, else ``version``."""
    return svc.region_versions.get(region, svc.version)


def analysis_settings(cfg: StackConfig) -> render.AnalysisSettings:
    """The canary analysis gates and cadence from ``rollout``."""
    r = cfg.rollout
    return render.AnalysisSettings(
        p95_ms=r.p95_ms,
        error_ratio=r.error_ratio,
        interval=r.analysis_interval,
        failure_limit=r.failure_limit,
        inconclusive_limit=r.inconclusive_limit,
        window=r.analysis_window,
        prometheus_address=r.prometheus_address,
    )


def region_flags(cfg: StackConfig, region: str) -> dict[str, bool]:
    """The effective feature flags of ``region`` (``flags.defaults`` with its overrides)."""
    return render.region_flags(cfg.flags.defaults, cfg.flags.region_overrides, region)


def region_target_urns(
    cfg: StackConfig,
    stack: str,
    project: str,
    region: str,
    services: Collection[str] | None = None,
) -> list[str]:
    """URNs of each delivered service's CanaryRollout in ``region`` and its children, under
    the service's ServiceComponent: what ``summit deploy``'s targeted ``up`` touches to move
    that region to a new version and nothing else. ``services`` limits them to those names."""
    out = []
    chain = f"{SERVICE_TOKEN}${CANARY_TOKEN}"
    for svc in cfg.services:
        if not svc.deliver or (services is not None and svc.name not in services):
            continue
        canary = f"{component_name(svc.name, region)}-canary"
        out.append(f"urn:pulumi:{stack}::{project}::{chain}::{canary}")
        for type_, role in CHILDREN:
            out.append(f"urn:pulumi:{stack}::{project}::{chain}${type_}::{canary}-{role}")
    return out
