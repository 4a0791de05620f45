"""The traffic controller in the composition: ``traffic.controller`` mapped onto one
:class:`~summit_platform.components.lease_table.LeaseTable` per stack and one
:class:`~summit_platform.components.traffic_controller.TrafficController` per region (nothing when the
controller is off, as in dev, or the stack serves one region, as a preview cut from stage).

The controller's own copy of the config is the stack's ``environment``, ``regions``,
``traffic`` (holds, steps, floor, pin, controller settings), ``slo`` and ``tags``: what
``summit traffic run`` reads, and nothing secret."""

from __future__ import annotations

from typing import Any

import pulumi

from summit_platform.components.lease_table import LeaseTable, LeaseTableArgs
from summit_platform.components.render import prometheus_rules as pr
from summit_platform.components.render import traffic_controller as tc
from summit_platform.components.traffic_controller import TOKEN as CONTROLLER_TOKEN
from summit_platform.components.traffic_controller import TrafficController, TrafficControllerArgs
from summit_platform.stacks import outputs as keys
from summit_platform.stacks.config import PROJECT, StackConfig
from summit_platform.stacks.providers import Providers
from summit_platform.stacks.region import region_contexts

CONFIG_KEYS = ("environment", "regions", "traffic", "slo", "tags")
"""The top-level config keys the controller's ConfigMap carries."""


def controller_config_values(cfg: StackConfig) -> dict[str, Any]:
    """The stack config the controller runs with, as a stack file holds it (camelCase)."""
    dumped = cfg.model_dump(by_alias=True, mode="json", exclude_none=True)
    return {k: dumped[k] for k in CONFIG_KEYS}


def lease_table_name(cfg: StackConfig) -> str:
    return tc.lease_table_name(cfg.environment, cfg.traffic.controller.lease_table)


def lease_region(cfg: StackConfig) -> str:
    ctl = cfg.traffic.controller
    return tc.lease_region(cfg.traffic.mode, cfg.region_names, ctl.lease_region)


def _alert(cfg: StackConfig) -> pr.ControllerAlert:
    return pr.ControllerAlert(
        p95_seconds=cfg.slo.p95_ms / 1000,
        error_ratio=cfg.slo.error_ratio,
        saturation=cfg.slo.saturation,
        not_acting_after=cfg.traffic.controller.alert_after,
        region_label=cfg.observability.region_label,
        runbook_url=f"{cfg.observability.runbook_base_url}/traffic-controller-not-acting",
    )


def _endpoint_groups(cfg: StackConfig, traffic_outputs: dict[str, Any]) -> dict[str, Any]:
    if cfg.traffic.mode != "ga":
        return {}
    arns = traffic_outputs[keys.ENDPOINT_GROUP_ARNS]
    return {r: arns.apply(lambda m, r=r: m[r]) for r in cfg.region_names}


def build_traffic_controllers(
    cfg: StackConfig, providers: Providers, traffic_outputs: dict[str, Any]
) -> list[TrafficController]:
    """The lease table (in :func:`lease_region`) and one controller per region, when
    ``traffic.controller.enabled``; ``traffic_outputs`` are :func:`summit_platform.stacks.traffic.
    build_traffic`'s (the endpoint group ARNs the controllers steer)."""
    ctl = cfg.traffic.controller
    mode = cfg.traffic.mode
    # One region serves everything, and mode none has no global entry point: nothing to steer.
    if not ctl.enabled or len(cfg.regions) < 2 or mode == "none":
        return []
    region = lease_region(cfg)
    table_provider = providers.aws_regional.get(region) or providers.aws_control
    table = LeaseTable(
        lease_table_name(cfg),
        LeaseTableArgs(table_name=lease_table_name(cfg), tags=cfg.tags.as_aws_tags()),
        opts=pulumi.ResourceOptions(provider=table_provider),
    )
    values = controller_config_values(cfg)
    groups = _endpoint_groups(cfg, traffic_outputs)
    out = []
    for ctx in region_contexts(cfg, providers):
        r = ctx.region.name
        o = cfg.observability
        out.append(
            TrafficController(
                f"traffic-controller-{r}",
                TrafficControllerArgs(
                    stack=pulumi.get_stack(),
                    project=PROJECT,
                    region=r,
                    namespace=ctx.region.kubernetes.namespace,
                    labels=dict(ctx.labels),
                    tags=cfg.tags.as_aws_tags(),
                    image=ctl.image,
                    version=ctl.version,
                    replicas=ctl.replicas,
                    interval=ctl.interval,
                    metrics_port=ctl.metrics_port,
                    resources=_resources(cfg),
                    lease_table_name=lease_table_name(cfg),
                    lease_table_arn=table.table_arn,
                    mode=mode,
                    endpoint_group_arns=groups,
                    dns_zone_id=cfg.traffic.dns_zone_id,
                    dns_name=cfg.traffic.dns_name,
                    oidc_provider_arn=ctl.regions[r].oidc_provider_arn,
                    oidc_issuer=ctl.regions[r].oidc_issuer,
                    config_values=values,
                    monitoring=o.enabled,
                    prometheus_namespace=o.namespace,
                    rule_selector_labels=dict(o.rule_selector_labels),
                    dashboard_label=o.dashboard_label,
                    alert=_alert(cfg),
                ),
                opts=pulumi.ResourceOptions(providers=[ctx.aws, ctx.kubernetes]),
            )
        )
    return out


def _resources(cfg: StackConfig) -> dict[str, dict[str, str]]:
    r = cfg.traffic.controller.resources
    return {
        "requests": {"cpu": r.cpu_request, "memory": r.memory_request},
        "limits": {"cpu": r.cpu_limit, "memory": r.memory_limit},
    }


def controller_target_urns(cfg: StackConfig, stack: str, project: str = PROJECT) -> list[str]:
    """URNs a traffic change must also reach when the controllers run: each region's config
    (a pin, a threshold) and Deployment (its checksum rolls the pods). Without them a targeted
    ``up`` would realise a pin while the leader, unaware of it, undid it at its next turn."""
    if not cfg.traffic.controller.enabled or len(cfg.regions) < 2:
        return []
    out = []
    for r in cfg.region_names:
        base = f"urn:pulumi:{stack}::{project}::{CONTROLLER_TOKEN}"
        out.append(f"{base}$kubernetes:core/v1:ConfigMap::traffic-controller-{r}-config")
        out.append(f"{base}$kubernetes:apps/v1:Deployment::traffic-controller-{r}-deployment")
    return out
