"""budgets/web.yaml: the repo's file, defaults, and bad input exiting 2 with the file and the
dotted key (the same rules as budgets/api.yaml), through `summit perf compare` and
`summit perf lighthouse`, writing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import FIXTURES, ROOT

from summit_platform.automation.cli import main
from summit_platform.automation.errors import UserError
from summit_platform.automation.perf.web_budgets import (
    load_any_budgets,
    load_web_budgets,
    parse_web_budgets,
)

LHR = FIXTURES / "lighthouse" / "clean-index.mobile.json.gz"


def test_repo_web_budgets() -> None:
    spec = load_web_budgets(ROOT / "budgets" / "web.yaml")
    assert (spec.service, spec.runs, spec.form_factor) == ("web", 3, "mobile")
    pages = {p.path: p for p in spec.pages}
    assert list(pages) == ["/", "/catalog", "/checkout"]
    assert pages["/"].limits == {
        "lcp_ms": 2500,
        "tbt_ms": 200,
        "cls": 0.1,
        "fcp_ms": 1800,
        "total_kb": 300,
        "score": 0.9,
    }
    assert pages["/catalog"].limits["total_kb"] == 400  # its own, over the default
    assert pages["/checkout"].limits["lcp_ms"] == 2000
    assert all(p.baseline_tolerance_pct == 10 for p in spec.pages)


def test_every_metric_is_optional_and_defaults_apply() -> None:
    spec = parse_web_budgets({"pages": [{"path": "/a/"}, {"path": "/b", "cls": 0.2}]}, "w")
    a, b = spec.pages
    assert a.path == "/a" and set(a.limits.values()) == {None}
    assert b.limits["cls"] == 0.2 and b.limits["lcp_ms"] is None
    assert (spec.runs, spec.form_factor, a.min_runs) == (3, "mobile", 1)
    assert (a.cls_tolerance, a.score_tolerance, a.baseline_min_delta_ms) == (0.02, 0.05, 400)


def test_kind_is_told_by_content() -> None:
    assert type(load_any_budgets(ROOT / "budgets" / "api.yaml")).__name__ == "Budgets"
    assert type(load_any_budgets(ROOT / "budgets" / "web.yaml")).__name__ == "WebBudgets"


BAD = [
    ({"pages": [{"path": "/", "lcp_ms": "fast"}]}, "pages[0].lcp_ms", "'fast'"),
    ({"pages": [{"path": "/", "lcp_ms": "2500"}]}, "pages[0].lcp_ms", "'2500' (str)"),
    (
        {"pages": [{"path": "/", "lcp_ms": "\uff12\uff15\uff10\uff10"}]},
        "pages[0].lcp_ms",
        "'\uff12\uff15\uff10\uff10' (str)",
    ),
    ({"pages": [{"path": "/", "cls": True}]}, "pages[0].cls", "True"),
    ({"pages": [{"path": "/", "cls": float("nan")}]}, "pages[0].cls", "nan"),
    ({"pages": [{"path": "/", "fcp_ms": float("inf")}]}, "pages[0].fcp_ms", "inf"),
    ({"pages": [{"path": "/", "min_score": 90}]}, "pages[0].min_score", "90"),
    ({"pages": [{"path": "/", "lcp": 3}]}, "pages[0].lcp", "unknown key"),
    ({"pages": [{"lcp_ms": 3}]}, "pages[0].path", "required key is missing"),
    ({"pages": [{"path": "catalog"}]}, "pages[0]", "literal URL path"),
    ({"pages": [{"path": "/p/{id}"}]}, "pages[0]", "literal URL path"),
    ({"pages": [{"path": "/", "total_kb": 0}]}, "pages[0].total_kb", "greater than 0"),
    ({"pages": [{"path": "/a"}, {"path": "/a/"}]}, "pages[1].path", "duplicate page '/a'"),
    ({"pages": []}, "pages", "at least 1"),
    ({"pages": "all"}, "pages", "list"),
    ({"runs": 0, "pages": [{"path": "/"}]}, "runs", "greater than or equal to 1"),
    ({"runs": 2.5, "pages": [{"path": "/"}]}, "runs", "2.5"),
    ({"form_factor": "tablet", "pages": [{"path": "/"}]}, "form_factor", "tablet"),
    ({"defaults": {"cls_tolerance": -1}, "pages": [{"path": "/"}]}, "defaults.cls_tolerance", "-1"),
    ({"defaults": {"p95_ms": 3}, "pages": [{"path": "/"}]}, "defaults.p95_ms", "unknown key"),
    ({"version": 2, "pages": [{"path": "/"}]}, "version", "2"),
]


@pytest.mark.parametrize(("doc", "key", "text"), BAD)
def test_bad_web_budgets_exit_2_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: dict, key: str, text: str
) -> None:
    f = tmp_path / "web.yaml"
    f.write_text(yaml.safe_dump(doc, allow_unicode=True))
    out = tmp_path / "verdict.json"
    assert main(["perf", "compare", str(LHR), "--budgets", str(f), "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"summit: error: {f}: {key}:" in err and text in err, err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "text"),
    [
        (b"pages: [", "line 1 column 9: not valid YAML"),
        (b"\xff\xfe\x00garbage", "not valid UTF-8 at byte 0"),
        (b"- just\n- a list\n", "expected a mapping with a 'pages' list, found list"),
    ],
)
def test_unreadable_budgets_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, text: str
) -> None:
    f = tmp_path / "web.yaml"
    f.write_bytes(content)
    out = tmp_path / "lh"
    args = ["perf", "lighthouse", "--base-url", "http://127.0.0.1:9", "--out", str(out)]
    assert main([*args, "--budgets", str(f)]) == 2
    assert f"{f}: {text}" in capsys.readouterr().err
    assert not out.exists()


def test_neither_or_both_kinds(tmp_path: Path) -> None:
    f = tmp_path / "b.yaml"
    f.write_text(yaml.safe_dump({"service": "x"}))
    with pytest.raises(UserError, match=r"either 'endpoints'.*or 'pages'"):
        load_any_budgets(f)
    f.write_text(yaml.safe_dump({"endpoints": [{"path": "/"}], "pages": [{"path": "/"}]}))
    with pytest.raises(UserError, match="found both"):
        load_any_budgets(f)
