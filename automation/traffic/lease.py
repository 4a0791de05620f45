"""Leader election, the pure part: what a controller does with the lease it read.

A lease is ``(holder, expires_at, token)`` in one DynamoDB item. Every controller reads it and
asks :func:`next_step`: take it when it has expired (``acquire``, with a fencing token one
higher than the last), extend it when it is its own and still valid (``renew``, same token),
otherwise ``follow``. The write is conditional on the item being exactly what was read
(compare-and-set), so of two controllers that both saw an expired lease one wins and the other
follows. A renewal never resurrects an expired lease: once it lapsed, its token is dead even for
its old holder, so a leader that stalled past its expiry can write nothing with it
(:func:`should_act`, and the store checks the token in the same transaction as every state
write).

Times are unix seconds on the writer's clock; the safety of a lease assumes the clocks of the
controllers differ by less than the ``margin`` a leader keeps before its expiry (AWS's time
sync keeps EC2 and EKS nodes within a millisecond).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Lease:
    """The lease item: who holds it, until when (unix s), with which fencing token."""

    holder: str
    expires_at: float
    token: int


@dataclass(frozen=True)
class Step:
    """What to write: ``lease`` if ``seen`` is still what the table holds (``follow`` writes
    nothing; its ``lease`` is the one seen)."""

    kind: Literal["acquire", "renew", "follow"]
    lease: Lease | None
    seen: Lease | None


def expired(lease: Lease | None, now: float) -> bool:
    """True when nobody holds the lease at ``now`` (none yet, or its expiry has passed)."""
    return lease is None or now >= lease.expires_at


def next_step(seen: Lease | None, me: str, now: float, duration: float) -> Step:
    """Acquire an expired lease (token + 1), renew our own valid one (same token), else follow."""
    if duration <= 0:
        raise ValueError(f"a lease lasts more than 0 s, found {duration!r}")
    if expired(seen, now):
        token = (seen.token if seen else 0) + 1
        return Step("acquire", Lease(me, now + duration, token), seen)
    assert seen is not None  # not expired
    if seen.holder == me:
        return Step("renew", Lease(me, max(seen.expires_at, now + duration), seen.token), seen)
    return Step("follow", seen, seen)


def should_act(lease: Lease | None, me: str, token: int, now: float, margin: float) -> bool:
    """May ``me``, holding ``token``, write now? Only with that very lease, with at least
    ``margin`` seconds left on it (the write must land before anyone else can acquire)."""
    return (
        lease is not None
        and lease.holder == me
        and lease.token == token
        and now + margin < lease.expires_at
    )


def released(lease: Lease, now: float) -> Lease:
    """The lease as its holder gives it up (a clean stop): expired now, same token, so the
    next controller acquires at once and with a higher token."""
    return Lease(lease.holder, min(lease.expires_at, now), lease.token)
