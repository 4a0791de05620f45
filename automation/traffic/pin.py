"""The manual pin: operator-chosen shares with a reason and an expiry of at most 60 minutes.

A pin lives in the stack config at ``summit-platform:traffic.pin`` (config stays the source of
truth) as ``{shares, reason, by, at, expiresAt}``; the controller honours it until it expires
and then resumes by itself. Every pin and unpin is appended to an audit log (JSON lines: who,
when, why, what, expiry). Validation happens before anything is written, so a bad pin changes
nothing.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Any

from automation.errors import UserError
from automation.traffic.files import iso

MAX_TTL_SECONDS = 3600


def check_ttl(seconds: float, text: str) -> float:
    """The pin's TTL (seconds, from the ``--ttl`` duration): more than 0 and at most 60m."""
    if not 0 < seconds <= MAX_TTL_SECONDS:
        raise UserError(
            f"expected a TTL between 1s and 60m, found {text!r} ({seconds / 60:g} minutes)",
            key="--ttl",
        )
    return seconds


def parse_shares(assignments: list[str], regions: list[str]) -> dict[str, int]:
    """``["us-east-1=100", "us-west-2=0"]`` -> shares; every region once, adding to 100."""
    shares: dict[str, int] = {}
    for text in assignments:
        region, sep, value = text.partition("=")
        # ASCII digits only: str.isdigit() also accepts "²", which int() then rejects.
        if not sep or not value.strip().isascii() or not value.strip().isdigit():
            raise UserError(f"expected REGION=PERCENT, found {text!r}", key="SHARES")
        if region not in regions:
            raise UserError(
                f"expected one of the stack's regions {regions}, found {region!r}", key="SHARES"
            )
        if region in shares:
            raise UserError(f"{region} given twice", key="SHARES")
        pct = int(value)
        if pct > 100:
            raise UserError(f"expected a percent 0..100, found {text!r}", key="SHARES")
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
    shares: dict[str, int], reason: str, ttl_seconds: float, now: float, by: str
) -> dict[str, Any]:
    """The config value stored at ``summit-platform:traffic.pin``."""
    reason = reason.strip()
    if not reason:
        raise UserError("a reason is required (--reason TEXT)", key="--reason")
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise UserError(f"expected a TTL of at most 60m, found {ttl_seconds:g}s", key="--ttl")
    return {
        "shares": dict(sorted(shares.items())),
        "reason": reason,
        "by": by,
        "at": iso(now),
        "expiresAt": iso(now + ttl_seconds),
    }


def audit(path: Path, entry: dict[str, Any]) -> None:
    """Append one JSON line to the audit log (created with its folder when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(json.dumps(entry, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_audit(path: Path) -> list[dict[str, Any]]:
    """Every entry of the audit log, oldest first."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
