"""The typed stack config inside a running Pulumi program (``pulumi up`` or the embedded
lane). Kept apart from :mod:`summit_platform.stacks.config` so the ``summit`` CLI, which reads stack files
directly, loads the config model without importing the Pulumi SDK."""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi.runtime.config import is_config_secret

from summit_platform.stacks.config import (
    SECRET_KEYS,
    TOP_LEVEL_KEYS,
    ConfigError,
    StackConfig,
    from_values,
)


def from_pulumi_config() -> StackConfig:
    """Load the model inside a running Pulumi program.

    ``pulumi.Config`` already holds Pulumi.yaml defaults merged with the stack file; secrets
    are decrypted by the engine (cloud lane) and arrive as plaintext here, so the secret
    sections are re-wrapped as :class:`~summit_platform.stacks.config.Secret`. A secret section the engine
    does not hold as a secret (plain text in the stack file: the Pulumi CLI checks
    ``secret: true`` only on typed keys) is refused, without showing its value."""
    cfg = pulumi.Config()
    values: dict[str, Any] = {}
    for camel in TOP_LEVEL_KEYS:
        raw = cfg.get(camel)
        if raw is None:
            continue
        try:
            values[camel] = json.loads(raw)
        except json.JSONDecodeError:
            values[camel] = raw
    source = f"Pulumi.{pulumi.get_stack()}.yaml"
    plain = [
        k
        for k in SECRET_KEYS
        if values.get(k) and not is_config_secret(f"{pulumi.get_project()}:{k}")
    ]
    if plain:
        raise ConfigError(
            source,
            [
                (
                    f"{pulumi.get_project()}:{k}",
                    "expected a Pulumi secret (`pulumi config set --secret --path ...`),"
                    " found plain text (not shown)",
                )
                for k in plain
            ],
        )
    kc = values.get("kubeconfigs")
    if isinstance(kc, dict):
        values["kubeconfigs"] = {
            r: (v if isinstance(v, dict) else {"plaintext": v}) for r, v in kc.items()
        }
    return from_values(values, source, decrypted=True)
