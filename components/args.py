"""The one shape of every component's arguments: a frozen pydantic model that rejects unknown
fields, built with keywords only, each field documented by the docstring under it.

Service teams build these by hand (``ServiceComponentArgs`` in a service's own program), so a
bad value fails at the boundary, before any resource exists, naming the args type and the
field. Pulumi values that are only known later (``pulumi.Output``) are allowed where a field
says so (:data:`StrInput`); providers never travel in args: they come through
``ResourceOptions`` and children inherit them through ``parent=self``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self, TypeAlias

import pulumi
from pydantic import BaseModel, ConfigDict, ValidationError

StrInput: TypeAlias = str | pulumi.Output[str]
"""A string, or an Output of one (for example an ARN read from another stack)."""


class ComponentArgsError(ValueError):
    """Args that do not fit: one line per problem, each naming the args type and the field
    (``ServiceComponentArgs.cpu_request: ...``)."""


class ComponentArgs(BaseModel):
    """Base of every component's args type (and of the plain values inside them)."""

    # No use_attribute_docstrings: pydantic would ast.parse each module at import, and the
    # embedded lane imports components inside a running program, where CPython 3.11.7's AST
    # recursion check fails at random ("AST constructor recursion depth mismatch").
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    error_type: ClassVar[type[ComponentArgsError]] = ComponentArgsError
    """What :meth:`of` raises (a component may name its own subclass)."""

    @classmethod
    def of(cls, **fields: Any) -> Self:
        """Build and validate; every problem becomes one line of a single
        :attr:`error_type` error, naming the field and what was found."""
        try:
            return cls(**fields)
        except ValidationError as err:
            raise cls.error_type(_describe(cls.__name__, err)) from None


def _describe(type_name: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(args)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif "input" in e and e["type"] != "value_error":
            msg = f"{msg}; found {e['input']!r}"
        lines.append(f"{type_name}.{loc}: {msg}")
    return "\n".join(lines)
