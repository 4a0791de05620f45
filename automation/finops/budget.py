"""Monthly budgets of the platform's stacks: how a budget is derived from the estimate, and the
spend rate the nightly reconciliation holds it against. Pure: estimates and OpenCost actuals
in, decisions and messages out; the CLI plans, fetches and posts.

A budget (``finops.monthlyBudget``) is the stack's estimate fully scaled out (every service at
its HPA ceiling, ``replicas.max``, all month), plus headroom for what the estimate leaves out
(usage-priced parts such as accelerator data transfer, price changes), rounded up to a step:
``ceil(ceiling $/h x 730 x (1 + headroom) / step) x step``. So a normal scale-out never
alerts, and spending past it means something the plan does not explain.

The spend rate is OpenCost's actual $/h for every namespace it allocated, plus the estimate of
every other line (AWS resources OpenCost does not see, namespaces it has no allocation for).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from summit_platform.automation.finops.cost import Estimate
from summit_platform.stacks.config import ServiceConfig

HOURS_PER_MONTH = 730
HEADROOM = 0.25
STEP = 50


def at_ceiling(services: Sequence[ServiceConfig]) -> list[dict[str, Any]]:
    """The ``services`` config (as a stack file writes it) with every service at its HPA
    ceiling: planned with it, the stack is fully scaled out."""
    out = []
    for svc in services:
        doc = svc.model_dump(by_alias=True, exclude_none=True)
        doc["replicas"] = {"min": svc.replicas.max, "max": svc.replicas.max}
        out.append(doc)
    return out


def suggested_monthly(ceiling_hourly: Decimal, headroom: float = HEADROOM, step: int = STEP) -> int:
    """The monthly budget for a stack whose fully scaled-out estimate is ``ceiling_hourly``."""
    if not math.isfinite(headroom) or headroom < 0 or step < 1:
        raise ValueError(f"expected headroom >= 0 and step >= 1, found {headroom}, {step}")
    monthly = ceiling_hourly * HOURS_PER_MONTH * Decimal(str(1 + headroom))
    return int((monthly / step).to_integral_value(rounding=ROUND_CEILING)) * step


def derivation(
    stack: str,
    floor_hourly: Decimal,
    ceiling_hourly: Decimal,
    headroom: float,
    configured: float | None,
) -> dict[str, Any]:
    """What `summit finops budget` reports: the two estimates, the suggestion, the budget set."""
    return {
        "stack": stack,
        "floorHourly": float(floor_hourly),
        "floorMonthly": float(floor_hourly * HOURS_PER_MONTH),
        "ceilingHourly": float(ceiling_hourly),
        "ceilingMonthly": float(ceiling_hourly * HOURS_PER_MONTH),
        "headroom": headroom,
        "suggestedMonthlyBudget": suggested_monthly(ceiling_hourly, headroom),
        "monthlyBudget": configured,
    }


def run_rate_hourly(est: Estimate, actual: Mapping[str, Decimal]) -> Decimal:
    """The stack's spend per hour: OpenCost's actual for each of the estimate's namespaces
    that it allocated, the estimate for every other line."""
    namespaces = set(est.by_namespace())
    estimated = sum(
        (line.hourly for line in est.lines if line.namespace not in actual),
        Decimal(0),
    )
    return estimated + sum((actual[ns] for ns in namespaces if ns in actual), Decimal(0))


@dataclass(frozen=True)
class BudgetCheck:
    """A stack's spend rate against its monthly budget (None: the stack sets none)."""

    stack: str
    monthly_budget: float | None
    run_rate_hourly: Decimal
    estimate_hourly: Decimal

    @property
    def run_rate_monthly(self) -> Decimal:
        return self.run_rate_hourly * HOURS_PER_MONTH

    @property
    def over(self) -> bool:
        return self.monthly_budget is not None and self.run_rate_monthly > Decimal(
            str(self.monthly_budget)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "monthlyBudget": self.monthly_budget,
            "runRateHourly": float(self.run_rate_hourly),
            "runRateMonthly": float(self.run_rate_monthly),
            "estimateMonthly": float(self.estimate_hourly * HOURS_PER_MONTH),
            "over": self.over,
        }


def check(
    stack: str, est: Estimate, actual: Mapping[str, Decimal], monthly_budget: float | None
) -> BudgetCheck:
    """Hold the spend rate (actuals plus the estimate of the rest) against the budget."""
    return BudgetCheck(stack, monthly_budget, run_rate_hourly(est, actual), est.total_hourly)


def to_markdown(c: BudgetCheck, window: str) -> str:
    """One line for the reconciliation report."""
    if c.monthly_budget is None:
        return f"\nNo monthly budget set for `{c.stack}` (finops.monthlyBudget).\n"
    mark = ":rotating_light: over" if c.over else "within"
    return (
        f"\nSpend rate over {window}: **${c.run_rate_monthly:,.2f}/month**, {mark} the budget"
        f" of ${c.monthly_budget:,.2f}/month (estimate ${c.estimate_hourly * HOURS_PER_MONTH:,.2f}).\n"
    )


def alert_payload(c: BudgetCheck, window: str) -> dict[str, Any]:
    """The webhook message (Slack's incoming-webhook shape, as the other FinOps alerts)."""
    text = (
        f":rotating_light: `{c.stack}` spends ${c.run_rate_monthly:,.2f}/month at the rate of the"
        f" last {window} (OpenCost actuals plus the estimate of what it does not see), over its"
        f" budget of ${c.monthly_budget:,.2f}/month."
    )
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
