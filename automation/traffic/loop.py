"""The control loop's turns, around the one-evaluation step the ``summit traffic run`` command
builds: stand by or lead (:mod:`summit_platform.automation.traffic.leadership`), log, export metrics, keep the
state file, sleep until the next turn (or wake at once when this controller was just elected).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from summit_platform.automation.errors import UserError
from summit_platform.automation.traffic import files
from summit_platform.automation.traffic.leadership import Leased, Solo
from summit_platform.automation.traffic.telemetry import ControllerMetrics


class Actuation(Protocol):
    """What the loop needs to know of how decisions are applied."""

    @property
    def dry_run(self) -> bool: ...


class Stopping:
    """Set by SIGTERM/SIGINT: the loop finishes its turn, then ends (exit 0)."""

    def __init__(self) -> None:
        self.flag = False

    def stop(self, signum: int, frame: Any) -> None:
        self.flag = True

    def __call__(self) -> bool:
        return self.flag


def in_effect(line: dict[str, Any], dry_run: bool) -> bool:
    """Did this turn leave its decision in effect (applied, or nothing to apply)? A dry run
    never does: the "no leader acts" alert must see that nobody steers."""
    if dry_run:
        return False
    applied = line.get("apply")
    return applied is None or bool(applied.get("consistent") or applied.get("inEffect"))


@dataclass
class Loop:
    """Turns of ``evaluate_once(ctl_state, started, act) -> (ctl_state, line)``."""

    evaluate_once: Callable[..., tuple[Any, dict[str, Any]]]
    act: Actuation
    ha: Solo | Leased
    telemetry: ControllerMetrics
    state_path: Path | None

    def turn(self, ctl_state: Any, started: float) -> tuple[Any, dict[str, Any]]:
        """Stand by, or lead (continuing from the lease table's state when elected): evaluate
        and apply, then save the state fenced by the lease."""
        turn = self.ha.begin(started)
        if not turn.leader:
            return ctl_state, turn.line
        ctl_state, line = self.evaluate_once(turn.state or ctl_state, started, self.act)
        self.ha.finish(started, ctl_state, line, in_effect(line, self.act.dry_run))
        return ctl_state, line

    def run(
        self,
        write: Callable[[dict[str, Any]], None],
        interval_s: float,
        max_iterations: int | None,
        stopping: Callable[[], bool],
        ctl_state: Any = None,
    ) -> int:
        """Turns from ``ctl_state`` (the saved or safe state; None starts fresh) until
        ``stopping()`` or ``max_iterations``; returns how many ran."""
        ha, n = self.ha, 0
        while not stopping():
            started = time.time()
            ctl_state, line = self.turn(ctl_state, started)
            record = ha.record.decision if ha.record else None
            self.telemetry.observe(
                line,
                decision=line if line.get("regions") else record,
                token=ha.token,
                last_applied_at=ha.last_applied_at,
            )
            if self.state_path is not None and line.get("leader") and ctl_state is not None:
                try:
                    files.write_state(self.state_path, ctl_state)
                except UserError as err:  # a full disk must not stop the loop
                    line["stateError"] = str(err)
            write(line)
            n += 1
            if max_iterations is not None and n >= max_iterations:
                break
            ha.wait(started + interval_s, stopping)
        return n
