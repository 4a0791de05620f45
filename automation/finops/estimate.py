"""`summit finops estimate`: plan a stack in the embedded lane, price it, compare with a base.

:func:`plan_resources` is the only part that runs anything (the program under the mock
engine); :func:`diff`, :func:`to_markdown` and :func:`crossed_budget` are pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from summit_platform.automation import numbers, safe_io
from summit_platform.automation.errors import UserError
from summit_platform.automation.finops.cost import Estimate, PriceTable, Usage, estimate
from summit_platform.automation.numbers import found

HOURS_PER_MONTH = 730


def plan_resources(
    project_dir: Path,
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    as_stack: str | None = None,
) -> list[dict[str, Any]]:
    """Run the program for ``stack`` (its stack file, plus ``overrides``) and return the
    recorded resources as plain dicts. ``as_stack`` plans under another stack name (a preview
    ``pr-N`` planned from its template's file)."""
    # The embedded lane loads the Pulumi SDK and grpc; the pure parts here need neither.
    from summit_platform.automation.plan.runner import plan_stack

    result = plan_stack(project_dir, stack, overrides=overrides, as_stack=as_stack, evaluate=False)
    return [r.to_json() for r in result.plan.resources]


def estimate_stack(
    project_dir: Path,
    stack: str,
    *,
    prices: PriceTable | None = None,
    usage: Usage | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Estimate:
    """Plan and price one stack."""
    resources = plan_resources(project_dir, stack, overrides)
    return estimate(resources, prices or PriceTable.load(), usage, stack=stack)


@dataclass(frozen=True)
class Delta:
    """The change of one resource's hourly cost against the base estimate."""

    urn: str
    name: str
    type: str
    base: Decimal
    head: Decimal

    @property
    def change(self) -> Decimal:
        return self.head - self.base

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "name": self.name,
            "type": self.type,
            "base_hourly": float(self.base),
            "hourly": float(self.head),
            "delta_hourly": float(self.change),
        }


def load_base(path: Path) -> dict[str, Any]:
    """A previous ``--json`` estimate; ``UserError`` naming the file and key otherwise (not
    UTF-8, not JSON, NaN, a resource without a text ``urn`` or a $/h figure, a negative
    or non-finite cost, a urn listed twice)."""
    source = str(path)
    doc = safe_io.load_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("resources"), list):
        raise UserError(
            "expected a `summit finops estimate --json` document (an object with a"
            f" `resources` list), found {type(doc).__name__}",
            source=source,
            key="resources",
        )
    seen: dict[str, int] = {}
    for i, r in enumerate(doc["resources"]):
        key = f"resources[{i}]"
        if not isinstance(r, dict) or not isinstance(r.get("urn"), str):
            raise UserError("expected {urn (text), hourly (number)}", source=source, key=key)
        for text_key in ("name", "type"):
            if text_key in r and not isinstance(r[text_key], str):
                raise UserError(
                    f"expected text, found {found(r[text_key])}",
                    source=source,
                    key=f"{key}.{text_key}",
                )
        if r["urn"] in seen:
            raise UserError(
                f"urn listed twice (first at resources[{seen[r['urn']]}])",
                source=source,
                key=f"{key}.urn",
            )
        seen[r["urn"]] = i
        numbers.number(r.get("hourly"), source=source, key=f"{key}.hourly")
    if "total_hourly" in doc:
        numbers.number(doc["total_hourly"], source=source, key="total_hourly")
    return doc


def diff(head: Estimate, base: Mapping[str, Any]) -> list[Delta]:
    """Per-resource deltas (added, removed, changed), largest increase first. Resources whose
    cost did not change are left out. Both sides are quantised like the lines."""
    before = {
        r["urn"]: (Decimal(str(r["hourly"])), r.get("name", ""), r.get("type", ""))
        for r in base.get("resources", [])
    }
    after = {line.urn: (line.hourly, line.name, line.type) for line in head.lines}
    out = []
    for urn in sorted(set(before) | set(after)):
        b = before.get(urn, (Decimal(0), "", ""))
        a = after.get(urn, (Decimal(0), b[1], b[2]))
        if a[0] != b[0]:
            out.append(Delta(urn, a[1] or b[1], a[2] or b[2], b[0], a[0]))
    return sorted(out, key=lambda d: (-d.change, d.urn))


def to_json(
    est: Estimate, deltas: list[Delta] | None = None, base_total: float | None = None
) -> dict[str, Any]:
    doc = est.to_json()
    if deltas is not None:
        doc["base_total_hourly"] = base_total
        doc["delta_total_hourly"] = float(sum((d.change for d in deltas), Decimal(0)))
        doc["deltas"] = [d.to_json() for d in deltas]
    return doc


def _m(x: Decimal) -> str:
    return f"${x:,.4f}"


def _short(t: str) -> str:
    return t.split(":")[-1]


def to_markdown(
    est: Estimate, deltas: list[Delta] | None = None, *, threshold: Decimal = Decimal("0")
) -> str:
    """A PR comment: cost by component and by resource, with the total (which is the sum of
    the lines shown). With deltas it leads with the change and says plainly when cost rises;
    when nothing rose above ``threshold`` it is one quiet line."""
    total = est.total_hourly
    out: list[str] = []
    if deltas is not None:
        change = sum((d.change for d in deltas), Decimal(0))
        if change > threshold:
            out += [
                f"### :money_with_wings: Cost rises by {_m(change)}/h"
                f" (~${change * HOURS_PER_MONTH:,.2f}/month) on `{est.stack}`",
                "",
                "| resource | type | before $/h | after $/h | change $/h |",
                "|---|---|---:|---:|---:|",
            ]
            out += [
                f"| `{d.name}` | {_short(d.type)} | {_m(d.base)} | {_m(d.head)} | {d.change:+.4f} |"
                for d in deltas
                if d.change != 0
            ]
            out.append("")
        else:
            return (
                f"Cost estimate for `{est.stack}`: {_m(total)}/h, no increase"
                f" ({change:+.4f} $/h).\n"
            )
    out += [
        f"### Cost estimate for `{est.stack}`: {_m(total)}/h"
        f" (~${total * HOURS_PER_MONTH:,.2f}/month)",
        "",
    ]
    out += ["| component | $/h |", "|---|---:|"]
    for comp, v in sorted(est.by_component().items(), key=lambda kv: (-kv[1], kv[0])):
        out.append(f"| `{comp}` | {_m(v)} |")
    out += ["", "| resource | type | $/h | basis |", "|---|---|---:|---|"]
    for line in sorted(est.lines, key=lambda x: (-x.hourly, x.urn)):
        out.append(f"| `{line.name}` | {_short(line.type)} | {_m(line.hourly)} | {line.basis} |")
    out.append(f"| **total** | | **{_m(total)}** | sum of the lines above |")
    if est.unpriced:
        out += ["", f"**Unpriced ({len(est.unpriced)}), not in the total:**", ""]
        out += [f"- `{u.name}` ({_short(u.type)}): {u.reason}" for u in est.unpriced]
    return "\n".join(out) + "\n"


def crossed_budget(
    total_hourly: Decimal, monthly_budget: float | None, base_hourly: Decimal | None = None
) -> bool:
    """Whether the estimate crosses the monthly budget (and, with a base, did not before)."""
    if monthly_budget is None:
        return False
    budget = Decimal(str(monthly_budget))
    over = total_hourly * HOURS_PER_MONTH > budget
    if base_hourly is None:
        return over
    return over and base_hourly * HOURS_PER_MONTH <= budget
