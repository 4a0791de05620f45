"""The ``summit`` command: one Typer app with a sub-app per domain.

Every command reads its inputs, calls a pure decision function, then acts. Bad input raises
:class:`automation.errors.UserError` (exit 2, one line on stderr naming file and key); a
check that fails exits 1; nothing prints a Python traceback for a user error.
"""

from __future__ import annotations

import functools
import sys

import typer

from automation.errors import CheckFailed, UserError
from stacks.config import ConfigError

app = typer.Typer(
    name="summit",
    help="Summit Platform: plan, steer, deliver and gate a two-region Pulumi platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",
)


@app.callback()
def _root() -> None:
    """Summit Platform: plan, steer, deliver and gate a two-region Pulumi platform."""


# Once per process: main() runs many times in one test process, and every registration
# adds each sub-app again, so each call got slower than the last (1.7 s by the 40th).
@functools.cache
def _register() -> None:
    """Attach the domain sub-apps. One line per domain; imports stay lazy-free but cheap."""
    from automation.plan.cli import register as register_plan

    register_plan(app)
    # -- sub-apps (one line each; keep this block sorted) --
    from automation.delivery.cli import register as register_delivery

    register_delivery(app)
    from automation.finops.cli import register as register_finops

    register_finops(app)
    from automation.perf.cli import app as perf_app

    app.add_typer(perf_app, name="perf")
    from automation.rules_cli import app as rules_app

    app.add_typer(rules_app, name="rules")
    from automation.service.cli import app as service_app

    app.add_typer(service_app, name="service")
    from automation.traffic.cli import app as traffic_app

    app.add_typer(traffic_app, name="traffic")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    _register()
    try:
        app(args=argv, prog_name="summit", standalone_mode=False)
    except (UserError, ConfigError) as err:
        print(f"summit: error: {err}", file=sys.stderr)
        return 2
    except CheckFailed as err:
        if str(err):
            print(f"summit: {err}", file=sys.stderr)
        return 1
    except typer.Exit as ex:
        return ex.exit_code
    except SystemExit as ex:  # click's own usage errors arrive here in standalone_mode=False
        return int(ex.code or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        # Usage errors of the (vendored) click under Typer carry their own exit code (2).
        code = getattr(err, "exit_code", None)
        show = getattr(err, "show", None)
        if callable(show) and isinstance(code, int):
            show()
            return code
        if type(err).__name__ == "Abort":
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
