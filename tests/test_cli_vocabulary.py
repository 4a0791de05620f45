"""Every ``summit`` command speaks one vocabulary (``automation/options.py``).

The walk visits every group and command of the real app, reads its options as click builds
them, and renders its ``--help``. It fails on: a command without ``-C/--cwd DIR``; a project
folder option under another name (``--project-dir``); a ``--json`` or ``--markdown`` that is an
on/off switch or does not take ``PATH|-``; a folder option not named ``--out`` (``--output``,
``-o``); ``--stack`` without ``-s`` or ``NAME``; a duration taken as plain text or a number
(a default such as ``"10m"`` on a text option, or a known duration flag without the
``DURATION`` type); a ``--no-x`` twin of a switch; and help that does not show its own words
(Markdown rendering once turned ``Pulumi.<stack>.yaml`` into ``Pulumi..yaml``). The checker
itself is proved on a small app that breaks each rule.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from summit_platform.automation import cli, options

DURATION_FLAGS = {
    "--ttl",
    "--interval",
    "--apply-latency",
    "--idle",
    "--window",
    "--gate-window",
    "--latency",
    "--timeout",
}
FOLDER_OPTIONS = {
    "--cwd": "the project folder",
    "--out": "the folder a command writes files into",
    "--into": "a service's parent folder (read by upgrade, written by new)",
}
_UNIT_DEFAULT = re.compile(r"^[0-9.]+(ms|s|m|h|d|w)$")


def _walk(cmd: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    """Every (path, command) of a click tree; groups too (their help is rendered as well)."""
    out = [(path, cmd)]
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        out += _walk(sub, [*path, name])
    return out


def _names(p: Any) -> set[str]:
    return {*p.opts, *p.secondary_opts}


def option_problems(cmd: Any, where: str) -> list[str]:
    """What in one leaf command's options breaks the vocabulary (empty when nothing does)."""
    opts = [p for p in cmd.params if getattr(p, "param_type_name", "") == "option"]
    problems = []
    cwd = [p for p in opts if "--cwd" in _names(p)]
    if not cwd or _names(cwd[0]) != {"-C", "--cwd"} or cwd[0].metavar != "DIR":
        problems.append(f"{where}: no -C/--cwd DIR option")
    for p in opts:
        names = _names(p)
        shown = "/".join(sorted(names))
        if any("project" in n or "output" in n for n in names) or "-o" in names:
            problems.append(f"{where}: {shown}: the project folder is -C/--cwd, a folder --out")
        if names & {"--json", "--markdown"} and (p.is_flag or p.metavar != "PATH|-"):
            problems.append(f"{where}: {shown}: expected an option taking PATH|-")
        if p.metavar == "DIR" and not names & set(FOLDER_OPTIONS):
            problems.append(f"{where}: {shown}: a folder option is --out DIR")
        if "--out" in names and (p.metavar != "DIR" or names != {"--out"}):
            problems.append(f"{where}: {shown}: expected --out DIR")
        if "--stack" in names and (names != {"-s", "--stack"} or p.metavar != "NAME"):
            problems.append(f"{where}: {shown}: expected -s/--stack NAME")
        default = p.default if isinstance(p.default, str) else None
        duration_like = names & DURATION_FLAGS or (default and _UNIT_DEFAULT.match(default))
        if duration_like and p.metavar != "DURATION":
            problems.append(f"{where}: {shown}: a duration takes DURATION (a number and a unit)")
        if p.is_flag and any(n.startswith("--no-") for n in p.secondary_opts):
            problems.append(f"{where}: {shown}: a switch has one name, no --no- twin")
    return problems


def _flat(text: str) -> str:
    return "".join(text.split())


def help_problems(app: typer.Typer, path: list[str], cmd: Any) -> list[str]:
    """Render ``--help`` and check that it shows every word of the help it was given."""
    where = " ".join(path) or "(root)"
    res = CliRunner().invoke(app, [*path, "--help"], prog_name="summit")
    if res.exit_code != 0:
        return [f"{where}: --help exited {res.exit_code}: {res.output[-300:]}"]
    shown = _flat(res.output)
    problems = []
    texts = [(cmd.help or "").split("\f")[0]]
    texts += [getattr(p, "help", None) or "" for p in cmd.params if not p.hidden]
    for text in texts:
        if _flat(text) not in shown:
            problems.append(f"{where}: help does not show {' '.join(text.split())[:80]!r}")
    if "..yaml" in res.output:
        problems.append(f"{where}: a placeholder vanished ('..yaml')")
    return problems


def problems_of(app: typer.Typer) -> list[str]:
    """Every vocabulary and help problem of every command of ``app``."""
    root = typer.main.get_command(app)
    problems = []
    for path, cmd in _walk(root, []):
        if not hasattr(cmd, "commands"):
            problems += option_problems(cmd, " ".join(path))
        problems += help_problems(app, path, cmd)
    return problems


@pytest.fixture(scope="module")
def summit() -> typer.Typer:
    cli._register()
    return cli.app


def test_every_command_speaks_the_vocabulary(summit: typer.Typer) -> None:
    assert problems_of(summit) == []


def test_the_walk_reaches_every_command(summit: typer.Typer) -> None:
    leaves = [
        " ".join(p)
        for p, c in _walk(typer.main.get_command(summit), [])
        if not hasattr(c, "commands")
    ]
    # Every command users have; a new one joins this list (and so the vocabulary walk).
    assert sorted(leaves) == [
        "deploy",
        "finops budget",
        "finops estimate",
        "finops observe",
        "finops reconcile",
        "finops refresh-prices",
        "gate",
        "perf baseline",
        "perf compare",
        "perf lighthouse",
        "perf show",
        "perf trend",
        "plan",
        "previews destroy",
        "previews gc",
        "previews up",
        "rules render",
        "service new",
        "service upgrade",
        "traffic apply",
        "traffic compute",
        "traffic drill",
        "traffic pin",
        "traffic run",
        "traffic simulate",
        "traffic unpin",
    ]


def _duration_options(summit: typer.Typer) -> list[tuple[list[str], str]]:
    root = typer.main.get_command(summit)
    return [
        (path, p.opts[0])
        for path, cmd in _walk(root, [])
        for p in cmd.params
        if getattr(p, "metavar", None) == "DURATION"
    ]


def test_duration_flags_found_are_the_known_ones(summit: typer.Typer) -> None:
    found = _duration_options(summit)
    assert {flag for _, flag in found} == DURATION_FLAGS
    # run, simulate x3, pin, apply (--ttl), gate, deploy, reconcile, observe, previews gc,
    # drill, perf lighthouse
    assert len(found) == 13


def test_a_bare_number_is_refused_by_every_duration_flag(
    summit: typer.Typer, capsys: pytest.CaptureFixture[str]
) -> None:
    for path, flag in _duration_options(summit):
        # The duration comes first, so it is converted before any missing argument is noticed.
        assert cli.main([*path, flag, "30"]) == 2, (path, flag)
        err = capsys.readouterr().err
        assert f"'{flag}'" in err and "needs a unit" in err and "30s" in err, err
        assert "Traceback" not in err


# -- the checker fails where it should ------------------------------------------------------


def _bad_app() -> typer.Typer:
    bad = typer.Typer(rich_markup_mode="markdown", add_completion=False)

    @bad.command()
    def render(
        project_dir: Annotated[Path, typer.Option("--project-dir")] = Path("."),
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        output: Annotated[
            Path | None, typer.Option("--output", "-o", metavar="DIR", help="Folder.")
        ] = None,
        stack: Annotated[str, typer.Option("--stack", help="Pulumi.<stack>.yaml")] = "dev",
        window: Annotated[str, typer.Option("--window", help="Look back.")] = "10m",
        offline: Annotated[bool, typer.Option(help="Only the file.")] = False,
    ) -> None:
        """Write Pulumi.<stack>.yaml directly."""

    @bad.command()
    def other(markdown: Annotated[str, typer.Option("--markdown")] = "x.md") -> None:
        """Nothing."""

    return bad


def test_the_checker_reports_each_broken_rule() -> None:
    problems = "\n".join(problems_of(_bad_app()))
    for expected in (
        "render: no -C/--cwd DIR option",
        "other: no -C/--cwd DIR option",
        "--project-dir: the project folder is -C/--cwd",
        "--json: expected an option taking PATH|-",
        "--markdown: expected an option taking PATH|-",
        "--output/-o: the project folder is -C/--cwd, a folder --out",
        "--output/-o: a folder option is --out DIR",
        "--stack: expected -s/--stack NAME",
        "--window: a duration takes DURATION",
        "--no-offline/--offline: a switch has one name",
        "render: help does not show 'Write Pulumi.<stack>.yaml directly.'",
        "render: help does not show 'Pulumi.<stack>.yaml'",
    ):
        assert expected in problems, problems


def test_plain_help_keeps_placeholders(summit: typer.Typer) -> None:
    out = CliRunner().invoke(summit, ["traffic", "pin", "--help"]).output
    assert "Write Pulumi.<stack>.yaml directly" in out and "..yaml" not in out


def test_options_module_is_the_one_source(summit: typer.Typer) -> None:
    # Every sub-app is built by options.new_app (plain help, no completion, no pretty traces).
    for group in summit.registered_groups:
        sub = group.typer_instance
        assert sub is not None
        assert sub.rich_markup_mode is None and sub._add_completion is False, group.name
    assert summit.rich_markup_mode is None
    assert options.STDOUT == "-"
