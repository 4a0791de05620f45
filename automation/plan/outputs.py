"""Synthesised computed outputs for the embedded lane's mock monitor.

A provider would compute ids, ARNs, DNS names and addresses; here they are derived
deterministically from the stack, type and name (the same plan twice gives the same JSON), in
the formats AWS and Kubernetes use, so that Outputs built from them resolve and read naturally.
They are placeholders shaped like the real thing, and the plan report says so: no value here
came from a cloud.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

ACCOUNT = "123456789012"
"""The account id every synthesised ARN carries (AWS's documentation example account)."""

ALB_ZONE_IDS = {"us-east-1": "Z35SXDOTRQ7X7K", "us-west-2": "Z1H1FL5HABSF5"}
"""The canonical hosted zone ids AWS publishes for Application Load Balancers."""

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def _h(*parts: str, n: int = 16) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:n]


def _uuid(*parts: str) -> str:
    h = _h(*parts, n=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _ip(base: str, *parts: str) -> str:
    net = ipaddress.ip_network(base)
    offset = int(_h(*parts, n=8), 16) % (net.num_addresses - 2) + 1
    return str(net.network_address + offset)


def _ga(typ: str, name: str, inputs: dict[str, Any], stack: str) -> tuple[str, dict[str, Any]]:
    kind = typ.split(":")[-1]
    if kind == "Accelerator":
        acc = _uuid(stack, typ, name)
        arn = f"arn:aws:globalaccelerator::{ACCOUNT}:accelerator/{acc}"
        return arn, {
            "arn": arn,
            "dnsName": f"a{_h(stack, name)}.awsglobalaccelerator.com",
            "dualStackDnsName": f"a{_h(stack, name)}.dualstack.awsglobalaccelerator.com",
            "hostedZoneId": "Z2BJ6XQ5FK7U4H",
            "ipSets": [
                {
                    "ipFamily": "IPv4",
                    "ipAddresses": [
                        _ip("75.2.0.0/17", stack, name, "1"),
                        _ip("99.83.128.0/17", stack, name, "2"),
                    ],
                }
            ],
        }
    parent_arn = inputs.get("acceleratorArn") or inputs.get("listenerArn") or ""
    if not isinstance(parent_arn, str) or not parent_arn.startswith("arn:"):
        parent_arn = f"arn:aws:globalaccelerator::{ACCOUNT}:accelerator/{_uuid(stack, name)}"
    suffix = {"Listener": "listener", "EndpointGroup": "endpoint-group"}.get(kind, kind.lower())
    arn = f"{parent_arn}/{suffix}/{_h(stack, typ, name, n=8)}"
    return arn, {"arn": arn}


def new_resource(
    typ: str, name: str, inputs: dict[str, Any], stack: str
) -> tuple[str | None, dict[str, Any]]:
    """The id and output state a provider would return for a new resource."""
    state: dict[str, Any] = dict(inputs)
    if typ.startswith("pulumi:providers:"):
        return _uuid(stack, typ, name), state
    if typ == "pulumi:pulumi:StackReference":
        # Another stack's outputs are not knowable here: they stay unknown, as in a preview
        # whose referenced stack has not been deployed.
        return inputs.get("name", name), {"name": inputs.get("name", name), "outputs": UNKNOWN}
    package, module, _kind = ([*typ.split(":"), "", ""])[:3]
    if package == "kubernetes":
        meta = dict(state.get("metadata") or {})
        meta.setdefault("name", name)
        meta["uid"] = _uuid(stack, typ, name)
        meta.setdefault("namespace", "default") if "Namespace" not in typ else None
        state["metadata"] = meta
        ns = meta.get("namespace")
        return (f"{ns}/{meta['name']}" if ns else meta["name"]), state
    if package == "aws":
        if "tags" in state and isinstance(state["tags"], dict):
            state["tagsAll"] = dict(state["tags"])
        if module.startswith("globalaccelerator"):
            rid, extra = _ga(typ, name, inputs, stack)
            state.update(extra)
            return rid, state
        if module.startswith("route53/healthCheck"):
            rid = _uuid(stack, typ, name)
            state["arn"] = f"arn:aws:route53:::healthcheck/{rid}"
            return rid, state
        if module.startswith("route53/record"):
            zone = inputs.get("zoneId", "Z0000000000")
            rec_name = inputs.get("name", name)
            set_id = inputs.get("setIdentifier", "")
            state["fqdn"] = rec_name
            return f"{zone}_{rec_name}_{inputs.get('type', 'A')}_{set_id}".rstrip("_"), state
        service = module.split("/")[0]
        rid = f"{name}-{_h(stack, typ, name, n=8)}"
        state.setdefault("arn", f"arn:aws:{service}:us-east-1:{ACCOUNT}:{_kind.lower()}/{rid}")
        return rid, state
    return f"{name}-{_h(stack, typ, name, n=8)}", state


def call(token: str, args: dict[str, Any], stack: str) -> dict[str, Any]:
    """Results for the few invokes the embedded lane can answer without a cloud."""
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {
            "accountId": ACCOUNT,
            "arn": f"arn:aws:iam::{ACCOUNT}:user/summit-plan",
            "userId": "AIDAEMBEDDEDLANE",
            "id": ACCOUNT,
        }
    if token == "aws:index/getRegion:getRegion":
        region = args.get("name") or args.get("region") or "us-east-1"
        return {
            "name": region,
            "region": region,
            "id": region,
            "endpoint": f"ec2.{region}.amazonaws.com",
        }
    if token == "aws:lb/getLoadBalancer:getLoadBalancer":
        arn = str(args.get("arn") or "")
        parts = arn.split(":")
        region = parts[3] if len(parts) > 5 else "us-east-1"
        lb_name = arn.split("/")[-2] if arn.count("/") >= 2 else str(args.get("name") or "lb")
        return {
            "arn": arn,
            "name": lb_name,
            "dnsName": f"{lb_name}-{int(_h(arn, n=8), 16) % 10**9}.{region}.elb.amazonaws.com",
            "zoneId": ALB_ZONE_IDS.get(region, "Z35SXDOTRQ7X7K"),
            "loadBalancerType": "application",
            "id": arn,
        }
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        return {"names": ["us-east-1a", "us-east-1b", "us-east-1c"], "id": "us-east-1"}
    raise ValueError(
        f"invoke {token} needs a provider; the embedded lane answers only getCallerIdentity,"
        " getRegion, getLoadBalancer and getAvailabilityZones"
    )
