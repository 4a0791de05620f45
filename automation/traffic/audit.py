"""The traffic audit log: no change without an entry written before it.

Every change a person makes to traffic (``summit traffic pin``, ``unpin``, ``apply``) is two
JSON lines in the audit log (``.summit/traffic-audit.jsonl``, ``--audit-log``), both fsynced
through :func:`summit_platform.automation.safe_io.append_jsonl` and paired by ``id``:

1. the *intent*, before anything is locked or changed: ``{"id", "phase": "intent",
   "action", "stack", "who", "when", "why", "what", ...}``. If it cannot be written, nothing
   changes (the command exits 2 naming the log);
2. the *result*, after the change, still under the stack file's lock: ``{"id", "phase":
   "result", "ok": true, "before", "after", ...}`` with what the stack config held before and
   holds now; or ``"ok": false`` with the error when the change failed, or ``"unchanged"``
   when another command had already done it.

So a change that happened always has its intent on disk, and a completed entry (``ok: true``)
exists exactly for each change that was made. If the result cannot be written after a change
that can be undone (a stack file edit), the change is undone and the command fails: the log
and the config never disagree. Results are written under the lock, so the order of completed
entries is the order of the changes and the last one describes the stack config as it is.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from summit_platform.automation import safe_io
from summit_platform.automation.errors import UserError
from summit_platform.automation.traffic.files import iso
from summit_platform.components.render.redact import redact_text


def _now() -> str:
    return iso(time.time())


def _error_text(err: BaseException) -> str:
    text = redact_text(str(err).strip().splitlines()[0] if str(err).strip() else "")
    return f"{type(err).__name__}: {text[:300]}"


class Unchanged(Exception):
    """Raised by a change that finds, under the lock, nothing left to do (another command got
    there first): the entry is completed as not made, and :func:`record` returns ``None``."""


def record(
    log: Path,
    entry: Mapping[str, Any],
    change: Callable[[], Mapping[str, Any]],
    *,
    undo: Callable[[], None] | None = None,
    guard: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> dict[str, Any] | None:
    """Write the intent ``entry``; then, inside ``guard()`` (the stack file's lock), run
    ``change`` (it returns the result's fields, such as ``before``, ``after`` and ``ok``) and
    write the result; return it.

    The intent is written before the lock is taken, so an audit log that cannot be written
    stops the command before it touches anything. A failing ``change`` is recorded as
    ``ok: false`` (best effort) and re-raised; :class:`Unchanged` is recorded the same way
    and gives ``None``. When the result cannot be written, ``undo`` (if given) reverts the
    change, still under the lock, and a :class:`UserError` says so; without ``undo`` the
    error says the intent entry records a change that stands."""
    entry_id = uuid.uuid4().hex
    base = {"id": entry_id, "action": entry.get("action"), "stack": entry.get("stack")}
    safe_io.append_jsonl(log, {**entry, **base, "phase": "intent", "when": _now()})
    completed = False
    try:
        with guard():
            done = {**base, "phase": "result", "when": _now(), "ok": True, **change()}
            _complete(log, done, entry_id, undo)
            completed = True
            return done
    except Unchanged as err:
        skipped = {**base, "phase": "result", "when": _now(), "ok": False, "unchanged": str(err)}
        with contextlib.suppress(UserError):
            safe_io.append_jsonl(log, skipped)
        return None
    except BaseException as err:
        if not completed:  # the intent entry is on disk; the change's own error is the one
            failed = {**base, "phase": "result", "when": _now(), "ok": False}
            with contextlib.suppress(UserError):
                safe_io.append_jsonl(log, {**failed, "error": _error_text(err)})
        raise


def _complete(
    log: Path, done: dict[str, Any], entry_id: str, undo: Callable[[], None] | None
) -> None:
    try:
        safe_io.append_jsonl(log, done)
    except UserError as err:
        if undo is None:
            raise UserError(
                f"the change was made but its audit entry could not be completed ({err.detail});"
                f" the intent entry {entry_id} records it",
                source=str(log),
            ) from None
        undo()
        raise UserError(
            f"could not complete the audit entry ({err.detail}); the change was undone",
            source=str(log),
        ) from None


def read(log: Path) -> list[dict[str, Any]]:
    """Every entry of the audit log, oldest first (intents and results)."""
    if not log.exists():
        return []
    out = []
    for n, line in enumerate(safe_io.read_text(log).splitlines(), start=1):
        if line.strip():
            doc = safe_io.load_json_text(line, f"{log}:{n}")
            if not isinstance(doc, dict):
                raise UserError(
                    "expected one JSON object per line", source=str(log), key=f"line {n}"
                )
            out.append(doc)
    return out


def completed(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results of changes that were made (``phase: result``, ``ok: true``), in order."""
    return [e for e in entries if e.get("phase") == "result" and e.get("ok") is True]
