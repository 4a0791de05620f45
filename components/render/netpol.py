"""What a set of Kubernetes NetworkPolicies lets through: a small, pure evaluator of their
semantics (``networking.k8s.io/v1``) over pods and namespaces given by their labels.

It follows the API reference and the concepts page ("Network Policies"):

- A policy applies to the pods of its own namespace that its ``podSelector`` selects (``{}``
  selects all). ``policyTypes`` defaults to ``["Ingress"]``, plus ``"Egress"`` when the policy
  has ``egress`` rules.
- A pod that no policy of a direction selects is not isolated in that direction: everything is
  allowed. Once selected, only what some selecting policy's rules allow gets through; rules of
  all selecting policies add up (an ``ingress: []`` policy allows nothing by itself).
- A rule with no ``from``/``to`` peers matches every peer; with no ``ports``, every port. A
  peer is an ``ipBlock`` (``cidr`` minus ``except``), a ``podSelector`` alone (pods of the
  policy's namespace), a ``namespaceSelector`` alone (every pod of the selected namespaces), or
  both in one peer (pods matching the pod selector in namespaces matching the namespace
  selector). Two peers in a list are alternatives.
- A port is a number or a container port's name on the destination pod, ``protocol``
  defaulting to TCP, and ``endPort`` makes a range.
- Label selectors: ``matchLabels`` and ``matchExpressions`` (``In``, ``NotIn``, ``Exists``,
  ``DoesNotExist``), ANDed; ``NotIn`` and ``DoesNotExist`` also match a missing key.
- Every namespace carries ``kubernetes.io/metadata.name: <its name>``.

A connection is allowed when the source's egress and the destination's ingress both allow it.
``ipBlock`` peers match by address; a source outside the cluster is an :class:`Endpoint`
with ``ip`` and no pod. Nothing here reads a cluster: policies are plain manifests (as the
plan holds them) and the cluster is a list of pods and namespaces.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Endpoint:
    """One end of a connection: a pod (``namespace`` set) or an address outside the cluster
    (``namespace`` None). ``ports`` names the pod's container ports (name -> number)."""

    name: str
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    ip: str | None = None
    ports: Mapping[str, int] = field(default_factory=dict)

    @property
    def is_pod(self) -> bool:
        return self.namespace is not None


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a label selector matches a label set (``{}`` matches everything)."""
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError(f"unknown selector operator {op!r}")
    return True


def _ns_labels(namespace: str, namespaces: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    return {**namespaces.get(namespace, {}), NAME_LABEL: namespace}


def _policy_ns(policy: Mapping[str, Any]) -> str:
    return str((policy.get("metadata") or {}).get("namespace") or "default")


def _types(policy: Mapping[str, Any]) -> list[str]:
    spec = policy.get("spec") or {}
    declared = spec.get("policyTypes")
    if declared:
        return list(declared)
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _peer_matches(
    peer: Mapping[str, Any],
    policy_ns: str,
    other: Endpoint,
    namespaces: Mapping[str, Mapping[str, str]],
) -> bool:
    block = peer.get("ipBlock")
    if block is not None:
        if other.ip is None:
            return False
        addr = ipaddress.ip_address(other.ip)
        if addr not in ipaddress.ip_network(block["cidr"], strict=False):
            return False
        return not any(
            addr in ipaddress.ip_network(e, strict=False) for e in block.get("except") or []
        )
    if not other.is_pod:
        return False  # pod and namespace selectors select pods, never outside addresses
    assert other.namespace is not None
    pod_sel, ns_sel = peer.get("podSelector"), peer.get("namespaceSelector")
    if ns_sel is None and other.namespace != policy_ns:
        return False
    if ns_sel is not None and not selects(ns_sel, _ns_labels(other.namespace, namespaces)):
        return False
    return selects(pod_sel, other.labels)


def _port_matches(rule_port: Mapping[str, Any], port: int, protocol: str, dest: Endpoint) -> bool:
    if (rule_port.get("protocol") or "TCP") != protocol:
        return False
    wanted = rule_port.get("port")
    if wanted is None:
        return True
    if isinstance(wanted, str):
        return dest.ports.get(wanted) == port  # a named port: the destination pod's
    end = rule_port.get("endPort")
    return wanted <= port <= (end if end is not None else wanted)


def _direction_allows(
    policies: Sequence[Mapping[str, Any]],
    subject: Endpoint,
    other: Endpoint,
    port: int,
    protocol: str,
    direction: str,
    namespaces: Mapping[str, Mapping[str, str]],
) -> bool:
    """Whether ``subject``'s policies of ``direction`` (Ingress: ``other`` is the source;
    Egress: the destination, whose named ports then count) allow the connection."""
    if not subject.is_pod:
        return True  # addresses outside the cluster have no policies
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    dest = subject if direction == "Ingress" else other
    isolated = False
    for policy in policies:
        spec = policy.get("spec") or {}
        ns = _policy_ns(policy)
        if ns != subject.namespace or direction not in _types(policy):
            continue
        if not selects(spec.get("podSelector") or {}, subject.labels):
            continue
        isolated = True
        for rule in spec.get(rules_key) or []:
            peers = rule.get(peers_key) or []
            ports = rule.get("ports") or []
            if peers and not any(_peer_matches(p, ns, other, namespaces) for p in peers):
                continue
            if ports and not any(_port_matches(p, port, protocol, dest) for p in ports):
                continue
            return True
    return not isolated


def allows(
    policies: Sequence[Mapping[str, Any]],
    source: Endpoint,
    dest: Endpoint,
    port: int,
    *,
    protocol: str = "TCP",
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
) -> bool:
    """Whether a connection from ``source`` to ``dest``'s ``port`` gets through: the source's
    egress policies and the destination's ingress policies both allow it. ``namespaces``
    gives each namespace's labels (its name label is always there)."""
    ns_labels = namespaces or {}
    return _direction_allows(
        policies, source, dest, port, protocol, "Egress", ns_labels
    ) and _direction_allows(policies, dest, source, port, protocol, "Ingress", ns_labels)
