"""Pure decisions of the web gate: each budgeted page measured across Lighthouse runs
(median per metric), compared with its budgets and with the main-branch baseline.

Data in, data out, like :mod:`summit_platform.automation.perf.gate`: :func:`evaluate_web` takes loaded web
budgets, the runs (:class:`~summit_platform.automation.perf.lhr.PageRun`) and optionally the baseline's
pages, and returns a :class:`WebGateResult`. Nothing here reads files or prints.

The baseline rule per metric (``budgets/web.yaml`` ``defaults``):

- timings (LCP, TBT, FCP) and bytes grow at most ``baseline_tolerance_pct`` (10 %), and a
  regression must also exceed ``baseline_min_delta_ms`` / ``baseline_min_delta_kb``: TBT is
  0 ms on a fast page, where +10 % would block on the first millisecond, and Lighthouse's
  simulated timings move in steps of tens of ms between identical runs;
- CLS and the score have an **absolute** tolerance (``cls_tolerance`` 0.02 up,
  ``score_tolerance`` 0.05 down). Both are already normalised: CLS is 0 on a stable page
  (any percentage of 0 is 0) and its good/poor lines are absolute (0.1, 0.25); the score is
  a 0-1 blend that Lighthouse itself says varies by a few points between runs, and a
  percentage of it would be strictest on the pages that are already slow.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from summit_platform.automation.errors import UserError
from summit_platform.automation.perf.gate import FAIL, INCONCLUSIVE, PASS, Verdict, overall
from summit_platform.automation.perf.lhr import GATED, METRICS, Metric, PageRun
from summit_platform.automation.perf.web_budgets import PageBudget, WebBudgets


@dataclass(frozen=True)
class PageMeasurement:
    """One page's figures: the median per metric across its successful runs."""

    path: str
    runs: int
    """Successful runs (no runtime error)."""
    failed_runs: tuple[str, ...]
    """Runtime errors of the runs Lighthouse could not finish."""
    values: dict[str, float | None]
    per_run: dict[str, tuple[float, ...]]
    lighthouse_version: str | None
    form_factor: str | None
    url: str | None
    sources: tuple[str, ...] = ()

    @property
    def major(self) -> int | None:
        """Lighthouse major version of the runs (None when unknown)."""
        head = (self.lighthouse_version or "").split(".", 1)[0]
        return int(head) if head.isascii() and head.isdigit() else None


@dataclass(frozen=True)
class MetricVerdict:
    """One metric of one page: value, its budget, the baseline and the limit it implies."""

    metric: Metric
    value: float | None
    budget: float | None
    baseline: float | None
    limit: float | None
    failures: tuple[str, ...]

    @property
    def delta_pct(self) -> float | None:
        """Change against the baseline in percent (None without a baseline or at 0)."""
        if self.value is None or not self.baseline:
            return None
        return 100.0 * (self.value - self.baseline) / self.baseline


@dataclass(frozen=True)
class PageVerdict:
    """The decision for one budgeted page and why."""

    budget: PageBudget
    measured: PageMeasurement
    baseline: PageMeasurement | None
    metrics: tuple[MetricVerdict, ...]
    verdict: Verdict
    reasons: tuple[str, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebGateResult:
    """The web gate's answer: overall verdict, one verdict per page, unbudgeted pages."""

    verdict: Verdict
    pages: tuple[PageVerdict, ...]
    unbudgeted: tuple[str, ...]
    sources: tuple[str, ...]
    form_factor: str
    runs_expected: int


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def measure_page(path: str, runs: Sequence[PageRun]) -> PageMeasurement:
    """The runs of ``path``, reduced to the median per metric (failed runs left out)."""
    mine = [r for r in runs if r.path == path]
    ok = [r for r in mine if r.runtime_error is None]
    per_run = {
        m.key: tuple(v for r in ok if (v := r.metrics.get(m.key)) is not None) for m in METRICS
    }
    return PageMeasurement(
        path=path,
        runs=len(ok),
        failed_runs=tuple(r.runtime_error or "" for r in mine if r.runtime_error),
        values={k: _median(v) for k, v in per_run.items()},
        per_run=per_run,
        lighthouse_version=mine[0].lighthouse_version if mine else None,
        form_factor=mine[0].form_factor if mine else None,
        url=mine[0].url if mine else None,
        sources=tuple(r.source for r in mine),
    )


def fmt(m: Metric, v: float | None) -> str:
    """A metric value as people read it: ``2,500 ms``, ``0.102``, ``0.93``, ``412 KiB``."""
    if v is None:
        return "n/a"
    if m.key == "cls":
        return f"{v:.3f}"
    if m.key == "score":
        return f"{v:.2f}"
    if m.unit == "KiB" and v < 100:
        return f"{v:.1f} KiB"
    return f"{v:,.0f} {m.unit}"


def baseline_limit(m: Metric, budget: PageBudget, base: float) -> float:
    """The worst value that still passes against a baseline value ``base``."""
    if m.key == "cls":
        return base + budget.cls_tolerance
    if m.key == "score":
        return max(0.0, base - budget.score_tolerance)
    floor = budget.baseline_min_delta_kb if m.unit == "KiB" else budget.baseline_min_delta_ms
    return max(base * (1 + budget.baseline_tolerance_pct / 100), base + floor)


def _rule(m: Metric, budget: PageBudget) -> str:
    if m.key == "cls":
        return f"tolerance +{budget.cls_tolerance:g}"
    if m.key == "score":
        return f"tolerance -{budget.score_tolerance:g}"
    floor = budget.baseline_min_delta_kb if m.unit == "KiB" else budget.baseline_min_delta_ms
    return f"+{budget.baseline_tolerance_pct:g}%, at least +{floor:g} {m.unit}"


def decide_metric(
    m: Metric, value: float | None, budget: PageBudget, base: float | None
) -> MetricVerdict:
    """Budget and baseline rule for one metric of one page."""
    limit_budget = budget.limits.get(m.key)
    failures: list[str] = []
    worse = (lambda a, b: a < b) if m.higher_is_better else (lambda a, b: a > b)
    if value is not None and limit_budget is not None and worse(value, limit_budget):
        side = "under the minimum" if m.higher_is_better else "over the budget of"
        failures.append(f"{m.label} {fmt(m, value)} is {side} {fmt(m, limit_budget)}")
    limit = baseline_limit(m, budget, base) if base is not None else None
    if value is not None and base is not None and limit is not None and worse(value, limit):
        if m.relative and base:
            change = f"{100.0 * (value - base) / base:+.0f}%"
        elif m.relative:
            change = f"{value - base:+,.0f} {m.unit}"
        else:
            change = f"{value - base:+.4f}" if m.key == "cls" else f"{value - base:+.3f}"
        failures.append(
            f"{m.label} {fmt(m, value)} is {change} against the baseline {fmt(m, base)} "
            f"(limit {fmt(m, limit)}: {_rule(m, budget)})"
        )
    return MetricVerdict(m, value, limit_budget, base, limit, tuple(failures))


def _baseline_for(
    budget: PageBudget, measured: PageMeasurement, base: PageMeasurement | None
) -> tuple[PageMeasurement | None, list[str]]:
    if base is None or base.runs == 0:
        return None, ["no baseline for this page"]
    if base.form_factor and measured.form_factor and base.form_factor != measured.form_factor:
        return None, [f"baseline measured as {base.form_factor}, not compared"]
    if base.major is not None and measured.major is not None and base.major != measured.major:
        return None, [
            f"baseline measured with Lighthouse {base.lighthouse_version}, this run with "
            f"{measured.lighthouse_version}: metrics differ across major versions, not compared"
        ]
    return base, []


def decide_page(
    budget: PageBudget, measured: PageMeasurement, base: PageMeasurement | None
) -> PageVerdict:
    """Pass, fail or inconclusive for one page, with a reason per failed metric."""
    usable, notes = _baseline_for(budget, measured, base)
    verdicts = tuple(
        decide_metric(
            m,
            measured.values.get(m.key),
            budget,
            usable.values.get(m.key) if usable is not None else None,
        )
        for m in GATED
    )
    failures = [f for v in verdicts for f in v.failures]
    if measured.failed_runs:
        notes.append(
            f"{len(measured.failed_runs)} run(s) failed: " + "; ".join(measured.failed_runs[:3])
        )
    thin: list[str] = []
    if measured.runs == 0:
        thin.append(
            "no successful Lighthouse run" if measured.failed_runs else "not measured in any LHR"
        )
    else:
        if measured.runs < budget.min_runs:
            thin.append(f"measured in {measured.runs} run(s) (minimum {budget.min_runs})")
        missing = [
            v.metric.label
            for v in verdicts
            if v.value is None and budget.limits.get(v.metric.key) is not None
        ]
        if missing:
            thin.append(f"no value for budgeted {', '.join(missing)} in the LHRs")
    if thin:
        reasons = tuple(thin) + tuple(f"would fail: {f}" for f in failures)
        return PageVerdict(budget, measured, usable, verdicts, INCONCLUSIVE, reasons, tuple(notes))
    verdict: Verdict = FAIL if failures else PASS
    return PageVerdict(budget, measured, usable, verdicts, verdict, tuple(failures), tuple(notes))


def check_form_factor(budgets: WebBudgets, runs: Sequence[PageRun]) -> None:
    """Refuse LHRs measured with other settings than the budgets name (exit 2)."""
    for r in runs:
        if r.form_factor != budgets.form_factor:
            raise UserError(
                f"measured as {r.form_factor}, but {budgets.source} budgets "
                f"{budgets.form_factor} pages (form_factor); run Lighthouse with the same "
                "settings",
                source=r.source,
                key="configSettings.formFactor",
            )


def evaluate_web(
    budgets: WebBudgets,
    runs: Sequence[PageRun],
    baseline: dict[str, PageMeasurement] | None = None,
) -> WebGateResult:
    """The whole web gate: every budgeted page measured, compared, decided."""
    check_form_factor(budgets, runs)
    pages = [
        decide_page(b, measure_page(b.path, runs), (baseline or {}).get(b.path))
        for b in budgets.pages
    ]
    budgeted = {b.path for b in budgets.pages}
    return WebGateResult(
        verdict=overall([p.verdict for p in pages]),
        pages=tuple(pages),
        unbudgeted=tuple(sorted({r.path for r in runs} - budgeted)),
        sources=tuple(r.source for r in runs),
        form_factor=budgets.form_factor,
        runs_expected=budgets.runs,
    )


# --- baseline -------------------------------------------------------------------------------


def measurement_json(m: PageMeasurement) -> dict[str, Any]:
    """A page's medians as plain JSON values (baseline files, digests)."""
    return {
        "path": m.path,
        "url": m.url,
        "runs": m.runs,
        "form_factor": m.form_factor,
        "lighthouse_version": m.lighthouse_version,
        **{k: (round(v, 4) if v is not None else None) for k, v in m.values.items()},
    }


def build_web_baseline(runs: Sequence[PageRun]) -> list[dict[str, Any]]:
    """Per measured page path: medians across runs (the ``pages`` of a baseline file)."""
    return [measurement_json(measure_page(p, runs)) for p in sorted({r.path for r in runs})]


def parse_web_baseline(doc: dict[str, Any], source: str) -> dict[str, PageMeasurement]:
    """The ``pages`` of a baseline file (absent in baselines of API runs only)."""
    pages = doc.get("pages", [])
    if not isinstance(pages, list):
        raise UserError("expected a list of pages", source=source, key="pages")
    out: dict[str, PageMeasurement] = {}
    for i, p in enumerate(pages):
        where = f"pages[{i}]"
        if not isinstance(p, dict) or not isinstance(p.get("path"), str):
            raise UserError("expected an object with a 'path'", source=source, key=where)
        values: dict[str, float | None] = {}
        for m in METRICS:
            v = p.get(m.key)
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
            ):
                raise UserError(
                    f"expected a number or null, found {v!r}", source=source, key=f"{where}.{m.key}"
                )
            values[m.key] = float(v) if v is not None else None
        runs = p.get("runs")
        if isinstance(runs, bool) or not isinstance(runs, int) or runs < 0:
            raise UserError(
                f"expected a whole number of runs, found {runs!r}",
                source=source,
                key=f"{where}.runs",
            )
        version = p.get("lighthouse_version")
        form = p.get("form_factor")
        out[p["path"]] = PageMeasurement(
            path=p["path"],
            runs=runs,
            failed_runs=(),
            values=values,
            per_run={},
            lighthouse_version=version if isinstance(version, str) else None,
            form_factor=form if isinstance(form, str) else None,
            url=p.get("url") if isinstance(p.get("url"), str) else None,
        )
    return out
