"""DnsFailover: Route53 records that send clients to a healthy region, the fallback when
Global Accelerator is not used.

Per region: a health check on the regional load balancer (protocol, port, path, interval and
failure threshold from the stack's ``traffic.healthCheck``), and a CNAME record to the load
balancer with that health check attached, so an unhealthy region drops out of the answers.
Routing is latency-based by default; ``weighted`` lets the traffic controller set shares
directly (each record's weight over their sum is the share a region gets). The records are
CNAMEs rather than aliases because an alias takes its target's TTL (60 s for ALBs): a CNAME
carries ``ttl`` (``traffic.dnsTtl``), which bounds how long resolvers keep serving old
weights after a steer. A CNAME cannot sit at a zone apex, so ``record_name`` is a subdomain.

Route53 is a global service: the component takes any region's AWS provider through
``ResourceOptions(provider=...)`` and every child inherits it. The records were alias A
records before; ``delete_before_replace`` lets an update swap them (a CNAME cannot coexist
with another record of the same name and set identifier).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pulumi
import pulumi_aws as aws
from pydantic import Field

from summit_platform.components.args import ComponentArgs, StrInput

TOKEN = "summit:traffic:DnsFailover"


class DnsRegion(ComponentArgs):
    """One region's answer."""

    region: str
    """AWS region name."""
    lb_dns_name: StrInput
    """DNS name of the regional ALB (the CNAME's target)."""
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
    """Path the health checks probe (HTTP and HTTPS)."""
    health_check_protocol: Literal["HTTP", "HTTPS", "TCP"] = "HTTPS"
    """Protocol of the health checks."""
    health_check_port: Annotated[int, Field(ge=1, le=65535)] = 443
    """Port the health checks probe."""
    request_interval: Literal[10, 30] = 10
    """Seconds between probes (10 or 30)."""
    failure_threshold: Annotated[int, Field(ge=1, le=10)] = 3
    """Misses before a region is unhealthy."""
    ttl: Annotated[int, Field(ge=1, le=86400)] = 60
    """TTL (seconds) of the records: how long resolvers may keep an answer (and old weights)."""


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
            self.health_checks[r.region] = self._health_check(name, args, r, child)
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
                type="CNAME",
                ttl=args.ttl,
                records=[r.lb_dns_name],
                set_identifier=r.region,
                health_check_id=self.health_checks[r.region].id,
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
                **routing,
            )
        self.fqdn = pulumi.Output.from_input(args.record_name)
        self.register_outputs({"fqdn": self.fqdn})

    def _health_check(
        self, name: str, args: DnsFailoverArgs, r: DnsRegion, child: pulumi.ResourceOptions
    ) -> aws.route53.HealthCheck:
        """The region's health check, as ``traffic.healthCheck`` says."""
        return aws.route53.HealthCheck(
            f"{name}-{r.region}-health",
            type=args.health_check_protocol,
            fqdn=r.lb_dns_name,
            port=args.health_check_port,
            resource_path=args.health_check_path if args.health_check_protocol != "TCP" else None,
            request_interval=args.request_interval,
            failure_threshold=args.failure_threshold,
            measure_latency=True,
            tags={**args.tags, "Name": f"{name}-{r.region}"},
            opts=child,
        )
