"""Pure decisions of the perf gate: measure each budget across runs, compare, decide.

Data in, data out: :func:`evaluate` takes loaded budgets, the runs of this change and
(optionally) the main-branch baseline, and returns a :class:`GateResult`. Nothing here reads
files or prints.

Noise handling, because load tests on shared runners are noisy:
- several result files are reduced to the **median** per statistic (one slow run does not
  block, one lucky run does not pass);
- an endpoint with fewer than ``min_samples`` requests (all runs together) or measured in
  fewer than ``min_runs`` files is **inconclusive**, never a pass;
- a baseline regression must exceed both ``+baseline_tolerance_pct`` and
  ``+baseline_min_delta_ms``.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from summit_platform.automation import numbers
from summit_platform.automation.errors import UserError
from summit_platform.automation.perf.budgets import Budget, Budgets
from summit_platform.automation.perf.digest import Digest
from summit_platform.automation.perf.ingest import QUANTILES
from summit_platform.automation.perf.model import AGGREGATE, EndpointStats, RunResult

Verdict = Literal["pass", "fail", "inconclusive"]
PASS: Verdict = "pass"
FAIL: Verdict = "fail"
INCONCLUSIVE: Verdict = "inconclusive"


@dataclass(frozen=True)
class Measurement:
    """One budget's figures across runs (medians), or a baseline's."""

    runs: int
    count: int | None
    errors: int | None
    err_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    run_p95_ms: tuple[float, ...] = ()


@dataclass(frozen=True)
class EndpointVerdict:
    """The decision for one budgeted endpoint and why."""

    budget: Budget
    measured: Measurement
    baseline: Measurement | None
    verdict: Verdict
    reasons: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def baseline_delta_pct(self) -> float | None:
        """p95 change against the baseline, in percent."""
        b = self.baseline
        if b is None or not b.p95_ms or self.measured.p95_ms is None:
            return None
        return 100.0 * (self.measured.p95_ms - b.p95_ms) / b.p95_ms


@dataclass(frozen=True)
class GateResult:
    """The gate's answer: overall verdict, one verdict per budget, and what was unbudgeted."""

    verdict: Verdict
    endpoints: tuple[EndpointVerdict, ...]
    unbudgeted: tuple[str, ...]
    sources: tuple[str, ...]


def _merge_run(matched: list[EndpointStats]) -> EndpointStats:
    """One run's endpoints that fall under one budget, as one endpoint."""
    if len(matched) == 1:
        return matched[0]
    if all(e.digest is not None for e in matched):
        d = Digest()
        errors = 0
        for e in matched:
            d.merge(e.digest)  # type: ignore[arg-type]
            errors += e.errors or 0
        p50, p90, p95, p99 = d.quantiles(QUANTILES)
        return EndpointStats(
            name=matched[0].name,
            count=d.count,
            errors=errors,
            p50_ms=p50,
            p90_ms=p90,
            p95_ms=p95,
            p99_ms=p99,
            max_ms=d.max,
            digest=d,
        )

    # Pre-computed percentiles (summaries, Locust) cannot be merged exactly: take the
    # slowest, which can only make the gate stricter.
    def worst(attr: str) -> float | None:
        vals = [getattr(e, attr) for e in matched if getattr(e, attr) is not None]
        return max(vals) if vals else None

    counts = [e.count for e in matched]
    errs = [e.errors for e in matched]
    return EndpointStats(
        name=matched[0].name,
        count=sum(known) if (known := [c for c in counts if c is not None]) else None,
        errors=sum(x for x in errs if x is not None) if all(x is not None for x in errs) else None,
        p50_ms=worst("p50_ms"),
        p90_ms=worst("p90_ms"),
        p95_ms=worst("p95_ms"),
        p99_ms=worst("p99_ms"),
        max_ms=worst("max_ms"),
    )


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(statistics.median(known)) if known else None


def measure(budget: Budget, runs: Sequence[RunResult]) -> Measurement:
    """The budget's endpoint in every run that has it, reduced to medians."""
    per_run = []
    for run in runs:
        matched = [e for e in run.endpoints if budget.matches(e)]
        if matched:
            per_run.append(_merge_run(matched))
    counts = [e.count for e in per_run if e.count is not None]
    errors = [e.errors for e in per_run if e.errors is not None]
    return Measurement(
        runs=len(per_run),
        count=sum(counts) if counts else None,
        errors=sum(errors) if errors else None,
        err_rate=_median([e.err_rate for e in per_run]),
        p50_ms=_median([e.p50_ms for e in per_run]),
        p95_ms=_median([e.p95_ms for e in per_run]),
        p99_ms=_median([e.p99_ms for e in per_run]),
        max_ms=max((e.max_ms for e in per_run if e.max_ms is not None), default=None),
        run_p95_ms=tuple(e.p95_ms for e in per_run if e.p95_ms is not None),
    )


def _fmt(v: float) -> str:
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def decide(budget: Budget, m: Measurement, base: Measurement | None) -> EndpointVerdict:
    """Pass, fail or inconclusive for one endpoint, with the reason for each failure."""
    failures: list[str] = []
    notes: list[str] = []
    if m.p95_ms is not None and m.p95_ms > budget.p95_ms:
        failures.append(f"p95 {_fmt(m.p95_ms)} ms is over the budget of {_fmt(budget.p95_ms)} ms")
    if budget.p99_ms is not None:
        if m.p99_ms is None:
            notes.append("p99 not in the results (k6 summaryTrendStats lacks p(99))")
        elif m.p99_ms > budget.p99_ms:
            failures.append(
                f"p99 {_fmt(m.p99_ms)} ms is over the budget of {_fmt(budget.p99_ms)} ms"
            )
    if m.err_rate is None:
        notes.append("error rate not in the results")
    elif m.err_rate > budget.err_rate:
        failures.append(f"error rate {m.err_rate:.2f}% is over the budget of {budget.err_rate:g}%")
    usable_base = None
    if base is None or base.p95_ms is None:
        notes.append("no baseline for this endpoint")
    elif (base.count or 0) < budget.min_samples:
        notes.append(f"baseline too thin ({base.count or 0} samples), not compared")
    else:
        usable_base = base
        limit = max(
            base.p95_ms * (1 + budget.baseline_tolerance_pct / 100),
            base.p95_ms + budget.baseline_min_delta_ms,
        )
        if m.p95_ms is not None and m.p95_ms > limit:
            delta = 100.0 * (m.p95_ms - base.p95_ms) / base.p95_ms if base.p95_ms else float("inf")
            failures.append(
                f"p95 {_fmt(m.p95_ms)} ms is {delta:+.0f}% over the baseline "
                f"{_fmt(base.p95_ms)} ms (limit {_fmt(limit)} ms: "
                f"+{budget.baseline_tolerance_pct:g}%, "
                f"at least +{budget.baseline_min_delta_ms:g} ms)"
            )
    thin: list[str] = []
    if m.runs == 0:
        thin.append("not measured in any result file")
    else:
        if m.count is None:
            thin.append("the results do not say how many requests were made")
        elif m.count < budget.min_samples:
            thin.append(f"only {m.count} samples (minimum {budget.min_samples})")
        if m.runs < budget.min_runs:
            thin.append(f"measured in {m.runs} run(s) (minimum {budget.min_runs})")
        if m.p95_ms is None:
            thin.append("no p95 in the results")
    if thin:
        reasons = tuple(thin) + tuple(f"would fail: {f}" for f in failures)
        return EndpointVerdict(budget, m, usable_base, INCONCLUSIVE, reasons, tuple(notes))
    verdict: Verdict = FAIL if failures else PASS
    return EndpointVerdict(budget, m, usable_base, verdict, tuple(failures), tuple(notes))


def overall(verdicts: Sequence[Verdict]) -> Verdict:
    """Fail if anything failed; else inconclusive if anything was; else pass."""
    if FAIL in verdicts:
        return FAIL
    if INCONCLUSIVE in verdicts or not verdicts:
        return INCONCLUSIVE
    return PASS


@dataclass(frozen=True)
class Baseline:
    """A recorded baseline: per endpoint name, and per budget label when it was recorded
    with the budgets (then merged exactly like the current runs are)."""

    run: RunResult
    by_label: dict[str, Measurement]

    def for_budget(self, budget: Budget) -> Measurement | None:
        """The baseline figures for one budget, or None when it has none."""
        m = self.by_label.get(budget.label)
        if m is None:
            m = measure(budget, [self.run])
        return m if m.runs else None


def evaluate(
    budgets: Budgets, runs: Sequence[RunResult], baseline: Baseline | None = None
) -> GateResult:
    """The whole gate: every budget measured, compared with the baseline, decided."""
    endpoints = []
    for b in budgets.budgets:
        base = baseline.for_budget(b) if baseline is not None else None
        endpoints.append(decide(b, measure(b, runs), base))
    unbudgeted = sorted(
        {
            e.name
            for run in runs
            for e in run.endpoints
            if e.name != AGGREGATE and not any(b.matches(e) for b in budgets.budgets)
        }
    )
    return GateResult(
        verdict=overall([v.verdict for v in endpoints]),
        endpoints=tuple(endpoints),
        unbudgeted=tuple(unbudgeted),
        sources=tuple(r.source for r in runs),
    )


# --- baseline -------------------------------------------------------------------------------

BASELINE_VERSION = 1


def combine_runs(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    """Per endpoint name: medians across runs, total count and errors (plain dicts)."""
    names: dict[str, list[EndpointStats]] = {}
    for run in runs:
        for e in run.endpoints:
            names.setdefault(e.name, []).append(e)
    out = []
    for name in sorted(names):
        es = names[name]
        counts = [e.count for e in es if e.count is not None]
        errors = [e.errors for e in es if e.errors is not None]
        first = es[0]
        out.append(
            {
                "name": name,
                "method": first.method,
                "path": first.path,
                "runs": len(es),
                "count": sum(counts) if counts else None,
                "errors": sum(errors) if len(errors) == len(es) else None,
                "err_rate": _median([e.err_rate for e in es]),
                "p50_ms": _median([e.p50_ms for e in es]),
                "p90_ms": _median([e.p90_ms for e in es]),
                "p95_ms": _median([e.p95_ms for e in es]),
                "p99_ms": _median([e.p99_ms for e in es]),
                "max_ms": max((e.max_ms for e in es if e.max_ms is not None), default=None),
            }
        )
    return out


_MEASUREMENT_KEYS = ("runs", "count", "errors", "err_rate", "p50_ms", "p95_ms", "p99_ms", "max_ms")


def build_baseline(
    runs: Sequence[RunResult],
    budgets: Budgets | None = None,
    *,
    commit: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The baseline document recorded on main (plain JSON-able dict).

    With ``budgets``, it also keeps each budget's figures measured exactly as the gate will
    measure the PR's runs (several names under one budget are merged the same way)."""
    budgeted: dict[str, dict[str, Any]] = {}
    for b in budgets.budgets if budgets else ():
        m = measure(b, runs)
        if m.runs:
            budgeted[b.label] = {k: getattr(m, k) for k in _MEASUREMENT_KEYS}
    return {
        "version": BASELINE_VERSION,
        "kind": "summit-perf-baseline",
        "created": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "commit": commit,
        "sources": [r.source for r in runs],
        "endpoints": combine_runs(runs),
        "budgeted": budgeted,
    }


_WHOLE = ("runs", "count", "errors")
_PERCENT = ("err_rate",)


def _check_numbers(e: dict[str, Any], keys: Sequence[str], source: str, where: str) -> None:
    """Each of ``keys`` is null or a finite number >= 0: whole for counts, 0..100 for the
    error rate (a NaN, negative or infinite baseline would make every comparison pass)."""
    for k in keys:
        v = e.get(k)
        if v is not None:
            numbers.number(
                v,
                source=source,
                key=f"{where}.{k}",
                high=100.0 if k in _PERCENT else None,
                integer=k in _WHOLE,
            )
    count, errors = e.get("count"), e.get("errors")
    if count is not None and errors is not None and errors > count:
        raise UserError(
            f"{errors} errors but only {count} requests", source=source, key=f"{where}.errors"
        )


def _whole(v: Any) -> int | None:
    return None if v is None else int(v)


def parse_baseline(doc: Any, source: str) -> Baseline:
    """A baseline document, validated; errors name the file and the key."""
    if not isinstance(doc, dict) or doc.get("kind") != "summit-perf-baseline":
        raise UserError(
            "expected a baseline written by 'summit perf baseline' "
            '(a JSON object with "kind": "summit-perf-baseline")',
            source=source,
            key="kind",
        )
    eps = doc.get("endpoints")
    if not isinstance(eps, list):
        raise UserError("expected a list of endpoints", source=source, key="endpoints")
    out = []
    for i, e in enumerate(eps):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            raise UserError(
                "expected an object with a 'name'", source=source, key=f"endpoints[{i}]"
            )
        keys = ("count", "errors", "err_rate", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms")
        _check_numbers(e, keys, source, f"endpoints[{i}]")
        for k in ("method", "path"):
            if e.get(k) is not None and not isinstance(e[k], str):
                raise UserError(
                    f"expected text or null, found {numbers.found(e[k])}",
                    source=source,
                    key=f"endpoints[{i}].{k}",
                )
        out.append(
            EndpointStats(
                name=e["name"],
                method=e.get("method"),
                path=e.get("path"),
                count=_whole(e.get("count")),
                errors=_whole(e.get("errors")),
                p50_ms=e.get("p50_ms"),
                p90_ms=e.get("p90_ms"),
                p95_ms=e.get("p95_ms"),
                p99_ms=e.get("p99_ms"),
                max_ms=e.get("max_ms"),
            )
        )
    budgeted = doc.get("budgeted") or {}
    if not isinstance(budgeted, dict):
        raise UserError("expected an object keyed by budget", source=source, key="budgeted")
    by_label = {}
    for label, m in budgeted.items():
        if not isinstance(m, dict):
            raise UserError("expected an object", source=source, key=f"budgeted.{label}")
        _check_numbers(m, _MEASUREMENT_KEYS, source, f"budgeted.{label}")
        fields: dict[str, Any] = {
            k: _whole(m.get(k)) if k in _WHOLE else m.get(k) for k in _MEASUREMENT_KEYS
        }
        fields["runs"] = fields["runs"] or 0
        by_label[label] = Measurement(**fields)
    run = RunResult(source=source, kind="baseline", endpoints=tuple(out))
    return Baseline(run=run, by_label=by_label)
