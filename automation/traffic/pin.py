"""The manual pin: operator-chosen shares with a reason and an expiry of 1 to 60 minutes.

A pin lives in the stack config at ``summit-platform:traffic.pin`` (config stays the source of
truth) as ``{shares, reason, by, at, expiresAt}``; the config model validates it
(``summit_platform.stacks.config.TrafficPin``), the controller honours it until it expires and then resumes by
itself. Every pin and unpin is audited (:mod:`summit_platform.automation.traffic.audit`). Validation happens
before anything is written, so a bad pin changes nothing.
"""

from __future__ import annotations

import getpass
import math
import os
from typing import Any

from summit_platform.automation.errors import UserError
from summit_platform.automation.traffic.files import iso
from summit_platform.components.render.redact import short
from summit_platform.stacks.config import PIN_MAX_SECONDS

MAX_TTL_SECONDS = PIN_MAX_SECONDS
MIN_TTL_SECONDS = 60
"""A pin shorter than a minute ends before Global Accelerator has applied it (about 30 s)."""


def check_ttl(seconds: float, text: str) -> int:
    """The pin's TTL in whole seconds (from the ``--ttl`` duration): 1m to 60m."""
    if not math.isfinite(seconds) or not MIN_TTL_SECONDS <= seconds <= MAX_TTL_SECONDS:
        raise UserError(f"expected a TTL between 1m and 60m, found {short(text)}", key="--ttl")
    if seconds != int(seconds):
        # The pin stores whole-second times; a fraction would silently shorten it.
        raise UserError(f"expected a TTL in whole seconds, found {short(text)}", key="--ttl")
    return int(seconds)


def check_now(now: float | None, flag: str = "--now") -> None:
    """``--now`` (tests and replays): unix seconds, finite and after 1970."""
    if now is not None and (not math.isfinite(now) or now <= 0):
        raise UserError(f"expected unix seconds, found {now!r}", key=flag)


def parse_shares(assignments: list[str], regions: list[str]) -> dict[str, int]:
    """``["us-east-1=100", "us-west-2=0"]`` -> shares; every region once, adding to 100."""
    shares: dict[str, int] = {}
    for text in assignments:
        region, sep, value = text.partition("=")
        value = value.strip()
        # ASCII digits only: str.isdigit() also accepts "²" and other digits int() rejects
        # or reads; three at most (a percent), so int() never sees a thousand-digit string.
        if not sep or not value.isascii() or not value.isdigit() or len(value) > 3:
            raise UserError(f"expected REGION=PERCENT, found {short(text)}", key="SHARES")
        if region not in regions:
            raise UserError(
                f"expected one of the stack's regions {regions}, found {short(region)}",
                key="SHARES",
            )
        if region in shares:
            raise UserError(f"{region} given twice", key="SHARES")
        pct = int(value)
        if pct > 100:
            raise UserError(f"expected a percent 0..100, found {short(text)}", key="SHARES")
        shares[region] = pct
    missing = sorted(set(regions) - set(shares))
    if missing:
        raise UserError(f"give a share for every region; missing {missing}", key="SHARES")
    if sum(shares.values()) != 100:
        raise UserError(f"shares must add up to 100, found {sum(shares.values())}", key="SHARES")
    return shares


def who() -> str:
    """The actor: the CI user (``GITHUB_ACTOR``) when in CI, else the local user."""
    actor = os.environ.get("GITHUB_ACTOR")
    if actor:
        return f"{actor} (github-actions)"
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


def build_pin(
    shares: dict[str, int], reason: str, ttl_seconds: int, now: float, by: str
) -> dict[str, Any]:
    """The config value stored at ``summit-platform:traffic.pin`` (whole-second times)."""
    reason = reason.strip()
    if not reason:
        raise UserError("a reason is required (--reason TEXT)", key="--reason")
    check_ttl(ttl_seconds, f"{ttl_seconds}s")
    at = math.floor(now)
    return {
        "shares": dict(sorted(shares.items())),
        "reason": reason,
        "by": by,
        "at": iso(at),
        "expiresAt": iso(at + ttl_seconds),
    }
