"""Validate rendered custom resources against the real CRD schemas the provider check vendors
(automation/plan/provider_check/crds: one copy, used at run time and by the tests).

The schemas are applied as the API server applies them with strict field validation: an object
that lists its properties rejects unknown ones (unless it preserves unknown fields), so a
misspelt key fails here instead of being silently dropped by the cluster."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from summit_platform.automation.plan.provider_check.kubernetes import CRD_DIR, crd_validator

CRDS = CRD_DIR
ARGO = "argo-rollouts"
PROMETHEUS_OPERATOR = "prometheus-operator"


def errors(folder: str, file: str, manifest: dict[str, Any]) -> list[str]:
    """Every schema error as ``dotted.path: message`` (empty when the manifest is valid),
    against the CRD version the manifest's apiVersion names."""
    path = CRDS / folder / file
    if not path.is_file():
        pytest.fail(f"CRD not found: {path}")
    version = str(manifest.get("apiVersion", "")).rsplit("/", 1)[-1]
    validator = crd_validator(f"{folder}/{file}", version)
    if validator is None:
        pytest.fail(f"{folder}/{file} does not serve version {version!r}")
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(manifest)
    ]


def manifest(resource: Any) -> dict[str, Any]:
    """A recorded custom resource's inputs as the manifest the cluster would receive."""
    keys = ("apiVersion", "kind", "metadata", "spec")
    return copy.deepcopy({k: resource.inputs[k] for k in keys if k in resource.inputs})
