"""Numbers read from files and server answers: finite, in range, written in ASCII digits.

Every reader that takes a quantity from outside (a cost, a latency, a count, a rate) checks it
here, so the rules are one: a number is an ``int`` or ``float`` (never a bool), finite, and
inside the range the quantity has (costs and latencies >= 0, ratios 0..1, percentages
0..100). A number written as text (CSV cells, Prometheus sample values, AWS prices) uses ASCII
digits only, because ``float()`` also reads Arabic-Indic and full-width digits, ``nan`` and
``inf``. Failures raise :class:`~summit_platform.automation.errors.UserError` naming the source and the key,
and show what was found only as a short, redacted prefix.
"""

from __future__ import annotations

import math
import re
from typing import Any

from summit_platform.automation.errors import UserError
from summit_platform.components.render.redact import short

_DECIMAL = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", re.ASCII)


def found(value: Any) -> str:
    """What a message says it found: JSON's name for the kind, and a short redacted prefix of
    text or numbers (never a whole value)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"text {short(value)}"
    if isinstance(value, int) and abs(value) >= 10**24:
        return "a number of more than 24 digits"  # repr() refuses past 4300 digits
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 24 else text[:24] + "..."
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _in_range(x: float, low: float | None, high: float | None) -> bool:
    return (low is None or x >= low) and (high is None or x <= high)


def _range_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"a finite number from {low:g} to {high:g}"
    if low is not None:
        return f"a finite number >= {low:g}"
    if high is not None:
        return f"a finite number <= {high:g}"
    return "a finite number"


def number(
    value: Any,
    *,
    source: str | None,
    key: str | None,
    low: float | None = 0.0,
    high: float | None = None,
    integer: bool = False,
) -> float:
    """``value`` as a float when it is a JSON/YAML number (not a bool), finite, within
    ``[low, high]`` and, with ``integer``, a whole number; else :class:`UserError`."""
    what = _range_text(low, high)
    if integer:
        what = what.replace("a finite number", "a whole number")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserError(f"expected {what}, found {found(value)}", source=source, key=key)
    try:
        x = float(value)
    except OverflowError:  # an int with hundreds of digits
        x = math.inf
    if not math.isfinite(x) or not _in_range(x, low, high) or (integer and x != int(x)):
        raise UserError(f"expected {what}, found {found(value)}", source=source, key=key)
    return x


def parse_decimal(
    text: Any,
    *,
    source: str | None,
    key: str | None,
    low: float | None = 0.0,
    high: float | None = None,
    integer: bool = False,
) -> float:
    """A number written as text in ASCII digits (``12``, ``-0.5``, ``1e-05``), checked like
    :func:`number`. ``nan``, ``inf``, ``1_000`` and non-ASCII digits are refused."""
    if not isinstance(text, str) or not _DECIMAL.fullmatch(text.strip()):
        raise UserError(
            f"expected a decimal number in ASCII digits, found {found(text)}",
            source=source,
            key=key,
        )
    return number(float(text.strip()), source=source, key=key, low=low, high=high, integer=integer)
