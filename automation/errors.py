"""Errors the ``summit`` CLI turns into exit codes and one-line messages (never a traceback)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAIL = 1
"""A check ran and failed: a mandatory policy violation, a failed gate, a perf regression."""
EXIT_USAGE = 2
"""Bad input: a stack file, metrics file, budget file or flag that does not fit."""
EXIT_INTERNAL = 70
"""A bug (an exception nobody expected): ``EX_SOFTWARE`` from sysexits.h."""

NOT_A_PROJECT = "expected a Pulumi project folder (a Pulumi.yaml in it), found none"
"""The one message for a folder that is not a Pulumi project (``summit_platform.automation.options.project``
and the Automation API wrapper both say it)."""


class UserError(Exception):
    """Bad input. The message names the file, the key and what was expected; exit code 2.

    Raise it before anything is changed, so that bad input changes nothing."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        self.source = source
        self.key = key
        self.detail = message
        """The message alone, without the file and key."""
        parts = [p for p in (source, key) if p]
        super().__init__(": ".join([*parts, message]))


class CheckFailed(Exception):
    """A check that ran and failed (exit code 1); the message says what failed."""

    exit_code = EXIT_FAIL


class PlanError(Exception):
    """The embedded lane could not plan the program (it raised, or a resource could not be
    mocked). It lives here, not in the engine, so that catching it costs no Pulumi import;
    the commands report it as bad input (a :class:`UserError`)."""
