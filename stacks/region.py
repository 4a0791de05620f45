"""RegionContext: what the composition hands each per-region builder (its region's config,
providers and cost labels). Components never see it; the builders in stacks/ turn it into
component args and ``ResourceOptions``."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from summit_platform.stacks.config import RegionConfig, StackConfig
from summit_platform.stacks.providers import Providers


@dataclass(frozen=True)
class RegionContext:
    """What a per-region builder needs: its config, providers and labels."""

    region: RegionConfig
    """The region's entry of ``summit-platform:regions``."""
    aws: pulumi.ProviderResource
    """AWS provider of the region."""
    kubernetes: pulumi.ProviderResource
    """Kubernetes provider of the region's cluster."""
    labels: dict[str, str]
    """Cost-allocation labels for Kubernetes objects (team, service, env, cost-center)."""
    namespace: pulumi.Resource | None = None
    """The namespace this stack created in the region's cluster (``createNamespace``), which
    every builder's objects wait for; None when the cluster bootstrap owns it."""

    def kube_opts(self) -> pulumi.ResourceOptions:
        """Options of a per-region Kubernetes builder: the region's provider, and the
        stack's own namespace (if any) created first."""
        if self.namespace is None:
            return pulumi.ResourceOptions(provider=self.kubernetes)
        return pulumi.ResourceOptions(provider=self.kubernetes, depends_on=[self.namespace])


def cost_labels(cfg: StackConfig) -> dict[str, str]:
    """The stack's cost tags, the same keys as on AWS resources, as Kubernetes labels."""
    return cfg.tags.as_aws_tags()


def region_contexts(cfg: StackConfig, providers: Providers) -> list[RegionContext]:
    """One context per serving region, in the order of ``regions``."""
    labels = cost_labels(cfg)
    return [
        RegionContext(
            region=r,
            aws=providers.aws_regional[r.name],
            kubernetes=providers.kubernetes[r.name],
            labels=labels,
        )
        for r in cfg.regions
    ]
