"""Stack files on disk: ``Pulumi.yaml`` defaults and ``Pulumi.<stack>.yaml`` values, read with
the one safe YAML reader and validated against the config model.

Only the CLI reads these files; the Pulumi program gets its config from the engine
(:mod:`summit_platform.stacks.pulumi_config`), so the reading lives here, above the composition. Every problem
is a :class:`~summit_platform.stacks.config.ConfigError` naming the file and the key: a missing file, bytes
that are not UTF-8 (with the byte offset), YAML syntax, duplicate or non-string keys,
non-finite numbers, alias bombs, a file over :data:`MAX_BYTES`, a value YAML can hold but
config cannot (a date, bytes, a set), a document of the wrong shape.

``Pulumi.yaml`` is checked against the shape of Pulumi's project file schema (``name``,
``runtime``, and each ``config`` entry either a plain value or a declaration of ``type``,
``description``, ``default``, ``value``, ``secret``, ``items``). A key declared
``secret: true`` (and the model's own secrets, :data:`summit_platform.stacks.config.SECRET_KEYS`) must hold
only ``{secure: ...}`` values in a stack file; a typed key's values must have its type. No
message shows any part of a secret's value.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from summit_platform.automation import safe_io
from summit_platform.automation.errors import UserError
from summit_platform.stacks.config import (
    PROJECT,
    SECRET_KEYS,
    ConfigError,
    StackConfig,
    field_problems,
    from_values,
    namespace_values,
    secret_problems,
    shown_key,
)

MAX_BYTES = 1024 * 1024
"""Largest ``Pulumi.yaml`` or stack file read (1 MiB: a kubeconfig-bearing stack file is a few
tens of KiB; a bigger one is a mistake or an attack, and YAML parsing is slow)."""

DECLARATION_KEYS = frozenset({"type", "description", "default", "value", "secret", "items"})
"""What a config declaration in Pulumi.yaml may hold (Pulumi's project schema)."""
CONFIG_TYPES = ("string", "integer", "boolean", "array", "object")


@dataclass
class ProjectFile:
    """What ``Pulumi.yaml`` says about config: the project name, the ``default`` (or
    ``value``) of each declared key, the keys marked ``secret: true`` and the declared types
    (bare keys of the project's namespace)."""

    name: str
    path: str
    defaults: dict[str, Any] = field(default_factory=dict)
    secret_keys: set[str] = field(default_factory=set)
    types: dict[str, str] = field(default_factory=dict)


def _load_yaml(path: Path) -> Any:
    try:
        doc = safe_io.load_yaml(path, max_bytes=MAX_BYTES)
    except UserError as err:
        raise ConfigError(str(path), [(err.key or "", err.detail)]) from None
    problems: list[tuple[str, str]] = []
    _plain_types(doc, "", problems)
    if problems:
        raise ConfigError(str(path), problems[:20])
    return doc


def _plain_types(value: Any, where: str, problems: list[tuple[str, str]]) -> None:
    """Config values are what JSON holds; YAML can also make dates, bytes and sets."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            _plain_types(v, f"{where}.{shown_key(k)}" if where else shown_key(k), problems)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _plain_types(v, f"{where}[{i}]", problems)
    elif isinstance(value, datetime.date | bytes | set):
        kind = (
            "binary data"
            if isinstance(value, bytes)
            else "a set"
            if isinstance(value, set)
            else "a date"
        )
        problems.append(
            (
                where,
                f"expected a string, number, boolean, list or mapping, found {kind}"
                " (quote a date to keep it as text)",
            )
        )


def project_file(project_dir: Path) -> ProjectFile:
    """Read and check ``Pulumi.yaml``: its shape (Pulumi's project schema, as far as config
    goes), each declaration, and each default against its declared type."""
    path = project_dir / "Pulumi.yaml"
    doc = _load_yaml(path)
    if not isinstance(doc, dict):
        raise ConfigError(
            str(path), [("", "expected a Pulumi project file (a mapping with name and runtime)")]
        )
    problems: list[tuple[str, str]] = []
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(("name", "expected the project's name (a non-empty string)"))
        name = ""
    problems += _runtime_problems(doc)
    config = doc.get("config")
    if config is not None and not isinstance(config, dict):
        problems.append(("config", "expected a mapping of config keys to declarations"))
        config = None
    out = ProjectFile(name=name, path=str(path))
    for key, spec in (config or {}).items():
        problems += _declaration(out, name, key, spec)
    if problems:
        raise ConfigError(str(path), problems)
    return out


def _runtime_problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    runtime = doc.get("runtime")
    if isinstance(runtime, str) and runtime.strip():
        return []
    if isinstance(runtime, dict):
        rt_name = runtime.get("name")
        if not isinstance(rt_name, str) or not rt_name.strip():
            return [("runtime.name", "expected the language runtime's name (python, nodejs, ...)")]
        if runtime.get("options") is not None and not isinstance(runtime.get("options"), dict):
            return [("runtime.options", "expected a mapping of runtime options")]
        extra = sorted(set(runtime) - {"name", "options"})
        if extra:
            return [(f"runtime.{shown_key(extra[0])}", "unknown key (expected name, options)")]
        return []
    return [("runtime", "expected the language runtime (python) or {name, options}")]


def _declaration(out: ProjectFile, project: str, key: str, spec: Any) -> list[tuple[str, str]]:
    """Check one ``config:`` entry and record what it declares in ``out``."""
    where = f"config.{shown_key(key)}"
    ns, _, bare = key.rpartition(":")
    if ":" in ns or not bare:
        return [(where, "expected a key of the form <name> or <namespace>:<name>")]
    ours = ns in ("", project)
    if not isinstance(spec, dict):
        if isinstance(spec, str | int | list) and spec is not None:  # bool is an int
            if ours:
                out.defaults[bare] = spec
            return []
        return [(where, "expected a value (string, integer, boolean, list) or a declaration")]
    problems = _declaration_shape(where, spec)
    if problems:
        return problems
    secret = bool(spec.get("secret"))
    type_ = spec.get("type")
    for part in ("default", "value"):
        if part not in spec:
            continue
        value = spec[part]
        if type_ and not type_ok(value, type_, spec.get("items")):
            problems.append((f"{where}.{part}", f"expected {type_name(type_, spec.get('items'))}"))
        if secret:
            problems += [
                (f"{where}.{part}" + k.removeprefix(shown_key(bare)), m)
                for k, m in secret_problems(bare, value)
            ]
        if ours and project == PROJECT and not problems:
            problems += [(f"{where}.{part}{k}", m) for k, m in field_problems(bare, value)]
    if ours:
        if "value" in spec or "default" in spec:
            out.defaults[bare] = spec.get("value", spec.get("default"))
        if secret:
            out.secret_keys.add(bare)
        if type_:
            out.types[bare] = type_name(type_, spec.get("items"))
    return problems


def _declaration_shape(where: str, spec: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    for extra in sorted(set(spec) - DECLARATION_KEYS):
        problems.append(
            (
                f"{where}.{shown_key(extra)}",
                f"unknown key (expected {', '.join(sorted(DECLARATION_KEYS))})",
            )
        )
    if "type" in spec and spec["type"] not in CONFIG_TYPES:
        problems.append((f"{where}.type", f"expected one of {', '.join(CONFIG_TYPES)}"))
    if "description" in spec and not isinstance(spec["description"], str):
        problems.append((f"{where}.description", "expected a string"))
    if "secret" in spec and not isinstance(spec["secret"], bool):
        problems.append((f"{where}.secret", "expected true or false"))
    items = spec.get("items")
    if "items" in spec and not (isinstance(items, dict) and items.get("type") in CONFIG_TYPES):
        problems.append((f"{where}.items", f"expected {{type: {' | '.join(CONFIG_TYPES)}}}"))
    elif spec.get("type") == "array" and "items" not in spec:
        problems.append((f"{where}.items", "an array declaration needs items: {type: ...}"))
    return problems


def type_name(type_: str, items: Any = None) -> str:
    """``string``, ``array<integer>``, ...: a declared type as the Pulumi CLI names it."""
    if type_ == "array" and isinstance(items, Mapping):
        return f"array<{type_name(items.get('type', ''), items.get('items'))}>"
    return type_


def type_ok(value: Any, type_: str, items: Any = None) -> bool:
    """Whether ``value`` has the declared config ``type_`` (``array<...>`` names accepted),
    as the Pulumi CLI checks it (an integer may be written as a whole float or a string of
    digits, a boolean as "true")."""
    if type_.startswith("array<") and type_.endswith(">"):
        inner = type_[len("array<") : -1]
        return isinstance(value, list) and all(type_ok(v, inner) for v in value)
    if isinstance(value, Mapping) and set(value) == {"secure"}:
        return True  # a secret: its type is checked once decrypted
    if type_ == "string":
        return isinstance(value, str)
    if type_ == "integer":
        if isinstance(value, str):
            return value.strip().lstrip("-").isascii() and value.strip().lstrip("-").isdigit()
        return not isinstance(value, bool) and (
            isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        )
    if type_ == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if type_ == "object":
        return isinstance(value, Mapping)
    if type_ == "array" and isinstance(value, list) and isinstance(items, Mapping):
        return all(type_ok(v, items.get("type", ""), items.get("items")) for v in value)
    return False


def project_defaults(project_dir: Path) -> tuple[str, dict[str, Any]]:
    """Read Pulumi.yaml: the project name and the ``default`` of each declared config key."""
    pf = project_file(project_dir)
    return pf.name, dict(pf.defaults)


def read_stack_file(project_dir: Path, stack: str) -> dict[str, Any]:
    """The raw ``config:`` map of ``Pulumi.<stack>.yaml`` (all namespaces)."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    doc = _load_yaml(path)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(str(path), [("", "expected a mapping with a `config:` key")])
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(str(path), [("config", "expected a mapping of config keys")])
    return config


def stack_values(
    project_dir: Path, stack: str, pf: ProjectFile | None = None
) -> tuple[ProjectFile, dict[str, Any], dict[str, Any]]:
    """Pulumi.yaml and ``Pulumi.<stack>.yaml`` merged into the project namespace's values,
    with the checks that need both: every secret key holds only ``{secure: ...}`` values,
    and every typed key's value has its type. Returns (project file, the stack file's raw
    ``config:`` map, the namespace's values)."""
    pf = pf or project_file(project_dir)
    path = project_dir / f"Pulumi.{stack}.yaml"
    raw = read_stack_file(project_dir, stack)
    values = namespace_values(pf.name, pf.defaults, raw, str(path))
    problems: list[tuple[str, str]] = []
    secrets = pf.secret_keys | (set(SECRET_KEYS) if pf.name == PROJECT else set())
    for key, value in raw.items():
        ns, _, bare = key.rpartition(":")
        if ns not in ("", pf.name):
            continue
        if bare in secrets:
            problems += [(f"{ns or pf.name}:{k}", m) for k, m in secret_problems(bare, value)]
        elif bare in pf.types and not type_ok(value, pf.types[bare]):
            problems.append((shown_key(key), f"expected a value of type {pf.types[bare]}"))
    if problems:
        raise ConfigError(str(path), problems)
    return pf, raw, values


def load_stack(project_dir: Path | str, stack: str) -> StackConfig:
    """Load and validate ``Pulumi.<stack>.yaml`` of the project at ``project_dir``."""
    project_dir = Path(project_dir)
    pf, _, values = stack_values(project_dir, stack)
    path = project_dir / f"Pulumi.{stack}.yaml"
    return from_values(values, str(path), secret_keys=pf.secret_keys, namespace=pf.name)


def platform_config(project_dir: Path | str, stack: str) -> StackConfig | None:
    """The platform's typed config of ``stack`` when ``project_dir`` is the platform project;
    None for any other Pulumi project (a service's own program), whose config the platform's
    model does not describe. The stack file is read (and checked) either way."""
    project_dir = Path(project_dir)
    pf, _, _ = stack_values(project_dir, stack)
    if pf.name != PROJECT:
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
