"""Audited changes to a stack's traffic config: ``summit traffic pin``, ``unpin`` and ``apply``.

Each change writes its audit intent first (:mod:`summit_platform.automation.traffic.audit`), then runs under
the stack file's lock (:func:`summit_platform.automation.safe_io.locked`), so two commands on one stack never
interleave their read-modify-write: it reads the value it changes under that lock (a pin and
an unpin at once both land, in some order, never a mix), checks the stack config the change
would leave against the config model, writes, and completes the audit entry with the config
before and after, still under the lock.

Where the change goes: the stack file itself (``--offline``, :class:`OfflineConfig`: the
original formatting kept, undone byte for byte if the audit entry cannot be completed), or
the Automation API (:class:`AutomationConfig`: whole values in one ``config set-all --json``
call, read back). A change that would leave the config as it is (``unpin`` with no pin) writes
nothing and is not audited.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from summit_platform.automation import safe_io
from summit_platform.automation.stack_files import project_defaults, read_stack_file
from summit_platform.automation.traffic import actuators, audit
from summit_platform.automation.traffic.actuators import (
    REGIONS_KEY,
    TRAFFIC_KEY,
    ApplyReport,
    AutomationConfig,
    FastPath,
    OfflineConfig,
)
from summit_platform.stacks.config import StackConfig, from_values, namespace_values


@dataclass(frozen=True)
class Target:
    """The stack a change is for, how it is written, and where it is audited."""

    project_dir: Path
    stack: str
    offline: bool
    log: Path

    @property
    def path(self) -> Path:
        return self.project_dir / f"Pulumi.{self.stack}.yaml"


@dataclass(frozen=True)
class _Stack:
    """One read of the stack file (under the lock) and the project's defaults."""

    project: str
    defaults: Mapping[str, Any]
    raw: Mapping[str, Any]
    source: str

    @classmethod
    def read(cls, t: Target, project: tuple[str, Mapping[str, Any]] | None = None) -> _Stack:
        name, defaults = project or project_defaults(t.project_dir)
        return cls(name, defaults, read_stack_file(t.project_dir, t.stack), str(t.path))

    @property
    def traffic(self) -> dict[str, Any]:
        return actuators.traffic_value(self.raw, self.defaults)

    def snapshot(self) -> dict[str, Any]:
        return actuators.snapshot(self.raw.get(TRAFFIC_KEY), self.raw.get(REGIONS_KEY))

    def resulting_config(
        self, traffic: Mapping[str, Any], dials: Mapping[str, int] | None = None
    ) -> StackConfig:
        """The stack config as it would be with ``traffic`` (and ``dials``) written, validated
        by the config model: a change never leaves a stack file ``summit plan`` refuses."""
        raw = copy.deepcopy(dict(self.raw))
        raw[TRAFFIC_KEY] = dict(traffic)
        if dials and isinstance(raw.get(REGIONS_KEY), list):
            raw[REGIONS_KEY] = [
                {**r, "dial": int(dials[r["name"]])}
                if isinstance(r, dict) and r.get("name") in dials
                else r
                for r in raw[REGIONS_KEY]
            ]
        values = namespace_values(self.project, self.defaults, raw, self.source)
        return from_values(values, self.source)


def _writer(t: Target, handle: Any = None) -> OfflineConfig | AutomationConfig:
    if t.offline:
        return OfflineConfig(t.project_dir, t.stack, lock=False)  # the caller holds the lock
    return AutomationConfig(handle or actuators.open_stack(t.project_dir, t.stack))


class _Undo:
    """How to take a written change back if its audit entry cannot be completed: the stack
    file's bytes, or the previous ``traffic`` value and dials through the Automation API.
    Filled in under the lock, just before the change."""

    def __init__(self, writer: OfflineConfig | AutomationConfig):
        self.writer = writer
        self.data: bytes | None = None
        self.traffic: Any = None
        self.dials: Mapping[str, Any] = {}

    def remember(self, traffic: Any, before: Mapping[str, Any]) -> None:
        if isinstance(self.writer, OfflineConfig):
            self.data = self.writer.read_bytes()
        self.traffic, self.dials = traffic, before["dials"]

    def __call__(self) -> None:
        if isinstance(self.writer, OfflineConfig):
            if self.data is not None:
                self.writer.restore(self.data)
        else:
            self.writer.set_traffic(self.traffic, self.dials)


def change_traffic(
    t: Target,
    entry: Callable[[dict[str, Any]], Mapping[str, Any]],
    update: Callable[[dict[str, Any]], dict[str, Any] | None],
) -> dict[str, Any] | None:
    """Derive the stack's new ``traffic`` value with ``update`` (``None``: nothing to
    change), then, audited, under the stack file's lock: read the value again, derive it
    again, validate the config it makes, write it. The intent is ``entry(current)``. Returns
    the completed audit entry, or ``None`` when nothing changed (no audit entry when that is
    clear before locking; a no-op found under the lock completes the entry as unchanged)."""
    project = project_defaults(t.project_dir)
    first = _Stack.read(t, project).traffic
    if update(copy.deepcopy(first)) is None:
        return None
    writer = _writer(t)
    undo = _Undo(writer)

    def change() -> dict[str, Any]:
        stack = _Stack.read(t, project)
        current = stack.traffic
        new = update(copy.deepcopy(current))
        if new is None:
            raise audit.Unchanged("another command made this change first")
        stack.resulting_config(new)
        before = stack.snapshot() if t.offline else writer.snapshot()
        undo.remember(current, before)
        writer.set_traffic(new)
        return {"before": before, "after": writer.snapshot()}

    intent = {**entry(first), "via": writer.via}
    return audit.record(t.log, intent, change, undo=undo, guard=lambda: safe_io.locked(t.path))


def _with_pin(traffic: dict[str, Any], pin: Mapping[str, Any] | None) -> dict[str, Any]:
    return {**traffic, "pin": dict(pin)} if pin is not None else traffic


def apply_offline(
    t: Target, entry: Mapping[str, Any], dials: Mapping[str, int], pin: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``apply --offline``: the dials (and the pin, when the apply is one) into the stack file
    in one write, audited; nothing is applied to AWS."""
    project = project_defaults(t.project_dir)
    writer = OfflineConfig(t.project_dir, t.stack, lock=False)
    undo = _Undo(writer)

    def change() -> dict[str, Any]:
        stack = _Stack.read(t, project)
        current = stack.traffic
        traffic = _with_pin(current, pin)
        stack.resulting_config(traffic, dials)
        before = stack.snapshot()
        undo.remember(current, before)
        if pin is not None:
            writer.set_traffic(traffic, dials)
        else:
            writer.set_dials(dials)
        return {"before": before, "after": writer.snapshot(), "applied": False}

    intent = {**entry, "via": writer.via}
    done = audit.record(t.log, intent, change, undo=undo, guard=lambda: safe_io.locked(t.path))
    assert done is not None  # an apply always changes (Unchanged is never raised here)
    return done


def apply_online(
    t: Target,
    entry: Mapping[str, Any],
    dials: Mapping[str, int],
    shares: Mapping[str, int],
    pin: Mapping[str, Any] | None,
    fast: FastPath,
) -> tuple[dict[str, Any], ApplyReport]:
    """``apply``: the dials (and the pin) through the Automation API in one call, then the
    targeted ``up`` with the policy packs, else the fast path; audited, with the report in
    the result. Reality cannot be undone, so the audit entry has no undo: if it cannot be
    completed the error says the intent entry records the change."""
    handle = actuators.open_stack(t.project_dir, t.stack)
    writer = AutomationConfig(handle)
    reports: list[ApplyReport] = []

    def change() -> dict[str, Any]:
        stack = _Stack.read(t)
        traffic = _with_pin(stack.traffic, pin)
        stack.resulting_config(traffic, dials)
        before = writer.snapshot()

        def write() -> None:
            if pin is not None:
                writer.set_traffic(traffic, dials)
            else:
                writer.set_dials(dials)

        report = actuators.apply_decision(
            t.project_dir, t.stack, dials, shares=shares, stack=handle, fast=fast, write=write
        )
        reports.append(report)
        return {
            "ok": report.consistent,
            "before": before,
            "after": writer.snapshot(),
            "report": report.to_dict(),
        }

    intent = {**entry, "via": writer.via}
    done = audit.record(t.log, intent, change, guard=lambda: safe_io.locked(t.path))
    assert done is not None
    return done, reports[0]
