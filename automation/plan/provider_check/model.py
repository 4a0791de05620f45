"""What the provider check reports, and how it reads a recorded resource's inputs.

Inputs are decoded from the wire struct the SDK sent (as an analyzer receives them), not from
the readable ``RecordedResource.inputs``: there a secret is ``{"secret": v}``, which cannot be
told apart from a real object whose only key is ``secret`` (a projected volume source). Here
an unknown value (an output of another resource, a StackReference) and a secret both become
:class:`Opaque`: the embedded lane does not know them (a config secret is still ciphertext), so
every check skips them and the tally counts them; none is ever a problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format

from summit_platform.automation.plan.engine import SECRET_SIG, SIG, UNKNOWN, RecordedResource

PACK = "provider-check"
"""The name the check reports under, like a policy pack's."""

FAMILIES = {
    "kubernetes-schema": "Kubernetes OpenAPI schema of the cluster version (unknown fields rejected)",
    "kubernetes-validation": "A rule the Kubernetes API server enforces that its schema does not express",
    "crd-schema": "The schema of the CustomResourceDefinition the cluster serves",
    "aws-api-model": "A constraint of the AWS API in botocore's service model",
    "aws-documented-rule": "A documented AWS rule the service model does not carry",
    "pulumi-naming": "The name the Pulumi provider would give the object",
}
"""Rule families; each is reported as a policy of the provider-check pack."""


class Opaque:
    """A value the embedded lane does not know: an unknown output, or a secret."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"<{self.kind}>"


UNKNOWN_VALUE = Opaque("unknown")
SECRET_VALUE = Opaque("secret")


@dataclass
class Tally:
    """Values skipped because the embedded lane does not know them."""

    unknown: int = 0
    secret: int = 0


def decode(value: Any, tally: Tally) -> Any:
    """Wire JSON -> plain values, unknowns and secrets -> :class:`Opaque` (counted)."""
    if isinstance(value, str):
        if value == UNKNOWN:
            tally.unknown += 1
            return UNKNOWN_VALUE
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf carries every number as a double
    if isinstance(value, list):
        return [decode(v, tally) for v in value]
    if isinstance(value, dict):
        sig = value.get(SIG)
        if sig == SECRET_SIG:
            tally.secret += 1
            return SECRET_VALUE
        if sig is not None:  # a resource reference, asset or archive: its id/urn or fields
            ref = value.get("id") or value.get("urn")
            return ref if isinstance(ref, str) else {k: v for k, v in value.items() if k != SIG}
        return {k: decode(v, tally) for k, v in value.items()}
    return value


def inputs_of(resource: RecordedResource, tally: Tally) -> dict[str, Any]:
    """The resource's inputs as the provider's ``Check`` would receive them."""
    out = decode(json_format.MessageToDict(resource.wire_inputs), tally)
    return out if isinstance(out, dict) else {}


def contains_opaque(value: Any) -> bool:
    """Whether an unknown or secret value sits anywhere inside ``value``."""
    if isinstance(value, Opaque):
        return True
    if isinstance(value, dict):
        return any(contains_opaque(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_opaque(v) for v in value)
    return False


@dataclass(frozen=True)
class Problem:
    """One thing the provider or the API would reject."""

    family: str
    """A key of :data:`FAMILIES`."""
    path: str
    """The property, dotted as in the Pulumi inputs (``spec.template.spec.containers[0].image``)."""
    value: Any
    rule: str
    """What must hold, in the words of the rule's source."""
    source: str
    """Where the rule comes from: the schema or model and its version, or the function."""
    rule_id: str = ""
    """A stable id for the rule (``pod.container.image-pull-policy``), for tests and tools."""

    def message(self, resource_name: str, resource_type: str) -> str:
        """One line naming the resource, the property, the value, the rule and its source."""
        return (
            f"{resource_name} ({resource_type}): {self.path or '(resource)'} ="
            f" {render(self.value)}: {self.rule} [{self.source}]"
        )


def render(value: Any, limit: int = 80) -> str:
    """A value as JSON, shortened for a one-line message."""
    try:
        text = json.dumps(value, sort_keys=True, default=repr)
    except ValueError:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def join(path: str, key: str | int) -> str:
    """``a.b`` + ``c`` -> ``a.b.c``; ``a.b`` + ``0`` -> ``a.b[0]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


@dataclass
class ResourceVerdict:
    """The check of one resource: its problems (empty when it passed)."""

    resource: RecordedResource
    problems: list[Problem] = field(default_factory=list)
