"""Stack files on disk: ``Pulumi.yaml`` defaults and ``Pulumi.<stack>.yaml`` values, read with
the one safe YAML reader and validated against the config model.

Only the CLI reads these files; the Pulumi program gets its config from the engine
(:mod:`stacks.pulumi_config`), so the reading lives here, above the composition. Every problem
is a :class:`~stacks.config.ConfigError` naming the file and the key: a missing file, bytes
that are not UTF-8 (with the byte offset), YAML syntax, duplicate or non-string keys,
non-finite numbers, alias bombs, a document of the wrong shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from automation import safe_io
from automation.errors import UserError
from stacks.config import PROJECT, ConfigError, StackConfig, from_values, namespace_values


def _load_yaml(path: Path) -> Any:
    try:
        return safe_io.load_yaml(path)
    except UserError as err:
        raise ConfigError(str(path), [(err.key or "(file)", err.detail)]) from None


def project_defaults(project_dir: Path) -> tuple[str, dict[str, Any]]:
    """Read Pulumi.yaml: the project name and the ``default`` of each declared config key."""
    path = project_dir / "Pulumi.yaml"
    doc = _load_yaml(path)
    if not isinstance(doc, dict) or "name" not in doc:
        raise ConfigError(str(path), [("name", "expected a Pulumi project file with a name")])
    defaults: dict[str, Any] = {}
    for key, spec in (doc.get("config") or {}).items():
        bare = key.split(":", 1)[1] if ":" in key else key
        if isinstance(spec, dict) and ("default" in spec or "value" in spec):
            defaults[bare] = spec.get("value", spec.get("default"))
        elif not isinstance(spec, dict):
            defaults[bare] = spec
    return str(doc["name"]), defaults


def read_stack_file(project_dir: Path, stack: str) -> dict[str, Any]:
    """The raw ``config:`` map of ``Pulumi.<stack>.yaml`` (all namespaces)."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    doc = _load_yaml(path)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(str(path), [("(file)", "expected a mapping with a `config:` key")])
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(str(path), [("config", "expected a mapping of config keys")])
    return config


def load_stack(project_dir: Path | str, stack: str) -> StackConfig:
    """Load and validate ``Pulumi.<stack>.yaml`` of the project at ``project_dir``."""
    project_dir = Path(project_dir)
    project, defaults = project_defaults(project_dir)
    path = project_dir / f"Pulumi.{stack}.yaml"
    raw = read_stack_file(project_dir, stack)
    return from_values(namespace_values(project, defaults, raw, str(path)), str(path), project)


def platform_config(project_dir: Path | str, stack: str) -> StackConfig | None:
    """The platform's typed config of ``stack`` when ``project_dir`` is the platform project;
    None for any other Pulumi project (a service's own program), whose config the platform's
    model does not describe. The stack file is read (and checked) either way."""
    project_dir = Path(project_dir)
    project, _ = project_defaults(project_dir)
    if project != PROJECT:
        read_stack_file(project_dir, stack)
        return None
    return load_stack(project_dir, stack)


def stack_names(project_dir: Path | str) -> list[str]:
    """Every stack with a committed ``Pulumi.<name>.yaml`` in the project, sorted."""
    out = []
    for p in sorted(Path(project_dir).glob("Pulumi.*.yaml")):
        name = p.name[len("Pulumi.") : -len(".yaml")]
        if name:
            out.append(name)
    return out
