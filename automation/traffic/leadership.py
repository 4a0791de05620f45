"""Who may act: the traffic loop's coordinator, alone or elected through the lease table.

``summit traffic run`` asks its coordinator at the start of every turn whether it leads
(:meth:`Leased.begin`), asks again immediately before each write (:meth:`Leased.may_write`),
and hands it the new state and decision at the end (:meth:`Leased.finish`), which saves them
fenced by the lease; a turn counts as the leader's (``leader: true`` in the decision log) only
when that save succeeded. Without a lease table the process runs alone (:class:`Solo`), as
before: always the leader, state in the ``--state`` file.

A keeper thread keeps the lease between turns: it renews the leader's lease every third of its
duration and, as a follower, reads the lease every half second and takes it once it is
released or expired, waking the loop at once when it does. It renews only while the loop makes progress: a loop stuck for a whole
lease duration stops renewing, so a hung leader loses the lease instead of holding it forever.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from summit_platform.automation.errors import UserError
from summit_platform.automation.traffic import lease as lease_rules
from summit_platform.automation.traffic.controller import State
from summit_platform.automation.traffic.lease import Lease
from summit_platform.automation.traffic.lease_store import LeaseStore, StateRecord, ensure_table
from summit_platform.components.render import traffic_controller as tc
from summit_platform.components.render.durations import parse_duration
from summit_platform.components.render.traffic_pin import iso
from summit_platform.stacks.config import StackConfig

_TABLE = re.compile(r"^[a-zA-Z0-9_.-]{1,255}$")
"""What DynamoDB's API takes as a table name here (it creates only names of 3 or more)."""

FOLLOWER_POLL_S = 0.5
"""How often a follower looks for an expired lease (the handover's slack beyond its expiry)."""


@dataclass
class Turn:
    """The start of a turn: lead (with the state to continue from) or stand by (with the line
    to log)."""

    leader: bool
    state: State | None = None
    line: dict[str, Any] = field(default_factory=dict)


class Solo:
    """No lease table: this process is the only controller."""

    def __init__(self, holder: str):
        self.holder = holder
        self.token: int | None = None
        self.last_applied_at: float | None = None
        self.record: StateRecord | None = None

    def __enter__(self) -> Solo:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def begin(self, now: float) -> Turn:
        return Turn(leader=True)

    def may_write(self) -> bool:
        return True

    def finish(self, now: float, state: State, line: dict[str, Any], in_effect: bool) -> bool:
        if in_effect:
            self.last_applied_at = now
        line.update(holder=self.holder, leader=True)
        return True

    def wait(self, deadline: float, stopping: Callable[[], bool]) -> None:
        while not stopping() and time.time() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.time())))


class Leased:
    """Leader election on the lease table (:class:`~summit_platform.automation.traffic.lease_store.LeaseStore`)."""

    def __init__(
        self,
        store: LeaseStore,
        holder: str,
        duration: float,
        *,
        margin: float | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.store = store
        self.holder = holder
        self.duration = duration
        self.margin = min(2.0, duration / 5) if margin is None else margin
        self.clock = clock
        self.lease: Lease | None = None
        """The lease this process holds (None while it follows)."""
        self.seen: Lease | None = None
        self.record: StateRecord | None = None
        self.last_applied_at: float | None = None
        self.error: str | None = None
        self._lock = threading.Lock()
        self._acquired = threading.Event()
        self._stop = threading.Event()
        self._heartbeat = clock()
        self._renewed_at = 0.0
        self._keeper: threading.Thread | None = None

    @property
    def token(self) -> int | None:
        return self.lease.token if self.lease else (self.seen.token if self.seen else None)

    # -- the lease --------------------------------------------------------------------------

    def keep(self, now: float) -> bool:
        """Read the lease and act on it (acquire, renew or follow); True while leading."""
        with self._lock:
            try:
                seen = self.store.read()
                step = lease_rules.next_step(seen, self.holder, now, self.duration)
                won = step.kind != "follow" and self.store.write(step, now)
                self.error = None
            except Exception as err:  # DynamoDB unreachable: nobody can confirm a lease
                self.error = f"{type(err).__name__}: {err}"[:300]
                self.lease = None
                return False
            was_leader = self.lease is not None
            self.seen = step.lease if won else seen
            self.lease = step.lease if won else None
            if won:
                self._renewed_at = now
            if won and not was_leader:
                self._acquired.set()
            return won

    def _keeper_loop(self) -> None:
        while not self._stop.wait(FOLLOWER_POLL_S):
            now = self.clock()
            if now - self._heartbeat > self.duration:
                continue  # the loop is stuck: let the lease lapse
            if self.lease is not None and now - self._renewed_at < self.duration / 3:
                continue
            # A follower reads every poll: a released lease is taken at once, an expired
            # one within the poll (two strongly consistent reads a second, a few cents a day).
            self.keep(now)

    def __enter__(self) -> Leased:
        self._keeper = threading.Thread(target=self._keeper_loop, name="lease-keeper", daemon=True)
        self._keeper.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the keeper and give the lease up, so another controller takes over at once."""
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join(timeout=5)
        with self._lock:
            if self.lease is not None:
                # If the release fails the lease simply expires.
                with contextlib.suppress(Exception):
                    self.store.release(self.lease, self.clock())
                self.lease = None

    # -- one turn -----------------------------------------------------------------------------

    def begin(self, now: float) -> Turn:
        """Lead (continuing from the table's state) or stand by (with a line saying who leads)."""
        self._heartbeat = now
        leading = self.keep(now)
        self._acquired.clear()  # this turn leads already: no need to wake the next one early
        try:
            self.record = self.store.load_state()
        except Exception as err:
            self.error = f"{type(err).__name__}: {err}"[:300]
            leading, self.lease = False, None
        if self.record is not None:
            self.last_applied_at = self.record.last_applied_at
        if leading:
            return Turn(leader=True, state=self._saved_state())
        return Turn(leader=False, line=self._standby_line(now))

    def _saved_state(self) -> State | None:
        """The last leader's state; a record this version cannot read starts afresh (and the
        next save replaces it) rather than stopping the controller."""
        if self.record is None:
            return None
        try:
            return State.from_dict(self.record.state)
        except (KeyError, ValueError, TypeError, AttributeError):
            return None

    def _standby_line(self, now: float) -> dict[str, Any]:
        line: dict[str, Any] = {"ts": iso(now), "at": now, "action": "standby"}
        line["holder"] = self.holder
        line["leader"] = False
        if self.error:
            line["reason"] = f"lease table unreachable, not acting: {self.error}"
        elif self.seen is not None:
            line["reason"] = (
                f"lease held by {self.seen.holder} until {iso(self.seen.expires_at)}"
                f" (fencing token {self.seen.token})"
            )
            line.update(leaseHolder=self.seen.holder, fencingToken=self.seen.token)
        return line

    def may_write(self) -> bool:
        """Immediately before a write: do we still hold our lease, with ``margin`` to spare?"""
        if self.lease is None:
            return False
        try:
            current = self.store.read()
        except Exception:
            return False
        return lease_rules.should_act(
            current, self.holder, self.lease.token, self.clock(), self.margin
        )

    def finish(self, now: float, state: State, line: dict[str, Any], in_effect: bool) -> bool:
        """Save the state and decision fenced by the lease; mark the line with who wrote it
        and whether it really was the leader's. False when the lease was lost meanwhile."""
        self._heartbeat = self.clock()
        lease = self.lease
        applied = now if in_effect else self.last_applied_at
        saved = False
        if lease is not None:
            try:
                saved = self.store.save_state(
                    lease, self.clock(), self.margin, (state.to_dict(), line, applied)
                )
            except Exception as err:
                self.error = f"{type(err).__name__}: {err}"[:300]
        line.update(holder=self.holder, leader=saved, fencingToken=lease.token if lease else None)
        if saved and lease is not None:
            self.last_applied_at = applied
            line["leaseExpiresAt"] = iso(lease.expires_at)
        else:
            self.lease = None
            line["fenced"] = "the lease was lost during this turn: its state was not saved"
        return saved

    def wait(self, deadline: float, stopping: Callable[[], bool]) -> None:
        """Sleep until ``deadline``; wake early when the keeper has just taken the lease."""
        while not stopping() and time.time() < deadline:
            if self._acquired.wait(min(0.2, max(0.0, deadline - time.time()))):
                return


def default_holder() -> str:
    """This process's holder id when none is given: host and pid."""
    return f"{socket.gethostname()}-{os.getpid()}"


def coordinator(
    cfg: StackConfig,
    stack: str,
    *,
    lease_table: str | None,
    endpoint: str | None,
    create: bool,
    holder: str | None,
    state_path: Path | None,
) -> Solo | Leased:
    """The coordinator ``summit traffic run``'s options ask for: :class:`Solo` without a lease
    table, else :class:`Leased` on it (created first with ``create``). Bad combinations are
    user errors, before anything starts."""
    who = holder or default_holder()
    if not who.strip() or len(who) > 200:
        raise UserError(f"expected a holder id of 1-200 characters, found {who!r}", key="--holder")
    if lease_table is None:
        for flag, given in (("--dynamodb-endpoint", endpoint), ("--create-lease-table", create)):
            if given:
                raise UserError(f"{flag} needs --lease-table", key=flag)
        return Solo(who)
    if state_path is not None:
        raise UserError(
            "--state and --lease-table both keep the controller's state; give one", key="--state"
        )
    if not _TABLE.match(lease_table):
        raise UserError(
            f"expected a DynamoDB table name (a-z A-Z 0-9 _ . -), found {lease_table!r}",
            key="--lease-table",
        )
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise UserError(f"expected an http(s) URL, found {endpoint!r}", key="--dynamodb-endpoint")
    import boto3  # deferred: about 0.35 s to import, only the elected loop needs it

    ctl = cfg.traffic.controller
    region = tc.lease_region(cfg.traffic.mode, cfg.region_names, ctl.lease_region)
    client = boto3.client("dynamodb", region_name=region, endpoint_url=endpoint)
    if create:
        try:
            ensure_table(client, lease_table)
        except (ClientError, BotoCoreError) as err:
            raise UserError(
                f"could not create or find the lease table {lease_table!r} in {region}"
                f"{' at ' + endpoint if endpoint else ''}: {err}",
                key="--create-lease-table",
            ) from None
    duration = parse_duration(ctl.lease_duration)
    return Leased(LeaseStore(client, lease_table, stack), who, duration)
