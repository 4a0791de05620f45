"""Thin, typed wrappers over ``pulumi.automation`` for the ``summit`` commands (the cloud lane).

Every command that changes a real stack (traffic dials, FinOps previews, multi-region deploys)
goes through this module, so the Automation API is used one way and its errors always map
to the same messages and exit codes:

==============================  ==================================  =========
SDK error                       raised here                         exit code
==============================  ==================================  =========
``StackNotFoundError``          :class:`~summit_platform.automation.errors.UserError`     2
``StackAlreadyExistsError``     :class:`~summit_platform.automation.errors.UserError`     2
CLI missing / too old           :class:`~summit_platform.automation.errors.UserError`     2
``ConcurrentUpdateError``       :class:`StackLocked` (retryable)          1
mandatory policy violation      :class:`PolicyViolations`                 1
any other ``CommandError``      :class:`PulumiCommandFailed`              1
==============================  ==================================  =========

A lock is a *retryable failure* (exit 1), not bad input: the same command succeeds once the
other update finishes. :class:`StackLocked` says so and carries ``retryable = True`` so a
caller may retry with backoff (tenacity) before giving up.

The workspace is a ``LocalWorkspace`` whose ``work_dir`` is the project directory: the same
``Pulumi.yaml``, program and ``Pulumi.<stack>.yaml`` files the CLI uses. The ``pulumi``
binary comes from, in order: the ``command`` argument, ``$SUMMIT_PULUMI_ROOT`` (a directory
with ``bin/pulumi``; tests point it at ``tests/support/pulumi_standin.py``), then ``PATH``.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import tenacity
from pulumi import automation as auto
from pulumi.automation import errors as auto_errors
from pulumi.automation.events import EngineEvent

from summit_platform.automation.errors import NOT_A_PROJECT, CheckFailed, UserError

__all__ = [
    "PULUMI_ROOT_ENV",
    "ConfigInput",
    "ConfigValue",
    "DestroyOutcome",
    "PolicyEventRecord",
    "PolicyViolations",
    "PreviewOutcome",
    "PulumiCommandFailed",
    "StackLocked",
    "StackSummary",
    "UpOutcome",
    "UpdateRecord",
    "destroy",
    "get_config",
    "get_tags",
    "history",
    "list_stacks",
    "open_stack",
    "outputs",
    "preview",
    "pulumi_command",
    "remove_config",
    "remove_stack",
    "retry_when_locked",
    "set_all_config",
    "set_all_config_json",
    "set_config",
    "set_tags",
    "up",
]

PULUMI_ROOT_ENV = "SUMMIT_PULUMI_ROOT"
"""Directory holding ``bin/pulumi`` to use instead of the one on ``PATH``."""

ConfigValue = auto.ConfigValue
ConfigInput = str | int | float | bool | auto.ConfigValue
"""What :func:`set_config` accepts; booleans become ``true``/``false`` as the CLI spells them."""

OnEvent = Callable[[EngineEvent], Any]
OnOutput = Callable[[str], Any]

T = TypeVar("T")

_STDERR_TAIL_LINES = 20
_CONFIG_NOT_FOUND = re.compile(r"configuration key '.*' not found")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class PulumiCommandFailed(CheckFailed):
    """A ``pulumi`` invocation failed (exit 1). ``stderr_tail`` holds the CLI's last lines.

    ``policy_events`` and ``changes`` hold whatever the engine reported before failing, so a
    PR comment can still show the violations and the planned changes.
    """

    def __init__(
        self,
        message: str,
        *,
        stack: str,
        action: str,
        exit_code: int | None = None,
        stderr_tail: str = "",
        policy_events: Sequence[PolicyEventRecord] = (),
        changes: Mapping[str, int] | None = None,
    ):
        super().__init__(message)
        self.stack = stack
        self.action = action
        self.cli_exit_code = exit_code
        self.stderr_tail = stderr_tail
        self.policy_events = tuple(policy_events)
        self.changes = dict(changes or {})


class PolicyViolations(PulumiCommandFailed):
    """The engine stopped on at least one mandatory policy violation (exit 1)."""

    @property
    def mandatory(self) -> tuple[PolicyEventRecord, ...]:
        return tuple(e for e in self.policy_events if e.mandatory)


class StackLocked(PulumiCommandFailed):
    """Another update holds the stack's lock (``ConcurrentUpdateError``): retry later (exit 1)."""

    retryable = True


# --------------------------------------------------------------------------------------------
# Results (plain, frozen values)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PolicyEventRecord:
    """One policy result from the engine's event stream (``EngineEvent.policy_event``).

    Field names match ``summit plan --json`` violations (``pack``, ``policy``, ``enforcement``,
    ``urn``, ``message``) so both lanes feed the same reports.
    """

    pack: str
    """Policy pack name (``policyPackName``)."""
    pack_version: str
    """Policy pack version (``policyPackVersion``)."""
    policy: str
    """Policy name (``policyName``), kebab-case."""
    enforcement: str
    """``advisory``, ``mandatory`` or ``remediate`` as the engine reports it."""
    urn: str | None
    """Resource URN, or None for a stack-level policy."""
    message: str
    """The violation text, without colour codes."""

    @property
    def mandatory(self) -> bool:
        return self.enforcement == "mandatory"

    @classmethod
    def from_event(cls, event: EngineEvent) -> PolicyEventRecord | None:
        pe = event.policy_event
        if pe is None:
            return None
        return cls(
            pack=pe.policy_pack_name,
            pack_version=pe.policy_pack_version,
            policy=pe.policy_name,
            enforcement=pe.enforcement_level,
            urn=pe.resource_urn or None,
            message=pe.message,
        )


@dataclass(frozen=True, kw_only=True)
class PreviewOutcome:
    """What a preview would change, and every policy event it produced."""

    stack: str
    changes: dict[str, int]
    """Count per operation (``create``, ``update``, ``delete``, ``same``, ...)."""
    policy_events: tuple[PolicyEventRecord, ...] = ()
    stdout: str = ""

    @property
    def mandatory_violations(self) -> tuple[PolicyEventRecord, ...]:
        return tuple(e for e in self.policy_events if e.mandatory)


@dataclass(frozen=True, kw_only=True)
class UpOutcome:
    """The result of an update: changes made, the stack's outputs, policy events."""

    stack: str
    changes: dict[str, int]
    outputs: dict[str, Any]
    """Stack outputs as plain values (secrets revealed; see ``secret_outputs``)."""
    secret_outputs: frozenset[str] = frozenset()
    policy_events: tuple[PolicyEventRecord, ...] = ()
    version: int | None = None
    """The update's number in the stack history."""
    stdout: str = ""


@dataclass(frozen=True, kw_only=True)
class DestroyOutcome:
    """The result of a destroy: how many resources went away."""

    stack: str
    changes: dict[str, int]
    version: int | None = None
    stdout: str = ""


@dataclass(frozen=True, kw_only=True)
class StackSummary:
    """One row of ``pulumi stack ls --json``. ``last_update`` is timezone-aware (UTC)."""

    name: str
    current: bool = False
    last_update: datetime | None = None
    """None for a stack that was never updated, and while an update runs (the CLI omits it)."""
    resource_count: int | None = None
    update_in_progress: bool | None = None
    """True while an update holds the stack; None when the backend does not say."""
    url: str | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateRecord:
    """One entry of ``pulumi stack history --json`` (newest first). Times are UTC-aware."""

    version: int | None
    kind: str
    """``update``, ``preview``, ``refresh``, ``destroy`` or ``import``."""
    result: str
    """``succeeded``, ``failed`` or ``in-progress``."""
    start_time: datetime
    end_time: datetime | None
    message: str = ""
    resource_changes: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Opening stacks
# --------------------------------------------------------------------------------------------


def pulumi_command(root: str | Path | None = None) -> auto.PulumiCommand:
    """The ``pulumi`` binary to run: ``root/bin/pulumi``, ``$SUMMIT_PULUMI_ROOT``, or ``PATH``.

    Raises :class:`UserError` (exit 2) when there is no usable CLI.
    """
    chosen = str(root) if root is not None else os.environ.get(PULUMI_ROOT_ENV) or None
    return _cached_command(chosen)


@functools.lru_cache(maxsize=8)
def _cached_command(root: str | None) -> auto.PulumiCommand:
    # PulumiCommand runs `pulumi version` on construction; do it once per binary.
    where = f"{root}/bin/pulumi" if root else "pulumi on PATH"
    try:
        return auto.PulumiCommand(root=root)
    except FileNotFoundError:
        raise UserError(
            f"the Pulumi CLI was not found ({where}); expected an installed CLI "
            f"(see docs/automation.md) or {PULUMI_ROOT_ENV}=<dir with bin/pulumi>",
            key="pulumi",
        ) from None
    except auto_errors.InvalidVersionError as err:
        raise UserError(f"unusable Pulumi CLI ({where}): {err}", key="pulumi") from None
    except OSError as err:
        raise UserError(f"cannot run the Pulumi CLI ({where}): {err}", key="pulumi") from None


def _workspace(
    project_dir: str | Path,
    *,
    command: auto.PulumiCommand | None,
    env: Mapping[str, str] | None,
    secrets_provider: str | None = None,
) -> auto.LocalWorkspace:
    project = Path(project_dir).resolve()
    if not any((project / f"Pulumi.{ext}").exists() for ext in ("yaml", "yml", "json")):
        raise UserError(NOT_A_PROJECT, source=str(project))
    return auto.LocalWorkspace(
        work_dir=str(project),
        env_vars=dict(env or {}),
        secrets_provider=secrets_provider,
        pulumi_command=command or pulumi_command(),
    )


def open_stack(
    project_dir: str | Path,
    stack: str,
    *,
    create: bool = False,
    command: auto.PulumiCommand | None = None,
    env: Mapping[str, str] | None = None,
    secrets_provider: str | None = None,
) -> auto.Stack:
    """Select ``stack`` of the local project in ``project_dir`` (``create=True``: or create it).

    ``env`` is passed to every CLI call (credentials, ``PULUMI_CONFIG_PASSPHRASE``, ...).
    A missing stack raises :class:`UserError` naming it (exit 2).
    """
    ws = _workspace(project_dir, command=command, env=env, secrets_provider=secrets_provider)
    mode = auto.Stack.create_or_select if create else auto.Stack.select
    with _mapped("stack select", stack, ws.work_dir):
        return mode(stack, ws)


def remove_stack(
    project_dir: str | Path,
    stack: str,
    *,
    force: bool = False,
    preserve_config: bool = False,
    command: auto.PulumiCommand | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """``pulumi stack rm --yes``. Without ``force`` the CLI refuses a stack with resources.

    Without ``preserve_config`` the CLI also deletes ``Pulumi.<stack>.yaml``.
    """
    ws = _workspace(project_dir, command=command, env=env)
    with _mapped("stack rm", stack, ws.work_dir):
        ws.remove_stack(stack, force=force or None, preserve_config=preserve_config or None)


def list_stacks(
    project_dir: str | Path,
    *,
    command: auto.PulumiCommand | None = None,
    env: Mapping[str, str] | None = None,
) -> list[StackSummary]:
    """``pulumi stack ls --json`` for the project, sorted by name."""
    ws = _workspace(project_dir, command=command, env=env)
    with _mapped("stack ls", "", ws.work_dir):
        rows = ws.list_stacks()
    return sorted(
        (
            StackSummary(
                name=row.name,
                current=bool(row.current),
                last_update=_utc(row.last_update),
                resource_count=row.resource_count,
                update_in_progress=row.update_in_progress,
                url=row.url,
            )
            for row in rows
        ),
        key=lambda s: s.name,
    )


# --------------------------------------------------------------------------------------------
# Config and tags
# --------------------------------------------------------------------------------------------


def _config_value(value: ConfigInput, secret: bool = False) -> auto.ConfigValue:
    if isinstance(value, auto.ConfigValue):
        return auto.ConfigValue(value=value.value, secret=value.secret or secret)
    if isinstance(value, bool):
        return auto.ConfigValue(value="true" if value else "false", secret=secret)
    return auto.ConfigValue(value=str(value), secret=secret)


def set_config(
    stack: auto.Stack, key: str, value: ConfigInput, *, secret: bool = False, path: bool = False
) -> None:
    """``pulumi config set [--path] KEY (--secret|--plaintext) -- VALUE``.

    ``key`` is ``namespace:key`` or a bare key (the project namespace); with ``path=True`` it is
    a property path such as ``summit-platform:regions[0].naturalShare``.
    """
    with _mapped("config set", stack.name, stack.workspace.work_dir):
        stack.set_config(key, _config_value(value, secret), path=path)


def set_all_config(
    stack: auto.Stack,
    values: Mapping[str, ConfigInput],
    *,
    secret_keys: Iterable[str] = (),
    path: bool = False,
) -> None:
    """Set many keys in one ``pulumi config set-all`` call (one write of the stack file)."""
    secrets = set(secret_keys)
    unknown = secrets - set(values)
    if unknown:
        raise UserError(
            f"secret_keys names keys that are not being set: {sorted(unknown)}", key="secret_keys"
        )
    config = {k: _config_value(v, k in secrets) for k, v in values.items()}
    if not config:
        return
    with _mapped("config set-all", stack.name, stack.workspace.work_dir):
        stack.set_all_config(config, path=path)


def set_all_config_json(
    stack: auto.Stack, values: Mapping[str, Any], *, secret_keys: Iterable[str] = ()
) -> None:
    """Set whole values, objects and lists included, in one ``pulumi config set-all --json``
    call (the shape ``pulumi config --json`` prints: ``{key: {value, objectValue, secret}}``).

    Unlike ``--path`` leaves, an object replaces the old one whole (a key it no longer has is
    gone), and the CLI writes the stack file once: if the call fails, every value is as it
    was. Needs a Pulumi CLI with ``config set-all --json`` (3.17x and later)."""
    secrets = set(secret_keys)
    doc: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        entry: dict[str, Any] = {"secret": key in secrets}
        if isinstance(value, Mapping | list):
            entry["value"] = json.dumps(value, allow_nan=False)
            entry["objectValue"] = value
        elif isinstance(value, bool):
            entry["value"] = "true" if value else "false"
        else:
            entry["value"] = str(value)
        doc[key] = entry
    if not doc:
        return
    with _mapped("config set-all", stack.name, stack.workspace.work_dir):
        stack.set_all_config_json(json.dumps(doc, allow_nan=False))


def get_config(stack: auto.Stack, key: str, *, path: bool = False) -> auto.ConfigValue | None:
    """``pulumi config get KEY --json``: the value (secrets in plaintext), or None if unset."""
    try:
        with _mapped("config get", stack.name, stack.workspace.work_dir):
            return stack.get_config(key, path=path)
    except PulumiCommandFailed as err:
        if _CONFIG_NOT_FOUND.search(err.stderr_tail):
            return None
        raise


def remove_config(stack: auto.Stack, key: str, *, path: bool = False) -> None:
    """``pulumi config rm KEY``."""
    with _mapped("config rm", stack.name, stack.workspace.work_dir):
        stack.remove_config(key, path=path)


def set_tags(stack: auto.Stack, tags: Mapping[str, str]) -> None:
    """``pulumi stack tag set KEY VALUE`` for each tag (the CLI has no bulk form)."""
    with _mapped("stack tag set", stack.name, stack.workspace.work_dir):
        for key, value in tags.items():
            stack.set_tag(key, value)


def get_tags(stack: auto.Stack) -> dict[str, str]:
    """``pulumi stack tag ls --json``: the user's tags plus the CLI's built-in ``pulumi:*`` ones."""
    with _mapped("stack tag ls", stack.name, stack.workspace.work_dir):
        return dict(stack.list_tags())


def list_tags(
    project_dir: str | Path,
    stack: str,
    *,
    command: auto.PulumiCommand | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``pulumi stack tag ls --json --stack NAME`` without selecting the stack first: reading
    a stack's tags leaves the workspace's current stack as it was (dry runs change nothing)."""
    ws = _workspace(project_dir, command=command, env=env)
    with _mapped("stack tag ls", stack, ws.work_dir):
        return dict(ws.list_tags(stack))


# --------------------------------------------------------------------------------------------
# Engine operations
# --------------------------------------------------------------------------------------------


class _Collector:
    """Collects policy events and the summary from the engine stream, then forwards events."""

    def __init__(self, on_event: OnEvent | None):
        self.on_event = on_event
        self.policy_events: list[PolicyEventRecord] = []
        self.changes: dict[str, int] | None = None

    def __call__(self, event: EngineEvent) -> None:
        record = PolicyEventRecord.from_event(event)
        if record is not None:
            self.policy_events.append(record)
        if event.summary_event is not None:
            self.changes = _changes(event.summary_event.resource_changes)
        if self.on_event is not None:
            self.on_event(event)


def preview(
    stack: auto.Stack,
    *,
    policy_packs: Sequence[str | Path] = (),
    policy_pack_configs: Sequence[str | Path] = (),
    targets: Sequence[str] = (),
    on_event: OnEvent | None = None,
    on_output: OnOutput | None = None,
) -> PreviewOutcome:
    """``pulumi preview --policy-pack P --policy-pack-config C --event-log ...``.

    Returns the change summary and every policy event. A mandatory violation raises
    :class:`PolicyViolations` carrying the events and changes seen before the failure.
    ``policy_pack_configs[i]`` belongs to ``policy_packs[i]``, as on the CLI.
    """
    _check_pack_configs(policy_packs, policy_pack_configs)
    collector = _Collector(on_event)
    with _mapped("preview", stack.name, stack.workspace.work_dir, collector):
        result = stack.preview(
            policy_packs=[str(p) for p in policy_packs] or None,
            policy_pack_configs=[str(p) for p in policy_pack_configs] or None,
            target=list(targets) or None,
            on_event=collector,
            on_output=on_output,
        )
    return PreviewOutcome(
        stack=stack.name,
        changes=_changes(result.change_summary),
        policy_events=tuple(collector.policy_events),
        stdout=result.stdout,
    )


def up(
    stack: auto.Stack,
    *,
    targets: Sequence[str] = (),
    policy_packs: Sequence[str | Path] = (),
    policy_pack_configs: Sequence[str | Path] = (),
    message: str | None = None,
    on_event: OnEvent | None = None,
    on_output: OnOutput | None = None,
) -> UpOutcome:
    """``pulumi up --yes --skip-preview [--target URN]... --event-log ...``, then outputs.

    ``targets`` limits the update to those URNs (``--target``), as a staged rollout needs.
    """
    _check_pack_configs(policy_packs, policy_pack_configs)
    collector = _Collector(on_event)
    with _mapped("up", stack.name, stack.workspace.work_dir, collector):
        result = stack.up(
            target=list(targets) or None,
            policy_packs=[str(p) for p in policy_packs] or None,
            policy_pack_configs=[str(p) for p in policy_pack_configs] or None,
            message=message,
            on_event=collector,
            on_output=on_output,
        )
    changes = collector.changes
    if changes is None:
        changes = _changes(result.summary.resource_changes or {})
    return UpOutcome(
        stack=stack.name,
        changes=changes,
        outputs={k: v.value for k, v in result.outputs.items()},
        secret_outputs=frozenset(k for k, v in result.outputs.items() if v.secret),
        policy_events=tuple(collector.policy_events),
        version=result.summary.version,
        stdout=result.stdout,
    )


def destroy(
    stack: auto.Stack,
    *,
    targets: Sequence[str] = (),
    on_event: OnEvent | None = None,
    on_output: OnOutput | None = None,
) -> DestroyOutcome:
    """``pulumi destroy --skip-preview --yes [--target URN]...``: deletes the stack's resources.

    The stack and its config remain; see :func:`remove_stack`. Callers that expose this to
    people must default to a dry run (STYLE.md: destructive commands show first).
    """
    collector = _Collector(on_event)
    with _mapped("destroy", stack.name, stack.workspace.work_dir, collector):
        result = stack.destroy(
            target=list(targets) or None, on_event=collector, on_output=on_output
        )
    changes = collector.changes
    if changes is None:
        changes = _changes(result.summary.resource_changes or {})
    return DestroyOutcome(
        stack=stack.name, changes=changes, version=result.summary.version, stdout=result.stdout
    )


def outputs(stack: auto.Stack) -> dict[str, Any]:
    """``pulumi stack output --json --show-secrets``: the stack outputs as plain values."""
    with _mapped("stack output", stack.name, stack.workspace.work_dir):
        return {k: v.value for k, v in stack.outputs().items()}


def history(stack: auto.Stack, *, page_size: int | None = None) -> list[UpdateRecord]:
    """``pulumi stack history --json``, newest first; ``page_size`` limits to the latest N."""
    with _mapped("stack history", stack.name, stack.workspace.work_dir):
        entries = stack.history(page_size=page_size, show_secrets=False)
    return [
        UpdateRecord(
            version=e.version,
            kind=e.kind,
            result=e.result,
            start_time=_utc(e.start_time) or datetime.min.replace(tzinfo=UTC),
            end_time=_utc(e.end_time),
            message=e.message or "",
            resource_changes=_changes(e.resource_changes or {}),
        )
        for e in entries
    ]


def retry_when_locked(
    action: Callable[[], T],
    *,
    attempts: int = 3,
    first_wait_seconds: float = 5.0,
    max_wait_seconds: float = 60.0,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """Run ``action``; on :class:`StackLocked` wait (exponential backoff) and try again.

    Only a lock is retried: it means nothing ran. Any other failure, and the last
    :class:`StackLocked` after ``attempts`` tries, propagates unchanged (exit 1).
    """
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(StackLocked),
        stop=tenacity.stop_after_attempt(max(1, attempts)),
        wait=tenacity.wait_exponential(multiplier=first_wait_seconds, max=max_wait_seconds),
        sleep=sleep or tenacity.nap.sleep,
        reraise=True,
    )
    return retrying(action)


# --------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------


def _utc(value: datetime | None) -> datetime | None:
    # The SDK parses the CLI's "...Z" timestamps into naive datetimes; they are UTC.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _changes(op_map: Mapping[Any, int] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for op, count in (op_map or {}).items():
        key = op.value if hasattr(op, "value") else str(op)
        out[key] = int(count)
    return out


def _check_pack_configs(packs: Sequence[str | Path], configs: Sequence[str | Path]) -> None:
    if len(configs) > len(packs):
        raise UserError(
            f"expected at most one policy pack config per policy pack, found {len(configs)} "
            f"configs for {len(packs)} packs",
            key="policy_pack_configs",
        )


_RESULT = re.compile(r"\n code: (-?\d+)\n stdout: (.*)\n stderr: (.*)\Z", re.DOTALL)


def _split_command_error(err: Exception) -> tuple[int | None, str, str]:
    """``CommandError`` keeps only ``str(CommandResult)``; recover code, stdout and stderr."""
    text = str(err)
    m = _RESULT.search(text)
    if not m:
        return None, "", text
    return int(m.group(1)), m.group(2), m.group(3)


def _tail(text: str, lines: int = _STDERR_TAIL_LINES) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


@contextmanager
def _mapped(
    action: str, stack: str, project_dir: str, collector: _Collector | None = None
) -> Iterator[None]:
    """Turn the SDK's errors into the ``summit`` error types (module docstring table)."""
    try:
        yield
    except auto_errors.StackNotFoundError:
        raise UserError(
            f"no stack named {stack!r} in this project's backend; expected an existing stack "
            "(`pulumi stack ls`), or create it first",
            source=project_dir,
            key=f"stack {stack}",
        ) from None
    except auto_errors.StackAlreadyExistsError:
        raise UserError(
            f"stack {stack!r} already exists; expected a new stack name",
            source=project_dir,
            key=f"stack {stack}",
        ) from None
    except auto_errors.ConcurrentUpdateError as err:
        code, _, stderr = _split_command_error(err)
        raise StackLocked(
            f"stack {stack!r} is locked by another update, so `pulumi {action}` did not run; "
            f"retry when it finishes (or `pulumi cancel -s {stack}` if that update died)",
            stack=stack,
            action=action,
            exit_code=code,
            stderr_tail=_tail(stderr),
        ) from None
    except auto_errors.CommandError as err:
        code, _, stderr = _split_command_error(err)
        events = tuple(collector.policy_events) if collector else ()
        changes = collector.changes if collector else None
        tail = _tail(stderr)
        mandatory = [e for e in events if e.mandatory]
        if mandatory:
            names = ", ".join(sorted({f"{e.pack}/{e.policy}" for e in mandatory}))
            raise PolicyViolations(
                f"`pulumi {action}` of stack {stack!r} stopped on {len(mandatory)} mandatory "
                f"policy violation(s): {names}",
                stack=stack,
                action=action,
                exit_code=code,
                stderr_tail=tail,
                policy_events=events,
                changes=changes,
            ) from None
        raise PulumiCommandFailed(
            f"`pulumi {action}` failed for stack {stack!r} (exit {code}):\n{tail}"
            if stack
            else f"`pulumi {action}` failed (exit {code}):\n{tail}",
            stack=stack,
            action=action,
            exit_code=code,
            stderr_tail=tail,
            policy_events=events,
            changes=changes,
        ) from None
    except RuntimeError as err:
        # The SDK raises the builtin RuntimeError when a preview ends without a summary event.
        raise PulumiCommandFailed(
            f"`pulumi {action}` of stack {stack!r} ended without an engine summary: {err}",
            stack=stack,
            action=action,
            policy_events=tuple(collector.policy_events) if collector else (),
        ) from None
