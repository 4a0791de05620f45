"""Explicit providers: one AWS provider per serving region, one for the Global Accelerator
control region (us-west-2), and one Kubernetes provider per regional cluster."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from summit_platform.stacks.config import GA_CONTROL_REGION, StackConfig


@dataclass(frozen=True)
class Providers:
    """Every provider the composition passes down to components."""

    aws_control: aws.Provider
    """us-west-2: the Global Accelerator API."""
    aws_regional: dict[str, aws.Provider]
    """region -> AWS provider for region-scoped resources and invokes."""
    kubernetes: dict[str, k8s.Provider]
    """region -> Kubernetes provider of that region's cluster."""


def build_providers(cfg: StackConfig) -> Providers:
    """The stack's providers: one AWS provider per region (plus the control region when it
    serves no traffic) and one Kubernetes provider per regional cluster."""
    regional: dict[str, aws.Provider] = {
        r.name: aws.Provider(f"aws-{r.name}", region=r.name) for r in cfg.regions
    }
    control = regional.get(GA_CONTROL_REGION) or aws.Provider(
        f"aws-{GA_CONTROL_REGION}", region=GA_CONTROL_REGION
    )
    kube: dict[str, k8s.Provider] = {}
    for r in cfg.regions:
        secret = cfg.kubeconfigs.get(r.name)
        kubeconfig = None
        if secret is not None:
            # Plaintext only exists in the cloud lane (the engine decrypted it); the embedded
            # lane carries the ciphertext, still marked secret, and never uses it.
            kubeconfig = pulumi.Output.secret(secret.plaintext or secret.secure or "")
        kube[r.name] = k8s.Provider(
            f"k8s-{r.name}",
            kubeconfig=kubeconfig,
            context=None if kubeconfig is not None else r.kubernetes.context,
            namespace=r.kubernetes.namespace,
            enable_server_side_apply=True,
        )
    return Providers(aws_control=control, aws_regional=regional, kubernetes=kube)
