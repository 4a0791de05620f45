"""Documented AWS rules the service models do not carry, for the types :mod:`.aws` checks:
S3 bucket names, IAM policy documents, Route53 record and health-check rules, DynamoDB key
attributes and table names, ELBv2 target-group names. Each rule cites the document it
follows; where the documentation ships inside botocore's model, the member whose text says it."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any

from summit_platform.automation.plan.provider_check.model import (
    Opaque,
    Problem,
    contains_opaque,
    join,
)

S3_NAMING = "Amazon S3 User Guide, 'General purpose bucket naming rules'"
IAM_GRAMMAR = "IAM User Guide, 'IAM JSON policy element reference' and 'Grammar of the IAM JSON policy language'"
R53_RECORD = "botocore route53 model documentation of ResourceRecordSet (TTL, ResourceRecords, SetIdentifier)"
R53_INTERVAL = "Route 53 Developer Guide, 'Values that you specify when you create or update health checks' (Request interval: 10 or 30)"
DDB_NAMING = "Amazon DynamoDB Developer Guide, 'Supported data types and naming rules' (table and index names)"
DDB_KEYS = "botocore dynamodb model documentation of CreateTableInput.KeySchema"
DDB_UNUSED = (
    "DynamoDB CreateTable: AttributeDefinitions describe the key schema of the table and its"
    " indexes (ValidationException: 'Number of attributes in KeySchema does not exactly match"
    " number of attributes defined in AttributeDefinitions')"
)
ELB_NAME = "botocore elbv2 model documentation of CreateTargetGroupInput.Name"

_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9.-]*[a-z0-9]")
_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_TABLE_NAME = re.compile(r"[a-zA-Z0-9_.-]{3,255}")
_TG_NAME = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?")
_ACTION = re.compile(r"\*|[a-zA-Z0-9-]+:[a-zA-Z0-9*?]+")
_SID = re.compile(r"[A-Za-z0-9]*")


def bucket_name_problems(name: str) -> list[str]:
    """S3's general purpose bucket naming rules; the broken ones (empty when valid)."""
    out = []
    if not 3 <= len(name) <= 63:
        out.append("must be 3 to 63 characters long")
    if not _BUCKET_CHARS.fullmatch(name):
        out.append(
            "may hold only lowercase letters, digits, dots and hyphens, and must begin and end"
            " with a letter or digit"
        )
    if ".." in name:
        out.append("must not contain two adjacent periods")
    try:
        ipaddress.IPv4Address(name)
        out.append("must not be formatted as an IP address")
    except ValueError:
        pass
    out += [f"must not start with {p!r}" for p in _BUCKET_PREFIXES if name.startswith(p)]
    out += [f"must not end with {s!r}" for s in _BUCKET_SUFFIXES if name.endswith(s)]
    return out


def _statement_problems(st: Any, trust: bool) -> list[str]:
    if not isinstance(st, dict):
        return ["each Statement must be an object"]
    out = []
    if st.get("Effect") not in ("Allow", "Deny"):
        out.append(f"Effect must be Allow or Deny, found {st.get('Effect')!r}")
    if ("Action" in st) == ("NotAction" in st):
        out.append("a statement needs exactly one of Action and NotAction")
    for key in ("Action", "NotAction"):
        actions = st.get(key)
        for a in actions if isinstance(actions, list) else [actions] if actions is not None else []:
            if not isinstance(a, str) or not _ACTION.fullmatch(a):
                out.append(f"{key} {a!r} is not '*' or 'service:action'")
    has_resource = "Resource" in st or "NotResource" in st
    has_principal = "Principal" in st or "NotPrincipal" in st
    if trust:
        if not has_principal:
            out.append("a trust policy statement needs Principal")
        if has_resource:
            out.append("a trust policy statement may not have Resource")
    else:
        if not has_resource:
            out.append("a statement needs Resource or NotResource")
        if has_principal:
            out.append("an identity-based policy may not have Principal")
    if "Sid" in st and not (isinstance(st["Sid"], str) and _SID.fullmatch(st["Sid"])):
        out.append("Sid may hold only letters and digits")
    return out


def policy_problems(document: str, trust: bool) -> list[str]:
    """An IAM policy document's problems: JSON, Version, Statement, Effect, Action, Resource
    (Principal instead of Resource in a role's trust policy)."""
    try:
        doc = json.loads(document)
    except ValueError as err:
        return [f"is not JSON ({err})"]
    if not isinstance(doc, dict):
        return ["must be a JSON object"]
    out = []
    if doc.get("Version") not in ("2012-10-17", "2008-10-17"):
        out.append(f"Version must be '2012-10-17' (or '2008-10-17'), found {doc.get('Version')!r}")
    statements = doc.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        return [*out, "Statement must be an object or a non-empty list"]
    for i, st in enumerate(statements):
        out += [f"Statement[{i}]: {m}" for m in _statement_problems(st, trust)]
    return out


def _problem(path: str, value: Any, rule: str, source: str, rule_id: str) -> Problem:
    return Problem("aws-documented-rule", path, value, rule, source, rule_id)


def _bucket(inputs: dict[str, Any], _name: str) -> list[Problem]:
    name = inputs.get("bucket")
    if not isinstance(name, str):
        return []
    msgs = bucket_name_problems(name)
    return (
        [_problem("bucket", name, "; ".join(msgs), S3_NAMING, "aws.s3.bucket-name")] if msgs else []
    )


def _policies(paths: list[tuple[str, bool]]) -> Callable[[dict[str, Any], str], list[Problem]]:
    def check(inputs: dict[str, Any], _name: str) -> list[Problem]:
        out = []
        for path, trust in paths:
            for where, doc in _values(inputs, path):
                if isinstance(doc, dict) and not contains_opaque(doc):
                    doc = json.dumps(doc)  # the SDK takes a policy object and sends it as JSON
                if isinstance(doc, str):
                    msgs = policy_problems(doc, trust)
                    if msgs:
                        out.append(
                            _problem(
                                where, doc, "; ".join(msgs), IAM_GRAMMAR, "aws.iam.policy-document"
                            )
                        )
        return out

    return check


def _values(inputs: dict[str, Any], path: str) -> list[tuple[str, Any]]:
    if path.startswith("inlinePolicies[]."):
        key = path.split(".", 1)[1]
        return [
            (join(join("inlinePolicies", i), key), p.get(key))
            for i, p in enumerate(inputs.get("inlinePolicies") or [])
            if isinstance(p, dict) and key in p
        ]
    return [(path, inputs[path])] if path in inputs else []


def _record(inputs: dict[str, Any], _name: str) -> list[Problem]:
    out = []
    aliases = inputs.get("aliases")
    alias = isinstance(aliases, list) and len(aliases) > 0
    if alias and "ttl" in inputs:
        out.append(
            _problem(
                "ttl",
                inputs["ttl"],
                "an alias record must omit TTL",
                R53_RECORD,
                "aws.route53.alias-ttl",
            )
        )
    if alias and inputs.get("records"):
        out.append(
            _problem(
                "records",
                inputs["records"],
                "an alias record must omit records",
                R53_RECORD,
                "aws.route53.alias-records",
            )
        )
    if not alias and not isinstance(aliases, Opaque):
        for key in ("ttl", "records"):
            if key not in inputs:
                out.append(
                    _problem(
                        key,
                        None,
                        "a record that is not an alias needs ttl and records",
                        R53_RECORD,
                        "aws.route53.non-alias",
                    )
                )
    routed = [k for k in inputs if k.endswith("RoutingPolicies") and inputs[k]] + (
        ["multivalueAnswerRoutingPolicy"]
        if inputs.get("multivalueAnswerRoutingPolicy") is True
        else []
    )
    if routed and not inputs.get("setIdentifier"):
        out.append(
            _problem(
                "setIdentifier",
                None,
                f"a record with {routed[0]} needs setIdentifier",
                R53_RECORD,
                "aws.route53.set-identifier",
            )
        )
    return out


def _health_check(inputs: dict[str, Any], _name: str) -> list[Problem]:
    interval = inputs.get("requestInterval")
    if isinstance(interval, int) and not isinstance(interval, bool) and interval not in (10, 30):
        return [
            _problem(
                "requestInterval",
                interval,
                "must be 10 or 30",
                R53_INTERVAL,
                "aws.route53.request-interval",
            )
        ]
    return []


def _table(inputs: dict[str, Any], _name: str) -> list[Problem]:
    out = []
    name = inputs.get("name")
    if isinstance(name, str) and not _TABLE_NAME.fullmatch(name):
        out.append(
            _problem(
                "name",
                name,
                "must be 3-255 characters of a-z, A-Z, 0-9, '_', '-', '.'",
                DDB_NAMING,
                "aws.dynamodb.table-name",
            )
        )
    attrs = inputs.get("attributes")
    if not isinstance(attrs, list) or any(isinstance(a, Opaque) for a in attrs):
        return out
    defined = {a.get("name") for a in attrs if isinstance(a, dict)}
    keys = [inputs.get("hashKey"), inputs.get("rangeKey")]
    for gsi in inputs.get("globalSecondaryIndexes") or []:
        if isinstance(gsi, dict):
            keys += [gsi.get("hashKey"), gsi.get("rangeKey")]
    for lsi in inputs.get("localSecondaryIndexes") or []:
        if isinstance(lsi, dict):
            keys.append(lsi.get("rangeKey"))
    used = {k for k in keys if isinstance(k, str)}
    for k in sorted(used - defined):
        out.append(
            _problem(
                "attributes",
                k,
                f"key attribute {k!r} is not defined in attributes",
                DDB_KEYS,
                "aws.dynamodb.key-undefined",
            )
        )
    for k in sorted(n for n in defined - used if isinstance(n, str)):
        out.append(
            _problem(
                "attributes",
                k,
                f"attribute {k!r} is defined but used by no key or index",
                DDB_UNUSED,
                "aws.dynamodb.attribute-unused",
            )
        )
    return out


def _target_group(inputs: dict[str, Any], _name: str) -> list[Problem]:
    name = inputs.get("name")
    if isinstance(name, str) and not _TG_NAME.fullmatch(name):
        return [
            _problem(
                "name",
                name,
                "at most 32 alphanumerics or hyphens, not beginning or ending with a hyphen",
                ELB_NAME,
                "aws.elbv2.target-group-name",
            )
        ]
    return []


RULES: dict[str, Callable[[dict[str, Any], str], list[Problem]]] = {
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketV2:BucketV2": _bucket,
    "aws:iam/role:Role": _policies(
        [("assumeRolePolicy", True), ("inlinePolicies[].policy", False)]
    ),
    "aws:iam/policy:Policy": _policies([("policy", False)]),
    "aws:iam/rolePolicy:RolePolicy": _policies([("policy", False)]),
    "aws:route53/record:Record": _record,
    "aws:route53/healthCheck:HealthCheck": _health_check,
    "aws:dynamodb/table:Table": _table,
    "aws:lb/targetGroup:TargetGroup": _target_group,
    "aws:alb/targetGroup:TargetGroup": _target_group,
}


def check(type_: str, inputs: dict[str, Any], resource_name: str) -> list[Problem]:
    """The documented rules for one resource's type (none for types without any)."""
    rule = RULES.get(type_)
    return rule(inputs, resource_name) if rule else []
