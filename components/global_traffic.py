"""GlobalTraffic: one AWS Global Accelerator in front of the regional load balancers.

An accelerator (IPv4, enabled, optional flow logs), one TCP listener, and one endpoint group per
region whose traffic dial comes from config. The Global Accelerator API is served from
us-west-2, so the component is given the control-region AWS provider through
``ResourceOptions(provider=...)`` and every child inherits it; the endpoint groups name their
own region with ``endpoint_group_region``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import pulumi
import pulumi_aws as aws
from pydantic import Field

from summit_platform.components.args import ComponentArgs, StrInput

TOKEN = "summit:traffic:GlobalTraffic"


class RegionEndpoint(ComponentArgs):
    """One region behind the accelerator."""

    region: str
    """AWS region name, e.g. ``us-east-1``."""
    endpoint_id: StrInput
    """ARN of the regional Application Load Balancer."""
    dial: Annotated[int, Field(ge=0, le=100)] = 100
    """Traffic dial (0-100): the share of this region's natural traffic it admits."""
    weight: Annotated[int, Field(ge=0, le=255)] = 128
    """Endpoint weight inside the group (one endpoint per group, so it only needs to be > 0)."""


class HealthCheck(ComponentArgs):
    """Endpoint-group health check."""

    path: str = "/healthz"
    """HTTP(S) path probed on each endpoint."""
    port: Annotated[int, Field(ge=1, le=65535)] = 443
    """Port probed."""
    protocol: Literal["HTTP", "HTTPS", "TCP"] = "HTTPS"
    """HTTP, HTTPS or TCP."""
    interval_seconds: Literal[10, 30] = 10
    """10 or 30 seconds between probes."""
    threshold_count: Annotated[int, Field(ge=1, le=10)] = 3
    """Consecutive results before an endpoint changes health."""


class GlobalTrafficArgs(ComponentArgs):
    """Inputs of :class:`GlobalTraffic`. Give the component the control-region (us-west-2) AWS
    provider through ``ResourceOptions(provider=...)``: the Global Accelerator API lives there."""

    endpoints: list[RegionEndpoint]
    """One entry per serving region."""
    tags: dict[str, str]
    """Cost-allocation tags for every taggable child."""
    listener_port: Annotated[int, Field(ge=1, le=65535)] = 443
    """TCP port the accelerator listens on."""
    client_ip_preservation: bool = True
    """Preserve client IPs at the ALBs."""
    health_check: HealthCheck = HealthCheck()
    """Health check applied to every endpoint group."""
    flow_logs_bucket: str | None = None
    """S3 bucket for flow logs; None disables them."""


class GlobalTraffic(pulumi.ComponentResource):
    """The accelerator, its listener and one endpoint group per region."""

    accelerator: aws.globalaccelerator.Accelerator
    listener: aws.globalaccelerator.Listener
    endpoint_groups: dict[str, aws.globalaccelerator.EndpointGroup]
    dns_name: pulumi.Output[str]
    static_ips: pulumi.Output[list[str]]
    endpoint_group_arns: pulumi.Output[dict[str, str]]

    def __init__(
        self, name: str, args: GlobalTrafficArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TOKEN, name, None, opts)
        # Children inherit the AWS provider given to the component (the control region).
        child = pulumi.ResourceOptions(parent=self)

        attributes = None
        if args.flow_logs_bucket:
            attributes = aws.globalaccelerator.AcceleratorAttributesArgs(
                flow_logs_enabled=True,
                flow_logs_s3_bucket=args.flow_logs_bucket,
                flow_logs_s3_prefix=f"{name}/",
            )
        self.accelerator = aws.globalaccelerator.Accelerator(
            f"{name}-accelerator",
            name=name,
            ip_address_type="IPV4",
            enabled=True,
            attributes=attributes,
            tags=args.tags,
            opts=child,
        )
        self.listener = aws.globalaccelerator.Listener(
            f"{name}-listener",
            accelerator_arn=self.accelerator.arn,
            protocol="TCP",
            client_affinity="NONE",
            port_ranges=[
                aws.globalaccelerator.ListenerPortRangeArgs(
                    from_port=args.listener_port, to_port=args.listener_port
                )
            ],
            opts=child,
        )
        hc = args.health_check
        self.endpoint_groups = {}
        for ep in args.endpoints:
            self.endpoint_groups[ep.region] = aws.globalaccelerator.EndpointGroup(
                f"{name}-{ep.region}",
                listener_arn=self.listener.arn,
                endpoint_group_region=ep.region,
                traffic_dial_percentage=ep.dial,
                health_check_path=hc.path if hc.protocol != "TCP" else None,
                health_check_port=hc.port,
                health_check_protocol=hc.protocol,
                health_check_interval_seconds=hc.interval_seconds,
                threshold_count=hc.threshold_count,
                endpoint_configurations=[
                    aws.globalaccelerator.EndpointGroupEndpointConfigurationArgs(
                        endpoint_id=ep.endpoint_id,
                        weight=ep.weight,
                        client_ip_preservation_enabled=args.client_ip_preservation,
                    )
                ],
                opts=child,
            )

        self.dns_name = self.accelerator.dns_name
        self.static_ips = self.accelerator.ip_sets.apply(
            lambda sets: [ip for s in sets or [] for ip in (s.ip_addresses or [])]
        )
        self.endpoint_group_arns = pulumi.Output.all(
            **{region: group.arn for region, group in self.endpoint_groups.items()}
        )
        self.register_outputs(
            {
                "dns_name": self.dns_name,
                "static_ips": self.static_ips,
                "endpoint_group_arns": self.endpoint_group_arns,
            }
        )
