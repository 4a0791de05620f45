"""DnsFailover: Route53 records that send clients to a healthy region, the fallback when
Global Accelerator is not used.

Per region: an HTTPS health check on the regional load balancer, and an alias record to it with
``evaluate_target_health`` and the health check attached, so an unhealthy region drops out of
the answers. Routing is latency-based by default; ``weighted`` lets the traffic controller set
shares directly. Alias records take the load balancer's own TTL (60 s for ALBs); the health
checks probe every 10 s and fail after 3 misses. Route53 is a global service: the component
takes any region's AWS provider through ``ResourceOptions(provider=...)`` and every child
inherits it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pulumi
import pulumi_aws as aws
from pydantic import Field

from components.args import ComponentArgs, StrInput

TOKEN = "summit:traffic:DnsFailover"


class DnsRegion(ComponentArgs):
    """One region's answer."""

    region: str
    """AWS region name."""
    lb_dns_name: StrInput
    """DNS name of the regional ALB."""
    lb_zone_id: StrInput
    """Canonical hosted zone id of the regional ALB."""
    weight: Annotated[int, Field(ge=0, le=255)] = 50
    """Share for weighted routing (ignored for latency routing)."""


class DnsFailoverArgs(ComponentArgs):
    """Inputs of :class:`DnsFailover`. Give the component an AWS provider through
    ``ResourceOptions(provider=...)`` (Route53 is global; any region's provider works)."""

    zone_id: str
    """Route53 hosted zone that holds the record."""
    record_name: str
    """Fully qualified record name clients resolve."""
    regions: list[DnsRegion]
    """One entry per serving region."""
    tags: dict[str, str]
    """Cost-allocation tags for the health checks."""
    routing: Literal["latency", "weighted"] = "latency"
    """Latency routing with failover, or weighted shares set by the traffic controller."""
    health_check_path: str = "/healthz"
    """Path the health checks probe."""
    request_interval: Literal[10, 30] = 10
    """Seconds between probes (10 or 30)."""
    failure_threshold: Annotated[int, Field(ge=1, le=10)] = 3
    """Misses before a region is unhealthy."""


class DnsFailover(pulumi.ComponentResource):
    """Per-region health checks and alias records with failover."""

    health_checks: dict[str, aws.route53.HealthCheck]
    records: dict[str, aws.route53.Record]
    fqdn: pulumi.Output[str]

    def __init__(
        self, name: str, args: DnsFailoverArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TOKEN, name, None, opts)
        # Children inherit the AWS provider given to the component.
        child = pulumi.ResourceOptions(parent=self)
        self.health_checks = {}
        self.records = {}
        for r in args.regions:
            hc = aws.route53.HealthCheck(
                f"{name}-{r.region}-health",
                type="HTTPS",
                fqdn=r.lb_dns_name,
                port=443,
                resource_path=args.health_check_path,
                request_interval=args.request_interval,
                failure_threshold=args.failure_threshold,
                measure_latency=True,
                tags={**args.tags, "Name": f"{name}-{r.region}"},
                opts=child,
            )
            routing: dict[str, Any] = {}
            if args.routing == "latency":
                routing["latency_routing_policies"] = [
                    aws.route53.RecordLatencyRoutingPolicyArgs(region=r.region)
                ]
            else:
                routing["weighted_routing_policies"] = [
                    aws.route53.RecordWeightedRoutingPolicyArgs(weight=r.weight)
                ]
            self.records[r.region] = aws.route53.Record(
                f"{name}-{r.region}",
                zone_id=args.zone_id,
                name=args.record_name,
                type="A",
                set_identifier=r.region,
                health_check_id=hc.id,
                aliases=[
                    aws.route53.RecordAliasArgs(
                        name=r.lb_dns_name,
                        zone_id=r.lb_zone_id,
                        evaluate_target_health=True,
                    )
                ],
                opts=child,
                **routing,
            )
            self.health_checks[r.region] = hc
        self.fqdn = pulumi.Output.from_input(args.record_name)
        self.register_outputs({"fqdn": self.fqdn})
