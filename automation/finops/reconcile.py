"""`summit finops reconcile`: compare OpenCost/Kubecost actuals with the estimate per namespace.

OpenCost's allocation API (``GET /allocation/compute?window=1d&aggregate=namespace
&accumulate=true``; Kubecost serves the same shape at ``/model/allocation``) answers
``{"code": 200, "data": [{"<namespace>": {"name", "start", "end", "minutes", "cpuCost",
"ramCost", "pvCost", "totalCost", ...}}]}``. Actual $/h of a namespace is ``totalCost`` over
the window's hours (``minutes / 60``). :func:`compare` is pure; :func:`fetch_allocation` is the
only network call.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from automation.errors import UserError


@dataclass(frozen=True)
class NamespaceDrift:
    """Estimate vs actual for one namespace."""

    namespace: str
    estimated: Decimal
    actual: Decimal | None
    """None when OpenCost has no allocation for the namespace."""
    drift: float | None
    """(actual - estimated) / estimated; None when either side is zero or missing."""
    flagged: bool
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "estimated_hourly": float(self.estimated),
            "actual_hourly": None if self.actual is None else float(self.actual),
            "drift": self.drift,
            "flagged": self.flagged,
            "note": self.note,
        }


def opencost_window(seconds: float, flag: str = "--window") -> str:
    """A duration (seconds) as OpenCost's ``window`` parameter: ``7d``, ``12h`` or ``90m``
    (OpenCost reads whole days, hours or minutes)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    raise UserError(
        f"expected a window of whole minutes, at least 1m, found {seconds:g} seconds", key=flag
    )


def fetch_allocation(
    base_url: str, window: str, *, timeout: float = 10.0, path: str = "/allocation/compute"
) -> dict[str, Any]:
    """GET the allocation, aggregated by namespace and accumulated over the window."""
    query = urllib.parse.urlencode(
        {"window": window, "aggregate": "namespace", "accumulate": "true"}
    )
    url = base_url.rstrip("/") + path + "?" + query
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            doc = json.loads(resp.read().decode())
    except urllib.error.HTTPError as err:
        raise UserError(f"OpenCost answered HTTP {err.code} for {url}", key="--opencost") from None
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise UserError(f"cannot reach OpenCost at {url}: {err}", key="--opencost") from None
    except json.JSONDecodeError as err:
        raise UserError(f"OpenCost returned non-JSON from {url}: {err}", key="--opencost") from None
    return doc


def actual_hourly(doc: Mapping[str, Any]) -> dict[str, Decimal]:
    """Per-namespace $/h from an allocation response (sets of windows are summed)."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("data"), list):
        raise UserError("expected an allocation response with a `data` list", key="data")
    cost: dict[str, Decimal] = {}
    minutes: dict[str, Decimal] = {}
    for i, step in enumerate(doc["data"]):
        if step is None:
            continue
        if not isinstance(step, Mapping):
            raise UserError("expected a map of namespace -> allocation", key=f"data[{i}]")
        for ns, alloc in step.items():
            if not isinstance(alloc, Mapping) or "totalCost" not in alloc:
                raise UserError("expected an allocation with totalCost", key=f"data[{i}].{ns}")
            name = str(alloc.get("name") or ns)
            cost[name] = cost.get(name, Decimal(0)) + Decimal(str(alloc["totalCost"]))
            minutes[name] = minutes.get(name, Decimal(0)) + Decimal(str(alloc.get("minutes") or 0))
    out = {}
    for ns, total in cost.items():
        if minutes[ns] > 0:
            out[ns] = total / (minutes[ns] / 60)
    return out


def compare(
    estimated: Mapping[str, Decimal],
    actual: Mapping[str, Decimal],
    *,
    threshold: float = 0.25,
    ignore: tuple[str, ...] = ("__idle__", "__unallocated__", "kube-system"),
) -> list[NamespaceDrift]:
    """Namespaces whose actual cost drifts from the estimate by more than ``threshold``
    (relative), plus those present on one side only. Sorted by namespace."""
    out = []
    for ns in sorted(set(estimated) | set(actual)):
        if ns in ignore:
            continue
        est = estimated.get(ns, Decimal(0))
        act = actual.get(ns)
        if act is None:
            out.append(NamespaceDrift(ns, est, None, None, est > 0, "no allocation in OpenCost"))
            continue
        if est == 0:
            out.append(NamespaceDrift(ns, est, act, None, act > 0, "not in the estimate"))
            continue
        drift = float((act - est) / est)
        out.append(NamespaceDrift(ns, est, act, drift, abs(drift) > threshold))
    return out


def to_markdown(rows: list[NamespaceDrift], window: str, threshold: float) -> str:
    flagged = [r for r in rows if r.flagged]
    head = (
        f"### Cost drift over {window}: {len(flagged)} namespace(s) beyond ±{threshold:.0%}"
        if flagged
        else f"Cost drift over {window}: every namespace within ±{threshold:.0%} of the estimate."
    )
    lines = [
        head,
        "",
        "| namespace | estimate $/h | actual $/h | drift | |",
        "|---|---:|---:|---:|---|",
    ]
    for r in rows:
        act = "-" if r.actual is None else f"{r.actual:.4f}"
        drift = "-" if r.drift is None else f"{r.drift:+.0%}"
        mark = ":warning:" if r.flagged else ""
        lines.append(f"| `{r.namespace}` | {r.estimated:.4f} | {act} | {drift} | {mark} {r.note} |")
    return "\n".join(lines) + "\n"
