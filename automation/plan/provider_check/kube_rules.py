"""Rules the Kubernetes API server enforces on create that its OpenAPI schema does not express:
object names, labels, enums, port ranges, quantities, selectors, probes, volumes.

Every rule is a :class:`Rule` in :data:`RULES` with the function it follows in
kubernetes/kubernetes (``pkg/apis/<group>/validation``) or k8s.io/apimachinery, so a message
says where it comes from. Rules look at the manifest as the API server would see it after its
defaults are applied (an omitted ``restartPolicy`` is ``Always``, an omitted port protocol is
``TCP``), skip values the embedded lane does not know (:class:`~.model.Opaque`), and leave type
errors to the schema stage. Each rule has a failing case in ``tests/test_provider_check_kube.py``
(a test proves it). Kind-specific rules live in :mod:`.kube_kinds`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeGuard

from summit_platform.automation.plan.provider_check import kube_names as kn
from summit_platform.automation.plan.provider_check.model import Opaque, Problem, join

CORE = "pkg/apis/core/validation/validation.go"
META = "k8s.io/apimachinery pkg/api/validation/objectmeta.go"
METAV1 = "k8s.io/apimachinery pkg/apis/meta/v1/validation/validation.go"
QUANTITY = "k8s.io/apimachinery pkg/api/resource/quantity.go"
ANNOTATIONS_MAX_BYTES = 256 * 1024  # TotalAnnotationSizeLimitB


@dataclass(frozen=True)
class Rule:
    """One API-server rule: what must hold and the function that enforces it."""

    id: str
    text: str
    cite: str


RULES: dict[str, Rule] = {}


def rule(rule_id: str, text: str, cite: str) -> Rule:
    """Register a rule (ids are unique; the tests cover every one)."""
    if rule_id in RULES:
        raise ValueError(f"duplicate rule id {rule_id}")
    RULES[rule_id] = r = Rule(rule_id, text, cite)
    return r


class Ctx:
    """The problems found in one manifest, and the cluster version they are checked for."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.minor = int(version.split(".")[1])
        self.problems: list[Problem] = []

    def fail(self, r: Rule, path: str, value: Any, detail: str = "") -> None:
        text = f"{r.text}: {detail}" if detail else r.text
        source = f"Kubernetes {self.version} API server, {r.cite}"
        self.problems.append(Problem("kubernetes-validation", path, value, text, source, r.id))

    def check(self, r: Rule, path: str, value: Any, msgs: list[str]) -> None:
        """Fail ``r`` with the predicate's messages, if any."""
        if msgs:
            self.fail(r, path, value, "; ".join(msgs))


def obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a known object, else ``{}`` (the schema stage reports wrong types)."""
    return value if isinstance(value, dict) else {}


def arr(value: Any) -> list[Any]:
    """``value`` if it is a known list, else ``[]``."""
    return value if isinstance(value, list) else []


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def known(value: Any) -> bool:
    return not isinstance(value, Opaque)


# --- object metadata: ValidateObjectMeta ---------------------------------------------------

NAME_SUBDOMAIN = rule(
    "meta.name.dns-subdomain",
    "must be a DNS-1123 subdomain",
    f"{META} ValidateObjectMeta with NameIsDNSSubdomain",
)
NAME_LABEL = rule(
    "meta.name.dns-label",
    "must be a DNS-1123 label",
    f"{META} ValidateObjectMeta with NameIsDNSLabel (ValidateNamespaceName,"
    " ValidateStatefulSetName)",
)
NAME_1035 = rule(
    "meta.name.dns-1035",
    "must be a DNS-1035 label",
    f"{CORE} ValidateServiceName (NameIsDNS1035Label)",
)
NAMESPACE = rule(
    "meta.namespace",
    "must be a DNS-1123 label",
    f"{META} ValidateObjectMeta (ValidateNamespaceName)",
)
LABEL_KEY = rule(
    "meta.labels.key", "label keys must be qualified names", f"{METAV1} ValidateLabels"
)
LABEL_VALUE = rule(
    "meta.labels.value", "label values must be valid label values", f"{METAV1} ValidateLabels"
)
ANNOTATION_KEY = rule(
    "meta.annotations.key",
    "annotation keys must be qualified names",
    f"{META} ValidateAnnotations",
)
ANNOTATION_SIZE = rule(
    "meta.annotations.size",
    f"annotations may not exceed {ANNOTATIONS_MAX_BYTES} bytes in total",
    f"{META} ValidateAnnotations (TotalAnnotationSizeLimitB)",
)
AUTONAME = rule(
    "meta.name.autoname",
    "no metadata.name: the provider names the object '<resource name>-<8 characters>', which"
    " must be a valid name too",
    "pulumi-kubernetes provider/pkg/metadata/naming.go AssignNameIfAutonamable",
)

NAME_RULES: dict[str, tuple[Rule, Callable[[str], list[str]]]] = {
    "Service": (NAME_1035, kn.is_dns1035_label),
    "Namespace": (NAME_LABEL, kn.is_dns1123_label),
    "StatefulSet": (NAME_LABEL, kn.is_dns1123_label),
}
"""Kinds whose name function is not NameIsDNSSubdomain (the default for every other kind,
custom resources included)."""


def name_check(kind: str) -> tuple[Rule, Callable[[str], list[str]]]:
    return NAME_RULES.get(kind, (NAME_SUBDOMAIN, kn.is_dns1123_subdomain))


def labels(
    ctx: Ctx, path: str, value: Any, key_rule: Rule = LABEL_KEY, value_rule: Rule = LABEL_VALUE
) -> None:
    """``ValidateLabels``: every key a qualified name, every value a label value."""
    for k, v in obj(value).items():
        ctx.check(key_rule, join(path, k), k, kn.is_qualified_name(k))
        if isinstance(v, str):
            ctx.check(value_rule, join(path, k), v, kn.is_valid_label_value(v))


def annotation_rules(ctx: Ctx, path: str, value: Any) -> None:
    """``ValidateAnnotations``: qualified-name keys (lower-cased), 256 KiB in total."""
    total = 0
    for k, v in obj(value).items():
        ctx.check(ANNOTATION_KEY, join(path, k), k, kn.is_qualified_name(k.lower()))
        total += len(k.encode()) + (len(v.encode()) if isinstance(v, str) else 0)
    if total > ANNOTATIONS_MAX_BYTES:
        ctx.fail(ANNOTATION_SIZE, path, f"{total} bytes")


def metadata(ctx: Ctx, kind: str, manifest: dict[str, Any], resource_name: str) -> None:
    """Name (by kind), namespace, labels and annotations of a top-level object."""
    meta = manifest.get("metadata", {})
    if not isinstance(meta, dict):
        return  # unknown metadata: nothing to check
    r, predicate = name_check(kind)
    name = meta.get("name")
    if isinstance(name, str) and name:
        ctx.check(r, "metadata.name", name, predicate(name))
    elif name is None and not meta.get("generateName"):
        candidate = f"{resource_name}-00000000"
        msgs = predicate(candidate)
        if msgs:
            ctx.fail(AUTONAME, "metadata.name", candidate, f"{r.text} ({'; '.join(msgs)})")
    namespace = meta.get("namespace")
    if isinstance(namespace, str) and namespace:
        ctx.check(NAMESPACE, "metadata.namespace", namespace, kn.is_dns1123_label(namespace))
    labels(ctx, "metadata.labels", meta.get("labels"))
    annotation_rules(ctx, "metadata.annotations", meta.get("annotations"))


# --- label selectors: ValidateLabelSelector -------------------------------------------------

SELECTOR_OPERATOR = rule(
    "selector.operator",
    "operator must be In, NotIn, Exists or DoesNotExist",
    f"{METAV1} ValidateLabelSelectorRequirement",
)
SELECTOR_VALUES = rule(
    "selector.values",
    "values must be given for In and NotIn and omitted for Exists and DoesNotExist",
    f"{METAV1} ValidateLabelSelectorRequirement",
)
SELECTOR_KEY = rule(
    "selector.key", "selector keys must be qualified names", f"{METAV1} ValidateLabelSelector"
)
SELECTOR_VALUE = rule(
    "selector.value",
    "selector values must be valid label values",
    f"{METAV1} ValidateLabelSelector",
)
_OPERATORS = {"In": True, "NotIn": True, "Exists": False, "DoesNotExist": False}


def label_selector(ctx: Ctx, path: str, value: Any) -> None:
    """``ValidateLabelSelector`` (label values checked strictly, as for workloads)."""
    sel = obj(value)
    labels(ctx, join(path, "matchLabels"), sel.get("matchLabels"), SELECTOR_KEY, SELECTOR_VALUE)
    for i, req in enumerate(arr(sel.get("matchExpressions"))):
        req = obj(req)
        where = join(join(path, "matchExpressions"), i)
        key, op, values = req.get("key"), req.get("operator"), req.get("values")
        if isinstance(key, str):
            ctx.check(SELECTOR_KEY, join(where, "key"), key, kn.is_qualified_name(key))
        if isinstance(op, str):
            if op not in _OPERATORS:
                ctx.fail(SELECTOR_OPERATOR, join(where, "operator"), op)
            elif known(values) and _OPERATORS[op] != bool(values):
                ctx.fail(SELECTOR_VALUES, join(where, "values"), values, f"operator {op}")
        for j, v in enumerate(arr(values)):
            if isinstance(v, str):
                ctx.check(
                    SELECTOR_VALUE, join(join(where, "values"), j), v, kn.is_valid_label_value(v)
                )


def selector_matches(sel: dict[str, Any], labels_: dict[str, Any]) -> bool | None:
    """Whether a label selector selects these labels; None if an unknown value decides it."""
    match = obj(sel.get("matchLabels"))
    for k, v in match.items():
        if not known(v) or not known(labels_.get(k)):
            return None
        if labels_.get(k) != v:
            return False
    for req in arr(sel.get("matchExpressions")):
        req = obj(req)
        key, op, values = req.get("key"), req.get("operator"), arr(req.get("values"))
        have = labels_.get(key) if isinstance(key, str) else None
        if not known(have) or any(not known(v) for v in values):
            return None
        ok = {
            "In": key in labels_ and have in values,
            "NotIn": key not in labels_ or have not in values,
            "Exists": key in labels_,
            "DoesNotExist": key not in labels_,
        }.get(op if isinstance(op, str) else "")
        if ok is None:
            return None  # a bad operator is reported by label_selector
        if not ok:
            return False
    return True
