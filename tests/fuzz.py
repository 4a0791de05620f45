"""The bad-input harness: run ``summit`` on generated malformed inputs and check the promise.

The promise (issue: bad input never crashes, never passes, never leaks): every malformed input
ends in exit 2 with one ``summit: error:`` line per problem that names the file or flag (or, for
a gate, a fail-closed exit 1 that says "no data"), never a traceback or an internal error (exit
70), and no file changes.

Each surface's property tests (hypothesis) call :func:`run` with an argv and the files the
command may touch, then :func:`assert_clean`. :func:`run` calls the real entry point in-process
(``summit_platform.automation.cli.main``) with stdout/stderr captured, which is ~100x cheaper than a process per
example; ``tests/test_cli_errors.py`` covers the console script itself.

``make fuzz`` runs every surface with many more examples (the ``fuzz`` hypothesis profile) and
prints the count of inputs tried per surface from the JSON-lines file named by
``SUMMIT_FUZZ_LOG``; each :func:`run` appends one line ``{"surface", "code", "clean"}`` there.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, settings

from summit_platform.automation import cli

FUZZ_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
"""Per-test settings for CI runs. ``make fuzz`` loads the ``fuzz`` profile (conftest.py),
which these settings inherit from for everything but the example count, so mark surface tests
``@FUZZ_SETTINGS`` only through :func:`surface_settings`."""


def surface_settings() -> settings:
    """CI: 40 examples per test; under ``--hypothesis-profile=fuzz``: the profile's count."""
    if settings.default.max_examples > FUZZ_SETTINGS.max_examples:
        return settings(settings.default, deadline=None)
    return FUZZ_SETTINGS


LOG_ENV = "SUMMIT_FUZZ_LOG"


@dataclass
class Outcome:
    """What one run did: exit code, captured output, and the files that changed."""

    code: int
    out: str
    err: str
    changed: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.out + self.err


def snapshot(paths: Iterable[Path]) -> dict[str, str | None]:
    """A content hash per file under ``paths`` (folders walked), None for a missing path."""
    out: dict[str, str | None] = {}
    for root in paths:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for p in files:
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None
    return out


def run(surface: str, argv: Sequence[str], *, watch: Iterable[Path] = ()) -> Outcome:
    """Run ``summit argv`` in-process; ``watch`` lists the files and folders that must not
    change. The run is logged for ``make fuzz`` under ``surface``."""
    watch = list(watch)
    before = snapshot(watch)
    out, err = io.StringIO(), io.StringIO()
    env_debug = os.environ.pop("SUMMIT_DEBUG", None)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(argv))
    finally:
        if env_debug is not None:
            os.environ["SUMMIT_DEBUG"] = env_debug
    after = snapshot(watch)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    outcome = Outcome(code=code, out=out.getvalue(), err=err.getvalue(), changed=changed)
    _log(surface, outcome)
    return outcome


def problems(
    outcome: Outcome, *, allowed: Sequence[int] = (2,), names: str | None = None
) -> list[str]:
    """Every way ``outcome`` breaks the promise (empty when clean)."""
    found = []
    if outcome.code not in allowed:
        found.append(f"exit {outcome.code}, expected one of {list(allowed)}")
    if "Traceback" in outcome.text or "internal error" in outcome.text:
        found.append("a traceback or an internal error")
    if outcome.changed:
        found.append(f"files changed: {outcome.changed}")
    if outcome.code == 2:
        lines = [ln for ln in outcome.err.splitlines() if ln.strip()]
        if not lines:
            found.append("exit 2 without a message")
        if names is not None and names not in outcome.err:
            found.append(f"the message does not name {names!r}")
    return found


def assert_clean(
    outcome: Outcome, *, allowed: Sequence[int] = (2,), names: str | None = None
) -> None:
    """Fail with every broken promise and the output when the run was not clean."""
    found = problems(outcome, allowed=allowed, names=names)
    assert not found, "; ".join(found) + f"\n--- stdout\n{outcome.out}\n--- stderr\n{outcome.err}"


def _log(surface: str, outcome: Outcome) -> None:
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    clean = "Traceback" not in outcome.text and outcome.code != 70 and not outcome.changed
    line = json.dumps({"surface": surface, "code": outcome.code, "clean": clean})
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def summarise(log: Path) -> dict[str, dict[str, int]]:
    """``{surface: {"tried", "clean", "exit_0", "exit_1", "exit_2", ...}}`` from a fuzz log."""
    out: dict[str, dict[str, int]] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        row = out.setdefault(entry["surface"], {"tried": 0, "clean": 0})
        row["tried"] += 1
        row["clean"] += int(entry["clean"])
        key = f"exit_{entry['code']}"
        row[key] = row.get(key, 0) + 1
    return out


if __name__ == "__main__":  # python tests/fuzz.py LOG: print the per-surface table
    import sys

    table = summarise(Path(sys.argv[1]))
    print(f"{'surface':<28} {'tried':>6} {'clean':>6}  exits")
    for surface, row in sorted(table.items()):
        exits = ", ".join(f"{k[5:]}:{v}" for k, v in sorted(row.items()) if k.startswith("exit_"))
        print(f"{surface:<28} {row['tried']:>6} {row['clean']:>6}  {exits}")
    total = sum(r["tried"] for r in table.values())
    clean = sum(r["clean"] for r in table.values())
    print(f"{'all':<28} {total:>6} {clean:>6}")
    sys.exit(0 if total == clean else 1)
