"""A stack's own namespace in a region's cluster, for stacks whose ``regions[].kubernetes``
says ``createNamespace: true`` (a preview's ``pr-<N>``).

dev, stage and prod share the ``platform`` namespace the cluster bootstrap owns, so they
create none; a preview creates its namespace and every namespaced object it owns goes there,
which is what keeps it apart from the stack it was copied from on the same cluster."""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_kubernetes as k8s

from summit_platform.stacks.config import StackConfig
from summit_platform.stacks.region import RegionContext


def region_namespace(cfg: StackConfig, ctx: RegionContext) -> RegionContext:
    """``ctx`` with its namespace created when the region's config asks for it (labelled with
    the cost labels, as every object is); unchanged otherwise."""
    target = ctx.region.kubernetes
    if not target.create_namespace:
        return ctx
    del cfg  # the region's own entry says everything; the signature matches the builders
    ns = k8s.core.v1.Namespace(
        f"namespace-{ctx.region.name}",
        metadata={"name": target.namespace, "labels": dict(ctx.labels)},
        opts=pulumi.ResourceOptions(provider=ctx.kubernetes),
    )
    return dataclasses.replace(ctx, namespace=ns)
