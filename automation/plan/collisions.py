"""The cross-stack collision check: no two stacks of a project may own the same real object.

Each stack believes it owns what it creates, and Pulumi cannot see across stacks: two stacks
that create the same Kubernetes object (through server-side apply, which upserts) or the same
named AWS resource fight over it, and destroying either deletes it for both. This module
finds such objects in planned graphs, before anything is created.

Pure, data in and data out: the resources of several stacks (the rows ``summit plan --json``
writes: ``urn``, ``type``, ``custom``, ``inputs``, ``provider``) in, collisions out.

An object's identity:

- **Kubernetes**: the cluster (the provider's ``context``; or, when the kubeconfig is a
  Pulumi secret the embedded lane cannot read, the region of the ``kubeconfigs`` key it came
  from; or the ambient kubeconfig), ``apiVersion``/``kind``, namespace (``metadata.namespace``,
  else the provider's default namespace, else ``default``; none for cluster-scoped kinds) and
  ``metadata.name``. An object without a name is auto-named by Pulumi and cannot collide.
- **AWS**: the account where the provider pins one (``allowedAccountIds``, an assumed role's
  ARN; unknown matches any), the region (``global`` for account-wide services), the type and
  the physical name the program sets (``name``, a bucket's ``bucket``, a Route53 record's
  zone/name/type/set identifier; an inline IAM policy's role/user/group and name). Names left to Pulumi or the cloud are skipped.

:func:`violations` turns collisions into mandatory policy violations (pack ``summit-plan``,
policy ``cross-stack-collision``) so both lanes report them like any policy result.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from summit_platform.automation.plan.analyzer import PackResult, Violation

PACK = "summit-plan"
POLICY = "cross-stack-collision"
DESCRIPTION = "No two stacks of the project own the same Kubernetes object or AWS resource."
UNKNOWN = "<unknown>"

CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "StorageClass",
        "PriorityClass",
        "IngressClass",
        "RuntimeClass",
        "CSIDriver",
        "VolumeAttachment",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "APIService",
        "FlowSchema",
        "PriorityLevelConfiguration",
        "CertificateSigningRequest",
        "ClusterAnalysisTemplate",
    }
)
"""Kubernetes kinds without a namespace (the built-in ones plus the CRDs our stacks use)."""

GLOBAL_AWS_SERVICES = frozenset(
    {"iam", "route53", "globalaccelerator", "cloudfront", "organizations"}
)
"""AWS services whose names are account-wide rather than regional."""

INLINE_POLICY_PARENTS = {
    "aws:iam/rolePolicy:RolePolicy": "role",
    "aws:iam/userPolicy:UserPolicy": "user",
    "aws:iam/groupPolicy:GroupPolicy": "group",
}
"""Inline IAM policies: their name is unique only within their role, user or group (the
input named here), so the identity is ``<parent>/<name>``."""

_REGION = re.compile(r"[a-z]{2}(?:-gov)?-[a-z]+-\d")


@dataclass(frozen=True, order=True)
class ObjectKey:
    """What makes an object the same object for the cloud (account aside, see :class:`Owned`)."""

    cloud: str
    """``kubernetes`` or ``aws``."""
    scope: str
    """The cluster (Kubernetes) or region (AWS)."""
    type: str
    """``apiVersion/kind`` (Kubernetes) or the type token (AWS)."""
    namespace: str
    """Kubernetes namespace; empty for cluster-scoped kinds and AWS."""
    name: str
    """``metadata.name`` or the AWS physical name."""

    def describe(self) -> str:
        if self.cloud == "kubernetes":
            where = f"{self.namespace}/{self.name}" if self.namespace else self.name
            return f"Kubernetes {self.type} {where} in cluster {self.scope}"
        where = "account-wide" if self.scope == "global" else f"in {self.scope}"
        return f"AWS {self.type} named {self.name!r} ({where})"

    @property
    def consequence(self) -> str:
        """What two owners would do to each other."""
        if self.cloud == "kubernetes":
            return (
                "server-side apply hands it back and forth between them, and destroying either"
                " deletes it for both"
            )
        return (
            "AWS refuses the second create where names are unique, and elsewhere nothing but"
            " an ARN tells the two apart"
        )


@dataclass(frozen=True)
class Owned:
    """One stack's claim on one object."""

    key: ObjectKey
    stack: str
    urn: str
    account: str | None = None
    """The AWS account when the provider pins one; None (unknown) matches any."""


@dataclass(frozen=True)
class Collision:
    """Two stacks that would both own ``key``."""

    key: ObjectKey
    first: Owned
    second: Owned

    def message(self, stack: str) -> str:
        """The violation text, from ``stack``'s side."""
        mine, other = (
            (self.first, self.second)
            if stack == self.first.stack
            else (
                self.second,
                self.first,
            )
        )
        return (
            f"{self.key.describe()} is created by stack '{mine.stack}' and by stack"
            f" '{other.stack}' ({other.urn.rsplit('::', 1)[-1]}): {self.key.consequence}."
            " Give one of them its own namespace or name (`summit previews up` does for a"
            " preview)."
        )


# --- identities ---------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A value as planned: secrets (``{"secret": v}``) unwrapped; unknowns stay ``<unknown>``."""
    if isinstance(value, Mapping) and set(value) == {"secret"}:
        return value["secret"]
    return value


def _known_str(value: Any) -> str | None:
    value = _plain(value)
    return value if isinstance(value, str) and value and value != UNKNOWN else None


def _provider_row(row: Mapping[str, Any], providers: Mapping[str, Mapping[str, Any]]) -> Any:
    ref = row.get("provider") or ""
    return providers.get(ref.rsplit("::", 1)[0]) if ref else None


def _region_of_provider(provider: Mapping[str, Any] | None) -> str | None:
    if provider is None:
        return None
    region = _known_str((provider.get("inputs") or {}).get("region"))
    if region:
        return region
    found = _REGION.search(str(provider.get("name") or provider.get("urn", "").rsplit("::", 1)[-1]))
    return found.group(0) if found else None


def cluster_of(provider: Mapping[str, Any] | None) -> str:
    """The cluster a Kubernetes provider talks to, as far as the plan can tell."""
    inputs = (provider or {}).get("inputs") or {}
    context = _known_str(inputs.get("context"))
    if context:
        return f"context {context}"
    if inputs.get("kubeconfig") not in (None, ""):
        region = _region_of_provider(provider) or "?"
        return f"kubeconfigs.{region} (a secret: same region, same cluster)"
    return "of the ambient kubeconfig"


def _api_version_kind(row: Mapping[str, Any]) -> tuple[str, str]:
    inputs = row.get("inputs") or {}
    api, kind = _known_str(inputs.get("apiVersion")), _known_str(inputs.get("kind"))
    if api and kind:
        return api, kind
    # kubernetes:<group>/<version>:<Kind>; the core group is spelt "core" in tokens.
    _, module, token_kind = row["type"].split(":", 2)
    group, _, version = module.rpartition("/")
    return (version if group in ("", "core") else module), token_kind


def kubernetes_key(
    row: Mapping[str, Any], providers: Mapping[str, Mapping[str, Any]]
) -> ObjectKey | None:
    """A Kubernetes resource's identity, or None when Pulumi names it (no collision)."""
    meta = (row.get("inputs") or {}).get("metadata") or {}
    name = _known_str(meta.get("name")) if isinstance(meta, Mapping) else None
    if name is None:
        return None
    api, kind = _api_version_kind(row)
    provider = _provider_row(row, providers)
    namespace = ""
    if kind not in CLUSTER_SCOPED:
        default_ns = _known_str(((provider or {}).get("inputs") or {}).get("namespace"))
        namespace = _known_str(meta.get("namespace")) or default_ns or "default"
    return ObjectKey("kubernetes", cluster_of(provider), f"{api}/{kind}", namespace, name)


def _aws_name(row: Mapping[str, Any]) -> str | None:
    inputs = row.get("inputs") or {}
    if row["type"] == "aws:route53/record:Record":
        parts = [_known_str(inputs.get(k)) for k in ("zoneId", "name", "type")]
        if None in parts:
            return None
        ident = _known_str(inputs.get("setIdentifier")) or ""
        return "/".join([*(p or "" for p in parts), ident]).rstrip("/")
    if row["type"].startswith("aws:s3/bucket"):
        return _known_str(inputs.get("bucket"))
    parent_key = INLINE_POLICY_PARENTS.get(row["type"])
    if parent_key is not None:
        parent, name = _known_str(inputs.get(parent_key)), _known_str(inputs.get("name"))
        # An unknown parent (a role Pulumi names) makes the pair unknowable: skip it.
        return f"{parent}/{name}" if parent and name else None
    return _known_str(inputs.get("name"))


def _account_of(provider: Mapping[str, Any] | None) -> str | None:
    inputs = (provider or {}).get("inputs") or {}
    allowed = _plain(inputs.get("allowedAccountIds"))
    if isinstance(allowed, list) and len(allowed) == 1 and _known_str(allowed[0]):
        return str(allowed[0])
    role = _plain(inputs.get("assumeRole"))
    arn = _known_str(role.get("roleArn")) if isinstance(role, Mapping) else None
    if arn and arn.count(":") >= 5:
        return arn.split(":")[4] or None
    return None


def aws_key(
    row: Mapping[str, Any], providers: Mapping[str, Mapping[str, Any]]
) -> tuple[ObjectKey, str | None] | None:
    """An AWS resource's identity and account, or None when the program sets no name."""
    name = _aws_name(row)
    if name is None:
        return None
    provider = _provider_row(row, providers)
    service = row["type"].split(":", 2)[1].split("/", 1)[0]
    region = "global" if service in GLOBAL_AWS_SERVICES else _region_of_provider(provider) or "?"
    return ObjectKey("aws", region, row["type"], "", name), _account_of(provider)


def owned_objects(stack: str, resources: Iterable[Mapping[str, Any]]) -> list[Owned]:
    """Every object ``stack``'s planned resources would own (providers, components and
    Pulumi's own resources own nothing real)."""
    rows = list(resources)
    providers = {
        r["urn"]: r for r in rows if str(r.get("type", "")).startswith("pulumi:providers:")
    }
    out: list[Owned] = []
    for row in rows:
        type_ = str(row.get("type", ""))
        if not row.get("custom", True) or type_.startswith(("pulumi:", "summit:")):
            continue
        if type_.startswith("kubernetes:"):
            key = kubernetes_key(row, providers)
            if key is not None:
                out.append(Owned(key, stack, row["urn"]))
        elif type_.startswith("aws:"):
            found = aws_key(row, providers)
            if found is not None:
                out.append(Owned(found[0], stack, row["urn"], found[1]))
    return out


# --- the check -----------------------------------------------------------------------------


def _same_account(a: Owned, b: Owned) -> bool:
    return a.account is None or b.account is None or a.account == b.account


def find_collisions(
    owned: Mapping[str, Sequence[Owned]], *, only: str | None = None
) -> list[Collision]:
    """Every object claimed by two different stacks, once per object and pair of stacks
    (sorted). With ``only``, just the collisions that involve that stack (a new preview
    against the rest)."""
    by_key: dict[ObjectKey, list[Owned]] = defaultdict(list)
    for stack in sorted(owned):
        for o in owned[stack]:
            by_key[o.key].append(o)
    out = []
    for key in sorted(by_key):
        seen: set[tuple[str, str]] = set()
        for a, b in combinations(by_key[key], 2):
            pair = (a.stack, b.stack)
            if a.stack == b.stack or pair in seen or not _same_account(a, b):
                continue
            if only is not None and only not in pair:
                continue
            seen.add(pair)
            out.append(Collision(key, a, b))
    return out


def violations(collisions: Sequence[Collision], stack: str) -> list[Violation]:
    """The mandatory violations ``stack`` gets for the collisions it is part of (one per
    object and other stack, on this stack's resource)."""
    out = []
    for c in collisions:
        if stack not in (c.first.stack, c.second.stack):
            continue
        mine = c.first if c.first.stack == stack else c.second
        out.append(
            Violation(
                pack=PACK,
                policy=POLICY,
                enforcement="mandatory",
                urn=mine.urn,
                message=c.message(stack),
                description=DESCRIPTION,
                severity="high",
            )
        )
    return out


def pack_result(collisions: Sequence[Collision], stack: str, checked: int) -> PackResult:
    """The check as one more pack in ``stack``'s results, so every report shows it ran."""
    return PackResult(
        pack=PACK,
        version="1",
        path="(built in: automation/plan/collisions.py)",
        policies={POLICY: "mandatory"},
        violations=violations(collisions, stack),
        analyzed=checked,
    )


def check_plans(results: Sequence[Any]) -> list[Collision]:
    """Check the stacks planned in one run against each other and add the check's result to
    each (a :class:`~summit_platform.automation.plan.runner.StackResult`'s ``packs``): its collisions become
    mandatory violations there, so the run exits 1 like any mandatory policy."""
    owned = {
        r.plan.stack: owned_objects(r.plan.stack, (x.to_json() for x in r.plan.resources))
        for r in results
    }
    found = find_collisions(owned)
    for r in results:
        r.packs.append(pack_result(found, r.plan.stack, len(owned[r.plan.stack])))
    return found
