"""Kubernetes resource quantities, parsed once for everyone: the config model (strict, raises),
ServiceComponent's args, and the cost model and FinOps pack (lenient, None when unknown)."""

from __future__ import annotations

import math
import re
from typing import Any

from summit_platform.components.render.redact import short

_QTY = re.compile(r"^(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(m|Ki|Mi|Gi|Ti|k|K|M|G|T|)$", re.ASCII)
_FACTORS = {
    "": 1,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
}


def _number(value: Any, what: str) -> tuple[float, str]:
    """(the number, the suffix) of a quantity; ValueError naming ``what`` was expected when
    it is not one, or when it is not finite (``1e400`` reads as infinity)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number, suffix = (float(value) if abs(value) < 1e300 else math.inf), ""
    else:
        m = _QTY.match(str(value).strip())
        if not m:
            raise ValueError(f"expected {what}, found {short(value)}")
        number, suffix = float(m.group(1)), m.group(2)
    if not math.isfinite(number) or number > 1e18:
        raise ValueError(f"expected {what} of a sensible size, found {short(value)}")
    return number, suffix


def parse_cpu_millis(value: Any) -> int:
    """A CPU quantity (``"250m"``, ``"1"``, ``"0.5"``, ``2``) -> millicores; ValueError if
    it is not one."""
    what = "a CPU quantity like '250m' or '1'"
    number, suffix = _number(value, what)
    if suffix not in ("", "m"):
        raise ValueError(f"expected {what}, found {short(value)}")
    return round(number if suffix == "m" else number * 1000)


def parse_memory_bytes(value: Any) -> int:
    """A memory quantity (``"512Mi"``, ``"1Gi"``, ``"1G"``, bytes) -> bytes; ValueError if it
    is not one."""
    what = "a memory quantity like '512Mi' or '2Gi'"
    number, suffix = _number(value, what)
    if suffix == "m":
        raise ValueError(f"expected {what}, found {short(value)}")
    return int(number * _FACTORS[suffix])


def cpu_millis(value: Any) -> float | None:
    """Lenient :func:`parse_cpu_millis`: None when unset, unknown or unparseable."""
    try:
        return None if value is None or isinstance(value, bool) else float(parse_cpu_millis(value))
    except ValueError:
        return None


def memory_bytes(value: Any) -> float | None:
    """Lenient :func:`parse_memory_bytes`: None when unset, unknown or unparseable."""
    try:
        return (
            None if value is None or isinstance(value, bool) else float(parse_memory_bytes(value))
        )
    except ValueError:
        return None
