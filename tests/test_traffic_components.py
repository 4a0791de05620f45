"""GlobalTraffic and DnsFailover: structure and values of what they register, and the prod
stack's traffic resources against Pulumi.prod.yaml."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import yaml
from conftest import ROOT, plan_values, run_component

from summit_platform.automation.stack_files import load_stack
from summit_platform.components.dns_failover import DnsFailover, DnsFailoverArgs, DnsRegion
from summit_platform.components.global_traffic import (
    GlobalTraffic,
    GlobalTrafficArgs,
    RegionEndpoint,
)

GA = "summit:traffic:GlobalTraffic"
EG = "aws:globalaccelerator/endpointGroup:EndpointGroup"
ACC = "aws:globalaccelerator/accelerator:Accelerator"
LST = "aws:globalaccelerator/listener:Listener"
TAGS = {"team": "t", "service": "s", "env": "e", "cost-center": "c"}


def test_prod_traffic_matches_stack_file():
    plan = plan_values("prod")
    prod = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    (component,) = plan.of_type(GA)
    (acc,) = plan.of_type(ACC)
    (listener,) = plan.of_type(LST)
    groups = {g.inputs["endpointGroupRegion"]: g for g in plan.of_type(EG)}
    assert set(groups) == {"us-east-1", "us-west-2"}
    for r in (acc, listener, *groups.values()):
        assert r.parent == component.urn
    assert acc.inputs["ipAddressType"] == "IPV4" and acc.inputs["enabled"] is True
    assert acc.inputs["tags"] == {
        "team": "platform",
        "service": "summit-platform",
        "env": "prod",
        "cost-center": "cc-1001",
    }
    assert listener.inputs["portRanges"] == [{"fromPort": 443, "toPort": 443}]
    assert listener.inputs["protocol"] == "TCP"
    for region_cfg in prod["summit-platform:regions"]:
        g = groups[region_cfg["name"]]
        assert g.inputs["trafficDialPercentage"] == region_cfg["dial"]
        assert g.inputs["healthCheckPath"] == "/healthz"
        assert g.inputs["healthCheckIntervalSeconds"] == 10
        assert g.inputs["thresholdCount"] == 3
        (ep,) = g.inputs["endpointConfigurations"]
        assert ep["endpointId"] == region_cfg["endpointArn"]
        assert ep["clientIpPreservationEnabled"] is True
        assert g.inputs["listenerArn"] == listener.outputs["arn"]
    # every GA child goes through the us-west-2 (control region) provider
    by_urn = plan.by_urn()
    for r in (acc, listener, *groups.values()):
        provider = by_urn[r.provider.rsplit("::", 1)[0]]
        assert provider.inputs["region"] == "us-west-2"
    assert plan.outputs["acceleratorDnsName"].endswith(".awsglobalaccelerator.com")
    assert len(plan.outputs["staticIps"]) == 2
    assert set(plan.outputs["endpointGroupArns"]) == {"us-east-1", "us-west-2"}


def test_dev_runs_one_region_but_still_uses_the_control_region():
    plan = plan_values("dev")
    assert [g.inputs["endpointGroupRegion"] for g in plan.of_type(EG)] == ["us-east-1"]
    regions = sorted(p.inputs["region"] for p in plan.of_type("pulumi:providers:aws"))
    assert regions == ["us-east-1", "us-west-2"]


def test_dials_flow_from_config():
    cfg = load_stack(ROOT, "prod")
    regions = [r.model_dump(by_alias=True, exclude_none=True) for r in cfg.regions]
    regions[1]["dial"] = 40
    plan = plan_values("prod", overrides={"regions": regions})
    dials = {
        g.inputs["endpointGroupRegion"]: g.inputs["trafficDialPercentage"] for g in plan.of_type(EG)
    }
    assert dials == {"us-east-1": 100, "us-west-2": 40}


def test_flow_logs_and_tcp_health_check_options():
    def program():
        control = aws.Provider("ctl", region="us-west-2")
        from summit_platform.components.global_traffic import HealthCheck

        GlobalTraffic(
            "ga",
            GlobalTrafficArgs(
                endpoints=[
                    RegionEndpoint(
                        region="us-east-1",
                        endpoint_id="arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/a/b",
                    )
                ],
                tags=TAGS,
                flow_logs_bucket="logs-bucket",
                health_check=HealthCheck(protocol="TCP"),
            ),
            opts=pulumi.ResourceOptions(provider=control),
        )

    plan = run_component(program)
    (acc,) = plan.of_type(ACC)
    assert acc.inputs["attributes"] == {
        "flowLogsEnabled": True,
        "flowLogsS3Bucket": "logs-bucket",
        "flowLogsS3Prefix": "ga/",
    }
    (g,) = plan.of_type(EG)
    assert g.inputs["healthCheckProtocol"] == "TCP" and "healthCheckPath" not in g.inputs
    (comp,) = plan.of_type("summit:traffic:GlobalTraffic")
    assert sorted(r.name for r in plan.children(comp.urn)) == [
        "ga-accelerator",
        "ga-listener",
        "ga-us-east-1",
    ]
    # the provider given to the component in opts reaches every child (parent=self)
    assert all(r.provider.split("::")[-2] == "ctl" for r in plan.children(comp.urn)), [
        r.provider for r in plan.children(comp.urn)
    ]


def _dns_program(**extra):
    def program():
        p = aws.Provider("r53", region="us-east-1")
        DnsFailover(
            "dns",
            DnsFailoverArgs(
                zone_id="Z123",
                record_name="api.summit.example",
                regions=[
                    DnsRegion(
                        region="us-east-1", lb_dns_name="a.us-east-1.elb.amazonaws.com", weight=80
                    ),
                    DnsRegion(
                        region="us-west-2", lb_dns_name="b.us-west-2.elb.amazonaws.com", weight=20
                    ),
                ],
                tags=TAGS,
                **extra,
            ),
            opts=pulumi.ResourceOptions(provider=p),
        )

    return program


def test_dns_failover_latency_records_with_health_checks():
    plan = run_component(_dns_program())
    (comp,) = plan.of_type("summit:traffic:DnsFailover")
    checks = plan.of_type("aws:route53/healthCheck:HealthCheck")
    records = plan.of_type("aws:route53/record:Record")
    assert len(checks) == 2 and len(records) == 2
    check_ids = {c.id for c in checks}
    for c in (*checks, *records):
        assert c.provider.split("::")[-2] == "r53", c.provider  # inherited from opts
    for c in checks:
        assert c.parent == comp.urn
        assert c.inputs["requestInterval"] == 10 and c.inputs["failureThreshold"] == 3
        assert c.inputs["resourcePath"] == "/healthz" and c.inputs["type"] == "HTTPS"
        assert c.inputs["port"] == 443
        assert {k: c.inputs["tags"][k] for k in TAGS} == TAGS
    targets = {
        "us-east-1": "a.us-east-1.elb.amazonaws.com",
        "us-west-2": "b.us-west-2.elb.amazonaws.com",
    }
    for rec in records:
        assert rec.inputs["healthCheckId"] in check_ids
        # A CNAME, so the record carries its own TTL (an alias would take the ALB's 60 s).
        assert rec.inputs["type"] == "CNAME" and rec.inputs["ttl"] == 60
        assert rec.inputs["records"] == [targets[rec.inputs["setIdentifier"]]]
        assert "aliases" not in rec.inputs and "weightedRoutingPolicies" not in rec.inputs
        assert rec.inputs["latencyRoutingPolicies"] == [{"region": rec.inputs["setIdentifier"]}]
        assert rec.options.get("deleteBeforeReplace") is True, rec.options


def test_dns_failover_weighted_records_use_the_health_check_and_ttl_given():
    plan = run_component(
        _dns_program(
            routing="weighted",
            ttl=15,
            request_interval=30,
            failure_threshold=2,
            health_check_protocol="TCP",
            health_check_port=8443,
        )
    )
    weights = {
        r.inputs["setIdentifier"]: r.inputs["weightedRoutingPolicies"]
        for r in plan.of_type("aws:route53/record:Record")
    }
    assert weights == {"us-east-1": [{"weight": 80}], "us-west-2": [{"weight": 20}]}
    for rec in plan.of_type("aws:route53/record:Record"):
        assert rec.inputs["ttl"] == 15 and "latencyRoutingPolicies" not in rec.inputs
    for c in plan.of_type("aws:route53/healthCheck:HealthCheck"):
        assert c.inputs["type"] == "TCP" and c.inputs["port"] == 8443
        assert c.inputs["requestInterval"] == 30 and c.inputs["failureThreshold"] == 2
        assert "resourcePath" not in c.inputs  # a TCP check probes no path


def _route53(**traffic_extra):
    """prod's traffic in route53 mode without the controller (latency records)."""
    cfg = load_stack(ROOT, "prod")
    traffic = cfg.traffic.model_dump(by_alias=True, exclude_none=True)
    traffic.update(mode="route53", dnsZoneId="Z0123456789", dnsName="api.summit.example")
    traffic["controller"]["enabled"] = False
    traffic.update(traffic_extra)
    return traffic


def test_route53_mode_stack_reads_lb_through_regional_provider():
    plan = plan_values("prod", overrides={"traffic": _route53()})
    assert not plan.of_type(ACC)
    records = plan.of_type("aws:route53/record:Record")
    targets = {r.inputs["setIdentifier"]: r.inputs["records"][0] for r in records}
    assert set(targets) == {"us-east-1", "us-west-2"}
    for region, target in targets.items():
        assert target.endswith(f".{region}.elb.amazonaws.com"), target
    assert plan.outputs["dnsFqdn"] == "api.summit.example"


def test_route53_mode_honours_the_health_check_and_dns_ttl_of_the_stack():
    hc = {
        "path": "/ready",
        "port": 8443,
        "protocol": "HTTP",
        "intervalSeconds": 30,
        "thresholdCount": 5,
    }
    plan = plan_values("prod", overrides={"traffic": _route53(healthCheck=hc, dnsTtl=20)})
    for c in plan.of_type("aws:route53/healthCheck:HealthCheck"):
        assert (c.inputs["type"], c.inputs["port"], c.inputs["resourcePath"]) == (
            "HTTP",
            8443,
            "/ready",
        )
        assert c.inputs["requestInterval"] == 30 and c.inputs["failureThreshold"] == 5
    for rec in plan.of_type("aws:route53/record:Record"):
        assert rec.inputs["ttl"] == 20
        # No controller: nothing steers the records, so they route by latency.
        assert "weightedRoutingPolicies" not in rec.inputs


def test_endpoint_from_stack_reference_stays_unknown():
    cfg = load_stack(ROOT, "prod")
    regions = [r.model_dump(by_alias=True, exclude_none=True) for r in cfg.regions]
    del regions[0]["endpointArn"]
    regions[0]["endpointStackRef"] = {"stack": "acme/network/prod", "output": "albArnUse1"}
    plan = plan_values("prod", overrides={"regions": regions})
    (ref,) = plan.of_type("pulumi:pulumi:StackReference")
    assert ref.inputs["name"] == "acme/network/prod"
    groups = {g.inputs["endpointGroupRegion"]: g for g in plan.of_type(EG)}
    assert groups["us-east-1"].inputs["endpointConfigurations"][0]["endpointId"] == "<unknown>"
    assert (
        groups["us-west-2"].inputs["endpointConfigurations"][0]["endpointId"].startswith("arn:aws:")
    )
