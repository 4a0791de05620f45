"""AWS resources' inputs against the constraints in botocore's service models (the API
definitions the AWS SDKs are generated from): enums, numeric ranges, lengths, list sizes and
patterns, through a small map from each Pulumi property to the API member it becomes.

The map (:data:`TYPES`) names, per Pulumi type, the request shape of the call that creates the
resource and, per property, the member path inside it (``a.b`` steps into structures; a list is
stepped through). A Pulumi object maps onto an API structure member by member, names compared
without case (``clientIpPreservationEnabled`` -> ``ClientIPPreservationEnabled``); a property
the API does not have (a Pulumi-only input) is ignored. ``tests/test_provider_check_aws.py``
proves every mapped member exists in the installed model. Rules the models do not carry are in
:mod:`.aws_rules`.

botocore itself checks none of this client-side except minimum lengths (the services may
widen limits); the service does. The models ship with botocore, whose version every message
names, so a newer botocore brings newer limits and enums.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import botocore
import botocore.session
from botocore.model import Shape

from summit_platform.automation.plan.provider_check import aws_rules
from summit_platform.automation.plan.provider_check.model import Opaque, Problem, join


@dataclass(frozen=True)
class AwsType:
    """How one Pulumi type's inputs map onto an AWS API request."""

    service: str
    shape: str
    """The request shape member paths start from (``Other:Member`` starts at ``Other``)."""
    members: dict[str, str]
    """Pulumi property path (``healthCheck.interval``, ``records[]``) -> API member path."""
    tags: str | None = "Tag"
    """The service's tag structure; ``tags`` keys are checked as its Key, values as Value."""
    upper: frozenset[str] = field(default_factory=frozenset)
    """Properties the provider upper-cases before the call (compared upper-cased)."""


_GA_GROUP = {
    "endpointGroupRegion": "EndpointGroupRegion",
    "healthCheckIntervalSeconds": "HealthCheckIntervalSeconds",
    "healthCheckPath": "HealthCheckPath",
    "healthCheckPort": "HealthCheckPort",
    "healthCheckProtocol": "HealthCheckProtocol",
    "thresholdCount": "ThresholdCount",
    "trafficDialPercentage": "TrafficDialPercentage",
    "endpointConfigurations": "EndpointConfigurations",
    "portOverrides": "PortOverrides",
    "listenerArn": "ListenerArn",
}
_TARGET_GROUP = AwsType(
    "elbv2",
    "CreateTargetGroupInput",
    {
        "name": "Name",
        "port": "Port",
        "protocol": "Protocol",
        "protocolVersion": "ProtocolVersion",
        "targetType": "TargetType",
        "ipAddressType": "IpAddressType",
        "healthCheck.healthyThreshold": "HealthyThresholdCount",
        "healthCheck.unhealthyThreshold": "UnhealthyThresholdCount",
        "healthCheck.interval": "HealthCheckIntervalSeconds",
        "healthCheck.timeout": "HealthCheckTimeoutSeconds",
        "healthCheck.path": "HealthCheckPath",
        "healthCheck.port": "HealthCheckPort",
        "healthCheck.protocol": "HealthCheckProtocol",
        "healthCheck.matcher": "Matcher.HttpCode",
    },
    upper=frozenset({"protocol", "healthCheck.protocol"}),
)
_LB_LISTENER = AwsType(
    "elbv2",
    "CreateListenerInput",
    {
        "port": "Port",
        "protocol": "Protocol",
        "sslPolicy": "SslPolicy",
        "defaultActions[].type": "DefaultActions.Type",
        "defaultActions[].order": "DefaultActions.Order",
        "defaultActions[].fixedResponse": "DefaultActions.FixedResponseConfig",
        "defaultActions[].redirect": "DefaultActions.RedirectConfig",
    },
    upper=frozenset({"protocol"}),
)
_BUCKET = AwsType(
    "s3",
    "CreateBucketRequest",
    {"bucket": "Bucket", "objectLockEnabled": "ObjectLockEnabledForBucket"},
)

TYPES: dict[str, AwsType] = {
    "aws:globalaccelerator/accelerator:Accelerator": AwsType(
        "globalaccelerator",
        "CreateAcceleratorRequest",
        {
            "name": "Name",
            "ipAddressType": "IpAddressType",
            "ipAddresses": "IpAddresses",
            "attributes.flowLogsS3Bucket": "UpdateAcceleratorAttributesRequest:FlowLogsS3Bucket",
            "attributes.flowLogsS3Prefix": "UpdateAcceleratorAttributesRequest:FlowLogsS3Prefix",
        },
    ),
    "aws:globalaccelerator/listener:Listener": AwsType(
        "globalaccelerator",
        "CreateListenerRequest",
        {
            "protocol": "Protocol",
            "clientAffinity": "ClientAffinity",
            "portRanges": "PortRanges",
            "acceleratorArn": "AcceleratorArn",
        },
        tags=None,
    ),
    "aws:globalaccelerator/endpointGroup:EndpointGroup": AwsType(
        "globalaccelerator", "CreateEndpointGroupRequest", _GA_GROUP, tags=None
    ),
    "aws:route53/record:Record": AwsType(
        "route53",
        "ResourceRecordSet",
        {
            "name": "Name",
            "type": "Type",
            "ttl": "TTL",
            "records[]": "ResourceRecords.Value",
            "setIdentifier": "SetIdentifier",
            "healthCheckId": "HealthCheckId",
            "weightedRoutingPolicies[].weight": "Weight",
            "latencyRoutingPolicies[].region": "Region",
            "failoverRoutingPolicies[].type": "Failover",
            "aliases[].name": "AliasTarget.DNSName",
            "aliases[].zoneId": "AliasTarget.HostedZoneId",
            "zoneId": "ChangeResourceRecordSetsRequest:HostedZoneId",
        },
        tags=None,
    ),
    "aws:route53/healthCheck:HealthCheck": AwsType(
        "route53",
        "HealthCheckConfig",
        {
            "type": "Type",
            "port": "Port",
            "fqdn": "FullyQualifiedDomainName",
            "ipAddress": "IPAddress",
            "resourcePath": "ResourcePath",
            "searchString": "SearchString",
            "requestInterval": "RequestInterval",
            "failureThreshold": "FailureThreshold",
            "childHealthThreshold": "HealthThreshold",
            "childHealthchecks": "ChildHealthChecks",
            "regions": "Regions",
            "insufficientDataHealthStatus": "InsufficientDataHealthStatus",
        },
    ),
    "aws:route53/zone:Zone": AwsType(
        "route53",
        "CreateHostedZoneRequest",
        {
            "name": "Name",
            "comment": "HostedZoneConfig.Comment",
            "delegationSetId": "DelegationSetId",
            "vpcs[].vpcId": "VPC.VPCId",
            "vpcs[].vpcRegion": "VPC.VPCRegion",
        },
    ),
    "aws:lb/targetGroup:TargetGroup": _TARGET_GROUP,
    "aws:alb/targetGroup:TargetGroup": _TARGET_GROUP,
    "aws:lb/listener:Listener": _LB_LISTENER,
    "aws:alb/listener:Listener": _LB_LISTENER,
    "aws:ec2/instance:Instance": AwsType(
        "ec2",
        "RunInstancesRequest",
        {
            "instanceType": "InstanceType",
            "ami": "ImageId",
            "instanceInitiatedShutdownBehavior": "InstanceInitiatedShutdownBehavior",
            "tenancy": "Placement.Tenancy",
            "metadataOptions": "MetadataOptions",
            "rootBlockDevice.volumeType": "BlockDeviceMappings.Ebs.VolumeType",
            "ebsBlockDevices[].volumeType": "BlockDeviceMappings.Ebs.VolumeType",
        },
    ),
    "aws:s3/bucket:Bucket": _BUCKET,
    "aws:s3/bucketV2:BucketV2": _BUCKET,
    "aws:dynamodb/table:Table": AwsType(
        "dynamodb",
        "CreateTableInput",
        {
            "name": "TableName",
            "billingMode": "BillingMode",
            "readCapacity": "ProvisionedThroughput.ReadCapacityUnits",
            "writeCapacity": "ProvisionedThroughput.WriteCapacityUnits",
            "attributes[].name": "AttributeDefinitions.AttributeName",
            "attributes[].type": "AttributeDefinitions.AttributeType",
            "hashKey": "KeySchema.AttributeName",
            "rangeKey": "KeySchema.AttributeName",
            "streamViewType": "StreamSpecification.StreamViewType",
            "tableClass": "TableClass",
            "globalSecondaryIndexes[].name": "GlobalSecondaryIndexes.IndexName",
            "globalSecondaryIndexes[].projectionType": "GlobalSecondaryIndexes.Projection.ProjectionType",
        },
    ),
    "aws:iam/role:Role": AwsType(
        "iam",
        "CreateRoleRequest",
        {
            "name": "RoleName",
            "path": "Path",
            "description": "Description",
            "maxSessionDuration": "MaxSessionDuration",
            "assumeRolePolicy": "AssumeRolePolicyDocument",
            "permissionsBoundary": "PermissionsBoundary",
            "inlinePolicies[].name": "PutRolePolicyRequest:PolicyName",
            "inlinePolicies[].policy": "PutRolePolicyRequest:PolicyDocument",
        },
    ),
    "aws:iam/policy:Policy": AwsType(
        "iam",
        "CreatePolicyRequest",
        {
            "name": "PolicyName",
            "path": "Path",
            "description": "Description",
            "policy": "PolicyDocument",
        },
    ),
    "aws:iam/rolePolicy:RolePolicy": AwsType(
        "iam",
        "PutRolePolicyRequest",
        {"name": "PolicyName", "role": "RoleName", "policy": "PolicyDocument"},
        tags=None,
    ),
}
"""The Pulumi AWS types the check covers; every other AWS type is reported unchecked."""


@cache
def model(service: str) -> Any:
    """botocore's service model (loaded once; the EC2 model takes ~0.1 s)."""
    return _session().get_service_model(service)


@cache
def _session() -> Any:
    return botocore.session.get_session()


def model_label(service: str) -> str:
    """``botocore 1.44.8 globalaccelerator 2018-08-08 model``."""
    return f"botocore {botocore.__version__} {service} {model(service).api_version} model"


def resolve(service: str, root: str, member_path: str) -> tuple[Shape, str]:
    """The shape a member path ends at, and its ``Shape.Member`` label; KeyError if the model
    has no such member."""
    if ":" in member_path:
        root, member_path = member_path.split(":", 1)
    shape = model(service).shape_for(root)
    label = root
    for name in member_path.split("."):
        while shape.type_name == "list":
            shape = shape.member
        members = shape.members  # KeyError/AttributeError if not a structure
        if name not in members:
            raise KeyError(f"{service} {label} has no member {name}")
        shape, label = members[name], f"{label}.{name}"
    return shape, label


@cache
def _pattern(pattern: str) -> re.Pattern[str] | None:
    """A model pattern as a Python regex; None when it uses syntax Python's ``re`` lacks
    (``\\p{L}`` classes in IAM tag patterns): those patterns are not checked."""
    try:
        return re.compile(pattern)
    except re.error:
        return None


def values_at(inputs: Any, path: str, where: str = "") -> Iterator[tuple[str, Any]]:
    """``(property path, value)`` for each value a Pulumi path selects (``a[].b``)."""
    head, _, rest = path.partition(".")
    many = head.endswith("[]")
    key = head.removesuffix("[]")
    if not isinstance(inputs, dict) or key not in inputs:
        return
    value, here = inputs[key], join(where, key)
    items = list(enumerate(value)) if many and isinstance(value, list) else [(None, value)]
    for i, item in items:
        at = join(here, i) if i is not None else here
        if rest:
            yield from values_at(item, rest, at)
        else:
            yield at, item


def _range_text(lo: Any, hi: Any, what: str) -> str:
    if lo is not None and hi is not None:
        return f"{what} must be between {lo} and {hi}"
    return f"{what} must be at least {lo}" if lo is not None else f"{what} must be at most {hi}"


def _enum_text(value: str, enum: list[str]) -> str:
    if len(enum) <= 24:
        return f"must be one of {', '.join(enum)}"
    close = difflib.get_close_matches(value, enum, n=3)
    hint = f" (closest: {', '.join(close)})" if close else ""
    return f"must be one of the model's {len(enum)} values{hint}"


def check_shape(
    value: Any, shape: Shape, label: str, path: str, upper: bool
) -> Iterator[tuple[str, Any, str, str]]:
    """``(path, value, rule, member label)`` for every constraint ``value`` breaks."""
    if isinstance(value, Opaque):
        return
    kind, meta = shape.type_name, shape.metadata
    if kind == "structure" and isinstance(value, dict):
        lowered = {n.lower(): n for n in shape.members}
        for k, v in value.items():
            member = lowered.get(k.lower())
            if member is not None:
                yield from check_shape(
                    v, shape.members[member], f"{label}.{member}", join(path, k), upper
                )
    elif kind == "list" and isinstance(value, list):
        lo, hi = meta.get("min"), meta.get("max")
        if (lo is not None and len(value) < lo) or (hi is not None and len(value) > hi):
            yield path, value, _range_text(lo, hi, "the number of items"), label
        for i, item in enumerate(value):
            yield from check_shape(item, shape.member, label, join(path, i), upper)
    elif kind == "string" and isinstance(value, str):
        yield from _check_string(value, shape, label, path, upper)
    elif kind in ("integer", "long", "float", "double"):
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        lo, hi = meta.get("min"), meta.get("max")
        if number is not None and (
            (lo is not None and number < lo) or (hi is not None and number > hi)
        ):
            yield path, value, _range_text(lo, hi, "the value"), label


def _check_string(
    value: str, shape: Shape, label: str, path: str, upper: bool
) -> Iterator[tuple[str, Any, str, str]]:
    meta = shape.metadata
    enum = getattr(shape, "enum", None) or []
    compared = value.upper() if upper else value
    if enum and compared not in enum:
        yield path, value, _enum_text(compared, list(enum)), label
    lo, hi = meta.get("min"), meta.get("max")
    if (lo is not None and len(value) < lo) or (hi is not None and len(value) > hi):
        yield path, value, _range_text(lo, hi, "the length"), label
    pattern = meta.get("pattern")
    compiled = _pattern(pattern) if pattern else None
    if compiled is not None and not compiled.fullmatch(value):
        yield path, value, f"must match the pattern {pattern}", label


def checkable(type_: str) -> bool:
    return type_ in TYPES


def check(type_: str, inputs: dict[str, Any], resource_name: str) -> list[Problem]:
    """Every problem of one AWS resource (its type must be :func:`checkable`)."""
    spec = TYPES[type_]
    source = model_label(spec.service)
    out: list[Problem] = []
    for prop, member in spec.members.items():
        shape, label = resolve(spec.service, spec.shape, member)
        for path, value in values_at(inputs, prop):
            for p, v, text, where in check_shape(value, shape, label, path, prop in spec.upper):
                out.append(
                    Problem("aws-api-model", p, v, text, f"{source}, {where}", f"aws.{where}")
                )
    if spec.tags:
        out += _tags(spec, inputs.get("tags"), source)
    return out + aws_rules.check(type_, inputs, resource_name)


def _tags(spec: AwsType, tags: Any, source: str) -> list[Problem]:
    if not isinstance(tags, dict):
        return []
    key_shape, key_label = resolve(spec.service, spec.tags or "Tag", "Key")
    value_shape, value_label = resolve(spec.service, spec.tags or "Tag", "Value")
    out = []
    for k, v in tags.items():
        for p, val, text, where in [
            *check_shape(k, key_shape, key_label, join("tags", k), False),
            *check_shape(v, value_shape, value_label, join("tags", k), False),
        ]:
            out.append(Problem("aws-api-model", p, val, text, f"{source}, {where}", f"aws.{where}"))
    return out
