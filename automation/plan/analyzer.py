"""The embedded lane's policy host: run a CrossGuard policy pack as its own process and speak
the Analyzer gRPC protocol to it, as the Pulumi engine does.

The pack is started as ``python -u -m pulumi.policy <engine-address> <pack-dir>`` from its own
folder with ``PULUMI_ORGANIZATION``/``PULUMI_PROJECT``/``PULUMI_STACK``/``PULUMI_DRY_RUN``/
``PULUMI_CONFIG`` set; its first line on stdout is the port. Then: ``Handshake`` (optional),
``ConfigureStack``, ``GetAnalyzerInfo``, ``Configure`` with the reconciled config (schema
defaults applied and validated here, every policy's enforcement level sent explicitly: a level
left unset would silently become advisory), ``Analyze`` per resource with its inputs, and
``AnalyzeStack`` with every resource's outputs, parent, dependencies and provider.

Nothing in the pack is modified or imported into this process: it is the same pack that
``pulumi preview --policy-pack DIR`` loads.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import jsonschema
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as pb
from pulumi.runtime.proto import analyzer_pb2_grpc

from summit_platform.automation import safe_io
from summit_platform.automation.errors import UserError
from summit_platform.automation.plan.engine import Plan, RecordedResource, for_analyzer
from summit_platform.components.render.redact import printable, redact_text, short
from summit_platform.stacks.config import ConfigError, shown_key

LEVELS = ("advisory", "mandatory", "remediate", "disabled")
IN_FLIGHT = 16
"""Analyze calls kept in flight at once (the Python policy server runs 4 worker threads)."""


class PolicyPackError(Exception):
    """The pack could not be loaded, configured or run (bad input: exit 2)."""


@dataclass
class Violation:
    """One diagnostic a pack reported."""

    pack: str
    policy: str
    enforcement: str
    urn: str
    message: str
    description: str = ""
    severity: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "policy": self.policy,
            "enforcement": self.enforcement,
            "urn": self.urn,
            "message": self.message,
            "description": self.description,
            "severity": self.severity,
        }


@dataclass
class PackResult:
    """What one pack said about one stack."""

    pack: str
    version: str
    path: str
    policies: dict[str, str]
    """policy name -> the enforcement level it ran with."""
    violations: list[Violation] = field(default_factory=list)
    not_applicable: int = 0
    analyzed: int = 0


def _level_name(value: Any) -> str:
    return {
        pb.ADVISORY: "advisory",
        pb.MANDATORY: "mandatory",
        pb.DISABLED: "disabled",
        pb.REMEDIATE: "remediate",
    }.get(value, "advisory")


def _level_value(name: str) -> Any:
    return {
        "advisory": pb.ADVISORY,
        "mandatory": pb.MANDATORY,
        "disabled": pb.DISABLED,
        "remediate": pb.REMEDIATE,
    }[name]


def discover_packs(project_dir: Path) -> list[Path]:
    """Every folder under ``<project>/policypacks`` holding a PulumiPolicy.yaml."""
    root = project_dir / "policypacks"
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.glob("*/PulumiPolicy.yaml"))


PACK_CONFIG_MAX_BYTES = 1024 * 1024
"""Largest ``--policy-pack-config`` file read (the committed ones are a few hundred bytes)."""
_EXACT = 2**53
"""Numbers reach a pack as protobuf doubles: an integer beyond 2**53 would change on the way."""


def load_pack_config(path: Path | None) -> dict[str, Any]:
    """Read a ``--policy-pack-config`` file (JSON, as the Pulumi CLI takes it; YAML when its
    name does not end in ``.json``) with the one safe reader, and check what does not need the
    pack: an object of policy name -> enforcement level or object, each level one of
    :data:`LEVELS`, ``all`` carrying only a level, every number finite and exact. Every
    problem is one line naming the file and the key (:class:`ConfigError`, exit 2)."""
    if path is None:
        return {}
    loader = safe_io.load_json if path.suffix == ".json" else safe_io.load_yaml
    try:
        data = loader(path, max_bytes=PACK_CONFIG_MAX_BYTES)
    except UserError as err:
        raise ConfigError(str(path), [(err.key or "", err.detail)]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            str(path), [("", f"expected an object of policy name -> config, found {_kind(data)}")]
        )
    problems: list[tuple[str, str]] = []
    for name, layer in data.items():
        problems += _layer_problems(shown_key(name), layer)
    if problems:
        raise ConfigError(str(path), problems)
    return data


def _layer_problems(name: str, layer: Any) -> list[tuple[str, str]]:
    """What is wrong with one policy's entry, before the pack says what its policies take."""
    if isinstance(layer, str):
        return [] if layer in LEVELS else [(name, _level_problem(layer))]
    if not isinstance(layer, dict):
        return [(name, f"expected an enforcement level or an object, found {_kind(layer)}")]
    problems = []
    if "enforcementLevel" in layer and layer["enforcementLevel"] not in LEVELS:
        problems.append((f"{name}.enforcementLevel", _level_problem(layer["enforcementLevel"])))
    if name == "all" and set(layer) - {"enforcementLevel"}:
        problems.append(
            (name, "`all` sets only an enforcementLevel; give properties under each policy's name")
        )
    problems += _value_problems(name, {k: v for k, v in layer.items() if k != "enforcementLevel"})
    return problems


def _level_problem(level: Any) -> str:
    shown = short(level) if isinstance(level, str) else _kind(level)
    return f"expected an enforcement level ({', '.join(LEVELS)}), found {shown}"


def _value_problems(where: str, value: Any) -> list[tuple[str, str]]:
    """Values a pack could not receive unchanged: integers a double cannot hold, and what
    YAML can make but JSON cannot (dates, bytes, sets)."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _value_problems(f"{where}.{shown_key(k)}", v)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _value_problems(f"{where}[{i}]", v)]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _EXACT:
        return [(where, "expected a number a pack can receive exactly (within ±2**53)")]
    if value is None or isinstance(value, str | int | float):
        return []
    return [(where, f"expected a string, number, boolean, list or object, found {_kind(value)}")]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return f"the string {short(value)}"
    if value is None:
        return "null"
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "an object"
    return f"a {type(value).__name__}"


def _schema_problems(name: str, schema: dict[str, Any], props: dict[str, Any]) -> list[str]:
    """The policy's properties against its config schema: unknown properties are errors (a
    misspelt limit would otherwise be silently ignored), then every JSON-schema error."""
    known = set((schema.get("properties") or {}).keys())
    out = []
    for prop in sorted(set(props) - known, key=str):
        takes = f"its properties: {', '.join(sorted(known))}" if known else "it takes none"
        out.append(f"{name}.{shown_key(prop)}: unknown property ({takes})")
    if not schema:
        return out
    full = {"type": "object", **schema}
    cls = jsonschema.validators.validator_for(full)
    try:
        cls.check_schema(full)
    except jsonschema.SchemaError as bad:
        return [f"{name}: the pack's config schema is not valid JSON schema ({bad.message})"]
    errors = sorted(cls(full).iter_errors(props), key=lambda e: list(map(str, e.path)))
    for err in errors:
        if err.validator == "additionalProperties" and not err.path:
            continue  # reported above, one line per property
        where = ".".join(shown_key(x) for x in err.absolute_path) or "(properties)"
        out.append(f"{name}.{where}: {_clip(err.message, err.instance)}")
    return out


def _clip(message: str, instance: Any) -> str:
    """A JSON-schema message with a long echoed value cut short, URLs redacted, one line."""
    try:
        shown = repr(instance)
    except ValueError:  # an int of more than 4300 digits
        shown = ""
    if len(shown) > 26:
        message = message.replace(shown, short(instance))
    message = printable(redact_text(message))
    return message if len(message) <= 240 else message[:237] + "..."


def reconcile_config(
    info: Any, user_config: Mapping[str, Any], source: str
) -> dict[str, tuple[str, dict[str, Any]]]:
    """The engine's policy-config reconciliation: for each policy, its enforcement level and
    properties, from (lowest to highest) the policy's own level or the pack's default, the
    pack's initial config, the ``all`` key, then the policy's own key; schema defaults filled
    in; properties validated against the policy's config schema, and a property the schema
    does not name refused. Returns policy -> (level, properties); raises
    :class:`PolicyPackError` with one line per problem, each naming ``source``."""
    names = {p.name for p in info.policies}
    problems = [
        f"{shown_key(u)}: unknown policy for pack {info.name!r} (its policies:"
        f" {', '.join(sorted(names))})"
        for u in sorted(set(user_config) - names - {"all"}, key=str)
    ]
    initial = {k: json_format.MessageToDict(v) for k, v in info.initialConfig.items()}
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for p in info.policies:
        level = _level_name(p.enforcementLevel)
        props: dict[str, Any] = {}
        schema = json_format.MessageToDict(p.configSchema) if p.HasField("configSchema") else {}
        for key, sub in (schema.get("properties") or {}).items():
            if isinstance(sub, dict) and "default" in sub:
                props[key] = sub["default"]
        layers = [initial.get("all"), initial.get(p.name)]
        layers += [user_config.get("all"), user_config.get(p.name)]
        for layer_index, layer in enumerate(layers):
            if layer is None:
                continue
            if isinstance(layer, str):
                lvl = layer
                extra: dict[str, Any] = {}
            elif isinstance(layer, dict):
                extra = dict(layer)
                lvl = extra.pop("enforcementLevel", None) or ""
                if layer_index < 2 and "properties" in extra:  # initialConfig is proto-shaped
                    extra = dict(extra["properties"])
            else:
                problems.append(f"{p.name}: {_level_problem(layer)}")
                continue
            if lvl:
                if lvl not in LEVELS:
                    problems.append(f"{p.name}.enforcementLevel: {_level_problem(lvl)}")
                    continue
                level = lvl
            if layer is user_config.get("all") and extra:
                continue  # `all` carries a level only (load_pack_config refuses properties)
            props.update(extra)
        if p.name in user_config or schema:
            problems += _schema_problems(p.name, schema, props)
        out[p.name] = (level, props)
    if problems:
        raise PolicyPackError("\n".join(f"{source}: {line}" for line in problems))
    return out


def _resource_options(r: RecordedResource) -> Any:
    o = r.options
    opts = pb.AnalyzerResourceOptions(
        protect=bool(o.get("protect")),
        ignoreChanges=list(o.get("ignoreChanges", [])),
        deleteBeforeReplace=bool(o.get("deleteBeforeReplace")),
        deleteBeforeReplaceDefined="deleteBeforeReplace" in o,
        additionalSecretOutputs=list(o.get("additionalSecretOutputs", [])),
        parent=r.parent or "",
    )
    if "customTimeouts" in o:
        ct = o["customTimeouts"]
        opts.customTimeouts.create = float(ct.get("create") or 0)
        opts.customTimeouts.update = float(ct.get("update") or 0)
        opts.customTimeouts.delete = float(ct.get("delete") or 0)
    return opts


def _provider(r: RecordedResource, by_urn: Mapping[str, RecordedResource]) -> Any:
    if not r.provider:
        return None
    purn = r.provider.rsplit("::", 1)[0]
    p = by_urn.get(purn)
    if p is None:
        return None
    return pb.AnalyzerProviderResource(
        type=p.type, properties=for_analyzer(p.wire_inputs), urn=p.urn, name=p.name
    )


class PolicyPackProcess:
    """A running policy pack and a gRPC stub to it. Use as a context manager."""

    def __init__(
        self,
        pack_dir: Path,
        *,
        project: str,
        stack: str,
        config: Mapping[str, str],
        python: str | None = None,
        start_timeout: float = 60.0,
    ):
        self.pack_dir = pack_dir.resolve()
        self.project = project
        self.stack = stack
        self.config = dict(config)
        self.python = python or sys.executable
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.channel: grpc.Channel | None = None
        self.stub: Any = None

    def __enter__(self) -> PolicyPackProcess:
        if not (self.pack_dir / "PulumiPolicy.yaml").is_file():
            raise PolicyPackError(f"{self.pack_dir}: not a policy pack (no PulumiPolicy.yaml)")
        env = dict(os.environ)
        env.update(
            {
                "PULUMI_ORGANIZATION": "organization",
                "PULUMI_PROJECT": self.project,
                "PULUMI_STACK": self.stack,
                "PULUMI_DRY_RUN": "true",
                "PULUMI_CONFIG": json.dumps(self.config),
                "PYTHONUNBUFFERED": "1",
            }
        )
        # The engine address is only used by a pack for logging; nothing listens on it here,
        # and a pack that logs falls back to stderr.
        self.proc = subprocess.Popen(
            [self.python, "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(self.pack_dir)],
            cwd=self.pack_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        port = self._read_port()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        try:
            grpc.channel_ready_future(self.channel).result(timeout=self.start_timeout)
        except grpc.FutureTimeoutError:
            self.__exit__(None, None, None)
            raise PolicyPackError(
                f"{self.pack_dir}: policy pack did not accept a connection"
            ) from None
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        return self

    def _read_port(self) -> int:
        assert self.proc is not None and self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + self.start_timeout
        line = b""
        while time.monotonic() < deadline:
            if not sel.select(timeout=0.2):
                if self.proc.poll() is not None:
                    break
                continue
            chunk = self.proc.stdout.readline()
            if not chunk:
                break
            line = chunk.strip()
            if line:
                break
        sel.close()
        if line.isdigit():
            return int(line)
        err = self._stderr_tail()
        self.__exit__(None, None, None)
        raise PolicyPackError(
            f"{self.pack_dir}: policy pack failed to start"
            + (f" (printed {line.decode(errors='replace')!r} instead of a port)" if line else "")
            + (f":\n{err}" if err else "")
        )

    def _stderr_tail(self) -> str:
        if self.proc is None or self.proc.stderr is None:
            return ""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        data = self.proc.stderr.read().decode(errors="replace").strip()
        return "\n".join(data.splitlines()[-12:])

    def __exit__(self, *exc: object) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
            self.proc = None


def _configure(
    stub: Any,
    pack: PolicyPackProcess,
    plan: Plan,
    stack: tuple[Mapping[str, str], list[str], Mapping[str, str]],
    pack_config: Mapping[str, Any],
    pack_config_source: str,
) -> tuple[Any, dict[str, tuple[str, dict[str, Any]]]]:
    """Handshake, ConfigureStack (``stack`` is config, secret keys, tags), GetAnalyzerInfo and
    Configure with the reconciled policy config, as the engine does before analysing. The
    first two are optional for a pack (an older SDK answers UNIMPLEMENTED). Returns the
    pack's info and the reconciled config."""
    config, secret_keys, stack_tags = stack
    try:
        stub.Handshake(
            pb.AnalyzerHandshakeRequest(
                engine_address="127.0.0.1:0",
                root_directory=str(pack.pack_dir),
                program_directory=str(pack.pack_dir),
            )
        )
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.UNIMPLEMENTED:
            raise
    cfg_struct = struct_pb2.Struct()
    cfg_struct.update(dict(config))
    tags_struct = struct_pb2.Struct()
    tags_struct.update(dict(stack_tags))
    try:
        stub.ConfigureStack(
            pb.AnalyzerStackConfigureRequest(
                stack=plan.stack,
                project=plan.project,
                organization="organization",
                dry_run=True,
                config_secret_keys=list(secret_keys),
                config=cfg_struct,
                tags=tags_struct,
            )
        )
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.UNIMPLEMENTED:
            raise
    info = stub.GetAnalyzerInfo(empty_pb2.Empty())
    reconciled = reconcile_config(info, pack_config, pack_config_source)
    request = pb.ConfigureAnalyzerRequest()
    for name, (level, props) in reconciled.items():
        pc = pb.PolicyConfig(enforcementLevel=_level_value(level))
        pc.properties.update(props)
        request.policyConfig[name].CopyFrom(pc)
    stub.Configure(request)
    return info, reconciled


def _analyze_resources(stub: Any, plan: Plan, result: PackResult) -> None:
    """``Analyze`` every resource with its inputs, a window of calls in flight: the engine
    analyses resources as its steps complete, many at once, and the window keeps the pack's
    worker threads busy while this side encodes."""
    by_urn = plan.by_urn()
    pending: deque[tuple[RecordedResource, Any]] = deque()

    def collect() -> None:
        r0, fut = pending.popleft()
        resp = fut.result()
        result.analyzed += 1
        result.not_applicable += len(resp.not_applicable)
        result.violations += _violations(resp, result.pack, r0.urn)

    for r in plan.resources:
        req = pb.AnalyzeRequest(
            type=r.type,
            properties=for_analyzer(r.wire_inputs),
            urn=r.urn,
            name=r.name,
            options=_resource_options(r),
        )
        prov = _provider(r, by_urn)
        if prov is not None:
            req.provider.CopyFrom(prov)
        pending.append((r, stub.Analyze.future(req)))
        if len(pending) >= IN_FLIGHT:
            collect()
    while pending:
        collect()


def _analyze_stack(stub: Any, plan: Plan, result: PackResult) -> None:
    """``AnalyzeStack`` with every resource's outputs, parent, dependencies and provider."""
    by_urn = plan.by_urn()
    stack_req = pb.AnalyzeStackRequest()
    for r in plan.resources:
        ar = pb.AnalyzerResource(
            type=r.type,
            properties=for_analyzer(r.wire_outputs),
            urn=r.urn,
            name=r.name,
            options=_resource_options(r),
            parent=r.parent or "",
            dependencies=list(r.dependencies),
        )
        for k, urns in r.property_dependencies.items():
            ar.propertyDependencies[k].urns.extend(urns)
        prov = _provider(r, by_urn)
        if prov is not None:
            ar.provider.CopyFrom(prov)
        stack_req.resources.append(ar)
    resp = stub.AnalyzeStack(stack_req)
    result.violations += _violations(resp, result.pack, "")


def evaluate_pack(
    pack_dir: Path,
    plan: Plan,
    *,
    config: Mapping[str, str],
    secret_keys: list[str],
    stack_tags: Mapping[str, str] | None = None,
    pack_config: Mapping[str, Any] | None = None,
    pack_config_source: str = "--policy-pack-config",
) -> PackResult:
    """Evaluate one pack over a planned stack through the Analyzer protocol."""
    with PolicyPackProcess(pack_dir, project=plan.project, stack=plan.stack, config=config) as pack:
        try:
            stack = (config, secret_keys, stack_tags or {})
            info, reconciled = _configure(
                pack.stub, pack, plan, stack, pack_config or {}, pack_config_source
            )
            # Like the CLI, the version in PulumiPolicy.yaml wins over the SDK's placeholder.
            meta = safe_io.load_yaml(pack.pack_dir / "PulumiPolicy.yaml") or {}
            meta = meta if isinstance(meta, dict) else {}
            result = PackResult(
                pack=info.name,
                version=str(meta.get("version") or info.version),
                path=str(pack_dir),
                policies={name: level for name, (level, _) in reconciled.items()},
            )
            _analyze_resources(pack.stub, plan, result)
            _analyze_stack(pack.stub, plan, result)
            return result
        except grpc.RpcError as err:
            detail = err.details() if hasattr(err, "details") else str(err)
            raise PolicyPackError(
                f"{pack_dir}: policy pack failed during analysis: {detail}"
            ) from None


def _violations(resp: Any, pack: str, urn: str) -> list[Violation]:
    sev = {
        pb.POLICY_SEVERITY_LOW: "low",
        pb.POLICY_SEVERITY_MEDIUM: "medium",
        pb.POLICY_SEVERITY_HIGH: "high",
        pb.POLICY_SEVERITY_CRITICAL: "critical",
    }
    return [
        Violation(
            pack=d.policyPackName or pack,
            policy=d.policyName,
            enforcement=_level_name(d.enforcementLevel),
            urn=d.urn or urn,
            message=d.message,
            description=d.description,
            severity=sev.get(d.severity, ""),
        )
        for d in resp.diagnostics
    ]
