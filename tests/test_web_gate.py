"""Web gate decisions: medians across runs, absolute budgets, the baseline rule per metric
(+10 % with a floor for timings and bytes, absolute tolerance for CLS and score), thin data,
failed runs, and the combined API + web verdict, JSON and Markdown."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from summit_platform.automation.errors import UserError
from summit_platform.automation.perf.budgets import parse_budgets
from summit_platform.automation.perf.combined import (
    CombinedResult,
    Inputs,
    combined_json,
    combined_markdown,
    evaluate_all,
)
from summit_platform.automation.perf.gate import evaluate
from summit_platform.automation.perf.lhr import PageRun
from summit_platform.automation.perf.model import EndpointStats, RunResult
from summit_platform.automation.perf.web_budgets import parse_web_budgets
from summit_platform.automation.perf.web_gate import (
    build_web_baseline,
    evaluate_web,
    parse_web_baseline,
)

CLEAN = {
    "lcp_ms": 900.0,
    "tbt_ms": 20.0,
    "cls": 0.0,
    "fcp_ms": 700.0,
    "total_kb": 6.4,
    "score": 1.0,
}


def page(
    path: str = "/",
    *,
    form: str = "mobile",
    version: str = "12.2.3",
    error: str | None = None,
    **metrics: float,
) -> PageRun:
    values = {**CLEAN, "si_ms": 700.0, "tti_ms": 950.0, **metrics}
    return PageRun(
        source=f"{path.strip('/') or 'index'}.json",
        lighthouse_version=version,
        url=f"http://127.0.0.1:1{path}",
        path=path,
        form_factor=form,  # type: ignore[arg-type]
        fetch_time=None,
        metrics={} if error else values,
        runtime_error=error,
    )


def web(**defaults: object):
    return parse_web_budgets(
        {
            "defaults": {"lcp_ms": 2500, "tbt_ms": 200, "cls": 0.1, "min_score": 0.9, **defaults},
            "pages": [{"path": "/"}, {"path": "/catalog", "total_kb": 400}],
        },
        "web.yaml",
    )


def verdicts(result) -> dict[str, str]:
    return {p.budget.path: p.verdict for p in result.pages}


def test_within_budgets_passes_and_unbudgeted_pages_are_listed() -> None:
    r = evaluate_web(web(), [page("/"), page("/catalog"), page("/about")])
    assert r.verdict == "pass" and verdicts(r) == {"/": "pass", "/catalog": "pass"}
    assert r.unbudgeted == ("/about",)


def test_lcp_over_budget_fails_naming_the_metric() -> None:
    r = evaluate_web(web(), [page("/", lcp_ms=7812.0), page("/catalog")])
    assert verdicts(r) == {"/": "fail", "/catalog": "pass"}
    assert r.pages[0].reasons == ("LCP 7,812 ms is over the budget of 2,500 ms",)


def test_score_under_minimum_and_cls_over_budget() -> None:
    r = evaluate_web(web(), [page("/", score=0.58, cls=0.168), page("/catalog")])
    assert set(r.pages[0].reasons) == {
        "CLS 0.168 is over the budget of 0.100",
        "Score 0.58 is under the minimum 0.90",
    }


def test_median_across_runs_ignores_one_slow_run() -> None:
    spec = web()
    runs = [
        page("/", lcp_ms=900.0),
        page("/", lcp_ms=9000.0),
        page("/", lcp_ms=1100.0),
        page("/catalog"),
    ]
    r = evaluate_web(spec, runs)
    assert r.verdict == "pass"
    m = r.pages[0].measured
    assert (m.runs, m.values["lcp_ms"], m.per_run["lcp_ms"]) == (3, 1100.0, (900.0, 9000.0, 1100.0))
    runs = [
        page("/", lcp_ms=3000.0),
        page("/", lcp_ms=900.0),
        page("/", lcp_ms=2600.0),
        page("/catalog"),
    ]
    assert verdicts(evaluate_web(spec, runs))["/"] == "fail"


def baseline_of(*runs: PageRun):
    return parse_web_baseline({"pages": build_web_baseline(runs)}, "base.json")


def test_baseline_rule_relative_with_floor_for_timings_and_bytes() -> None:
    spec = web(baseline_min_delta_ms=100)
    base = baseline_of(page("/", lcp_ms=2000.0, tbt_ms=0.0), page("/catalog", total_kb=300.0))
    # LCP: +10 % of 2000 ms = 2200 ms; the 100 ms floor is smaller, so 2200 is the limit.
    ok = evaluate_web(
        spec, [page("/", lcp_ms=2200.0, tbt_ms=0.0), page("/catalog", total_kb=300.0)], base
    )
    assert ok.verdict == "pass"
    bad = evaluate_web(
        spec, [page("/", lcp_ms=2201.0, tbt_ms=0.0), page("/catalog", total_kb=300.0)], base
    )
    assert bad.pages[0].reasons == (
        "LCP 2,201 ms is +10% against the baseline 2,000 ms (limit 2,200 ms: +10%, at least +100 ms)",
    )
    # TBT 0 ms in the baseline: +10 % of 0 is 0, the 100 ms floor decides.
    assert (
        evaluate_web(
            spec, [page("/", lcp_ms=2000.0, tbt_ms=100.0), page("/catalog", total_kb=300.0)], base
        ).verdict
        == "pass"
    )
    tbt = evaluate_web(
        spec, [page("/", lcp_ms=2000.0, tbt_ms=101.0), page("/catalog", total_kb=300.0)], base
    )
    assert (
        "TBT 101 ms is +101 ms against the baseline 0 ms (limit 100 ms" in tbt.pages[0].reasons[0]
    )
    # Bytes: 300 KiB -> limit 330 KiB (+10 % beats the 10 KiB floor); 331 is inside the 400 budget.
    kb = evaluate_web(
        spec, [page("/", lcp_ms=2000.0, tbt_ms=0.0), page("/catalog", total_kb=331.0)], base
    )
    assert verdicts(kb) == {"/": "pass", "/catalog": "fail"}
    assert (
        "Bytes 331 KiB is +10% against the baseline 300 KiB (limit 330 KiB"
        in kb.pages[1].reasons[0]
    )


def test_baseline_rule_absolute_for_cls_and_score() -> None:
    spec = web()
    base = baseline_of(page("/", cls=0.05, score=0.95), page("/catalog"))
    same = evaluate_web(spec, [page("/", cls=0.07, score=0.90), page("/catalog")], base)
    assert same.verdict == "pass"  # +0.02 and -0.05 are the tolerances, inclusive
    worse = evaluate_web(spec, [page("/", cls=0.0701, score=0.93), page("/catalog")], base)
    assert worse.pages[0].reasons == (
        "CLS 0.070 is +0.0201 against the baseline 0.050 (limit 0.070: tolerance +0.02)",
    )
    score = evaluate_web(spec, [page("/", cls=0.05, score=0.899), page("/catalog")], base)
    assert any(
        "Score 0.90 is -0.051 against the baseline 0.95" in x for x in score.pages[0].reasons
    )


def test_baseline_of_other_form_factor_or_major_version_is_not_compared() -> None:
    spec = web()
    base = baseline_of(page("/", lcp_ms=500.0, version="11.7.1"), page("/catalog"))
    r = evaluate_web(spec, [page("/", lcp_ms=2000.0), page("/catalog")], base)
    assert r.verdict == "pass" and r.pages[0].baseline is None
    assert "Lighthouse 11.7.1" in r.pages[0].notes[0] and "not compared" in r.pages[0].notes[0]
    assert r.pages[1].baseline is not None


def test_thin_data_is_inconclusive_never_pass() -> None:
    r = evaluate_web(web(min_runs=3), [page("/"), page("/"), page("/catalog", lcp_ms=9000.0)] * 1)
    assert verdicts(r) == {"/": "inconclusive", "/catalog": "inconclusive"}
    assert r.pages[1].reasons == (
        "measured in 1 run(s) (minimum 3)",
        "would fail: LCP 9,000 ms is over the budget of 2,500 ms",
    )
    missing = evaluate_web(web(), [page("/")])
    assert missing.pages[1].reasons == ("not measured in any LHR",)
    assert missing.verdict == "inconclusive"


def test_failed_runs_are_left_out_and_said() -> None:
    err = "ERRORED_DOCUMENT_REQUEST: Lighthouse was unable to reliably load the page"
    r = evaluate_web(web(), [page("/", error=err), page("/"), page("/catalog", error=err)])
    assert verdicts(r) == {"/": "pass", "/catalog": "inconclusive"}
    assert (
        r.pages[0].measured.runs == 1
        and "1 run(s) failed: ERRORED_DOCUMENT_REQUEST" in r.pages[0].notes[1]
    )
    assert r.pages[1].reasons == ("no successful Lighthouse run",)


def test_budgeted_metric_missing_from_every_run_is_inconclusive() -> None:
    r = evaluate_web(web(), [page("/", lcp_ms=None), page("/catalog")])  # type: ignore[arg-type]
    assert r.pages[0].verdict == "inconclusive"
    assert r.pages[0].reasons == ("no value for budgeted LCP in the LHRs",)


def test_form_factor_mismatch_is_bad_input() -> None:
    with pytest.raises(
        UserError, match=r"index.json: configSettings.formFactor: measured as desktop"
    ):
        evaluate_web(web(), [page("/", form="desktop")])


@given(
    st.lists(st.floats(min_value=0, max_value=20_000), min_size=1, max_size=7),
    st.floats(min_value=1, max_value=20_000),
    st.one_of(st.none(), st.floats(min_value=0, max_value=20_000)),
)
def test_property_pass_iff_median_within_budget_and_baseline_limit(
    lcps: list[float], budget: float, base: float | None
) -> None:
    spec = parse_web_budgets(
        {"defaults": {"lcp_ms": budget, "baseline_min_delta_ms": 100}, "pages": [{"path": "/"}]},
        "w",
    )
    baseline = baseline_of(page("/", lcp_ms=base)) if base is not None else None
    r = evaluate_web(spec, [page("/", lcp_ms=v) for v in lcps], baseline)
    median = statistics.median(lcps)
    limit = max(base * 1.1, base + 100) if base is not None else float("inf")
    assert r.verdict == ("pass" if median <= budget and median <= limit else "fail")
    assert r.pages[0].measured.values["lcp_ms"] == pytest.approx(median)


def test_combined_verdict_json_and_comment() -> None:
    api_spec = parse_budgets(
        {"defaults": {"min_samples": 1}, "endpoints": [{"path": "/search", "p95_ms": 100}]},
        "api.yaml",
    )
    api_run = RunResult(
        "r.csv",
        "locust-csv",
        (EndpointStats("/search", "GET", "/search", 500, 0, 10, 40, 50, 90, 99),),
    )
    inputs = Inputs((api_run,), (page("/", lcp_ms=7812.0), page("/catalog")))
    result = evaluate_all(api_spec, web(), inputs)
    assert (result.api.verdict, result.web.verdict, result.verdict) == ("pass", "fail", "fail")  # type: ignore[union-attr]
    assert result.failures() == ["page /: LCP 7,812 ms is over the budget of 2,500 ms"]
    doc = combined_json(result, api_budgets="api.yaml", web_budgets="web.yaml")
    assert doc["verdict"] == "fail" and doc["summary"] == {"pass": 2, "fail": 1, "inconclusive": 0}
    assert [e["name"] for e in doc["endpoints"]] == ["/search"]
    home = doc["pages"][0]
    assert (home["name"], home["verdict"], home["runs"]) == ("/", "fail", 1)
    assert home["metrics"]["lcp_ms"] == {
        "value": 7812.0,
        "budget": 2500,
        "baseline": None,
        "baseline_limit": None,
        "baseline_delta_pct": None,
        "verdict": "fail",
        "reasons": ["LCP 7,812 ms is over the budget of 2,500 ms"],
        "runs": [7812.0],
    }
    assert home["metrics"]["si_ms"] == {"value": 700.0, "runs": [700.0]}
    assert home["budget"]["lcp_ms"] == 2500 and home["budget"]["min_score"] == 0.9
    md = combined_markdown(result)
    assert md.startswith(
        "<!-- summit-perf-budgets -->\n### Performance budgets: ❌ **blocked**: 0 of 1 endpoints and 1 of 2 pages over budget"
    )
    assert (
        "#### API endpoints: ✅ pass" in md and "#### Web pages: ❌ **blocked**: 1 of 2 pages" in md
    )
    assert "| `/` | 1 | **7,812 / 2,500** ❌ | 20 / 200 | 0.000 / 0.100 | 700 | 6.4 |" in md
    assert "- `/`: LCP 7,812 ms is over the budget of 2,500 ms" in md
    assert md.count("<!-- summit-perf-budgets -->") == 1 and md.rstrip().endswith(
        "runbook-perf-regression-pr-block"
    )


def test_api_only_comment_is_unchanged() -> None:
    api_spec = parse_budgets({"endpoints": [{"path": "/search", "p95_ms": 100}]}, "api.yaml")
    api_run = RunResult(
        "r.csv", "t", (EndpointStats("/search", "GET", "/search", 500, 0, 10, 40, 50, 90, 99),)
    )
    from summit_platform.automation.perf.report import to_markdown

    combined = CombinedResult(evaluate(api_spec, [api_run]), None)
    assert combined_markdown(combined) == to_markdown(evaluate(api_spec, [api_run]))
