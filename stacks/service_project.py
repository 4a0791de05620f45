"""What a service generated from the paved-road template reads from the platform.

A service's Pulumi program (``templates/service/template/__main__.py``) is its own project
with its own stacks. The platform facts it needs (each region's kube context, the RuntimeClass
names the clusters define) are the platform stack's outputs (:mod:`summit_platform.stacks.outputs`), read
through a StackReference to the platform stack of the same environment, never copied into the
service. The checks are plain functions; :class:`PlatformFacts` is the thin Pulumi layer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from summit_platform.stacks import outputs as keys

_RUNTIME_CLASS = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)


def runtime_class_problem(name: str, allowed: Sequence[str] | None) -> str | None:
    """Why ``name`` cannot be a service's RuntimeClass (None: it can): a RuntimeClass object's
    name (DNS-1123 subdomain) that the platform config lists in ``runtimeClasses``."""
    if not isinstance(name, str) or not _RUNTIME_CLASS.match(name):
        return f"expected a RuntimeClass name (DNS-1123 subdomain), found {name!r}"
    if allowed is not None and name not in allowed:
        return (
            f"expected one of the platform's runtimeClasses {list(allowed)}, found {name!r}"
            " (a RuntimeClass the clusters do not define would keep every pod from starting)"
        )
    return None


def kube_context(clusters: Mapping[str, Any] | None, region: str, stack: str) -> str:
    """The kube context of ``region`` in the platform's ``kubeClusters`` output, else a clear
    error naming the platform stack (a service region the platform does not serve)."""
    entry = (clusters or {}).get(region)
    context = entry.get("context") if isinstance(entry, Mapping) else None
    if not isinstance(context, str) or not context:
        known = sorted(clusters or {})
        raise ValueError(
            f"{stack}: output {keys.KUBE_CLUSTERS} has no kube context for {region!r}"
            f" (regions with one: {known})"
        )
    return context


class PlatformFacts:
    """The platform stack's outputs a service stack uses, through one StackReference."""

    def __init__(self, stack: str, opts: pulumi.ResourceOptions | None = None):
        self.stack = stack
        self.ref = pulumi.StackReference("platform", stack_name=stack, opts=opts)

    def kube_context(self, region: str) -> pulumi.Output[str]:
        """The region's kube context (unknown in a preview until the reference is read)."""
        clusters = self.ref.require_output(keys.KUBE_CLUSTERS)
        return clusters.apply(lambda c: kube_context(c, region, self.stack))

    def checked_runtime_class(self, name: str) -> pulumi.Output[str]:
        """``name`` once the platform's ``runtimeClasses`` list it; fails the update otherwise.
        Export it: an output nothing reads is never checked."""

        def check(allowed: Sequence[str] | None) -> str:
            problem = runtime_class_problem(name, allowed)
            if problem:
                raise ValueError(f"runtimeClass: {problem} ({self.stack})")
            return name

        return self.ref.require_output(keys.RUNTIME_CLASSES).apply(check)
