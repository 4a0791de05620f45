"""Kubernetes objects against the schemas the cluster would apply: built-in kinds against the
OpenAPI schema of the configured cluster version, custom resources against their vendored
CRDs, then the API server's own rules (:mod:`.kube_kinds`).

The built-in schemas are the ones the ``kubernetes-validate`` package bundles (JSON schemas
generated from each Kubernetes release's published OpenAPI document, one folder per minor
version, in a "strict" form where every object lists its properties and rejects others). We use
its bundled files and its registry layout, but not its ``validate()`` function: that stops at
the first error and re-reads the 1.5 MB definitions file on every call, where a plan needs every
error of hundreds of objects. Unknown fields are problems, as under server-side apply (the
provider's default), which builds a typed object from the schema and fails with "field not
declared in schema".
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

from summit_platform.automation.plan.provider_check.kube_kinds import validate as api_rules
from summit_platform.automation.plan.provider_check.kube_rules import Ctx, metadata
from summit_platform.automation.plan.provider_check.model import (
    Opaque,
    Problem,
    contains_opaque,
    join,
)

SCHEMA_PACKAGE = "kubernetes_validate"
CRD_DIR = Path(__file__).with_name("crds")
NOT_CHECKED_KINDS = ("Patch", "List")
"""Pulumi's ``<Kind>Patch`` (server-side apply patches, every field optional) and ``<Kind>List``
types: not the objects the schemas describe."""

CRDS: dict[tuple[str, str], str] = {
    ("argoproj.io", "Rollout"): "argo-rollouts/rollout-crd.yaml",
    ("argoproj.io", "AnalysisTemplate"): "argo-rollouts/analysis-template-crd.yaml",
    ("argoproj.io", "ClusterAnalysisTemplate"): "argo-rollouts/cluster-analysis-template-crd.yaml",
    ("argoproj.io", "AnalysisRun"): "argo-rollouts/analysis-run-crd.yaml",
    ("argoproj.io", "Experiment"): "argo-rollouts/experiment-crd.yaml",
    (
        "monitoring.coreos.com",
        "PrometheusRule",
    ): "prometheus-operator/monitoring.coreos.com_prometheusrules.yaml",
    (
        "monitoring.coreos.com",
        "ServiceMonitor",
    ): "prometheus-operator/monitoring.coreos.com_servicemonitors.yaml",
}
"""(group, kind) -> vendored CRD file under ``crds/`` (versions and sources in its README)."""

_FORMATS = jsonschema.FormatChecker(formats=())
_GROUP_VERSION = re.compile(r"^([^./]*)(?:\.[^/]*)?/")


@_FORMATS.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@_FORMATS.checks("int64")
def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


def bundled_versions() -> list[str]:
    """The Kubernetes minor versions whose schemas are bundled (``["1.25", ..., "1.37"]``)."""
    root = resources.files(SCHEMA_PACKAGE) / "kubernetes-json-schema"
    found = {
        m.group(1)
        for p in root.iterdir()
        if (m := re.fullmatch(r"v(\d+\.\d+)\.0-local-strict", p.name))
    }
    return sorted(found, key=lambda v: tuple(int(x) for x in v.split(".")))


def resolve_version(value: Any) -> str:
    """A configured cluster version (``"1.35"`` or ``"1.35.2"``) -> its bundled schema version;
    ValueError naming the supported range."""
    versions = bundled_versions()
    text = str(value).strip().removeprefix("v")
    m = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)?", text) if isinstance(value, str) else None
    if m and f"{int(m.group(1))}.{int(m.group(2))}" in versions:
        return f"{int(m.group(1))}.{int(m.group(2))}"
    quote = "" if isinstance(value, str) else " as a quoted string"
    raise ValueError(
        f"expected a Kubernetes version {versions[0]} to {versions[-1]}{quote} (for example"
        f" {versions[-2]!r}), found {value!r}"
    )


def group_of(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def is_builtin_group(group: str) -> bool:
    """Groups served by the API server itself (custom resources always have a dotted group
    outside ``*.k8s.io``)."""
    return "." not in group or group.endswith(".k8s.io")


def _schema_file(kind: str, api_version: str) -> str:
    """kubernetes-validate's file name: ``networking.k8s.io/v1`` -> ``networking-v1``."""
    munged = _GROUP_VERSION.sub(r"\1-", api_version)
    return f"{kind.lower()}-{munged}.json"


def _schema_dir(version: str) -> Any:
    return resources.files(SCHEMA_PACKAGE) / "kubernetes-json-schema" / f"v{version}.0-local-strict"


@cache
def _registry(version: str) -> Registry:
    defs = json.loads((_schema_dir(version) / "_definitions.json").read_text())
    return Resource.from_contents(defs) @ Registry()


@cache
def builtin_validator(version: str, kind: str, api_version: str) -> jsonschema.Validator | None:
    """The strict validator of a built-in kind in a Kubernetes version; None if that version
    does not serve it (checked against the schema's own group-version-kind)."""
    path = _schema_dir(version) / _schema_file(kind, api_version)
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    gvks = schema.get("x-kubernetes-group-version-kind") or []
    want = {"group": group_of(api_version), "version": api_version.rsplit("/", 1)[-1], "kind": kind}
    if want not in gvks:
        return None
    registry = Resource.from_contents(schema) @ _registry(version)
    return jsonschema.Draft202012Validator(schema, registry=registry, format_checker=_FORMATS)


def strict(schema: Any) -> Any:
    """A CRD's structural schema with ``additionalProperties: false`` where it lists properties
    and does not preserve unknown fields: what the API server prunes silently under a plain
    apply is rejected under server-side apply and strict field validation."""
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
def crd_document(file: str) -> dict[str, Any]:
    """A vendored CRD, parsed once (libyaml when present: the Argo CRDs are 200 KB each)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load((CRD_DIR / file).read_text(), Loader=loader)


@cache
def crd_validator(file: str, version: str) -> jsonschema.Validator | None:
    """The strict validator of one served version of a vendored CRD (None if not served)."""
    doc = crd_document(file)
    for v in doc["spec"]["versions"]:
        if v["name"] == version and v.get("served", True):
            schema = strict(copy.deepcopy(v["schema"]["openAPIV3Schema"]))
            return jsonschema.Draft7Validator(schema, format_checker=_FORMATS)
    return None


@cache
def crd_label(file: str) -> str:
    """``argo-rollouts v1.9.1 rollout-crd.yaml``: the CRD and its vendored version."""
    readme = (CRD_DIR / file).parent / "README.md"
    tag = re.search(r"tag \*\*(v[^*]+)\*\*", readme.read_text())
    return f"{Path(file).parent.name} {tag.group(1) if tag else '(version unknown)'} CRD {Path(file).name}"


def _extra_keys(error: jsonschema.ValidationError) -> list[str]:
    props = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
    patterns = error.schema.get("patternProperties", {}) if isinstance(error.schema, dict) else {}
    instance = error.instance if isinstance(error.instance, dict) else {}
    return [k for k in instance if k not in props and not any(re.search(p, k) for p in patterns)]


def schema_problems(
    validator: jsonschema.Validator, manifest: dict[str, Any], family: str, source: str
) -> list[Problem]:
    """Every schema error as a problem at the property it concerns; errors an unknown value
    causes (or may cause, inside oneOf/anyOf) are dropped, never reported."""
    out: list[Problem] = []
    for e in validator.iter_errors(manifest):
        path = ""
        for part in e.absolute_path:
            path = join(path, part)
        if isinstance(e.instance, Opaque):
            continue
        if e.validator in ("oneOf", "anyOf", "allOf", "not") and contains_opaque(e.instance):
            continue
        if e.validator == "additionalProperties" and e.validator_value is False:
            for k in _extra_keys(e):
                out.append(
                    Problem(
                        family,
                        join(path, k),
                        e.instance[k],
                        "field not declared in the schema (unknown fields are rejected)",
                        source,
                        f"{family}.unknown-field",
                    )
                )
        elif e.validator == "required":
            for k in e.validator_value:
                if isinstance(e.instance, dict) and k not in e.instance:
                    out.append(
                        Problem(
                            family,
                            join(path, k),
                            None,
                            "required field is missing",
                            source,
                            f"{family}.required",
                        )
                    )
        else:
            out.append(
                Problem(family, path, e.instance, e.message, source, f"{family}.{e.validator}")
            )
    return out


@dataclass(frozen=True)
class KubeTarget:
    """What a ``kubernetes:*`` type token names."""

    api_version: str
    kind: str


def target_of(type_: str) -> KubeTarget | None:
    """``kubernetes:apps/v1:Deployment`` -> (apps/v1, Deployment); None for the provider's own
    types (helm, yaml, kustomize), patches and lists."""
    parts = type_.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes" or "/" not in parts[1]:
        return None
    group_version, kind = parts[1], parts[2]
    if kind.endswith(NOT_CHECKED_KINDS) or group_version.split("/")[0] in (
        "helm.sh",
        "yaml",
        "kustomize",
    ):
        return None
    api_version = group_version.removeprefix("core/")
    return KubeTarget(api_version, kind)


def checkable(type_: str) -> bool:
    """Whether :func:`check` will check resources of this type (else it is reported unchecked)."""
    target = target_of(type_)
    if target is None:
        return False
    group = group_of(target.api_version)
    return is_builtin_group(group) or (group, target.kind) in CRDS


def check(type_: str, inputs: dict[str, Any], version: str, resource_name: str) -> list[Problem]:
    """Every problem of one Kubernetes object (its type must be :func:`checkable`)."""
    target = target_of(type_)
    assert target is not None
    api_version = inputs.get("apiVersion", target.api_version)
    kind = inputs.get("kind", target.kind)
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return []  # unknown apiVersion or kind: nothing to check against
    group = group_of(api_version)
    if is_builtin_group(group):
        validator = builtin_validator(version, kind, api_version)
        source = f"Kubernetes {version} OpenAPI schema (kubernetes-validate, strict)"
        if validator is None:
            return [
                Problem(
                    "kubernetes-schema",
                    "apiVersion",
                    api_version,
                    f"Kubernetes {version} does not serve {kind} in {api_version}",
                    source,
                    "kubernetes-schema.not-served",
                )
            ]
        problems = schema_problems(validator, inputs, "kubernetes-schema", source)
        return problems + api_rules(kind, inputs, version, resource_name).problems
    file = CRDS[(group, kind)]
    crd = crd_validator(file, api_version.rsplit("/", 1)[-1])
    if crd is None:
        return [
            Problem(
                "crd-schema",
                "apiVersion",
                api_version,
                f"the CRD does not serve version {api_version}",
                crd_label(file),
                "crd-schema.not-served",
            )
        ]
    problems = schema_problems(crd, inputs, "crd-schema", crd_label(file))
    ctx = Ctx(version)
    metadata(ctx, kind, inputs, resource_name)  # the API server validates a CR's metadata too
    return problems + ctx.problems
