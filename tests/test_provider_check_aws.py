"""The AWS half of the provider check: for every covered type a valid case, and failing
cases for each rule family that applies (enum, numeric range, length, list size, pattern from
botocore's model; documented rules the model lacks); the property map proven against the
installed model; unknown and secret values skipped."""

from __future__ import annotations

import json
import re
from typing import Any

import botocore
import pytest
from mutate import DELETE, mutate

from summit_platform.automation.plan.provider_check import aws, aws_rules
from summit_platform.automation.plan.provider_check.model import SECRET_VALUE, UNKNOWN_VALUE

TAGS = {"team": "platform", "env": "prod"}
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}
        ],
    }
)
GA_GROUP = "aws:globalaccelerator/endpointGroup:EndpointGroup"
GA_LISTENER = "aws:globalaccelerator/listener:Listener"
GA_ACC = "aws:globalaccelerator/accelerator:Accelerator"
RECORD = "aws:route53/record:Record"
HEALTH = "aws:route53/healthCheck:HealthCheck"
ZONE = "aws:route53/zone:Zone"
TG = "aws:lb/targetGroup:TargetGroup"
LB_LISTENER = "aws:lb/listener:Listener"
EC2 = "aws:ec2/instance:Instance"
BUCKET = "aws:s3/bucket:Bucket"
TABLE = "aws:dynamodb/table:Table"
ROLE = "aws:iam/role:Role"
IAM_POLICY = "aws:iam/policy:Policy"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"

VALID: dict[str, dict[str, Any]] = {
    GA_ACC: {
        "name": "summit-prod",
        "ipAddressType": "IPV4",
        "enabled": True,
        "tags": TAGS,
        "attributes": {
            "flowLogsEnabled": True,
            "flowLogsS3Bucket": "logs",
            "flowLogsS3Prefix": "ga/",
        },
    },
    GA_LISTENER: {
        "acceleratorArn": "arn:aws:globalaccelerator::123456789012:accelerator/abc",
        "protocol": "TCP",
        "clientAffinity": "NONE",
        "portRanges": [{"fromPort": 443, "toPort": 443}],
    },
    GA_GROUP: {
        "listenerArn": "arn:aws:globalaccelerator::123456789012:accelerator/abc/listener/1",
        "endpointGroupRegion": "us-east-1",
        "healthCheckIntervalSeconds": 10,
        "thresholdCount": 3,
        "trafficDialPercentage": 100,
        "healthCheckPath": "/healthz",
        "healthCheckPort": 443,
        "healthCheckProtocol": "HTTPS",
        "endpointConfigurations": [
            {
                "endpointId": "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/x/1",
                "weight": 128,
                "clientIpPreservationEnabled": True,
            }
        ],
    },
    RECORD: {
        "zoneId": "Z0123456789ABC",
        "name": "app.example.com",
        "type": "A",
        "ttl": 60,
        "records": ["192.0.2.10"],
    },
    HEALTH: {
        "type": "HTTPS",
        "fqdn": "app.example.com",
        "port": 443,
        "resourcePath": "/healthz",
        "requestInterval": 10,
        "failureThreshold": 3,
        "regions": ["us-east-1", "us-west-2", "eu-west-1"],
        "tags": TAGS,
    },
    ZONE: {"name": "example.com", "comment": "summit", "tags": TAGS},
    TG: {
        "name": "summit-web",
        "port": 8080,
        "protocol": "http",
        "targetType": "ip",
        "vpcId": "vpc-1",
        "healthCheck": {
            "path": "/healthz",
            "interval": 10,
            "timeout": 5,
            "healthyThreshold": 3,
            "unhealthyThreshold": 3,
            "protocol": "HTTP",
            "matcher": "200",
        },
        "tags": TAGS,
    },
    LB_LISTENER: {
        "loadBalancerArn": "arn:lb",
        "port": 443,
        "protocol": "HTTPS",
        "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "defaultActions": [
            {
                "type": "fixed-response",
                "order": 1,
                "fixedResponse": {"statusCode": "404", "contentType": "text/plain"},
            }
        ],
    },
    EC2: {
        "ami": "ami-0abc",
        "instanceType": "m5.large",
        "tenancy": "default",
        "metadataOptions": {"httpTokens": "required", "httpEndpoint": "enabled"},
        "rootBlockDevice": {"volumeType": "gp3", "volumeSize": 20},
        "tags": TAGS,
    },
    BUCKET: {"bucket": "summit-prod-logs", "tags": TAGS},
    TABLE: {
        "name": "summit.sessions",
        "billingMode": "PAY_PER_REQUEST",
        "hashKey": "id",
        "rangeKey": "ts",
        "attributes": [
            {"name": "id", "type": "S"},
            {"name": "ts", "type": "N"},
            {"name": "user", "type": "S"},
        ],
        "globalSecondaryIndexes": [{"name": "by-user", "hashKey": "user", "projectionType": "ALL"}],
        "streamViewType": "NEW_IMAGE",
        "tags": TAGS,
    },
    ROLE: {
        "name": "summit-web",
        "path": "/summit/",
        "assumeRolePolicy": TRUST,
        "maxSessionDuration": 3600,
        "inlinePolicies": [{"name": "read", "policy": POLICY}],
        "tags": TAGS,
    },
    IAM_POLICY: {"name": "summit-read", "path": "/", "policy": POLICY, "description": "read"},
    ROLE_POLICY: {"name": "read", "role": "summit-web", "policy": POLICY},
}

# (type, property, bad value, problem path, family, words in the rule). The first rows are the
# issue's own examples.
CASES: list[tuple[str, str, Any, str, str, str]] = [
    (
        GA_GROUP,
        "healthCheckIntervalSeconds",
        5,
        "healthCheckIntervalSeconds",
        "aws-api-model",
        "between 10 and 30",
    ),
    (GA_GROUP, "thresholdCount", 11, "thresholdCount", "aws-api-model", "between 1 and 10"),
    (
        GA_GROUP,
        "trafficDialPercentage",
        150,
        "trafficDialPercentage",
        "aws-api-model",
        "between 0 and 100",
    ),
    (GA_LISTENER, "protocol", "HTTP", "protocol", "aws-api-model", "one of TCP, UDP"),
    (RECORD, "type", "A2", "type", "aws-api-model", "one of SOA, A, TXT"),
    (RECORD, "ttl", -1, "ttl", "aws-api-model", "between 0 and 2147483647"),
    (RECORD, "ttl", 2**31, "ttl", "aws-api-model", "between 0 and 2147483647"),
    (EC2, "instanceType", "m5.huge", "instanceType", "aws-api-model", "closest: m5.large"),
    (BUCKET, "bucket", "Summit_Logs", "bucket", "aws-documented-rule", "lowercase letters"),
    # Global Accelerator
    (GA_ACC, "ipAddressType", "IPV6", "ipAddressType", "aws-api-model", "one of IPV4, DUAL_STACK"),
    (GA_ACC, "name", "a" * 256, "name", "aws-api-model", "length must be at most 255"),
    (
        GA_ACC,
        "ipAddresses",
        ["1.1.1.1", "1.1.1.2", "1.1.1.3"],
        "ipAddresses",
        "aws-api-model",
        "number of items must be between 0 and 2",
    ),
    (GA_ACC, "tags", {"": "x"}, "tags.", "aws-api-model", "length must be between 1 and 128"),
    (
        GA_ACC,
        "attributes.flowLogsS3Prefix",
        "p" * 256,
        "attributes.flowLogsS3Prefix",
        "aws-api-model",
        "at most 255",
    ),
    (GA_LISTENER, "clientAffinity", "STICKY", "clientAffinity", "aws-api-model", "NONE, SOURCE_IP"),
    (
        GA_LISTENER,
        "portRanges",
        [{"fromPort": 0, "toPort": 443}],
        "portRanges[0].fromPort",
        "aws-api-model",
        "between 1 and 65535",
    ),
    (
        GA_LISTENER,
        "portRanges",
        [{"fromPort": 1, "toPort": 1}] * 11,
        "portRanges",
        "aws-api-model",
        "between 1 and 10",
    ),
    (GA_GROUP, "healthCheckPath", "healthz", "healthCheckPath", "aws-api-model", "pattern"),
    (GA_GROUP, "healthCheckPort", 70000, "healthCheckPort", "aws-api-model", "between 1 and 65535"),
    (
        GA_GROUP,
        "healthCheckProtocol",
        "UDP",
        "healthCheckProtocol",
        "aws-api-model",
        "TCP, HTTP, HTTPS",
    ),
    (
        GA_GROUP,
        "endpointConfigurations[0].weight",
        300,
        "endpointConfigurations[0].weight",
        "aws-api-model",
        "between 0 and 255",
    ),
    # Route53
    (RECORD, "setIdentifier", "", "setIdentifier", "aws-api-model", "between 1 and 128"),
    (
        RECORD,
        "weightedRoutingPolicies",
        [{"weight": 256}],
        "weightedRoutingPolicies[0].weight",
        "aws-api-model",
        "between 0 and 255",
    ),
    (
        RECORD,
        "latencyRoutingPolicies",
        [{"region": "mars-1"}],
        "latencyRoutingPolicies[0].region",
        "aws-api-model",
        "must be one of the model's",
    ),
    (
        RECORD,
        "failoverRoutingPolicies",
        [{"type": "TERTIARY"}],
        "failoverRoutingPolicies[0].type",
        "aws-api-model",
        "PRIMARY, SECONDARY",
    ),
    (RECORD, "records", ["x" * 4001], "records[0]", "aws-api-model", "at most 4000"),
    (
        RECORD,
        "aliases",
        [{"name": "lb.example.com", "zoneId": "Z" * 33, "evaluateTargetHealth": True}],
        "aliases[0].zoneId",
        "aws-api-model",
        "at most 32",
    ),
    (
        RECORD,
        "aliases",
        [{"name": "lb.example.com", "zoneId": "Z1", "evaluateTargetHealth": True}],
        "ttl",
        "aws-documented-rule",
        "alias record must omit TTL",
    ),
    (RECORD, "ttl", DELETE, "ttl", "aws-documented-rule", "not an alias needs ttl and records"),
    (
        RECORD,
        "weightedRoutingPolicies",
        [{"weight": 10}],
        "setIdentifier",
        "aws-documented-rule",
        "needs setIdentifier",
    ),
    (HEALTH, "type", "PING", "type", "aws-api-model", "HTTP, HTTPS"),
    (HEALTH, "failureThreshold", 11, "failureThreshold", "aws-api-model", "between 1 and 10"),
    (HEALTH, "requestInterval", 5, "requestInterval", "aws-api-model", "between 10 and 30"),
    (HEALTH, "requestInterval", 20, "requestInterval", "aws-documented-rule", "must be 10 or 30"),
    (HEALTH, "port", 0, "port", "aws-api-model", "between 1 and 65535"),
    (HEALTH, "regions", ["us-east-1", "us-west-2"], "regions", "aws-api-model", "between 3 and 64"),
    (
        HEALTH,
        "insufficientDataHealthStatus",
        "Unknown",
        "insufficientDataHealthStatus",
        "aws-api-model",
        "Healthy",
    ),
    (ZONE, "comment", "c" * 257, "comment", "aws-api-model", "at most 256"),
    (
        ZONE,
        "vpcs",
        [{"vpcId": "vpc-1", "vpcRegion": "moon-1"}],
        "vpcs[0].vpcRegion",
        "aws-api-model",
        "must be one of",
    ),
    (ZONE, "name", "x" * 1025, "name", "aws-api-model", "at most 1024"),
    # ELBv2
    (TG, "protocol", "HTTP2", "protocol", "aws-api-model", "HTTP, HTTPS, TCP"),
    (TG, "port", 0, "port", "aws-api-model", "between 1 and 65535"),
    (TG, "healthCheck.interval", 400, "healthCheck.interval", "aws-api-model", "between 5 and 300"),
    (
        TG,
        "healthCheck.healthyThreshold",
        1,
        "healthCheck.healthyThreshold",
        "aws-api-model",
        "between 2 and 10",
    ),
    (TG, "healthCheck.timeout", 1, "healthCheck.timeout", "aws-api-model", "between 2 and 120"),
    (TG, "healthCheck.path", "", "healthCheck.path", "aws-api-model", "between 1 and 1024"),
    (TG, "targetType", "pod", "targetType", "aws-api-model", "instance, ip, lambda, alb"),
    (TG, "name", "summit_web", "name", "aws-documented-rule", "at most 32 alphanumerics"),
    (TG, "name", "s" * 33, "name", "aws-documented-rule", "at most 32 alphanumerics"),
    (LB_LISTENER, "port", 70000, "port", "aws-api-model", "between 1 and 65535"),
    (LB_LISTENER, "protocol", "SSH", "protocol", "aws-api-model", "HTTP, HTTPS"),
    (
        LB_LISTENER,
        "defaultActions[0].type",
        "route",
        "defaultActions[0].type",
        "aws-api-model",
        "forward",
    ),
    (
        LB_LISTENER,
        "defaultActions[0].order",
        0,
        "defaultActions[0].order",
        "aws-api-model",
        "between 1 and 50000",
    ),
    (
        LB_LISTENER,
        "defaultActions[0].fixedResponse.statusCode",
        "302",
        "defaultActions[0].fixedResponse.statusCode",
        "aws-api-model",
        "pattern",
    ),
    (
        LB_LISTENER,
        "defaultActions[0].redirect",
        {"statusCode": "HTTP_307"},
        "defaultActions[0].redirect.statusCode",
        "aws-api-model",
        "HTTP_301, HTTP_302",
    ),
    # EC2
    (
        EC2,
        "instanceInitiatedShutdownBehavior",
        "hibernate",
        "instanceInitiatedShutdownBehavior",
        "aws-api-model",
        "stop, terminate",
    ),
    (EC2, "tenancy", "multi-tenant", "tenancy", "aws-api-model", "must be one of"),
    (
        EC2,
        "metadataOptions.httpTokens",
        "sometimes",
        "metadataOptions.httpTokens",
        "aws-api-model",
        "optional, required",
    ),
    (
        EC2,
        "rootBlockDevice.volumeType",
        "ssd",
        "rootBlockDevice.volumeType",
        "aws-api-model",
        "gp3",
    ),
    # S3 naming
    (BUCKET, "bucket", "ab", "bucket", "aws-documented-rule", "3 to 63"),
    (BUCKET, "bucket", "192.168.1.1", "bucket", "aws-documented-rule", "IP address"),
    (BUCKET, "bucket", "my..bucket", "bucket", "aws-documented-rule", "adjacent periods"),
    (BUCKET, "bucket", "xn--logs", "bucket", "aws-documented-rule", "must not start with 'xn--'"),
    (
        BUCKET,
        "bucket",
        "logs-s3alias",
        "bucket",
        "aws-documented-rule",
        "must not end with '-s3alias'",
    ),
    (BUCKET, "bucket", "logs-", "bucket", "aws-documented-rule", "begin and end"),
    # DynamoDB
    (
        TABLE,
        "billingMode",
        "ON_DEMAND",
        "billingMode",
        "aws-api-model",
        "PROVISIONED, PAY_PER_REQUEST",
    ),
    (TABLE, "readCapacity", 0, "readCapacity", "aws-api-model", "at least 1"),
    (TABLE, "attributes[0].type", "STRING", "attributes[0].type", "aws-api-model", "S, N, B"),
    (TABLE, "streamViewType", "ALL", "streamViewType", "aws-api-model", "NEW_IMAGE"),
    (
        TABLE,
        "globalSecondaryIndexes[0].name",
        "ix",
        "globalSecondaryIndexes[0].name",
        "aws-api-model",
        "between 3 and 255",
    ),
    (
        TABLE,
        "globalSecondaryIndexes[0].projectionType",
        "SOME",
        "globalSecondaryIndexes[0].projectionType",
        "aws-api-model",
        "ALL, KEYS_ONLY, INCLUDE",
    ),
    (TABLE, "name", "ab", "name", "aws-documented-rule", "3-255 characters"),
    (TABLE, "hashKey", "uid", "attributes", "aws-documented-rule", "'uid' is not defined"),
    (
        TABLE,
        "rangeKey",
        DELETE,
        "attributes",
        "aws-documented-rule",
        "'ts' is defined but used by no key",
    ),
    # IAM
    (ROLE, "name", "r" * 65, "name", "aws-api-model", "between 1 and 64"),
    (ROLE, "name", "summit web", "name", "aws-api-model", "pattern"),
    (ROLE, "path", "summit", "path", "aws-api-model", "pattern"),
    (
        ROLE,
        "maxSessionDuration",
        100,
        "maxSessionDuration",
        "aws-api-model",
        "between 3600 and 43200",
    ),
    (ROLE, "description", "d" * 1001, "description", "aws-api-model", "at most 1000"),
    (
        ROLE,
        "assumeRolePolicy",
        "{not json",
        "assumeRolePolicy",
        "aws-documented-rule",
        "is not JSON",
    ),
    (
        ROLE,
        "assumeRolePolicy",
        TRUST.replace('"Principal": {"Service": "ec2.amazonaws.com"}', '"Resource": "*"'),
        "assumeRolePolicy",
        "aws-documented-rule",
        "needs Principal",
    ),
    (
        ROLE,
        "inlinePolicies[0].policy",
        POLICY.replace('"Resource": "*"', '"Principal": "*"'),
        "inlinePolicies[0].policy",
        "aws-documented-rule",
        "needs Resource",
    ),
    (
        ROLE,
        "inlinePolicies[0].name",
        "read all",
        "inlinePolicies[0].name",
        "aws-api-model",
        "pattern",
    ),
    (
        IAM_POLICY,
        "policy",
        POLICY.replace('"Allow"', '"Permit"'),
        "policy",
        "aws-documented-rule",
        "Effect must be Allow or Deny",
    ),
    (
        IAM_POLICY,
        "policy",
        POLICY.replace('"Version": "2012-10-17", ', ""),
        "policy",
        "aws-documented-rule",
        "Version must be",
    ),
    (
        IAM_POLICY,
        "policy",
        POLICY.replace('"s3:GetObject"', '"s3GetObject"'),
        "policy",
        "aws-documented-rule",
        "'service:action'",
    ),
    (
        IAM_POLICY,
        "policy",
        json.dumps({"Version": "2012-10-17", "Statement": []}),
        "policy",
        "aws-documented-rule",
        "non-empty list",
    ),
    (
        IAM_POLICY,
        "policy",
        POLICY.replace('"Sid": "Read"', '"Sid": "read-all"'),
        "policy",
        "aws-documented-rule",
        "Sid",
    ),
    (IAM_POLICY, "name", "p" * 129, "name", "aws-api-model", "between 1 and 128"),
    (
        ROLE_POLICY,
        "policy",
        POLICY.replace('"Action"', '"NotAction": "s3:*", "Action"'),
        "policy",
        "aws-documented-rule",
        "exactly one of Action and NotAction",
    ),
    (ROLE_POLICY, "name", "read all", "name", "aws-api-model", "pattern"),
]


@pytest.mark.parametrize("type_", sorted(VALID))
def test_valid_inputs_of_every_covered_type_pass(type_: str) -> None:
    assert aws.checkable(type_)
    assert [p.message("r", type_) for p in aws.check(type_, VALID[type_], "r")] == []


@pytest.mark.parametrize(("type_", "prop", "value", "where", "family", "words"), CASES)
def test_each_constraint_fails_its_case(
    type_: str, prop: str, value: Any, where: str, family: str, words: str
) -> None:
    found = aws.check(type_, mutate(VALID[type_], prop, value), "r")
    hits = [p for p in found if p.path == where and p.family == family and words in p.rule]
    assert hits, [p.message("r", type_) for p in found]


def test_every_covered_type_has_failing_cases_and_each_family_is_exercised() -> None:
    assert {c[0] for c in CASES} >= set(VALID)
    assert set(VALID) | {
        "aws:s3/bucketV2:BucketV2",
        "aws:alb/targetGroup:TargetGroup",
        "aws:alb/listener:Listener",
    } == set(aws.TYPES)
    assert {c[4] for c in CASES} == {"aws-api-model", "aws-documented-rule"}
    assert set(aws_rules.RULES) <= set(aws.TYPES)


def test_the_property_map_names_members_the_installed_model_has() -> None:
    for type_, spec in aws.TYPES.items():
        for prop, member in spec.members.items():
            _, label = aws.resolve(spec.service, spec.shape, member)  # KeyError if stale
            assert label.endswith(member.split(":")[-1].split(".")[-1]), (type_, prop)
        if spec.tags:
            aws.resolve(spec.service, spec.tags, "Key")
            aws.resolve(spec.service, spec.tags, "Value")
    with pytest.raises(KeyError):
        aws.resolve("globalaccelerator", "CreateEndpointGroupRequest", "HealthCheckIntervalSecs")


def test_a_message_names_resource_property_value_rule_and_model_version() -> None:
    bad = mutate(VALID[GA_GROUP], "healthCheckIntervalSeconds", 5)
    (p,) = aws.check(GA_GROUP, bad, "summit-prod-us-east-1")
    msg = p.message("summit-prod-us-east-1", GA_GROUP)
    assert msg.startswith(f"summit-prod-us-east-1 ({GA_GROUP}): healthCheckIntervalSeconds = 5: ")
    assert "the value must be between 10 and 30" in msg
    assert f"botocore {botocore.__version__} globalaccelerator 2018-08-08 model" in msg
    assert "CreateEndpointGroupRequest.HealthCheckIntervalSeconds" in msg


def test_the_provider_upper_cases_elbv2_protocols_but_not_global_accelerator_ones() -> None:
    assert aws.check(TG, mutate(VALID[TG], "protocol", "https"), "r") == []
    assert aws.check(GA_LISTENER, mutate(VALID[GA_LISTENER], "protocol", "tcp"), "r")


@pytest.mark.parametrize("opaque", [UNKNOWN_VALUE, SECRET_VALUE])
def test_unknown_and_secret_values_are_skipped(opaque: Any) -> None:
    for type_, prop in [
        (GA_GROUP, "healthCheckIntervalSeconds"),
        (GA_GROUP, "endpointConfigurations"),
        (GA_GROUP, "endpointConfigurations[0].weight"),
        (BUCKET, "bucket"),
        (ROLE, "assumeRolePolicy"),
        (RECORD, "aliases"),
        (TABLE, "attributes"),
        (EC2, "instanceType"),
    ]:
        assert aws.check(type_, mutate(VALID[type_], prop, opaque), "r") == [], (type_, prop)


def test_patterns_python_cannot_compile_are_skipped_not_failed() -> None:
    # IAM tag keys use \p{L}; Python's re has no such class. The tag passes unchecked rather
    # than failing every tag.
    assert aws._pattern(r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+") is None
    assert aws.check(ROLE, mutate(VALID[ROLE], "tags", {"équipe": "plate-forme"}), "r") == []


@pytest.mark.parametrize("name", ["logs", "a.b.c", "summit-prod-logs-123", "x" * 63, "1logs"])
def test_valid_bucket_names(name: str) -> None:
    assert aws_rules.bucket_name_problems(name) == []


def test_a_policy_given_as_an_object_is_checked_as_the_json_sent() -> None:
    as_object = mutate(VALID[IAM_POLICY], "policy", json.loads(POLICY))
    assert aws.check(IAM_POLICY, as_object, "r") == []
    broken = mutate(as_object, "policy.Statement[0].Effect", "Permit")
    (p,) = aws.check(IAM_POLICY, broken, "r")
    assert p.path == "policy" and "Effect must be Allow or Deny" in p.rule


def test_iam_grammar_accepts_documented_forms() -> None:
    one = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": {"Effect": "Deny", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::x"},
        }
    )
    assert aws_rules.policy_problems(one, trust=False) == []
    assert aws_rules.policy_problems(TRUST, trust=True) == []
    assert re.search("Principal", "; ".join(aws_rules.policy_problems(POLICY, trust=True)))
