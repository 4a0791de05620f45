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
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as pb
from pulumi.runtime.proto import analyzer_pb2_grpc

from automation.plan.engine import Plan, RecordedResource, for_analyzer

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


def load_pack_config(path: Path | None) -> dict[str, Any]:
    """Read a ``--policy-pack-config`` JSON (or YAML) file."""
    if path is None:
        return {}
    try:
        text = path.read_text()
    except OSError as err:
        raise PolicyPackError(f"{path}: cannot read policy pack config ({err.strerror})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise PolicyPackError(f"{path}: not valid JSON/YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PolicyPackError(f"{path}: expected an object of policy name -> config")
    return data


def reconcile_config(
    info: Any, user_config: Mapping[str, Any], source: str
) -> dict[str, tuple[str, dict[str, Any]]]:
    """The engine's policy-config reconciliation: for each policy, its enforcement level and
    properties, from (lowest to highest) the policy's own level or the pack's default, the
    pack's initial config, the ``all`` key, then the policy's own key; schema defaults filled
    in; properties validated against the policy's config schema. Returns policy ->
    (level, properties)."""
    names = {p.name for p in info.policies}
    unknown = sorted(set(user_config) - names - {"all"})
    if unknown:
        raise PolicyPackError(
            f"{source}: unknown policy {', '.join(map(repr, unknown))} for pack {info.name!r}"
            f" (its policies: {', '.join(sorted(names))})"
        )
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
                raise PolicyPackError(
                    f"{source}: {p.name}: expected an enforcement level or an object,"
                    f" found {layer!r}"
                )
            if lvl:
                if lvl not in LEVELS:
                    raise PolicyPackError(
                        f"{source}: {p.name}.enforcementLevel: expected one of"
                        f" {', '.join(LEVELS)}, found {lvl!r}"
                    )
                level = lvl
            if layer is user_config.get("all") and extra:
                continue  # `all` carries a level only; properties are per policy
            props.update(extra)
        if schema:
            full = {"type": "object", **schema}
            try:
                jsonschema.validate(props, full)
            except jsonschema.ValidationError as err:
                where = ".".join(str(x) for x in err.absolute_path) or "(properties)"
                raise PolicyPackError(f"{source}: {p.name}.{where}: {err.message}") from None
        out[p.name] = (level, props)
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
            meta = yaml.safe_load((pack.pack_dir / "PulumiPolicy.yaml").read_text()) or {}
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
