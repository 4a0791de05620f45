"""Validate rendered custom resources against the real CRD schemas in tests/fixtures/crds.

The schemas are applied as the API server applies them with strict field validation: an object
that lists its properties rejects unknown ones (unless it preserves unknown fields), so a
misspelt key fails here instead of being silently dropped by the cluster."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import FIXTURES

CRDS = FIXTURES / "crds"
ARGO = "argo-rollouts"
PROMETHEUS_OPERATOR = "prometheus-operator"


def strict(schema: Any) -> Any:
    """The structural schema with ``additionalProperties: false`` where the CRD lists
    properties and does not preserve unknown fields."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def validator(folder: str, file: str, version: str) -> jsonschema.Draft7Validator:
    """The strict validator of one version of a CRD."""
    path = CRDS / folder / file
    if not path.is_file():
        pytest.fail(f"CRD fixture not found: {path}")
    doc = yaml.safe_load(path.read_text())
    (spec,) = [v for v in doc["spec"]["versions"] if v["name"] == version]
    return jsonschema.Draft7Validator(strict(copy.deepcopy(spec["schema"]["openAPIV3Schema"])))


def errors(folder: str, file: str, manifest: dict[str, Any]) -> list[str]:
    """Every schema error as ``dotted.path: message`` (empty when the manifest is valid),
    against the CRD version the manifest's apiVersion names."""
    version = str(manifest.get("apiVersion", "")).rsplit("/", 1)[-1]
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(folder, file, version).iter_errors(manifest)
    ]


def manifest(resource: Any) -> dict[str, Any]:
    """A recorded custom resource's inputs as the manifest the cluster would receive."""
    keys = ("apiVersion", "kind", "metadata", "spec")
    return copy.deepcopy({k: resource.inputs[k] for k in keys if k in resource.inputs})
