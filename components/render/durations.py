"""Durations, one dialect for the whole project: a number and a unit, always.

``90s``, ``30m``, ``1h``, ``2d``, ``1h30m``, ``500ms`` and ``1.5h`` parse; a bare number does
not (``30`` could be seconds, minutes or a typo, and the project used to read it all three
ways), nor does an empty string, a negative or non-finite value, or digits outside ASCII
(``int()`` accepts Arabic-Indic and full-width digits; a duration here never does).

Units: ``ms``, ``s``, ``m``, ``h``, ``d`` (24 h), ``w`` (7 d). The subset without ``d`` and
``w`` is what Go's ``time.ParseDuration`` reads, and so what Argo Rollouts accepts in a pause;
:func:`go_duration` checks that. Pure: no Pulumi, no I/O, so config, components and the CLI
share it.
"""

from __future__ import annotations

import math
import re

UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
GO_UNITS = frozenset({"ms", "s", "m", "h"})
"""Units Go's time.ParseDuration (and so Argo Rollouts and Prometheus' Go code) reads."""

# ASCII digits only: Python's \d matches every Unicode decimal digit.
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)")
_BARE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
EXAMPLES = "90s, 30m, 1h or 2d"


class DurationError(ValueError):
    """A value that is not a duration; the message says what was expected and found."""


def _shown(text: object) -> str:
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def parts(text: str) -> list[tuple[float, str]]:
    """``"1h30m"`` -> ``[(1.0, "h"), (30.0, "m")]``; raises :class:`DurationError`."""
    if not isinstance(text, str):
        raise DurationError(
            f"expected a duration with a unit like {EXAMPLES}, found {_shown(text)}"
        )
    value = text.strip()
    if _BARE.fullmatch(value):
        raise DurationError(
            f"a duration needs a unit (write {value}s, {value}m or {value}h), found {_shown(text)}"
        )
    out: list[tuple[float, str]] = []
    pos = 0
    while pos < len(value):
        m = _PART.match(value, pos)
        if not m:
            raise DurationError(f"expected a duration like {EXAMPLES}, found {_shown(text)}")
        out.append((float(m.group(1)), m.group(2)))
        pos = m.end()
    if not out:
        raise DurationError(f"expected a duration like {EXAMPLES}, found {_shown(text)}")
    return out


def parse_duration(text: str, *, minimum: float = 0.0, allow_zero: bool = False) -> float:
    """Seconds in ``text``. Zero is refused unless ``allow_zero``; values below ``minimum``
    seconds are refused with the minimum in the message."""
    seconds = sum(n * UNIT_SECONDS[unit] for n, unit in parts(text))
    if not math.isfinite(seconds):
        raise DurationError(f"expected a finite duration, found {_shown(text)}")
    if seconds == 0 and not allow_zero:
        raise DurationError(f"expected a duration above zero, found {_shown(text)}")
    if seconds < minimum:
        raise DurationError(f"expected at least {format_duration(minimum)}, found {_shown(text)}")
    return seconds


def go_duration(text: str) -> float:
    """Seconds in a duration Go's ``time.ParseDuration`` also reads (no ``d``/``w``): what
    Argo Rollouts' pause and analysis interval take."""
    units = [unit for _, unit in parts(text)]
    bad = sorted(set(units) - GO_UNITS)
    if bad:
        raise DurationError(
            f"expected ms, s, m or h units (Argo Rollouts reads Go durations), found {_shown(text)}"
        )
    return parse_duration(text)


def format_duration(seconds: float) -> str:
    """A short form with units: 90 -> ``1m30s``, 7200 -> ``2h``, 0.5 -> ``500ms``."""
    if not math.isfinite(seconds) or seconds < 0:
        raise DurationError(f"expected a finite, non-negative number of seconds, found {seconds!r}")
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds)
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size:
            out += f"{whole // size}{unit}"
            whole %= size
    return out or "0s"
