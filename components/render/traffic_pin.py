"""A manual traffic pin as the Pulumi program and the guardrails pack read it at plan time.

``summit traffic pin`` writes ``summit-platform:traffic.pin`` as
``{shares, reason, by, at, expiresAt}``. While the pin is active the program derives the
regions' dials (Global Accelerator) or weights (Route53) from its shares, so a ``pulumi up``
alone realises it, and the guardrails pack's ``traffic-dial-floor`` lets exactly those dials
under the floor. An expired pin is ignored (and reported as advisory); a pin that does not
read as one (:func:`read_pin` says why) is ignored too, so it never lifts the floor.

Like :mod:`summit_platform.components.render.spill`, this module imports only the standard library: the
guardrails pack imports it in its own process, and from a bare checkout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_TTL_SECONDS = 3600
"""A pin lasts at most 60 minutes (``summit traffic pin --ttl``)."""

REMOVE_HINT = "expired pin, remove it with summit traffic unpin"
"""What ``summit plan`` says about a pin whose ``expiresAt`` has passed."""


@dataclass(frozen=True)
class PinStatus:
    """What the stack's ``traffic.pin`` means at one moment."""

    state: str
    """``none`` (no pin), ``active``, ``expired`` or ``invalid``."""
    shares: dict[str, int] = field(default_factory=dict)
    """The pinned shares (percent, adding to 100) when the pin reads as one."""
    expires_at: float | None = None
    """Unix seconds of ``expiresAt``."""
    reason: str = ""
    by: str = ""
    problem: str = ""
    """Why an ``invalid`` pin is not one."""

    @property
    def active(self) -> bool:
        return self.state == "active"


def parse_time(value: Any) -> float | None:
    """Unix seconds from a finite number or an ISO 8601 string (``Z`` allowed; no zone means
    UTC); None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _percent(value: Any) -> int | None:
    """A whole percent 0..100 (an int, or a float with no fraction); None otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        return None
    return int(value) if 0 <= value <= 100 else None


def _shares(raw: Any, regions: Sequence[str]) -> tuple[dict[str, int], str]:
    if not isinstance(raw, Mapping) or not raw:
        return {}, "shares is not a map of region to percent"
    shares: dict[str, int] = {}
    for region, value in raw.items():
        pct = _percent(value)
        if pct is None:
            return {}, f"shares.{region} is {value!r}, not a whole percent 0..100"
        shares[str(region)] = pct
    if sorted(shares) != sorted(regions):
        return {}, f"shares name {sorted(shares)}, the stack's regions are {sorted(regions)}"
    if sum(shares.values()) != 100:
        return {}, f"shares add up to {sum(shares.values())}, not 100"
    return shares, ""


def read_pin(raw: Any, regions: Sequence[str], now: float) -> PinStatus:
    """The state of ``traffic.pin`` (``raw``, as the stack config holds it) at ``now``.

    A pin counts only when it has shares for exactly the stack's ``regions`` adding to 100, a
    reason, ``at`` and ``expiresAt`` with ``0 < expiresAt - at <= 60m``."""
    if raw is None or (isinstance(raw, Mapping) and not raw):
        return PinStatus(state="none")
    if not isinstance(raw, Mapping):
        return PinStatus(state="invalid", problem=f"expected a map, found {type(raw).__name__}")
    shares, problem = _shares(raw.get("shares"), regions)
    reason = raw.get("reason")
    at, expires = parse_time(raw.get("at")), parse_time(raw.get("expiresAt"))
    if not problem and not (isinstance(reason, str) and reason.strip()):
        problem = "no reason"
    if not problem and (at is None or expires is None):
        problem = "at and expiresAt must be times (ISO 8601 or unix seconds)"
    ttl = None if at is None or expires is None else expires - at
    if not problem and ttl is not None and not 0 < ttl <= MAX_TTL_SECONDS:
        problem = f"expiresAt - at is {ttl:g}s; a pin lasts 1s to 60m"
    if problem:
        return PinStatus(state="invalid", problem=problem)
    assert expires is not None  # checked above
    return PinStatus(
        state="active" if now < expires else "expired",
        shares=shares,
        expires_at=expires,
        reason=str(reason).strip(),
        by=str(raw.get("by") or "unknown"),
    )


def iso(ts: float) -> str:
    """Unix seconds as ``2026-11-27T12:00:00Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expired_message(status: PinStatus) -> str:
    """The advisory for an expired pin: when it expired, who set it and why, and what to do."""
    until = iso(status.expires_at) if status.expires_at is not None else "?"
    shown = ", ".join(f"{r}={p}%" for r, p in sorted(status.shares.items()))
    return (
        f"traffic.pin ({shown}, by {status.by}: {status.reason}) expired at {until} and is"
        f" ignored: {REMOVE_HINT}."
    )
