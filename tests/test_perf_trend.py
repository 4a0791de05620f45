"""Nightly trend: history appends, retention, the plot, and bad history lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from summit_platform.automation.cli import main
from summit_platform.automation.perf.budgets import parse_budgets
from summit_platform.automation.perf.model import EndpointStats, RunResult
from summit_platform.automation.perf.trend import (
    append_history,
    history_entry,
    plot_trend,
    read_history,
    series,
)

K6 = Path(__file__).resolve().parent / "fixtures" / "k6"


def test_history_entry_and_retention(tmp_path: Path) -> None:
    spec = parse_budgets({"endpoints": [{"path": "/search", "p95_ms": 100}]}, "b")
    h = tmp_path / "h.jsonl"
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for day in range(5):
        run = RunResult(
            "r", "t", (EndpointStats("/search", "GET", "/search", 200, 0, p95_ms=40 + day),)
        )
        entry = history_entry(spec, [run], commit=f"c{day}", now=start + timedelta(days=day))
        n = append_history(h, entry, keep=3)
    assert n == 3
    entries = read_history(h)
    assert [e["commit"] for e in entries] == ["c2", "c3", "c4"]
    assert [p[1] for p in series(entries)["/search"]] == [42, 43, 44]
    assert {p[2] for p in series(entries)["/search"]} == {100}


def test_cli_trend_appends_and_plots(tmp_path: Path) -> None:
    b = tmp_path / "b.yaml"
    b.write_text(
        yaml.safe_dump({"endpoints": [{"name": "http://test.k6.io", "p95_ms": 130}, {"path": "/"}]})
    )
    h, png = tmp_path / "hist.jsonl", tmp_path / "trend.png"
    for f in (
        "out-json_czrpb-workloads_k6out.trimmed.ndjson",
        "out-json_grafana-xk6-dashboard_result.ndjson",
    ):
        args = ["perf", "trend", "--history", str(h), "--append", str(K6 / f), "--budgets", str(b)]
        assert main([*args, "--plot", str(png)]) == 0
    lines = h.read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["endpoints"][0]["name"] == "http://test.k6.io"
    assert first["endpoints"][0]["p95_ms"] == pytest.approx(140.33, abs=0.01)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_plot_needs_data(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no endpoints"):
        plot_trend([], tmp_path / "x.png")


def test_bad_history_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = tmp_path / "h.jsonl"
    h.write_text('{"time": "2026-11-01T00:00:00+00:00", "endpoints": []}\nnot json\n')
    assert main(["perf", "trend", "--history", str(h), "--plot", str(tmp_path / "p.png")]) == 2
    assert f"{h}: line 2 is not JSON" in capsys.readouterr().err
    assert main(["perf", "trend", "--history", str(h)]) == 2
