"""The composition of one environment: providers, global traffic, and per-region platform
workloads. Environments differ only in their stack files; nothing here branches on the name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.dns_failover import DnsFailover, DnsFailoverArgs, DnsRegion
from components.global_traffic import GlobalTraffic, GlobalTrafficArgs, HealthCheck, RegionEndpoint
from components.monitoring_rules import add_monitoring
from components.service import platform_services
from stacks import outputs as keys
from stacks.config import RegionConfig, StackConfig
from stacks.providers import Providers, build_providers


@dataclass(frozen=True)
class RegionContext:
    """What a per-region component needs: its config, providers and labels."""

    region: RegionConfig
    aws: pulumi.ProviderResource
    kubernetes: pulumi.ProviderResource
    labels: dict[str, str]
    """Cost-allocation labels for Kubernetes objects (team, service, env, cost-center)."""


def _endpoint(region: RegionConfig, refs: dict[str, pulumi.StackReference]) -> pulumi.Input[str]:
    if region.endpoint_arn:
        return region.endpoint_arn
    ref = region.endpoint_stack_ref
    assert ref is not None  # the model guarantees one of the two
    if ref.stack not in refs:
        refs[ref.stack] = pulumi.StackReference(f"ref-{ref.stack.replace('/', '-')}", ref.stack)
    return refs[ref.stack].get_output(ref.output).apply(str)


def build_traffic(cfg: StackConfig, providers: Providers) -> dict[str, Any]:
    """Global Accelerator (or Route53 failover) in front of the regional endpoints."""
    tags = cfg.tags.as_aws_tags()
    refs: dict[str, pulumi.StackReference] = {}
    endpoints = {r.name: _endpoint(r, refs) for r in cfg.regions}
    name = f"summit-{cfg.environment}"
    if cfg.traffic.mode == "ga":
        hc = cfg.traffic.health_check
        ga = GlobalTraffic(
            name,
            GlobalTrafficArgs(
                endpoints=[
                    RegionEndpoint(region=r.name, endpoint_id=endpoints[r.name], dial=r.dial)
                    for r in cfg.regions
                ],
                tags=tags,
                control_provider=providers.aws_control,
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
            ),
        )
        return {
            keys.ACCELERATOR_DNS_NAME: ga.dns_name,
            keys.STATIC_IPS: ga.static_ips,
            keys.ENDPOINT_GROUP_ARNS: ga.endpoint_group_arns,
        }
    dns_regions = []
    for r in cfg.regions:
        lb = aws.lb.get_load_balancer_output(
            arn=endpoints[r.name],
            opts=pulumi.InvokeOutputOptions(provider=providers.aws_regional[r.name]),
        )
        dns_regions.append(
            DnsRegion(
                region=r.name,
                lb_dns_name=lb.dns_name,
                lb_zone_id=lb.zone_id,
                weight=round(r.natural_share),
            )
        )
    dns = DnsFailover(
        name,
        DnsFailoverArgs(
            zone_id=cfg.traffic.dns_zone_id or "",
            record_name=cfg.traffic.dns_name or "",
            regions=dns_regions,
            tags=tags,
            provider=providers.aws_regional[cfg.regions[0].name],
            health_check_path=cfg.traffic.health_check.path,
        ),
    )
    return {keys.DNS_FQDN: dns.fqdn}


def build_region(cfg: StackConfig, ctx: RegionContext) -> dict[str, Any]:
    """Per-region platform workloads (rules, dashboards, services), one call per region.

    Each domain adds its components here, parented by nothing but given ``ctx``'s providers."""
    out: dict[str, Any] = {}
    # Each service's rules, dashboards and workload come from its ServiceComponent; the
    # per-region MonitoringRules keeps only the region overview dashboard.
    out.update(add_monitoring(cfg, ctx, per_service=False))
    platform_services(cfg, ctx)
    return out


def build(cfg: StackConfig) -> dict[str, Any]:
    """Build the whole environment and return the stack outputs (keys from stacks.outputs)."""
    providers = build_providers(cfg)
    out: dict[str, Any] = {
        keys.ENVIRONMENT: cfg.environment,
        keys.REGIONS: cfg.region_names,
        keys.TRAFFIC_MODE: cfg.traffic.mode,
    }
    out.update(build_traffic(cfg, providers))
    labels = {
        "team": cfg.tags.team,
        "service": cfg.tags.service,
        "env": cfg.tags.env,
        "cost-center": cfg.tags.cost_center,
    }
    for r in cfg.regions:
        ctx = RegionContext(
            region=r,
            aws=providers.aws_regional[r.name],
            kubernetes=providers.kubernetes[r.name],
            labels=labels,
        )
        out.update(build_region(cfg, ctx))
    return out
