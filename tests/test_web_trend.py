"""Web pages in `summit perf baseline` and `summit perf trend`: pages recorded beside the
endpoints, web panels in the trend PNG (one per metric, a line per page), bad history lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT

from summit_platform.automation.cli import main
from summit_platform.automation.perf.lhr import read_lhr
from summit_platform.automation.perf.trend import read_history
from summit_platform.automation.perf.web_budgets import load_web_budgets
from summit_platform.automation.perf.web_trend import web_history, web_panels, web_series

LH = FIXTURES / "lighthouse"
K6 = FIXTURES / "k6" / "out-json_grafana-xk6-dashboard_result.ndjson"
WEB = ROOT / "budgets" / "web.yaml"


def test_history_points_carry_the_budgets_of_that_night() -> None:
    spec = load_web_budgets(WEB)
    runs = [
        read_lhr(LH / "slow-lcp-index.mobile.json.gz"),
        read_lhr(LH / "clean-index.mobile.json.gz"),
    ]
    pages = web_history(spec, runs)
    assert [p["path"] for p in pages] == ["/", "/catalog", "/checkout"]
    home = pages[0]
    assert home["runs"] == 2 and home["lcp_ms"] == pytest.approx(
        (7752.988 + 973.4775) / 2, abs=0.01
    )
    assert home["budget"]["lcp_ms"] == 2500 and home["budget"]["score"] == 0.9
    assert pages[1]["runs"] == 0 and pages[1]["lcp_ms"] is None


def test_series_and_panels_per_metric() -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    history = [
        {
            "time": (t0 + timedelta(days=d)).isoformat(),
            "endpoints": [],
            "pages": [
                {
                    "path": "/",
                    "lcp_ms": 900 + d,
                    "cls": 0.0,
                    "budget": {"lcp_ms": 2500, "cls": 0.1},
                },
                {"path": "/catalog", "lcp_ms": 1000 + d, "budget": {"lcp_ms": 2500}},
            ],
        }
        for d in range(3)
    ]
    data = web_series(list(reversed(history)))  # time order restored
    assert [p[1] for p in data["lcp_ms"]["/"]] == [900, 901, 902]
    assert set(data["lcp_ms"]) == {"/", "/catalog"} and set(data["cls"]) == {"/"}
    assert [title for title, _ in web_panels(history)] == ["LCP", "CLS"]


def test_cli_baseline_and_trend_with_api_and_web_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = tmp_path / "api.yaml"
    api.write_text("endpoints: [{name: 'http://test.k6.io', p95_ms: 130}]\n")
    lhrs = [str(p) for p in sorted(LH.glob("clean-*.mobile.json.gz"))]
    base = tmp_path / "baseline.json"
    args = ["perf", "baseline", "--from", str(K6), *lhrs, "--budgets", str(api)]
    assert main([*args, "--json", str(base), "--commit", "c1"]) == 0
    doc = json.loads(base.read_text())
    assert [p["path"] for p in doc["pages"]] == ["/", "/catalog", "/checkout"]
    assert doc["budgeted"]["http://test.k6.io"]["count"] == 161 and doc["commit"] == "c1"
    assert len(doc["sources"]) == 4

    h, png = tmp_path / "history.jsonl", tmp_path / "trend.png"
    both = ["--budgets", str(api), "--budgets", str(WEB)]
    assert main(["perf", "trend", "--history", str(h), "--append", str(K6), *lhrs, *both]) == 0
    slow = [str(LH / "slow-lcp-index.mobile.json.gz"), *lhrs[:2]]
    args = ["perf", "trend", "--history", str(h), "--append", str(K6), *slow, *both]
    assert main([*args, "--plot", str(png)]) == 0
    # One endpoint panel plus the six web metrics with budgets (LCP, TBT, CLS, FCP, bytes, score).
    assert "plot: 7 panel(s), 2 night(s)" in capsys.readouterr().out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 30_000
    entries = read_history(h)
    assert len(entries) == 2 and entries[0]["endpoints"][0]["name"] == "http://test.k6.io"
    assert [p["path"] for p in entries[1]["pages"]] == ["/", "/catalog", "/checkout"]
    assert entries[1]["pages"][0]["lcp_ms"] == pytest.approx(7752.988, abs=0.01)


def test_web_only_trend_and_default_budgets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)  # the default budgets are budgets/api.yaml and budgets/web.yaml
    h, png = tmp_path / "h.jsonl", tmp_path / "t.png"
    lhr = str(LH / "clean-index.mobile.json.gz")
    assert main(["perf", "trend", "--history", str(h), "--append", lhr, "--plot", str(png)]) == 0
    (entry,) = read_history(h)
    assert entry["endpoints"] == [] and len(entry["pages"]) == 3
    assert "plot: 6 panel(s), 1 night(s)" in capsys.readouterr().out  # web panels only


def test_bad_pages_in_history_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = tmp_path / "h.jsonl"
    h.write_text(
        '{"time": "2026-11-01T00:00:00+00:00", "endpoints": [], "pages": [{"lcp_ms": 1}]}\n'
    )
    assert main(["perf", "trend", "--history", str(h), "--plot", str(tmp_path / "p.png")]) == 2
    assert f"{h}: pages: line 1: expected a list of pages with a 'path'" in capsys.readouterr().err
