"""The embedded lane's engine: run a Pulumi Python program in-process under the SDK's mock
monitor and record the resource graph the way the Pulumi engine would see it.

What is real here: the program (the same ``__main__.py`` that ``pulumi up`` runs), the SDK
(every resource registers through ``pulumi.runtime``'s gRPC-shaped monitor interface), the
provider SDKs' type tokens and input serialisation. What is not: no provider plugin runs, so
there is no ``Check`` (no auto-names, no provider defaults), no ``Diff`` against real state and
no cloud call; computed outputs are synthesised by :mod:`summit_platform.automation.plan.outputs`.

Several stacks can be planned in one process: each run gets a fresh ``contextvars`` context,
fresh mock settings, its own config, ``run_in_stack`` on a new event loop, and the planned
project's own modules are purged from ``sys.modules`` first.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import runpy
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import mocks as pm
from pulumi.runtime import rpc
from pulumi.runtime import settings as ps
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from summit_platform.automation.errors import PlanError
from summit_platform.automation.plan import outputs as synth
from summit_platform.stacks.config import ConfigError

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
STACK_TYPE = "pulumi:pulumi:Stack"


class RecordedResource:
    """One resource as the engine would hold it after a preview step.

    The wire structs are kept as the SDK sent them (secrets and unknowns encoded, as an analyzer
    receives them); the plain ``inputs``/``outputs`` dicts are decoded from them on first use,
    which keeps decoding off the registration path."""

    __slots__ = (
        "_inputs",
        "_outputs",
        "custom",
        "dependencies",
        "id",
        "name",
        "options",
        "parent",
        "property_dependencies",
        "provider",
        "type",
        "urn",
        "wire_inputs",
        "wire_outputs",
    )

    def __init__(
        self,
        *,
        urn: str,
        type: str,
        name: str,
        custom: bool,
        parent: str | None,
        provider: str | None,
        dependencies: list[str],
        property_dependencies: dict[str, list[str]],
        options: dict[str, Any],
        wire_inputs: struct_pb2.Struct,
        wire_outputs: struct_pb2.Struct,
        id: str | None = None,
    ) -> None:
        self.urn = urn
        self.type = type
        self.name = name
        self.custom = custom
        self.parent = parent
        self.provider = provider
        self.dependencies = dependencies
        self.property_dependencies = property_dependencies
        self.options = options
        self.id = id
        self.wire_inputs = wire_inputs
        self.wire_outputs = wire_outputs
        self._inputs: dict[str, Any] | None = None
        self._outputs: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"RecordedResource({self.type} {self.urn})"

    @property
    def inputs(self) -> dict[str, Any]:
        """Inputs as plain JSON: secrets as ``{"secret": value}``, unknowns ``"<unknown>"``."""
        if self._inputs is None:
            self._inputs = _plain(json_format.MessageToDict(self.wire_inputs))
        return self._inputs

    @property
    def outputs(self) -> dict[str, Any]:
        """Outputs (computed values synthesised by the mocks) as plain JSON."""
        if self._outputs is None:
            self._outputs = _plain(json_format.MessageToDict(self.wire_outputs))
        return self._outputs

    def set_outputs(self, wire: struct_pb2.Struct) -> None:
        self.wire_outputs = wire
        self._outputs = None

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")

    def to_json(self) -> dict[str, Any]:
        """The record for a report: secret values are shown as ``{"secret": "[secret]"}``
        (as ``pulumi preview --json`` shows them), never in clear."""
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "custom": self.custom,
            "id": self.id,
            "parent": self.parent,
            "provider": self.provider,
            "dependencies": self.dependencies,
            "propertyDependencies": self.property_dependencies,
            "inputs": _plain(json_format.MessageToDict(self.wire_inputs), reveal=False),
            "outputs": _plain(json_format.MessageToDict(self.wire_outputs), reveal=False),
            "options": self.options,
        }


@dataclass
class Plan:
    """The recorded graph of one stack, in registration order (parents before children)."""

    project: str
    stack: str
    resources: list[RecordedResource]
    outputs: dict[str, Any]

    def by_urn(self) -> dict[str, RecordedResource]:
        return {r.urn: r for r in self.resources}

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def children(self, urn: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.parent == urn]

    @property
    def root_urn(self) -> str:
        return make_urn(self.stack, self.project, None, STACK_TYPE, f"{self.project}-{self.stack}")

    def report_outputs(self) -> dict[str, Any]:
        """The stack outputs for a report: secret ones masked (see
        :meth:`RecordedResource.to_json`)."""
        root = self.by_urn().get(self.root_urn)
        if root is None:
            return self.outputs
        return dict(_plain(json_format.MessageToDict(root.wire_outputs), reveal=False))


def make_urn(stack: str, project: str, parent: str | None, type_: str, name: str) -> str:
    """Build a URN as the engine does: the parent's whole qualified type chain is kept
    (``a$b$c``), except that children of the root stack are not prefixed with it."""
    qualified = type_
    if parent:
        parent_qualified = parent.split("::")[2]
        if parent_qualified != STACK_TYPE:
            qualified = f"{parent_qualified}${type_}"
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


SECRET_SHOWN = "[secret]"
"""What a report shows for a secret value (the Pulumi CLI's own placeholder)."""


def _plain(value: Any, *, reveal: bool = True) -> Any:
    """Wire JSON (secrets/unknowns/resource refs encoded) -> readable JSON: secrets as
    ``{"secret": value}``, or ``{"secret": "[secret]"}`` with ``reveal=False`` (reports)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf carries every number as a double
    if isinstance(value, str):
        return "<unknown>" if value == UNKNOWN else value
    if isinstance(value, list):
        return [_plain(v, reveal=reveal) for v in value]
    if isinstance(value, dict):
        sig = value.get(SIG)
        if sig == SECRET_SIG:
            return {"secret": _plain(value.get("value")) if reveal else SECRET_SHOWN}
        if sig == RESOURCE_SIG:
            return value.get("id") or value.get("urn")
        if sig is not None:
            return {k: v for k, v in value.items() if k != SIG}
        return {k: _plain(v, reveal=reveal) for k, v in value.items()}
    return value


def _downgrade_refs(value: Any) -> Any:
    """Resource references become their id (custom) or URN (component), as the engine does for
    an analyzer that does not accept resource references (Python packs do not)."""
    if isinstance(value, list):
        return [_downgrade_refs(v) for v in value]
    if isinstance(value, dict):
        if value.get(SIG) == RESOURCE_SIG:
            return value.get("id") or value.get("urn")
        return {k: _downgrade_refs(v) for k, v in value.items()}
    return value


def for_analyzer(wire: struct_pb2.Struct) -> struct_pb2.Struct:
    """The struct as the engine sends it to an analyzer that takes no resource references:
    references downgraded to their id or URN. Most structs have none and go as they are."""
    if RESOURCE_SIG.encode() not in wire.SerializeToString():
        return wire
    return _struct(json_format.MessageToDict(wire))


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(_downgrade_refs(dict(value)))
    return s


def _copy(wire: struct_pb2.Struct) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.CopyFrom(wire)
    return s


def _options(request: Any) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if request.protect:
        opts["protect"] = True
    if request.ignoreChanges:
        opts["ignoreChanges"] = list(request.ignoreChanges)
    if request.replaceOnChanges:
        opts["replaceOnChanges"] = list(request.replaceOnChanges)
    if request.deleteBeforeReplace:
        opts["deleteBeforeReplace"] = True
    if request.additionalSecretOutputs:
        opts["additionalSecretOutputs"] = list(request.additionalSecretOutputs)
    if request.aliases:  # Alias specs (the SDK sends specs: aliasSpecs is only a flag)
        opts["aliases"] = [json_format.MessageToDict(a) for a in request.aliases]
    elif request.aliasURNs:
        opts["aliases"] = list(request.aliasURNs)
    if request.HasField("customTimeouts"):
        ct = request.customTimeouts
        opts["customTimeouts"] = {"create": ct.create, "update": ct.update, "delete": ct.delete}
    if request.retainOnDelete:
        opts["retainOnDelete"] = True
    if request.version:
        opts["version"] = request.version
    return opts


class _Mocks:
    """The ``pulumi.runtime.Mocks`` the recording monitor consults for ids and outputs."""

    def __init__(self, stack: str, project: str):
        self.stack = stack
        self.project = project

    def new_resource(self, args: Any) -> tuple[str | None, dict[str, Any]]:
        return synth.new_resource(args.typ, args.name, args.inputs, self.stack)

    def call(self, args: Any) -> tuple[dict[str, Any], list[Any] | None]:
        return synth.call(args.token, args.args, self.stack), []


class RecordingMonitor(pm.MockMonitor):
    """The SDK's mock monitor, extended to keep what the engine would keep: parents,
    providers, dependencies, wire-encoded inputs and options, with engine URNs."""

    def __init__(
        self,
        mocks: _Mocks,
        stack: str,
        project: str,
        config: Mapping[str, str] | None = None,
        secret_keys: Sequence[str] = (),
    ):
        super().__init__(mocks)  # type: ignore[arg-type]
        self.stack = stack
        self.project = project
        self.config = dict(config or {})
        self.secret_keys = set(secret_keys)
        self.records: list[RecordedResource] = []
        self.by_urn: dict[str, RecordedResource] = {}
        self.stack_outputs: dict[str, Any] = {}
        self.default_providers: dict[str, str] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        return make_urn(self.stack, self.project, parent or None, type_, name)

    def _default_provider(self, type_: str, version: str) -> str:
        """The SDK never registers default providers; the engine does. So do we."""
        package = type_.split(":")[0]
        key = f"{package}@{version}"
        if key in self.default_providers:
            return self.default_providers[key]
        name = "default" + (f"_{version.replace('.', '_')}" if version else "")
        ptype = f"pulumi:providers:{package}"
        urn = make_urn(self.stack, self.project, None, ptype, name)
        pid, outs = synth.new_resource(ptype, name, {}, self.stack)
        rec = RecordedResource(
            urn=urn,
            type=ptype,
            name=name,
            custom=True,
            parent=None,
            provider=None,
            dependencies=[],
            property_dependencies={},
            options={"default": True},
            id=pid,
            wire_inputs=_struct(self._default_provider_inputs(package, version)),
            wire_outputs=_struct(outs),
        )
        self._keep(rec)
        ref = f"{urn}::{pid}"
        self.default_providers[key] = ref
        return ref

    def _default_provider_inputs(self, package: str, version: str) -> dict[str, Any]:
        """What the engine gives a default provider: the stack's ``<package>:<key>`` config
        (``aws:region`` -> ``region``), as the config map holds it; secrets are left out
        (the embedded lane holds only their ciphertext)."""
        inputs: dict[str, Any] = {"version": version} if version else {}
        prefix = f"{package}:"
        for key, value in sorted(self.config.items()):
            if key.startswith(prefix) and key not in self.secret_keys:
                inputs[key[len(prefix) :]] = value
        return inputs

    def _keep(self, rec: RecordedResource) -> None:
        if rec.urn in self.by_urn:
            raise PlanError(
                f"duplicate resource URN {rec.urn}: two resources of one type share a name"
                " under the same parent"
            )
        self.by_urn[rec.urn] = rec
        self.records.append(rec)

    def _register_stack(self, urn: str, name: str) -> Any:
        """The root stack resource: no inputs, no provider, outputs come later."""
        self._keep(
            RecordedResource(
                urn=urn,
                type=STACK_TYPE,
                name=name,
                custom=False,
                parent=None,
                provider=None,
                dependencies=[],
                property_dependencies={},
                options={},
                wire_inputs=struct_pb2.Struct(),
                wire_outputs=struct_pb2.Struct(),
            )
        )
        return resource_pb2.RegisterResourceResponse(urn=urn)

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == STACK_TYPE:
            return self._register_stack(urn, request.name)
        _ensure_event_loop()
        inputs = rpc.deserialize_properties(request.object)
        provider = request.provider or None
        if request.custom and not provider and not request.type.startswith("pulumi:"):
            provider = self._default_provider(request.type, request.version)
        id_, state = synth.new_resource(request.type, request.name, inputs, self.stack)
        if not request.custom:
            id_ = None
        obj_proto = _sync_await(rpc.serialize_properties(state, {}))
        rec = RecordedResource(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent or None,
            provider=provider,
            # Sorted: the SDK sends them in the order its Outputs resolved, which varies from
            # run to run; the engine treats them as sets, and plan files must be reproducible.
            dependencies=sorted(request.dependencies),
            property_dependencies={
                k: sorted(v.urns) for k, v in request.propertyDependencies.items()
            },
            options=_options(request),
            id=id_,
            wire_inputs=_copy(request.object),
            wire_outputs=obj_proto,
        )
        self._keep(rec)
        self.resources[urn] = pm.MockMonitor.ResourceRegistration(urn, id_ or "", state)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_ or "", object=obj_proto)

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if request.urn.split("::")[2] == STACK_TYPE:
            self.stack_outputs = _plain(json_format.MessageToDict(request.outputs))
        if request.urn in self.by_urn:
            self.by_urn[request.urn].set_outputs(_copy(request.outputs))
        return empty_pb2.Empty()

    def ReadResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type != "pulumi:pulumi:StackReference":
            raise PlanError(
                f"{urn}: reading an existing resource (`.get`) needs the cloud; the"
                " embedded lane cannot plan it"
            )
        # A StackReference is a read of another stack's outputs, which are not knowable
        # here: they stay unknown, as in a preview against an undeployed stack.
        _ensure_event_loop()
        wire = json_format.MessageToDict(request.properties)
        state = {"name": request.id, "outputs": UNKNOWN, "secretOutputNames": []}
        obj_proto = _sync_await(rpc.serialize_properties(state, {}))
        rec = RecordedResource(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=True,
            parent=request.parent or None,
            provider=request.provider or None,
            dependencies=sorted(request.dependencies),
            property_dependencies={},
            options={"read": True},
            id=request.id,
            wire_inputs=_struct({"name": request.id, **wire}),
            wire_outputs=obj_proto,
        )
        self._keep(rec)
        return resource_pb2.ReadResourceResponse(urn=urn, properties=obj_proto)


def _stable_order(records: list[RecordedResource]) -> list[RecordedResource]:
    """Registration order depends on asyncio scheduling; order by depth in the parent tree,
    then URN, so parents still come first and the same program always gives the same list."""
    by_urn = {r.urn: r for r in records}

    def depth(r: RecordedResource) -> int:
        d, cur = 0, r
        while cur.parent and cur.parent in by_urn and d < 256:
            d, cur = d + 1, by_urn[cur.parent]
        return d

    return sorted(records, key=lambda r: (depth(r), r.urn))


def _purge_modules(project_dir: Path, before: set[str]) -> None:
    """Forget the planned project's modules that this run imported, so the next run imports
    them afresh (a module that registered anything at import would otherwise leak between
    runs). Modules the caller had already imported stay: their classes are the caller's."""
    root = str(project_dir.resolve())
    for name in set(sys.modules) - before:
        mod = sys.modules.get(name)
        path = getattr(mod, "__file__", None) or ""
        if (
            name != "__main__"
            and path
            and "site-packages" not in path
            and os.path.realpath(path).startswith(root + os.sep)
        ):
            del sys.modules[name]
            # A package the caller keeps (say summit_platform.components.render) still holds the forgotten
            # submodule as an attribute, and `from package import submodule` would return
            # that stale module next run: mixed module generations break class identity.
            parent_name, _, child = name.rpartition(".")
            parent = sys.modules.get(parent_name)
            if parent is not None and getattr(parent, child, None) is mod:
                delattr(parent, child)


@contextlib.contextmanager
def _in_dir(project_dir: Path) -> Iterator[None]:
    """Pulumi runs a Python program from its project directory with it on sys.path."""
    old_cwd = os.getcwd()
    path_entry = str(project_dir)
    os.chdir(project_dir)
    sys.path.insert(0, path_entry)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        with contextlib.suppress(ValueError):
            sys.path.remove(path_entry)


def config_map(project: str, values: Mapping[str, Any]) -> dict[str, str]:
    """Namespace values -> the engine's config map (``project:key`` -> string or JSON)."""
    out = {}
    for key, value in values.items():
        full = key if ":" in key else f"{project}:{key}"
        out[full] = value if isinstance(value, str) else json.dumps(value)
    return out


def _configure_mocks(stack: str, project: str, config: Mapping[str, str], secret_keys: list[str]):
    """Point the SDK's runtime settings at a fresh recording monitor with this run's config."""
    monitor = RecordingMonitor(_Mocks(stack, project), stack, project, config, secret_keys)
    features = set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures)
    settings = pm.MockSettings(
        monitor=monitor,
        monitor_features=features,
        engine=pm.MockEngine(None),
        project=project,
        stack=stack,
        dry_run=True,
        organization="organization",
        callbacks=None,
    )
    ps.configure(settings)
    ps.ROOT.set(None)
    set_all_config(dict(config), secret_keys)
    return monitor


def _run_in_stack(project_dir: Path, run_main: Callable[[], None]) -> None:
    """``run_main`` inside the root stack resource, on a new event loop, from the project's
    directory (as ``pulumi up`` runs a program)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        with _in_dir(project_dir):
            loop.run_until_complete(run_in_stack(run_main))
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)


def _plan_failure(err: Exception, project_dir: Path) -> Exception:
    """What a program's exception becomes: the ConfigError it wraps (bad stack config, named
    file and key), else a PlanError saying what was raised and where (the innermost line of
    the project's own code), one line per line of its message. No traceback: bad input must
    never print one; ``python -m pulumi`` or a test shows the whole of it."""
    cause: BaseException = err
    seen: set[int] = set()
    while not isinstance(cause, ConfigError) and id(cause) not in seen:
        seen.add(id(cause))
        nxt = cause.__cause__ or cause.__context__
        if nxt is None:
            break
        cause = nxt
    if isinstance(cause, ConfigError):
        return cause
    frames = traceback.extract_tb(err.__traceback__)
    own = [f for f in frames if Path(f.filename).is_relative_to(project_dir)] or frames
    where = ""
    if own:
        f = own[-1]
        path = Path(f.filename)
        shown = path.relative_to(project_dir) if path.is_relative_to(project_dir) else path.name
        where = f" (at {shown}:{f.lineno} in {f.name})"
    first, *rest = str(err).strip().splitlines() or [""]
    return PlanError("\n".join([f"the program raised {type(err).__name__}: {first}{where}", *rest]))


def run_program(
    project_dir: Path | str,
    stack: str,
    project: str,
    config: Mapping[str, str],
    secret_keys: list[str] | None = None,
    program: Callable[[], Any] | None = None,
) -> Plan:
    """Run a program under the recording mock monitor and return its graph.

    ``program`` defaults to running ``<project_dir>/__main__.py`` as ``pulumi up`` would;
    tests pass a callable to plan a component alone. ``config`` is the engine's flat config
    map (``project:key`` -> value as string). Each run has its own ``contextvars`` context,
    and the project's modules it imported are forgotten afterwards."""
    project_dir = Path(project_dir).resolve()
    main_py = project_dir / "__main__.py"
    if program is None and not main_py.is_file():
        raise PlanError(f"{project_dir}: no __main__.py (is this a Pulumi Python project?)")

    def run_main() -> None:
        if program is not None:
            program()
        else:
            runpy.run_path(str(main_py), run_name="__main__")

    def body() -> Plan:
        monitor = _configure_mocks(stack, project, config, list(secret_keys or []))
        _run_in_stack(project_dir, run_main)
        return Plan(
            project=project,
            stack=stack,
            resources=_stable_order(monitor.records),
            outputs=dict(monitor.stack_outputs),
        )

    before = set(sys.modules)
    try:
        return contextvars.copy_context().run(body)
    except PlanError:
        raise
    except Exception as err:
        failure = _plan_failure(err, project_dir)
        if isinstance(failure, ConfigError):
            raise failure from None  # the message names the file and key; no chain to show
        raise failure from err
    finally:
        _purge_modules(project_dir, before)
