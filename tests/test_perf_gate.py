"""Budgets file and gate decisions: absolute budget, baseline tolerance, errors, thin data,
medians across runs, and the CLI's exit codes, JSON and Markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from summit_platform.automation.cli import main
from summit_platform.automation.perf.budgets import load_budgets, parse_budgets
from summit_platform.automation.perf.gate import build_baseline, evaluate, parse_baseline
from summit_platform.automation.perf.model import EndpointStats, RunResult

ROOT = Path(__file__).resolve().parents[1]
K6 = ROOT / "tests" / "fixtures" / "k6"


def budgets(**defaults: object):
    doc = {
        "defaults": {"min_samples": 100, "min_runs": 1, **defaults},
        "endpoints": [
            {"path": "/search", "method": "GET", "p95_ms": 100, "p99_ms": 300},
            {"name": "ingest", "p95_ms": 200, "err_rate": 0.5},
        ],
    }
    return parse_budgets(doc, "b.yaml")


def run(search_p95: float = 50, *, count: int = 500, errors: int = 0, p99: float = 90) -> RunResult:
    return RunResult(
        source="r",
        kind="test",
        endpoints=(
            EndpointStats("/search", "GET", "/search", count, errors, 10, 40, search_p95, p99, 99),
            EndpointStats("ingest", "POST", "/ingest", count, 0, 10, 40, 60, 80, 99),
        ),
    )


def verdicts(result) -> dict[str, str]:
    return {v.budget.label: v.verdict for v in result.endpoints}


def test_repo_budgets_cover_the_gateways_top_ten() -> None:
    spec = load_budgets(ROOT / "budgets" / "api.yaml")
    labels = [b.label for b in spec.budgets]
    assert len(labels) == 10
    assert {"GET /search", "POST /ingest", "GET /users/{id}", "GET /healthz"} <= set(labels)
    assert all(b.baseline_tolerance_pct == 10 and b.err_rate <= 1 for b in spec.budgets)


def test_matching_by_name_path_template_and_method() -> None:
    spec = parse_budgets(
        {"endpoints": [{"path": "/users/{id}", "method": "GET"}, {"name": "GET /x"}]}, "b"
    )
    users, named = spec.budgets
    assert users.matches(EndpointStats("u", "GET", "/users/42"))
    assert users.matches(EndpointStats("/users/{id}", "GET", "/users/{id}"))
    assert not users.matches(EndpointStats("u", "POST", "/users/42"))
    assert not users.matches(EndpointStats("u", "GET", "/users/42/orders"))
    assert named.matches(EndpointStats("GET /x")) and not named.matches(EndpointStats("GET /y"))


@pytest.mark.parametrize(
    ("doc", "key", "text"),
    [
        ({"endpoints": [{"path": "/a", "p95_ms": "fast"}]}, "endpoints[0].p95_ms", "'fast'"),
        ({"endpoints": [{"path": "/a", "err_rate": True}]}, "endpoints[0].err_rate", "True"),
        ({"endpoints": [{"path": "/a", "p95": 3}]}, "endpoints[0].p95", "unknown key"),
        (
            {"defaults": {"min_samples": 2.5}, "endpoints": [{"name": "a"}]},
            "defaults.min_samples",
            "2.5",
        ),
        ({"endpoints": [{"path": "/a", "method": "FETCH"}]}, "endpoints[0].method", "FETCH"),
        ({"endpoints": [{"name": "a", "path": "/a"}]}, "endpoints[0]", "exactly one"),
        ({"endpoints": [{"path": "/a"}, {"path": "/a"}]}, "endpoints[1]", "duplicate"),
        ({"endpoints": "all"}, "endpoints", "list"),
    ],
)
def test_bad_budgets_exit_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: dict, key: str, text: str
) -> None:
    f = tmp_path / "api.yaml"
    f.write_text(yaml.safe_dump(doc))
    result = K6 / "out-json_grafana-xk6-dashboard_result.ndjson"
    assert main(["perf", "compare", str(result), "--budgets", str(f)]) == 2
    err = capsys.readouterr().err
    assert f"{f}: {key}:" in err and text in err
    assert "Traceback" not in err


def test_pass_within_budget() -> None:
    r = evaluate(budgets(), [run()])
    assert r.verdict == "pass" and set(verdicts(r).values()) == {"pass"}


def test_absolute_budget_fails_with_reason() -> None:
    r = evaluate(budgets(), [run(search_p95=120)])
    assert verdicts(r) == {"GET /search": "fail", "ingest": "pass"}
    (reason,) = r.endpoints[0].reasons
    assert "p95 120.0 ms is over the budget of 100.0 ms" in reason


def test_p99_and_error_budgets() -> None:
    r = evaluate(budgets(), [run(p99=400, errors=10)])
    reasons = " ".join(r.endpoints[0].reasons)
    assert "p99 400.0 ms" in reasons and "error rate 2.00% is over the budget of 1%" in reasons


def test_baseline_tolerance_and_minimum_delta() -> None:
    spec = budgets(baseline_min_delta_ms=5)
    base = parse_baseline(build_baseline([run(search_p95=60)]), "base.json")
    # +10 % of 60 ms is 66 ms: 66 passes, 67 fails.
    assert verdicts(evaluate(spec, [run(66)], base))["GET /search"] == "pass"
    failed = evaluate(spec, [run(67)], base)
    assert verdicts(failed)["GET /search"] == "fail"
    assert "over the baseline 60.0 ms (limit 66.0 ms" in failed.endpoints[0].reasons[0]
    # On a 2 ms endpoint the 5 ms floor wins over +10 %: 6.9 ms passes, 7.1 fails.
    fast = parse_baseline(build_baseline([run(search_p95=2)]), "base.json")
    assert verdicts(evaluate(spec, [run(6.9)], fast))["GET /search"] == "pass"
    assert verdicts(evaluate(spec, [run(7.1)], fast))["GET /search"] == "fail"


def test_thin_data_is_inconclusive_never_pass() -> None:
    r = evaluate(budgets(), [run(count=20)])
    assert r.verdict == "inconclusive"
    assert "only 20 samples (minimum 100)" in r.endpoints[0].reasons[0]
    bad = evaluate(budgets(), [run(search_p95=500, count=20)])
    assert bad.verdict == "inconclusive"
    assert any(x.startswith("would fail: p95 500.0 ms") for x in bad.endpoints[0].reasons)
    missing = evaluate(budgets(), [RunResult("r", "test", ())])
    assert {v.reasons[0] for v in missing.endpoints} == {"not measured in any result file"}


def test_min_runs() -> None:
    spec = budgets(min_runs=3)
    assert evaluate(spec, [run(), run()]).verdict == "inconclusive"
    assert evaluate(spec, [run(), run(), run()]).verdict == "pass"


def test_median_across_runs_ignores_one_noisy_run() -> None:
    spec = budgets()
    assert evaluate(spec, [run(60), run(500), run(70)]).verdict == "pass"
    assert evaluate(spec, [run(160), run(50), run(170)]).verdict == "fail"
    m = evaluate(spec, [run(60), run(500), run(70)]).endpoints[0].measured
    assert (m.p95_ms, m.count, m.runs) == (70, 1500, 3)


@given(
    st.lists(st.floats(min_value=0.1, max_value=1000), min_size=1, max_size=7),
    st.floats(min_value=1, max_value=1000),
)
def test_property_pass_means_median_within_budget(p95s: list[float], budget: float) -> None:
    spec = parse_budgets(
        {"defaults": {"min_samples": 1}, "endpoints": [{"path": "/search", "p95_ms": budget}]},
        "b",
    )
    r = evaluate(spec, [run(p) for p in p95s])
    ordered = sorted(p95s)
    n = len(ordered)
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    assert r.verdict == ("pass" if median <= budget else "fail")


def test_fixture_compare_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Real k6 NDJSON through the CLI: JSON shape, Markdown reasons, exit codes."""
    b = tmp_path / "b.yaml"
    b.write_text(
        yaml.safe_dump(
            {
                "defaults": {"min_samples": 100},
                "endpoints": [
                    {"name": "https://test.k6.io/", "p95_ms": 130},
                    {"name": "http://test.k6.io", "p95_ms": 100},
                ],
            }
        )
    )
    nd = K6 / "out-json_grafana-xk6-dashboard_result.ndjson"
    out, md = tmp_path / "v.json", tmp_path / "c.md"
    rc = main(
        ["perf", "compare", str(nd), "--budgets", str(b), "--json", str(out), "--markdown", str(md)]
    )
    assert rc == 1
    doc = json.loads(out.read_text())
    assert doc["verdict"] == "fail"
    eps = {e["name"]: e for e in doc["endpoints"]}
    assert eps["https://test.k6.io/"]["verdict"] == "pass"
    assert eps["http://test.k6.io"]["verdict"] == "fail"
    assert eps["http://test.k6.io"]["count"] == 161
    assert eps["http://test.k6.io"]["p95_ms"] == pytest.approx(122.69, abs=0.01)
    assert {"name", "count", "p95_ms", "err_rate", "verdict"} <= set(eps["http://test.k6.io"])
    comment = md.read_text()
    assert "**blocked**" in comment
    assert "- `http://test.k6.io`: p95 122.7 ms is over the budget of 100.0 ms" in comment
    assert "http://test.k6.io: p95 122.7 ms" in capsys.readouterr().err

    # A baseline recorded from the same file, then compared: the absolute budget still fails
    # the slow endpoint; with a generous budget it passes (0 % change against itself).
    b.write_text(
        yaml.safe_dump(
            {"defaults": {"min_samples": 100, "p95_ms": 500}, "endpoints": [{"path": "/"}]}
        )
    )
    base = tmp_path / "base.json"
    args = ["perf", "baseline", "--from", str(nd), "--json", str(base), "--commit", "abc"]
    assert main([*args, "--budgets", str(b)]) == 0
    recorded = json.loads(base.read_text())
    assert recorded["commit"] == "abc" and recorded["budgeted"]["/"]["count"] == 322
    capsys.readouterr()
    rc = main(
        ["perf", "compare", str(nd), "--budgets", str(b), "--baseline", str(base), "--json", "-"]
    )
    assert rc == 0
    assert json.loads(capsys.readouterr().out)["endpoints"][0]["baseline_delta_pct"] == 0.0


def test_inconclusive_exit_code_and_override(tmp_path: Path) -> None:
    b = tmp_path / "b.yaml"
    b.write_text(yaml.safe_dump({"endpoints": [{"path": "/nowhere"}]}))
    nd = str(K6 / "out-json_grafana-xk6-dashboard_result.ndjson")
    assert main(["perf", "compare", nd, "--budgets", str(b)]) == 1
    assert main(["perf", "compare", nd, "--budgets", str(b), "--allow-inconclusive"]) == 0


def test_bad_baseline_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "base.json"
    base.write_text(
        json.dumps({"kind": "summit-perf-baseline", "endpoints": [{"name": "x", "p95_ms": "slow"}]})
    )
    nd = str(K6 / "out-json_grafana-xk6-dashboard_result.ndjson")
    assert main(["perf", "compare", nd, "--baseline", str(base)]) == 2
    assert (
        "endpoints[0].p95_ms: expected a finite number >= 0, found text 'slow'"
        in capsys.readouterr().err
    )
