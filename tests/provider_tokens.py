"""Resolve a Pulumi type token against the installed provider SDKs (pulumi_aws,
pulumi_kubernetes): the packs' type lists are checked with it, so a token no provider
registers (a typo, a renamed module) fails a test instead of silently matching nothing.

Importing a provider SDK registers its resource modules with the Pulumi runtime, each with
the module that holds its classes and a token -> class-name table; that table is what the
engine itself uses to rebuild a resource from a token, so a token found there is real.
"""

from __future__ import annotations

import importlib
import inspect

import pulumi
import pulumi_aws  # noqa: F401  (registers the aws resource modules)
import pulumi_kubernetes  # noqa: F401  (registers the kubernetes resource modules)
from pulumi.runtime import rpc


def resource_class(token: str) -> type[pulumi.CustomResource] | None:
    """The provider SDK class registered for ``token`` (``pkg:module/path:Type``), or None
    when no installed provider registers that token."""
    pkg, mod, _name = token.split(":")
    module = rpc.get_resource_module(pkg, mod, "")
    classes = getattr(module, "mod_info", {}).get("classes", {}) if module else {}
    class_name = classes.get(token)
    if class_name is None:
        return None
    cls = getattr(importlib.import_module(module.mod_info["fqn"]), class_name)  # type: ignore[union-attr]
    return cls if issubclass(cls, pulumi.CustomResource) else None


def takes_input(cls: type, name: str) -> bool:
    """Whether a provider SDK class accepts the (snake_case) input ``name``."""
    return name in inspect.signature(cls._internal_init).parameters  # type: ignore[attr-defined]
