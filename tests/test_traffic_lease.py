"""Leader election's pure decisions (automation/traffic/lease.py), with hypothesis.

A model table does what DynamoDB's conditional put does (compare-and-set on the item read);
random schedules of controllers reading, writing, stalling and the clock moving must never
give two controllers a moment in which both may act, and fencing tokens only grow."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from summit_platform.automation.traffic.lease import Lease, expired, next_step, released, should_act

DURATION = 15.0
MARGIN = 2.0


def test_the_steps_by_example():
    assert next_step(None, "A", 100.0, DURATION).kind == "acquire"
    first = next_step(None, "A", 100.0, DURATION).lease
    assert first == Lease("A", 115.0, 1)
    renew = next_step(first, "A", 105.0, DURATION)
    assert renew.kind == "renew" and renew.lease == Lease("A", 120.0, 1)
    follow = next_step(first, "B", 105.0, DURATION)
    assert follow.kind == "follow" and follow.lease == first
    take = next_step(first, "B", 115.0, DURATION)  # at the expiry instant it is free
    assert take.kind == "acquire" and take.lease == Lease("B", 130.0, 2)
    # Its old holder re-acquires an expired lease with a new token: the old one is dead.
    assert next_step(first, "A", 116.0, DURATION).lease == Lease("A", 131.0, 2)
    with pytest.raises(ValueError):
        next_step(None, "A", 0.0, 0.0)


def test_should_act_needs_the_same_holder_token_and_a_margin():
    lease = Lease("A", 115.0, 3)
    assert should_act(lease, "A", 3, 112.9, MARGIN)
    assert not should_act(lease, "A", 3, 113.0, MARGIN)  # less than the margin left
    assert not should_act(lease, "A", 2, 100.0, MARGIN)  # an older token
    assert not should_act(lease, "B", 3, 100.0, MARGIN)
    assert not should_act(None, "A", 3, 100.0, MARGIN)


def test_a_released_lease_is_free_at_once_and_taken_with_a_higher_token():
    lease = Lease("A", 115.0, 3)
    gone = released(lease, 101.0)
    assert expired(gone, 101.0) and gone.token == 3
    assert next_step(gone, "B", 101.0, DURATION).lease == Lease("B", 116.0, 4)


@dataclass
class ModelTable:
    """One lease item with compare-and-set writes, as DynamoDB's conditional put."""

    item: Lease | None = None
    writes: list[tuple[float, Lease]] = field(default_factory=list)

    def cas(self, seen: Lease | None, new: Lease, now: float) -> bool:
        if self.item != seen:
            return False
        self.item = new
        self.writes.append((now, new))
        return True


# One event: which controller, how far the clock moves first (a stall is a long move), and
# whether that controller reads before it writes (False: it writes on a stale read).
EVENTS = st.lists(
    st.tuples(
        st.sampled_from("ABC"),
        st.floats(min_value=0, max_value=40, allow_nan=False),
        st.booleans(),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(EVENTS)
def test_two_controllers_never_may_act_at_the_same_moment(events):
    """Each controller acts on the lease it last wrote itself, without reading again (the
    worst case: a stale belief). At no moment may two of them act."""
    table = ModelTable()
    views: dict[str, Lease | None] = {}
    held: dict[str, Lease] = {}
    now = 0.0
    for who, dt, fresh in events:
        now += dt
        seen = table.item if fresh or who not in views else views[who]
        step = next_step(seen, who, now, DURATION)
        wrote = step.kind != "follow" and step.lease is not None
        if wrote and table.cas(step.seen, step.lease, now):  # type: ignore[arg-type]
            held[who] = step.lease  # type: ignore[assignment]
        views[who] = table.item
        acting = [c for c, lease in held.items() if should_act(lease, c, lease.token, now, MARGIN)]
        assert len(acting) <= 1, (now, held)
    # Every successful write renews its holder's token or, once the previous lease expired,
    # takes the next token: the windows in which holders may act follow each other.
    for (t0, a), (t1, b) in zip(table.writes, table.writes[1:], strict=False):
        if b.token == a.token:
            assert b.holder == a.holder and b.expires_at >= a.expires_at
        else:
            assert b.token == a.token + 1 and t1 >= a.expires_at
        assert t1 >= t0


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=0, max_value=1e9, allow_nan=False),
    st.floats(min_value=0.5, max_value=600, allow_nan=False),
    st.floats(min_value=0, max_value=1200, allow_nan=False),
)
def test_a_stalled_holder_cannot_act_after_expiry_with_its_old_token(start, duration, stall):
    lease = next_step(None, "A", start, duration).lease
    assert lease is not None
    wake = start + stall
    if wake >= lease.expires_at:
        assert not should_act(lease, "A", lease.token, wake, 0.0)
        retaken = next_step(lease, "A", wake, duration).lease
        assert retaken is not None and retaken.token == lease.token + 1
    else:
        renewed = next_step(lease, "A", wake, duration).lease
        assert renewed is not None and renewed.token == lease.token
        assert renewed.expires_at >= lease.expires_at
