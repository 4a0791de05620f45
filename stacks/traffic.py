"""Global traffic in front of the regions: the stack config mapped onto
:class:`~summit_platform.components.global_traffic.GlobalTraffic` (``traffic.mode: ga``) or
:class:`~summit_platform.components.dns_failover.DnsFailover` (``route53``), with the providers each needs.
``none`` creates neither: such a stack (a preview) has no global entry point, and its
services are reached inside the cluster.

The dials (and in route53 mode the weights) are :mod:`summit_platform.stacks.steering`'s: the configured ones,
or an active pin's. Route53 records are weighted when the traffic controller runs (it steers
them), latency-routed otherwise."""

from __future__ import annotations

import time
from typing import Any

import pulumi
import pulumi_aws as aws

from summit_platform.components.args import StrInput
from summit_platform.components.dns_failover import TOKEN as DNS_TOKEN
from summit_platform.components.dns_failover import DnsFailover, DnsFailoverArgs, DnsRegion
from summit_platform.components.global_traffic import TOKEN as GA_TOKEN
from summit_platform.components.global_traffic import (
    GlobalTraffic,
    GlobalTrafficArgs,
    HealthCheck,
    RegionEndpoint,
)
from summit_platform.stacks import outputs as keys
from summit_platform.stacks.config import PROJECT, ConfigError, RegionConfig, StackConfig
from summit_platform.stacks.providers import Providers
from summit_platform.stacks.steering import planned_dials, planned_weights
from summit_platform.stacks.traffic_controller import controller_target_urns


def _endpoint(region: RegionConfig, refs: dict[str, pulumi.StackReference]) -> StrInput:
    if region.endpoint_arn:
        return region.endpoint_arn
    ref = region.endpoint_stack_ref
    assert ref is not None  # the model guarantees one of the two
    if ref.stack not in refs:
        refs[ref.stack] = pulumi.StackReference(f"ref-{ref.stack.replace('/', '-')}", ref.stack)
    return refs[ref.stack].get_output(ref.output).apply(str)


def global_traffic_args(
    cfg: StackConfig, endpoints: dict[str, StrInput], dials: dict[str, int] | None = None
) -> GlobalTrafficArgs:
    """``traffic`` and ``regions`` as the accelerator's args (one endpoint group per region);
    ``dials`` (default: the configured ones) are :func:`summit_platform.stacks.steering.planned_dials`'."""
    hc = cfg.traffic.health_check
    dials = dials or {r.name: r.dial for r in cfg.regions}
    return GlobalTrafficArgs(
        endpoints=[
            RegionEndpoint(region=r.name, endpoint_id=endpoints[r.name], dial=dials[r.name])
            for r in cfg.regions
        ],
        tags=cfg.tags.as_aws_tags(),
        listener_port=cfg.traffic.listener_port,
        client_ip_preservation=cfg.traffic.client_ip_preservation,
        flow_logs_bucket=cfg.traffic.flow_logs_bucket,
        health_check=HealthCheck(
            path=hc.path,
            port=hc.port,
            protocol=hc.protocol,
            interval_seconds=hc.interval_seconds,
            threshold_count=hc.threshold_count,
        ),
    )


def dns_failover_args(cfg: StackConfig, regions: list[DnsRegion]) -> DnsFailoverArgs:
    """``traffic`` as the Route53 failover's args, over the regions' load balancers: weighted
    records when the controller steers them, latency records otherwise; the health check and
    ``dnsTtl`` as configured."""
    hc = cfg.traffic.health_check
    return DnsFailoverArgs(
        zone_id=cfg.traffic.dns_zone_id or "",
        record_name=cfg.traffic.dns_name or "",
        regions=regions,
        tags=cfg.tags.as_aws_tags(),
        routing="weighted" if cfg.traffic.controller.enabled else "latency",
        health_check_path=hc.path,
        health_check_protocol=hc.protocol,
        health_check_port=hc.port,
        request_interval=hc.interval_seconds,
        failure_threshold=hc.threshold_count,
        ttl=cfg.traffic.dns_ttl,
    )


def _dns_regions(
    cfg: StackConfig,
    providers: Providers,
    endpoints: dict[str, StrInput],
    weights: dict[str, int],
) -> list[DnsRegion]:
    """Each region's load balancer (DNS name and zone), read through its own provider, with
    its weight (:func:`summit_platform.stacks.steering.planned_weights`)."""
    out = []
    for r in cfg.regions:
        lb = aws.lb.get_load_balancer_output(
            arn=endpoints[r.name],
            opts=pulumi.InvokeOutputOptions(provider=providers.aws_regional[r.name]),
        )
        out.append(
            DnsRegion(
                region=r.name,
                lb_dns_name=lb.dns_name,
                weight=weights[r.name],
            )
        )
    return out


def build_traffic(cfg: StackConfig, providers: Providers) -> dict[str, Any]:
    """Global Accelerator (or Route53 failover) in front of the regional endpoints; returns
    the stack outputs it provides (keys from :mod:`summit_platform.stacks.outputs`). Nothing for mode
    ``none``."""
    if cfg.traffic.mode == "none":
        return {}
    refs: dict[str, pulumi.StackReference] = {}
    endpoints: dict[str, StrInput] = {r.name: _endpoint(r, refs) for r in cfg.regions}
    name = f"summit-{cfg.environment}"
    dials, _ = planned_dials(cfg, time.time())
    if cfg.traffic.mode == "ga":
        ga = GlobalTraffic(
            name,
            global_traffic_args(cfg, endpoints, dials),
            # The Global Accelerator API is served from the control region only.
            opts=pulumi.ResourceOptions(provider=providers.aws_control),
        )
        return {
            keys.ACCELERATOR_DNS_NAME: ga.dns_name,
            keys.STATIC_IPS: ga.static_ips,
            keys.ENDPOINT_GROUP_ARNS: ga.endpoint_group_arns,
        }
    dns = DnsFailover(
        name,
        dns_failover_args(
            cfg, _dns_regions(cfg, providers, endpoints, planned_weights(dials, cfg))
        ),
        # Route53 is global; the first region's provider serves it.
        opts=pulumi.ResourceOptions(provider=providers.aws_regional[cfg.regions[0].name]),
    )
    return {keys.DNS_FQDN: dns.fqdn}


ENDPOINT_GROUP_TYPE = "aws:globalaccelerator/endpointGroup:EndpointGroup"
ROUTE53_RECORD_TYPE = "aws:route53/record:Record"


def traffic_target_urns(cfg: StackConfig, stack: str, project: str = PROJECT) -> list[str]:
    """URNs of the resources a dial change touches: the endpoint groups (ga mode) or the
    weighted records (route53 mode), from the components' tokens and child names
    (``summit-<env>-<region>`` under the top-level component), and, when the controllers run,
    their config and Deployments (a pin must reach them); no state export needed. A stack
    with ``traffic.mode: none`` has nothing to steer: an empty target list would make a
    targeted ``up`` a full one, so it is an error naming the key."""
    if cfg.traffic.mode == "none":
        raise ConfigError(
            f"Pulumi.{stack}.yaml",
            [
                (
                    f"{project}:traffic.mode",
                    "expected ga or route53 to steer traffic, found 'none' (no global entry point)",
                )
            ],
        )
    parent, child = (
        (GA_TOKEN, ENDPOINT_GROUP_TYPE)
        if cfg.traffic.mode == "ga"
        else (DNS_TOKEN, ROUTE53_RECORD_TYPE)
    )
    base = f"summit-{cfg.environment}"
    return [
        f"urn:pulumi:{stack}::{project}::{parent}${child}::{base}-{r}" for r in cfg.region_names
    ] + controller_target_urns(cfg, stack, project)
