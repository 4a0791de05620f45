"""The ``summit`` command-line vocabulary, declared once and used by every command.

| option | means |
|---|---|
| ``-C/--cwd DIR`` | the project folder (holds ``Pulumi.yaml``); default files are read from it |
| ``-s/--stack NAME`` | the stack: NAME of ``Pulumi.NAME.yaml`` |
| ``--json PATH\\|-`` | write the command's JSON to PATH, or to stdout with ``-`` |
| ``--markdown PATH\\|-`` | write the command's Markdown (a PR comment) to PATH or stdout |
| ``--out DIR`` | the folder a command writes many files into |
| durations | a number and a unit (``90s``, ``30m``, ``1h``, ``2d``); a bare number is an error |

Commands take these as ``Annotated`` types (:data:`Cwd`, :data:`Stack`, :data:`JsonOut`, ...),
find their project with :func:`project`, and write reports with :func:`write_output` after the
computation succeeded. ``tests/test_cli_vocabulary.py`` walks every command's ``--help`` and
fails on an option that breaks this vocabulary.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from summit_platform.automation import safe_io
from summit_platform.automation.errors import NOT_A_PROJECT, UserError
from summit_platform.components.render.durations import DurationError, parse_duration

STDOUT = "-"
"""The ``--json``/``--markdown`` value that means standard output."""


def new_app(name: str, help: str) -> typer.Typer:
    """A command group with the settings every group shares.

    Help is printed as plain text (no Markdown or Rich markup): markup rendering dropped
    placeholders such as ``Pulumi.<stack>.yaml`` and ``[...]`` from option help."""
    return typer.Typer(
        name=name,
        help=help,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode=None,
    )


# -- the shared options ----------------------------------------------------------------------

Cwd = Annotated[
    Path,
    typer.Option(
        "-C",
        "--cwd",
        metavar="DIR",
        help="Project folder (where Pulumi.yaml is); default files are read from it.",
    ),
]
Stack = Annotated[
    str, typer.Option("-s", "--stack", metavar="NAME", help="Stack: NAME of Pulumi.NAME.yaml.")
]
StackOrAll = Annotated[
    str,
    typer.Option(
        "-s", "--stack", metavar="NAME", help="Stack: NAME of Pulumi.NAME.yaml, or 'all'."
    ),
]
OptionalStack = Annotated[
    str | None,
    typer.Option(
        "-s",
        "--stack",
        metavar="NAME",
        help="Stack: NAME of Pulumi.NAME.yaml (its policy and pin are used).",
    ),
]
JsonOut = Annotated[
    str | None,
    typer.Option("--json", metavar="PATH|-", help="Write JSON to PATH ('-' for stdout)."),
]
MarkdownOut = Annotated[
    str | None,
    typer.Option(
        "--markdown",
        metavar="PATH|-",
        help="Write Markdown (a PR comment) to PATH ('-' for stdout).",
    ),
]
OutDir = Annotated[
    Path | None, typer.Option("--out", metavar="DIR", help="Folder to write the files into.")
]


# -- durations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Duration:
    """A duration flag's value: the text as written (for messages and PromQL) and seconds."""

    text: str
    seconds: float

    def __str__(self) -> str:
        return self.text

    @classmethod
    def of(cls, text: str) -> Duration:
        """Parse ``text`` (``90s``, ``30m``, ``1h``, ``2d``); raises :class:`DurationError`."""
        return cls(text.strip(), parse_duration(text))


def _parse_duration(value: object) -> Duration:
    if isinstance(value, Duration):
        return value
    try:
        return Duration.of(str(value))
    except DurationError as err:
        # A usage error: click names the flag and exits 2 with its usage line.
        raise typer.BadParameter(str(err)) from None


def duration_option(name: str, help: str) -> typer.models.OptionInfo:
    """The option ``name`` taking a duration with a unit; the command gets a :class:`Duration`.

    Use as ``Annotated[Duration, duration_option("--ttl", "...")] = Duration.of("60m")``."""
    return typer.Option(name, metavar="DURATION", parser=_parse_duration, help=help)


# -- the project folder ----------------------------------------------------------------------


def project(cwd: Path) -> Path:
    """The project folder ``cwd`` as an absolute path; :class:`UserError` (exit 2) when it
    holds no ``Pulumi.yaml``. The one place the CLI checks for a project."""
    folder = cwd.expanduser().resolve()
    if not (folder / "Pulumi.yaml").is_file():
        raise UserError(
            f"{NOT_A_PROJECT}; pass -C/--cwd DIR or run summit from the project folder",
            source=str(folder),
        )
    return folder


def in_project(cwd: Path, given: Path | None, default: str) -> Path:
    """A file option's path: as the user gave it (relative to where summit runs, as a shell
    gives paths), or, when not given, the ``default`` file in the project folder ``cwd``."""
    return given if given is not None else cwd / default


# -- JSON and Markdown outputs ---------------------------------------------------------------


def to_stdout(*targets: str | None) -> bool:
    """Whether any of the outputs goes to stdout (then people's tables go to stderr)."""
    return any(t == STDOUT for t in targets)


_PULUMI_FILE = re.compile(r"Pulumi(?:\.[^/]+)?\.ya?ml")
"""``Pulumi.yaml`` and ``Pulumi.<stack>.yaml``: inputs, never a report's destination."""


def check_output(target: str | Path | None, flag: str) -> None:
    """Refuse an output path before any work is done: a folder, or a file in a missing folder
    that cannot be created. Exit 2 (:class:`UserError`) naming the flag."""
    if target is None or str(target) == STDOUT:
        return
    path = Path(target)
    # A trailing slash names a folder (Path would drop it and write a file inside).
    if str(target) in ("", ".") or str(target).endswith(("/", os.sep)) or path.is_dir():
        raise UserError(f"expected a file path or '-', found a folder: {target}", key=flag)
    if _PULUMI_FILE.fullmatch(path.name) and path.is_file():
        raise UserError(
            f"expected a report file, found a Pulumi project or stack file: {target}"
            " (a report never overwrites one)",
            key=flag,
        )
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"expected a file path, found {parent} is not a folder", key=flag)
            break


def write_output(target: str | Path | None, text: str, flag: str) -> None:
    """Write ``text`` to ``target`` (a path; ``-`` is stdout; ``None`` writes nothing).

    Call it only after the computation succeeded. The file goes through the one safe writer
    (:func:`summit_platform.automation.safe_io.atomic_write`: lock, temp file in the same folder, fsync,
    rename), so a reader never sees half a report."""
    if target is None:
        return
    if str(target) == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    check_output(target, flag)
    safe_io.atomic_write(Path(target), text)


def write_json(target: str | Path | None, doc: Any, *, indent: int | None = 2) -> None:
    """:func:`write_output` for ``--json``: the document with a final newline (``indent=None``
    gives one line, for JSON-lines readers). Written by :func:`safe_io.dumps_json`, so a NaN
    or an infinity is a bug that stops the write, never an invalid ``NaN`` in the file."""
    if target is not None:
        write_output(target, safe_io.dumps_json(doc, indent=indent), "--json")


def write_markdown(target: str | Path | None, text: str) -> None:
    """:func:`write_output` for ``--markdown``."""
    write_output(target, text if text.endswith("\n") else text + "\n", "--markdown")
