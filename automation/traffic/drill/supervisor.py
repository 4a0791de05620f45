"""Child processes the drill owns: each in its own process group, all stopped on any exit.

Every child starts in a new session (its own process group), so stopping it signals the whole
group: a tool that forks (Locust, HAProxy's master) cannot leave a grandchild behind. Stopping
is SIGTERM to the group, then SIGKILL after a grace period. Where util-linux's ``setpriv`` is
installed, children also get ``--pdeathsig KILL``: if the drill itself is killed with SIGKILL
(no ``finally`` runs), the kernel kills its children.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass
class Child:
    """One started process and where its output goes."""

    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes]
    logs: list[IO[bytes]]

    @property
    def pid(self) -> int:
        return self.proc.pid


def group_alive(pgid: int) -> bool:
    """Whether any process is left in the process group ``pgid`` (zombies excluded)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg(0) also succeeds for zombies; a group whose only member is our reaped child is gone.
    return _group_members(pgid) > 0


def _group_members(pgid: int) -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # fields[0] is the state, fields[2] the process group id
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            count += 1
    return count


class Supervisor:
    """Starts named children and stops them all, newest first, whatever happens."""

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self.children: dict[str, Child] = {}
        self.groups: set[int] = set()
        self._pdeathsig = shutil.which("setpriv")

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        stdout: Path | None = None,
    ) -> Child:
        """Start ``argv`` in a new process group; output goes to ``<log_dir>/<name>.log``
        (stdout to ``stdout`` when given)."""
        if name in self.children and self.children[name].proc.poll() is None:
            raise RuntimeError(f"{name} is already running")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        err = (self.log_dir / f"{name}.log").open("ab")
        out = stdout.open("ab") if stdout is not None else err
        cmd = list(argv)
        if self._pdeathsig:
            cmd = [self._pdeathsig, "--pdeathsig", "KILL", "--", *cmd]
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        child = Child(name, list(argv), proc, [err] if out is err else [err, out])
        self.children[name] = child
        self.groups.add(proc.pid)
        return child

    def running(self, name: str) -> bool:
        child = self.children.get(name)
        return child is not None and child.proc.poll() is None

    def stop(self, name: str, *, grace_s: float = 10.0) -> int | None:
        """SIGTERM the child's group, SIGKILL after ``grace_s``; returns its exit code."""
        child = self.children.get(name)
        if child is None:
            return None
        proc = child.proc
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        deadline = time.monotonic() + grace_s
        while group_alive(proc.pid) and time.monotonic() < deadline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            time.sleep(0.1)
        for fh in child.logs:
            fh.close()
        child.logs = []
        return proc.returncode

    def stop_all(self, *, grace_s: float = 10.0) -> list[str]:
        """Stop every child, newest first; returns the names of groups still alive after."""
        for name in reversed(list(self.children)):
            with contextlib.suppress(Exception):  # one stubborn child must not spare the rest
                self.stop(name, grace_s=grace_s)
        return self.leftovers()

    def leftovers(self) -> list[str]:
        """Children whose process group still has a live process."""
        by_pid = {c.pid: c.name for c in self.children.values()}
        return sorted(by_pid.get(g, str(g)) for g in self.groups if group_alive(g))
