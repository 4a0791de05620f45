"""Kubernetes resource quantities, parsed once for everyone: the config model (strict, raises),
ServiceComponent's args, and the cost model and FinOps pack (lenient, None when unknown)."""

from __future__ import annotations

import re
from typing import Any

_QTY = re.compile(r"^(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(m|Ki|Mi|Gi|Ti|k|K|M|G|T|)$")
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


def parse_cpu_millis(value: Any) -> int:
    """A CPU quantity (``"250m"``, ``"1"``, ``"0.5"``, ``2``) -> millicores; ValueError if
    it is not one."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(float(value) * 1000)
    m = _QTY.match(str(value).strip())
    if not m or m.group(2) not in ("", "m"):
        raise ValueError(f"expected a CPU quantity like '250m' or '1', found {value!r}")
    number = float(m.group(1))
    return round(number if m.group(2) == "m" else number * 1000)


def parse_memory_bytes(value: Any) -> int:
    """A memory quantity (``"512Mi"``, ``"1Gi"``, ``"1G"``, bytes) -> bytes; ValueError if it
    is not one."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    m = _QTY.match(str(value).strip())
    if not m or m.group(2) == "m":
        raise ValueError(f"expected a memory quantity like '512Mi' or '2Gi', found {value!r}")
    return int(float(m.group(1)) * _FACTORS[m.group(2)])


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
