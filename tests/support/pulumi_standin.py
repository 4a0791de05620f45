"""A recording stand-in for the ``pulumi`` CLI, for tests of code built on the Automation API.

The Automation API has no mode without the CLI: ``PulumiCommand`` runs ``pulumi version`` and
every workspace/stack call is a plain CLI invocation. :class:`PulumiStandin` writes an
executable ``<root>/bin/pulumi`` (a Python script with a shebang to ``sys.executable``) that
``PulumiCommand(root=<root>)`` runs instead of the real binary. It:

- answers ``pulumi version`` (default ``v3.272.0``, the CLI matching our SDK pin);
- records every invocation (argv, cwd, the ``PULUMI_*``/``SUMMIT_*``/``AWS_*`` environment,
  exit code) as one JSON line in ``<root>/calls.jsonl`` (or ``$PULUMI_STANDIN_LOG``);
- keeps stacks, tags, outputs, history and scripted plans in ``<root>/state.json``
  (or ``$PULUMI_STANDIN_STATE``) and, like the real CLI, keeps stack config in
  ``Pulumi.<stack>.yaml`` in the working directory (the project dir);
- answers in the CLI's documented JSON shapes: ``stack ls --json`` (name, current, lastUpdate,
  updateInProgress, resourceCount, url), ``config get --json`` ({value, secret[, objectValue]}),
  ``stack history --json`` (version, kind, startTime, endTime, message, environment, config,
  result, resourceChanges), ``stack output --json``, ``stack tag ls --json``;
- streams engine events for ``preview``/``up``/``destroy``/``refresh`` to ``--event-log``:
  JSON lines to a file (CLI <= 3.205) or, like CLI > 3.205, over gRPC
  (``pulumirpc.Events/StreamEvents``) when the SDK passes ``tcp://127.0.0.1:<port>``. The
  stream is prelude, resource pre-events, policy events, summary, cancel.

Scripting knobs (see :class:`PulumiStandin`): per-stack plans (changes, steps, policy events,
outputs), one-shot failures with a given stderr/code, a lock that makes engine commands fail
with the service's ``[409] Conflict`` text (-> ``ConcurrentUpdateError``), last-update times.

Differences from the real CLI, on purpose: no program runs, no providers, no real secrets
encryption (secure values are ``standin:<base64>``), the update is whatever the plan says.
Never point it at a checkout's real project dir when testing ``stack rm`` (it deletes the
stack file like the real CLI); use a temp copy.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import stat
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the generated script imports this module; keep its start-up cheap
    from pulumi.automation import PulumiCommand

DEFAULT_VERSION = "3.272.0"
CONFLICT_STDERR = "error: [409] Conflict: Another update is currently in progress."
"""The text the SDK maps to ``ConcurrentUpdateError`` (``pulumi.automation.errors``)."""
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.000Z"
"""How the CLI formats ``lastUpdate``/``startTime`` (UTC, milliseconds, ``Z``)."""

_RECORDED_ENV = ("PULUMI_", "SUMMIT_", "AWS_")
_ENGINE_COMMANDS = ("preview", "up", "update", "destroy", "refresh")
_CHANGE_OPS_KEEP = ("create", "same", "update", "replace", "import")


def _now() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)


def format_time(value: datetime) -> str:
    """A datetime (naive = UTC) in the CLI's JSON time format."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime(TIME_FORMAT)


# --------------------------------------------------------------------------------------------
# The helper tests use
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StandinCall:
    """One recorded invocation of the stand-in."""

    argv: list[str]
    """Arguments after the binary, with the SDK's ``--non-interactive`` removed."""
    raw_argv: list[str]
    cwd: str
    env: dict[str, str]
    exit_code: int

    @property
    def command(self) -> str:
        """The sub-command words, e.g. ``"config set"``, ``"stack ls"``, ``"up"``."""
        return _command_words(self.argv)

    def flag(self, name: str) -> str | None:
        """The value of the last ``--name VALUE`` (or ``--name=VALUE``) flag, else None."""
        values = self.flags(name)
        return values[-1] if values else None

    def flags(self, name: str) -> list[str]:
        """Every value given for a repeated flag such as ``--target`` or ``--policy-pack``."""
        out: list[str] = []
        args = _before_separator(self.argv)
        for i, arg in enumerate(args):
            if arg == name and i + 1 < len(args):
                out.append(args[i + 1])
            elif arg.startswith(name + "="):
                out.append(arg.split("=", 1)[1])
        return out

    def has(self, name: str) -> bool:
        """Whether a boolean flag (``--yes``, ``--secret``) was passed."""
        return name in _before_separator(self.argv)


@dataclass
class PulumiStandin:
    """A stand-in ``pulumi`` under ``root``; ``command`` is a ready ``PulumiCommand``.

    Typical use::

        standin = PulumiStandin(tmp_path / "pulumi")
        standin.add_stack("dev", last_update=datetime(2026, 11, 1, tzinfo=UTC))
        standin.set_plan("dev", changes={"create": 2}, policy_events=[standin.policy_event(...)])
        stack = open_stack(project_dir, "dev", command=standin.command)
        ...
        assert standin.calls("up")[0].flags("--target") == [urn]
    """

    root: Path
    version: str = DEFAULT_VERSION
    _command: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        (self.root / "bin").mkdir(parents=True, exist_ok=True)
        if not self.state_path.exists():
            self.save_state(
                {"version": self.version, "current": None, "stacks": {}, "failures": []}
            )
        self.log_path.touch()
        script = self.root / "bin" / "pulumi"
        script.write_text(
            f"#!{sys.executable}\n"
            "# Generated by tests/support/pulumi_standin.py: a recording stand-in for pulumi.\n"
            "import sys\n"
            f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
            "import pulumi_standin\n"
            f"sys.exit(pulumi_standin.cli_main(sys.argv[1:], {str(self.state_path)!r}, "
            f"{str(self.log_path)!r}))\n",
            encoding="utf-8",
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    # -- paths and the PulumiCommand --------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    @property
    def log_path(self) -> Path:
        return self.root / "calls.jsonl"

    @property
    def executable(self) -> Path:
        return self.root / "bin" / "pulumi"

    @property
    def command(self) -> PulumiCommand:
        """A ``PulumiCommand(root=self.root)``; it runs ``pulumi version`` once, as the SDK does."""
        if self._command is None:
            from pulumi.automation import PulumiCommand

            self._command = PulumiCommand(root=str(self.root))
        return self._command

    # -- recorded calls ----------------------------------------------------------------------

    def calls(self, command: str | None = None) -> list[StandinCall]:
        """Recorded invocations in order; ``command`` filters by words (``"config set"``)."""
        out: list[StandinCall] = []
        for line in self.log_path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            raw = json.loads(line)
            call = StandinCall(
                argv=[a for a in _before_separator_strip(raw["argv"])],
                raw_argv=raw["argv"],
                cwd=raw["cwd"],
                env=raw["env"],
                exit_code=raw["exit"],
            )
            if command is None or call.command == command:
                out.append(call)
        return out

    def clear_calls(self) -> None:
        self.log_path.write_text("", encoding="utf-8")

    # -- state -------------------------------------------------------------------------------

    @property
    def state(self) -> dict[str, Any]:
        """A fresh copy of the state file (stacks, failures, current)."""
        return json.loads(self.state_path.read_text(encoding="utf-8"))

    def save_state(self, state: Mapping[str, Any]) -> None:
        self.state_path.write_text(json.dumps(state, indent=2), encoding="utf-8")

    def stack(self, name: str) -> dict[str, Any]:
        """The stored record of one stack (KeyError when it does not exist)."""
        return self.state["stacks"][name]

    def add_stack(
        self,
        name: str,
        *,
        last_update: datetime | None = None,
        resource_count: int = 0,
        outputs: Mapping[str, Any] | None = None,
        secret_outputs: Iterable[str] = (),
        tags: Mapping[str, str] | None = None,
        update_in_progress: bool = False,
        current: bool = False,
    ) -> None:
        """Create (or overwrite) a stack as if it had been deployed before."""
        state = self.state
        state["stacks"][name] = _new_stack(
            last_update=format_time(last_update) if last_update else None,
            resource_count=resource_count,
            outputs=dict(outputs or {}),
            secret_outputs=list(secret_outputs),
            tags=dict(tags or {}),
            update_in_progress=update_in_progress,
        )
        if last_update is not None and resource_count:
            state["stacks"][name]["history"].append(
                _history_entry(1, "update", "succeeded", {"create": resource_count}, {})
                | {"startTime": format_time(last_update), "endTime": format_time(last_update)}
            )
        if current:
            state["current"] = name
        self.save_state(state)

    def set_last_update(self, name: str, when: datetime | None) -> None:
        state = self.state
        state["stacks"][name]["lastUpdate"] = format_time(when) if when else None
        self.save_state(state)

    def lock(self, name: str, locked: bool = True) -> None:
        """Make preview/up/destroy/refresh of ``name`` fail as a concurrent update would."""
        state = self.state
        state["stacks"][name]["locked"] = locked
        state["stacks"][name]["updateInProgress"] = locked
        self.save_state(state)

    def set_plan(
        self,
        name: str,
        *,
        changes: Mapping[str, int] | None = None,
        steps: Sequence[Mapping[str, str]] = (),
        policy_events: Sequence[Mapping[str, Any]] = (),
        outputs: Mapping[str, Any] | None = None,
        secret_outputs: Iterable[str] = (),
        resource_count: int | None = None,
    ) -> None:
        """Script what the next engine runs of ``name`` report.

        ``steps`` are ``{"op": "create", "urn": ..., "type": ...}`` items; when given, they are
        emitted as resource pre-events, filtered by ``--target`` and counted into the
        summary's ``resourceChanges`` (unless ``changes`` is given explicitly). A policy event
        with ``enforcementLevel: mandatory`` makes preview/up fail after the summary, as the
        engine does. ``up`` stores ``outputs`` and ``resource_count`` (default: the number of
        non-delete steps or changes).
        """
        state = self.state
        state["stacks"][name]["plan"] = {
            "changes": dict(changes) if changes is not None else None,
            "steps": [dict(s) for s in steps],
            "policyEvents": [dict(p) for p in policy_events],
            "outputs": dict(outputs) if outputs is not None else None,
            "secretOutputs": list(secret_outputs),
            "resourceCount": resource_count,
        }
        self.save_state(state)

    def fail_next(
        self,
        command: str,
        *,
        stderr: str,
        stdout: str = "",
        code: int = 255,
        stack: str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` invocations of ``command`` (``"up"``, ``"config set"``) fail."""
        state = self.state
        state["failures"].append(
            {
                "command": command,
                "stack": stack,
                "stderr": stderr,
                "stdout": stdout,
                "code": code,
                "times": times,
            }
        )
        self.save_state(state)

    @staticmethod
    def policy_event(
        *,
        policy_name: str,
        message: str,
        resource_urn: str | None = None,
        enforcement_level: str = "advisory",
        policy_pack_name: str = "guardrails",
        policy_pack_version: str = "0.1.0",
    ) -> dict[str, Any]:
        """A ``policyEvent`` payload in the engine's JSON shape (``apitype.PolicyEvent``)."""
        event: dict[str, Any] = {
            "message": message,
            "color": "never",
            "policyName": policy_name,
            "policyPackName": policy_pack_name,
            "policyPackVersion": policy_pack_version,
            "policyPackVersionTag": policy_pack_version,
            "enforcementLevel": enforcement_level,
        }
        if resource_urn is not None:
            event["resourceUrn"] = resource_urn
        return event


# --------------------------------------------------------------------------------------------
# The CLI itself (runs in the generated script's process)
# --------------------------------------------------------------------------------------------


class _Fail(Exception):
    def __init__(self, stderr: str, code: int = 255, stdout: str = ""):
        super().__init__(stderr)
        self.stderr = stderr
        self.code = code
        self.stdout = stdout


def _before_separator(args: Sequence[str]) -> list[str]:
    return list(args[: args.index("--")] if "--" in args else args)


def _before_separator_strip(args: Sequence[str]) -> list[str]:
    head = _before_separator(args)
    tail = list(args[len(head) :])
    return [a for a in head if a != "--non-interactive"] + tail


_VALUE_FLAGS = {
    "--stack",
    "-s",
    "--event-log",
    "--exec-kind",
    "--target",
    "--exclude",
    "--policy-pack",
    "--policy-pack-config",
    "--secrets-provider",
    "--page-size",
    "--page",
    "--message",
    "-m",
    "--parallel",
    "-p",
    "--color",
    "--replace",
    "--config-file",
    "--client",
    "--save-plan",
    "--plan",
    "--import-file",
    "--tracing",
    "--verbose",
    "-v",
}


def _positionals(args: Sequence[str]) -> list[str]:
    """Words that are neither flags nor flag values (before ``--``), then everything after it."""
    head = _before_separator(args)
    out: list[str] = []
    skip = False
    for arg in head:
        if skip:
            skip = False
            continue
        if arg.startswith("-"):
            if arg in _VALUE_FLAGS:
                skip = True
            continue
        out.append(arg)
    return out + list(args[len(head) + 1 :])


def _command_words(args: Sequence[str]) -> str:
    pos = _positionals([a for a in args if a != "--non-interactive"])
    if not pos:
        return ""
    if pos[0] == "stack" and len(pos) > 1 and pos[1] == "tag":
        return " ".join(pos[:3])
    if pos[0] in ("stack", "config") and len(pos) > 1:
        if pos[0] == "config" and pos[1] not in ("set", "set-all", "get", "rm", "rm-all", "env"):
            return "config"
        return " ".join(pos[:2])
    return pos[0]


def _flag(args: Sequence[str], *names: str) -> str | None:
    head = _before_separator(args)
    found = None
    for i, arg in enumerate(head):
        for name in names:
            if arg == name and i + 1 < len(head):
                found = head[i + 1]
            elif arg.startswith(name + "="):
                found = arg.split("=", 1)[1]
    return found


def _flags(args: Sequence[str], name: str) -> list[str]:
    head = _before_separator(args)
    return [head[i + 1] for i, a in enumerate(head[:-1]) if a == name] + [
        a.split("=", 1)[1] for a in head if a.startswith(name + "=")
    ]


def _new_stack(
    *,
    last_update: str | None = None,
    resource_count: int = 0,
    outputs: dict[str, Any] | None = None,
    secret_outputs: list[str] | None = None,
    tags: dict[str, str] | None = None,
    update_in_progress: bool = False,
) -> dict[str, Any]:
    return {
        "lastUpdate": last_update,
        "resourceCount": resource_count,
        "updateInProgress": update_in_progress,
        "locked": update_in_progress,
        "outputs": outputs or {},
        "secretOutputs": secret_outputs or [],
        "tags": tags or {},
        "history": [],
        "plan": None,
    }


def _history_entry(
    version: int, kind: str, result: str, changes: Mapping[str, int], config: Mapping[str, Any]
) -> dict[str, Any]:
    now = _now()
    return {
        "version": version,
        "kind": kind,
        "startTime": now,
        "message": "",
        "environment": {"exec.kind": "auto.local"},
        "config": dict(config),
        "result": result,
        "endTime": now,
        "resourceChanges": dict(changes),
    }


class _Cli:
    def __init__(self, args: list[str], state: dict[str, Any], cwd: Path):
        self.args = args
        self.state = state
        self.cwd = cwd
        self.out: list[str] = []
        self.err: list[str] = []

    # -- helpers -----------------------------------------------------------------------------

    def print(self, text: str) -> None:
        self.out.append(text)

    def stack_name(self, explicit: str | None = None) -> str:
        name = explicit or _flag(self.args, "--stack", "-s") or self.state.get("current")
        if not name:
            raise _Fail("error: no stack selected; please use `pulumi stack select`")
        return name.split("/")[-1]

    def existing(self, name: str) -> dict[str, Any]:
        stack = self.state["stacks"].get(name)
        if stack is None:
            raise _Fail(f"error: no stack named '{name}' found")
        return stack

    def project(self) -> str:
        import yaml

        path = self.cwd / "Pulumi.yaml"
        if not path.exists():
            raise _Fail(
                "error: no Pulumi.yaml project file found (searching upwards from "
                f"{self.cwd}). If you have not created a project yet, use `pulumi new`"
            )
        return str((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("name", ""))

    def stack_file(self, name: str) -> Path:
        return self.cwd / f"Pulumi.{name}.yaml"

    def load_config(self, name: str) -> dict[str, Any]:
        import yaml

        path = self.stack_file(name)
        if not path.exists():
            return {}
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return dict(doc.get("config") or {})

    def save_config(self, name: str, config: dict[str, Any]) -> None:
        import yaml

        path = self.stack_file(name)
        doc: dict[str, Any] = {}
        if path.exists():
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        doc["config"] = config
        if not config:
            doc.pop("config")
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

    # -- dispatch ----------------------------------------------------------------------------

    def run(self) -> int:
        words = _command_words(self.args)
        self.apply_scripted_failure(words)
        handler = {
            "version": self.cmd_version,
            "whoami": self.cmd_whoami,
            "stack": self.cmd_stack_exists,
            "stack select": self.cmd_stack_select,
            "stack init": self.cmd_stack_init,
            "stack ls": self.cmd_stack_ls,
            "stack rm": self.cmd_stack_rm,
            "stack history": self.cmd_stack_history,
            "stack output": self.cmd_stack_output,
            "stack tag set": self.cmd_tag_set,
            "stack tag get": self.cmd_tag_get,
            "stack tag rm": self.cmd_tag_rm,
            "stack tag ls": self.cmd_tag_ls,
            "config": self.cmd_config_all,
            "config get": self.cmd_config_get,
            "config set": self.cmd_config_set,
            "config set-all": self.cmd_config_set_all,
            "config rm": self.cmd_config_rm,
            "config rm-all": self.cmd_config_rm_all,
            "preview": self.cmd_engine,
            "up": self.cmd_engine,
            "update": self.cmd_engine,
            "destroy": self.cmd_engine,
            "refresh": self.cmd_engine,
        }.get(words)
        if handler is None:
            raise _Fail(f"error: the pulumi stand-in does not implement `pulumi {words}`")
        return handler()

    def apply_scripted_failure(self, words: str) -> None:
        failures = self.state.get("failures", [])
        for failure in failures:
            if failure["command"] != words or failure["times"] <= 0:
                continue
            if failure.get("stack") and failure["stack"] != self.stack_name():
                continue
            failure["times"] -= 1
            self.state["failures"] = [f for f in failures if f["times"] > 0]
            if words in _ENGINE_COMMANDS:
                self.record_failed_update(words)
            raise _Fail(failure["stderr"], failure["code"], failure.get("stdout", ""))

    def record_failed_update(self, words: str) -> None:
        if words == "preview":
            return
        name = self.stack_name()
        stack = self.state["stacks"].get(name)
        if stack is None:
            return
        kind = "update" if words in ("up", "update") else words
        stack["history"].insert(
            0,
            _history_entry(self.next_version(stack), kind, "failed", {}, self.config_summary(name)),
        )

    # -- simple commands ---------------------------------------------------------------------

    def cmd_version(self) -> int:
        self.print("v" + self.state.get("version", DEFAULT_VERSION))
        return 0

    def cmd_whoami(self) -> int:
        if "--json" in self.args:
            self.print(json.dumps({"user": "standin", "organizations": [], "url": ""}))
        else:
            self.print("standin")
        return 0

    def cmd_stack_exists(self) -> int:
        name = self.stack_name()
        self.existing(name)
        self.print(f"Current stack is {name}:")
        return 0

    def cmd_stack_select(self) -> int:
        pos = _positionals(self.args)
        name = self.stack_name(pos[2] if len(pos) > 2 else None)
        if name not in self.state["stacks"]:
            if "--create" in self.args or "-c" in self.args:
                self.state["stacks"][name] = _new_stack()
            else:
                raise _Fail(f"error: no stack named '{name}' found")
        self.state["current"] = name
        return 0

    def cmd_stack_init(self) -> int:
        pos = _positionals(self.args)
        name = self.stack_name(pos[2] if len(pos) > 2 else None)
        self.project()
        if name in self.state["stacks"]:
            raise _Fail(f"error: stack '{name}' already exists")
        self.state["stacks"][name] = _new_stack()
        if "--no-select" not in self.args:
            self.state["current"] = name
        self.print(f"Created stack '{name}'")
        return 0

    def cmd_stack_ls(self) -> int:
        rows = []
        for name, stack in sorted(self.state["stacks"].items()):
            # The CLI's stackSummaryJSON: lastUpdate and updateInProgress only for a stack that
            # has been updated; while an update runs, lastUpdate is left out.
            row: dict[str, Any] = {"name": name, "current": name == self.state.get("current")}
            if stack.get("updateInProgress"):
                row["updateInProgress"] = True
            elif stack.get("lastUpdate"):
                row["updateInProgress"] = False
                row["lastUpdate"] = stack["lastUpdate"]
            if stack.get("lastUpdate") or stack.get("updateInProgress"):
                row["resourceCount"] = stack.get("resourceCount", 0)
            rows.append(row)
        if "--json" not in self.args:
            raise _Fail("error: the pulumi stand-in only implements `stack ls --json`")
        self.print(json.dumps(rows, indent=4))
        return 0

    def cmd_stack_rm(self) -> int:
        if "--yes" not in self.args and "-y" not in self.args:
            raise _Fail(
                "error: --yes must be passed in to proceed when running in non-interactive mode"
            )
        pos = _positionals(self.args)
        name = self.stack_name(pos[2] if len(pos) > 2 else None)
        stack = self.existing(name)
        if stack.get("resourceCount") and "--force" not in self.args and "-f" not in self.args:
            raise _Fail(
                f"error: '{name}' still has resources; removal rejected. Possible actions:\n"
                f"- Make sure that '{name}' is the stack that you want to destroy\n"
                "- Run `pulumi destroy` to delete the resources, then run `pulumi stack rm`\n"
                "- Run `pulumi stack rm --force` to override this error"
            )
        del self.state["stacks"][name]
        if self.state.get("current") == name:
            self.state["current"] = None
        if "--preserve-config" not in self.args:
            self.stack_file(name).unlink(missing_ok=True)
        self.err.append(f"Stack '{name}' has been removed!")
        return 0

    def cmd_stack_history(self) -> int:
        stack = self.existing(self.stack_name())
        entries = list(stack["history"])
        size = _flag(self.args, "--page-size")
        if size is not None:
            page = int(_flag(self.args, "--page") or 1)
            entries = entries[(page - 1) * int(size) : page * int(size)]
        if "--show-secrets" not in self.args:
            entries = [
                e
                | {
                    "config": {
                        k: ({"secret": True} if v.get("secret") else v)
                        for k, v in e["config"].items()
                    }
                }
                for e in entries
            ]
        self.print(json.dumps(entries, indent=4))
        return 0

    def cmd_stack_output(self) -> int:
        stack = self.existing(self.stack_name())
        outputs = dict(stack["outputs"])
        if "--show-secrets" not in self.args:
            for key in stack.get("secretOutputs", []):
                if key in outputs:
                    outputs[key] = "[secret]"
        self.print(json.dumps(outputs, indent=4))
        return 0

    def cmd_tag_set(self) -> int:
        pos = _positionals(self.args)
        if len(pos) < 5:
            raise _Fail("error: accepts 2 arg(s), received " + str(len(pos) - 3))
        stack = self.existing(self.stack_name())
        stack["tags"][pos[3]] = pos[4]
        return 0

    def cmd_tag_get(self) -> int:
        pos = _positionals(self.args)
        name = self.stack_name()
        tags = self.all_tags(name)
        if pos[3] not in tags:
            raise _Fail(f"error: stack tag '{pos[3]}' not found for stack '{name}'")
        self.print(tags[pos[3]])
        return 0

    def cmd_tag_rm(self) -> int:
        pos = _positionals(self.args)
        stack = self.existing(self.stack_name())
        stack["tags"].pop(pos[3], None)
        return 0

    def cmd_tag_ls(self) -> int:
        self.print(json.dumps(self.all_tags(self.stack_name()), indent=4, sort_keys=True))
        return 0

    def all_tags(self, name: str) -> dict[str, str]:
        stack = self.existing(name)
        # The CLI adds the project's built-in tags to the user's own.
        builtin = {"pulumi:project": self.project(), "pulumi:runtime": "python"}
        return builtin | dict(stack["tags"])

    # -- config --------------------------------------------------------------------------------

    def full_key(self, key: str) -> str:
        """Namespace a bare key with the project name, as the CLI does."""
        head = re.split(r"[.\[]", key, maxsplit=1)[0]
        return key if ":" in head else f"{self.project()}:{key}"

    def cmd_config_get(self) -> int:
        name = self.stack_name()
        self.existing(name)
        key = self.full_key(_positionals(self.args)[2])
        config = self.load_config(name)
        try:
            value = _path_get(config, key) if "--path" in self.args else config[key]
        except (KeyError, IndexError, TypeError):
            raise _Fail(f"error: configuration key '{key}' not found for stack '{name}'") from None
        if "--json" in self.args:
            self.print(json.dumps(_config_json(value, show_secrets=True), indent=4))
        else:
            self.print(_config_text(_reveal(value)))
        return 0

    def cmd_config_all(self) -> int:
        name = self.stack_name()
        self.existing(name)
        show = "--show-secrets" in self.args
        config = self.load_config(name)
        if "--json" not in self.args:
            raise _Fail("error: the pulumi stand-in only implements `config --json`")
        self.print(
            json.dumps({k: _config_json(v, show_secrets=show) for k, v in config.items()}, indent=4)
        )
        return 0

    def cmd_config_set(self) -> int:
        name = self.stack_name()
        self.existing(name)
        pos = _positionals(self.args)
        if len(pos) < 4:
            raise _Fail("error: config set needs a key and a value (stdin is not read here)")
        self.set_value(name, pos[2], pos[3], secret="--secret" in self.args)
        return 0

    def cmd_config_set_all(self) -> int:
        name = self.stack_name()
        self.existing(name)
        raw_json = _flag(self.args, "--json")
        if raw_json is not None:
            return self.set_all_json(name, raw_json)
        head = _before_separator(self.args)
        for i, arg in enumerate(head[:-1]):
            if arg in ("--plaintext", "--secret"):
                key, sep, value = head[i + 1].partition("=")
                if not sep:
                    raise _Fail(f"error: could not parse {head[i + 1]!r} as a key=value pair")
                self.set_value(name, key, value, secret=arg == "--secret")
        return 0

    def set_all_json(self, name: str, raw_json: str) -> int:
        """``config set-all --json '{key: {value, objectValue?, secret}}'`` (the shape
        ``config --json`` prints): every key set whole, the stack file written once."""
        if any(flag in self.args for flag in ("--path", "--plaintext", "--secret")):
            raise _Fail("error: --json cannot be combined with --path, --plaintext or --secret")
        try:
            doc = json.loads(raw_json)
        except json.JSONDecodeError as err:
            raise _Fail(f"error: could not parse --json: {err}") from None
        if not isinstance(doc, dict):
            raise _Fail("error: --json must be an object of key -> {value, secret}")
        config = self.load_config(name)
        for key, entry in doc.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
                raise _Fail(f"error: could not set --json config for {key!r}: no string value")
            if entry.get("secret"):
                encoded = base64.b64encode(entry["value"].encode()).decode()
                value: Any = {"secure": "standin:" + encoded}
            elif entry.get("objectValue") is not None:
                value = entry["objectValue"]
            else:
                value = entry["value"]
            config[self.full_key(key)] = value
        self.save_config(name, config)
        return 0

    def set_value(self, name: str, key: str, raw: str, *, secret: bool) -> None:
        full = self.full_key(key)
        config = self.load_config(name)
        if secret:
            value: Any = {"secure": "standin:" + base64.b64encode(raw.encode()).decode()}
        elif "--path" in self.args:
            value = _adjust_path_value(raw)
        else:
            value = raw
        if "--path" in self.args:
            _path_set(config, full, value)
        else:
            config[full] = value
        self.save_config(name, config)

    def cmd_config_rm(self) -> int:
        name = self.stack_name()
        self.existing(name)
        self.remove_keys(name, [_positionals(self.args)[2]])
        return 0

    def cmd_config_rm_all(self) -> int:
        name = self.stack_name()
        self.existing(name)
        self.remove_keys(name, _positionals(self.args)[2:])
        return 0

    def remove_keys(self, name: str, keys: Sequence[str]) -> None:
        config = self.load_config(name)
        for key in keys:
            full = self.full_key(key)
            if "--path" in self.args:
                _path_remove(config, full)
            else:
                config.pop(full, None)
        self.save_config(name, config)

    def config_summary(self, name: str) -> dict[str, Any]:
        return {k: _config_json(v, show_secrets=True) for k, v in self.load_config(name).items()}

    # -- engine ------------------------------------------------------------------------------

    def next_version(self, stack: Mapping[str, Any]) -> int:
        return max((h["version"] for h in stack["history"]), default=0) + 1

    def cmd_engine(self) -> int:
        words = _command_words(self.args)
        kind = "update" if words in ("up", "update") else words
        name = self.stack_name()
        stack = self.existing(name)
        self.project()
        if kind != "preview" and "--yes" not in self.args and "-y" not in self.args:
            raise _Fail(
                "error: --yes or --skip-preview must be passed in to proceed when running in "
                "non-interactive mode"
            )
        if stack.get("locked"):
            raise _Fail(CONFLICT_STDERR)
        plan = stack.get("plan") or {}
        targets = set(_flags(self.args, "--target"))
        steps = [s for s in plan.get("steps", []) if not targets or s.get("urn") in targets]
        if kind == "destroy":
            changes = {"delete": int(stack.get("resourceCount", 0))}
            steps = []
            policy_events: list[dict[str, Any]] = []
        elif kind == "refresh":
            changes = {"same": int(stack.get("resourceCount", 0))}
            steps = []
            policy_events = []
        else:
            if plan.get("changes") is not None:
                changes = dict(plan["changes"])
            else:
                changes = {}
                for s in steps:
                    changes[s["op"]] = changes.get(s["op"], 0) + 1
            policy_events = list(plan.get("policyEvents", []))
        packs = {Path(p).name: "" for p in _flags(self.args, "--policy-pack")}
        for ev in policy_events:
            packs[ev.get("policyPackName", "")] = "v" + ev.get("policyPackVersion", "")
        events: list[dict[str, Any]] = [
            {
                "preludeEvent": {
                    "config": {
                        k: ("[secret]" if v.get("secret") else v.get("value", ""))
                        for k, v in self.config_summary(name).items()
                    }
                }
            }
        ]
        for s in steps:
            events.append(
                {
                    "resourcePreEvent": {
                        "metadata": {
                            "op": s["op"],
                            "urn": s.get("urn", ""),
                            "type": s.get("type", ""),
                            "provider": s.get("provider", ""),
                        },
                        "planning": kind == "preview",
                    }
                }
            )
        events.extend({"policyEvent": ev} for ev in policy_events)
        events.append(
            {
                "summaryEvent": {
                    "maybeCorrupt": False,
                    "durationSeconds": 0,
                    "resourceChanges": changes,
                    "PolicyPacks": packs,
                }
            }
        )
        events.append({"cancelEvent": {}})
        log = _flag(self.args, "--event-log")
        if log:
            _emit_events(log, events)
        mandatory = [e for e in policy_events if e.get("enforcementLevel") == "mandatory"]
        if kind == "preview" and "--json" in self.args:
            # `preview --json` prints one PreviewDigest object instead of the progress display.
            self.print(
                json.dumps(
                    {
                        "config": events[0]["preludeEvent"]["config"],
                        "steps": [
                            {"op": s["op"], "urn": s.get("urn", ""), "provider": ""} for s in steps
                        ],
                        "diagnostics": [
                            {"message": e.get("message", ""), "severity": "error"}
                            for e in mandatory
                        ],
                        "changeSummary": changes,
                        "duration": 0,
                    },
                    indent=4,
                )
            )
        else:
            verb = {"preview": "Previewing update", "update": "Updating", "destroy": "Destroying"}
            self.print(f"{verb.get(kind, 'Refreshing')} ({name}):")
            for ev in policy_events:
                self.print(
                    f"    [{ev.get('enforcementLevel')}]  {ev.get('policyName')}  "
                    f"({ev.get('resourceUrn', '')})\n    {ev.get('message')}"
                )
            self.print("Resources:")
            for op, count in changes.items():
                self.print(f"    {count} to {op}" if kind == "preview" else f"    {count} {op}d")
        if mandatory:
            if kind != "preview":
                stack["history"].insert(
                    0,
                    _history_entry(
                        self.next_version(stack), kind, "failed", {}, self.config_summary(name)
                    ),
                )
            raise _Fail(f"error: {kind} failed: {len(mandatory)} mandatory policy violation(s)")
        if kind == "preview":
            return 0
        if kind == "update":
            new_count: Any = plan.get("resourceCount")
            if new_count is None:
                new_count = sum(v for k, v in changes.items() if k in _CHANGE_OPS_KEEP)
                if not targets and not steps and plan.get("changes") is None:
                    new_count = int(stack.get("resourceCount", 0))
            stack["resourceCount"] = int(new_count)
            if plan.get("outputs") is not None:
                stack["outputs"] = dict(plan["outputs"])
                stack["secretOutputs"] = list(plan.get("secretOutputs", []))
        elif kind == "destroy":
            stack["resourceCount"] = 0
            stack["outputs"] = {}
        stack["lastUpdate"] = _now()
        stack["history"].insert(
            0,
            _history_entry(
                self.next_version(stack), kind, "succeeded", changes, self.config_summary(name)
            ),
        )
        return 0


def _emit_events(log: str, events: list[dict[str, Any]]) -> None:
    """Send events the way the CLI does: gRPC to ``tcp://host:port`` or JSON lines to a file."""
    stamped = []
    for seq, ev in enumerate(events):
        stamped.append({"sequence": seq, "timestamp": int(time.time())} | ev)
    if log.startswith("tcp://"):
        import grpc  # importing pulumi's generated stubs would load the whole SDK (~1 s)

        with grpc.insecure_channel(log[len("tcp://") :]) as channel:
            stream = channel.stream_unary(
                "/pulumirpc.Events/StreamEvents",
                request_serializer=_event_request,
                response_deserializer=lambda data: data,  # google.protobuf.Empty
            )
            stream(iter([json.dumps(ev) for ev in stamped]), timeout=30)
        return
    with open(log, "a", encoding="utf-8") as f:
        for ev in stamped:
            f.write(json.dumps(ev) + "\n")


def _event_request(event_json: str) -> bytes:
    """Encode ``pulumirpc.EventRequest{string event = 1}`` (tag 0x0A, varint length, UTF-8)."""
    data = event_json.encode("utf-8")
    size = len(data)
    prefix = bytearray([0x0A])
    while True:
        byte = size & 0x7F
        size >>= 7
        prefix.append(byte | (0x80 if size else 0))
        if not size:
            return bytes(prefix) + data


# -- config values ------------------------------------------------------------------------------


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _reveal(value: Any) -> Any:
    if _is_secure(value):
        text = str(value["secure"])
        if text.startswith("standin:"):
            return base64.b64decode(text[len("standin:") :]).decode()
        return text
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


def _has_secret(value: Any) -> bool:
    if _is_secure(value):
        return True
    if isinstance(value, dict):
        return any(_has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secret(v) for v in value)
    return False


def _config_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _config_json(value: Any, *, show_secrets: bool) -> dict[str, Any]:
    secret = _has_secret(value)
    out: dict[str, Any] = {"secret": secret}
    if secret and not show_secrets:
        return out
    plain = _reveal(value)
    out["value"] = _config_text(plain)
    if isinstance(plain, (dict, list)):
        out["objectValue"] = plain
    return out


def _adjust_path_value(raw: str) -> Any:
    """With ``--path`` the CLI stores ``true``/``false`` as booleans and integers as numbers.

    As in the CLI's ``adjustObjectValue``: a value of two or more characters starting with
    ``0`` stays a string (``"0123"`` keeps its zero), and only what Go's ``Atoi`` accepts
    (an optional sign, digits, within int64) becomes a number.
    """
    if raw in ("true", "false"):
        return raw == "true"
    if len(raw) > 1 and raw[0] == "0":
        return raw
    if re.fullmatch(r"[+-]?\d+", raw) and -(2**63) <= int(raw) < 2**63:
        return int(raw)
    return raw


_SEGMENT = re.compile(r'\["([^"]*)"\]|\[(\d+)\]|\.?([^.\[\]]+)')


def _parse_path(key: str) -> list[str | int]:
    """``ns:a.b[0]["c.d"]`` -> ``["ns:a", "b", 0, "c.d"]`` (the CLI's property-path syntax)."""
    ns = ""
    head = re.split(r"[.\[]", key, maxsplit=1)[0]
    if ":" in head:
        ns, key = key.split(":", 1)
        ns += ":"
    parts: list[str | int] = []
    pos = 0
    while pos < len(key):
        m = _SEGMENT.match(key, pos)
        if not m or m.end() == pos:
            raise _Fail(f"error: invalid configuration key path {ns + key!r}")
        if m.group(1) is not None:
            parts.append(m.group(1))
        elif m.group(2) is not None:
            parts.append(int(m.group(2)))
        else:
            parts.append(m.group(3))
        pos = m.end()
    if not parts or not isinstance(parts[0], str):
        raise _Fail(f"error: invalid configuration key path {ns + key!r}")
    parts[0] = ns + parts[0]
    return parts


def _path_get(config: dict[str, Any], key: str) -> Any:
    node: Any = config
    for part in _parse_path(key):
        node = node[part]
    return node


def _path_set(config: dict[str, Any], key: str, value: Any) -> None:
    parts = _parse_path(key)
    node: Any = config
    for part, nxt in itertools.pairwise(parts):
        child_default: Any = [] if isinstance(nxt, int) else {}
        if isinstance(part, int):
            while len(node) <= part:
                node.append(None)
            if node[part] is None:
                node[part] = child_default
            node = node[part]
        else:
            if part not in node or node[part] is None or _is_secure(node[part]):
                node[part] = child_default
            node = node[part]
    last = parts[-1]
    if isinstance(last, int):
        while len(node) <= last:
            node.append(None)
    node[last] = value


def _path_remove(config: dict[str, Any], key: str) -> None:
    parts = _parse_path(key)
    node: Any = config
    try:
        for part in parts[:-1]:
            node = node[part]
        del node[parts[-1]]
    except (KeyError, IndexError, TypeError):
        return


# -- entry point --------------------------------------------------------------------------------


def cli_main(argv: list[str], state_path: str, log_path: str) -> int:
    """Run one stand-in invocation; the generated ``bin/pulumi`` script calls this."""
    import fcntl

    state_file = Path(os.environ.get("PULUMI_STANDIN_STATE", state_path))
    log_file = Path(os.environ.get("PULUMI_STANDIN_LOG", log_path))
    # Callers may run several stacks at once (one thread per region); serialise the
    # read-modify-write of the state file as the backend would serialise its own writes.
    with open(str(state_file) + ".lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _run_locked(argv, state_file, log_file)


def _run_locked(argv: list[str], state_file: Path, log_file: Path) -> int:
    state = json.loads(state_file.read_text(encoding="utf-8"))
    args = [a for a in _before_separator(argv) if a != "--non-interactive"] + argv[
        len(_before_separator(argv)) :
    ]
    cli = _Cli(args, state, Path.cwd())
    code = 0
    try:
        code = cli.run()
    except _Fail as fail:
        code = fail.code
        if fail.stdout:
            cli.out.append(fail.stdout)
        cli.err.append(fail.stderr)
    finally:
        # Commands mutate ``state`` in place; a failed engine run still records its history.
        state_file.write_text(json.dumps(state, indent=2), encoding="utf-8")
        record = {
            "argv": list(argv),
            "cwd": str(Path.cwd()),
            "env": {k: v for k, v in os.environ.items() if k.startswith(_RECORDED_ENV)},
            "exit": code,
        }
        with open(log_file, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
    if cli.out:
        sys.stdout.write("\n".join(cli.out) + "\n")
    if cli.err:
        sys.stderr.write("\n".join(cli.err) + "\n")
    return code
