"""The ``summit`` command: one Typer app; every domain attaches its commands with ``register``.

The one error path: a user-facing error is typed (:class:`~summit_platform.automation.errors.UserError`, the
config model's :class:`~summit_platform.stacks.config.ConfigError`, a
:class:`~summit_platform.components.render.durations.DurationError`) and :func:`main` turns it into one line
per problem on stderr and exit 2. A check that ran and failed
(:class:`~summit_platform.automation.errors.CheckFailed`) exits 1. Click/Typer usage errors keep their usage
message and exit 2. Anything else is a bug: one line, ``summit: internal error: ...``, and exit
70; ``--debug`` (or ``SUMMIT_DEBUG=1``) prints the traceback instead.

Every line printed on this path is redacted here, once for all commands
(:func:`summit_platform.components.render.redact.redact_text`: a URL's ``user:pass@``, query string and webhook path
never reach the terminal or a CI log), and characters a terminal would act on are escaped.
"""

from __future__ import annotations

import io
import os
import sys
import traceback
from typing import Annotated

import typer

from summit_platform.automation import options, rules_cli
from summit_platform.automation.delivery import cli as delivery_cli
from summit_platform.automation.errors import EXIT_INTERNAL, CheckFailed, UserError
from summit_platform.automation.finops import cli as finops_cli
from summit_platform.automation.perf import cli as perf_cli
from summit_platform.automation.plan import cli as plan_cli
from summit_platform.automation.service import cli as service_cli
from summit_platform.automation.traffic import cli as traffic_cli
from summit_platform.components.render.durations import DurationError
from summit_platform.components.render.redact import printable, redact_text
from summit_platform.stacks.config import ConfigError

DEBUG_ENV = "SUMMIT_DEBUG"
USER_ERRORS = (UserError, ConfigError, DurationError)
"""Bad input: one line per problem on stderr, exit 2, no traceback."""

DOMAINS = (delivery_cli, finops_cli, perf_cli, plan_cli, rules_cli, service_cli, traffic_cli)
"""Every module that adds commands; each has ``register(app)``. Keep sorted."""

app = options.new_app(
    "summit", "Summit Platform: plan, steer, deliver and gate a two-region Pulumi platform."
)
_state = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help=f"Print the traceback of an internal error (or set {DEBUG_ENV}=1)."
        ),
    ] = False,
) -> None:
    """Summit Platform: plan, steer, deliver and gate a two-region Pulumi platform."""
    _state["debug"] = debug


def _register() -> None:
    """Attach every domain's commands (idempotent: tests and the docs generator call it too)."""
    if getattr(app, "_summit_registered", False):
        return
    for domain in DOMAINS:
        domain.register(app)
    app._summit_registered = True  # type: ignore[attr-defined]


def _debugging() -> bool:
    return _state["debug"] or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


def _say(text: str, prefix: str = "", *, every_line: bool = True) -> None:
    """Print ``text`` on stderr, each line redacted and made safe for a terminal, ``prefix``
    before every line (one line per problem) or only the first (a report's heading)."""
    for i, line in enumerate(text.splitlines()):
        lead = prefix if every_line or i == 0 else ""
        print(f"{lead}{printable(redact_text(line))}", file=sys.stderr)


def _user_error(err: Exception) -> int:
    _say(str(err) or type(err).__name__, "summit: error: ")
    return 2


def _internal_error(err: BaseException) -> int:
    if _debugging():
        _say("".join(traceback.format_exception(err)))
    else:
        first = printable(redact_text((str(err).strip().splitlines() or [""])[0]))
        short = first if len(first) <= 160 else first[:157] + "..."
        print(
            f"summit: internal error: {type(err).__name__}: {short}; "
            "rerun with --debug for the traceback",
            file=sys.stderr,
        )
    return EXIT_INTERNAL


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    _register()
    _state["debug"] = False
    try:
        app(args=argv, prog_name="summit", standalone_mode=False)
    except USER_ERRORS as err:
        return _user_error(err)
    except CheckFailed as err:
        _say(str(err), "summit: ", every_line=False)
        return 1
    except typer.Exit as ex:
        return ex.exit_code
    except SystemExit as ex:
        return ex.code if isinstance(ex.code, int) else (0 if ex.code is None else 1)
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        # Click's usage errors (Typer vendors click, so they are matched by shape) carry their
        # own message and exit code 2; Abort is the user saying no at a prompt.
        code, show = getattr(err, "exit_code", None), getattr(err, "show", None)
        if callable(show) and isinstance(code, int):
            buf = io.StringIO()
            show(file=buf)  # the usage message echoes the value given: redact it too
            _say(buf.getvalue().rstrip("\n"))
            return code
        if type(err).__name__ == "Abort":
            return 1
        return _internal_error(err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
