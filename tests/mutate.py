"""Copy a nested dict with one property set or deleted: the provider-check tests start from a
valid object and break one thing at a time."""

from __future__ import annotations

import copy
import re
from typing import Any

DELETE = object()
"""Pass as the value to delete the property."""


def mutate(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``doc`` with ``path`` (``a.b[0].c``; missing objects are created) set to
    ``value``, or deleted when ``value`` is :data:`DELETE`."""
    out = copy.deepcopy(doc)
    parts: list[Any] = []
    for piece in path.split("."):
        m = re.fullmatch(r"([^\[]+)((?:\[\d+\])*)", piece)
        assert m, piece
        parts.append(m.group(1))
        parts += [int(i) for i in re.findall(r"\[(\d+)\]", m.group(2))]
    cur: Any = out
    for p in parts[:-1]:
        if isinstance(p, str) and p not in cur:
            cur[p] = {}
        cur = cur[p]
    if value is DELETE:
        del cur[parts[-1]]
    else:
        cur[parts[-1]] = value
    return out
