"""Reading real Lighthouse results (tests/fixtures/lighthouse, written by Lighthouse 12.2.3):
plain and gzip, every gated metric checked against the file's own audits, runtime errors,
malformed LHRs exiting 2 with the key; and `summit perf compare` on them (the 7.8 s LCP
against a 2.5 s budget exits 1 naming page and metric; clean pages exit 0)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURES, ROOT

from summit_platform.automation.cli import main
from summit_platform.automation.errors import UserError
from summit_platform.automation.perf.lhr import METRICS, parse_lhr, read_lhr

LH = FIXTURES / "lighthouse"
WEB = ROOT / "budgets" / "web.yaml"
CLEAN = sorted(LH.glob("clean-*.mobile.json.gz"))
SLOW = LH / "slow-lcp-index.mobile.json.gz"
BLOCKING = LH / "blocking-index.mobile.json"


def raw(path: Path) -> dict:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


@pytest.mark.parametrize("path", sorted(LH.glob("*.json*")), ids=lambda p: p.name)
def test_every_fixture_reads_as_written_by_lighthouse_12(path: Path) -> None:
    run = read_lhr(path)
    doc = raw(path)
    assert run.lighthouse_version == doc["lighthouseVersion"] == "12.2.3" and run.major == 12
    assert run.url == doc["finalDisplayedUrl"] and run.form_factor in path.name
    if doc.get("runtimeError"):
        return
    for m in METRICS:
        expected = (
            doc["categories"]["performance"]["score"]
            if m.audit is None
            else doc["audits"][m.audit]["numericValue"] * m.scale
        )
        assert run.metrics[m.key] == pytest.approx(expected), m.key


def test_values_of_the_slow_and_the_blocking_page() -> None:
    slow = read_lhr(SLOW)
    assert (slow.path, slow.form_factor) == ("/", "mobile")
    assert slow.metrics["lcp_ms"] == pytest.approx(7752.988, abs=0.01)
    assert slow.metrics["total_kb"] == pytest.approx(1339878 / 1024)
    blocking = read_lhr(BLOCKING)  # the plain (not gzip) fixture
    assert blocking.metrics["tbt_ms"] == pytest.approx(2357.307, abs=0.01)
    assert blocking.metrics["cls"] == pytest.approx(0.162, abs=0.001)
    assert blocking.metrics["score"] == 0.48
    desktop = read_lhr(LH / "clean-index.desktop.json.gz")
    assert desktop.form_factor == "desktop" and desktop.metrics["lcp_ms"] < 1000


def test_runtime_error_is_kept_without_metrics() -> None:
    run = read_lhr(LH / "missing-page.mobile.json.gz")
    assert run.path == "/missing" and run.metrics == {}
    assert run.runtime_error is not None
    assert run.runtime_error.startswith("ERRORED_DOCUMENT_REQUEST: Lighthouse was unable")


def mutate(tmp_path: Path, change, name: str = "x.json") -> Path:
    doc = raw(LH / "clean-index.mobile.json.gz")
    change(doc)
    out = tmp_path / name
    out.write_text(json.dumps(doc))
    return out


def _set(path: list[str], value: object):
    def change(doc: dict) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "key", "text"),
    [
        (
            _set(["audits", "largest-contentful-paint", "numericValue"], "fast"),
            "audits.largest-contentful-paint.numericValue",
            "expected a number, found 'fast'",
        ),
        (
            _set(["audits", "total-blocking-time", "numericValue"], True),
            "audits.total-blocking-time.numericValue",
            "found True",
        ),
        (
            _set(["audits", "cumulative-layout-shift", "numericValue"], float("nan")),
            "audits.cumulative-layout-shift.numericValue",
            "finite number",
        ),
        (
            _set(["audits", "first-contentful-paint", "numericValue"], -3),
            "audits.first-contentful-paint.numericValue",
            "finite number >= 0, found -3",
        ),
        (
            _set(["audits", "total-byte-weight", "numericUnit"], "kilobyte"),
            "audits.total-byte-weight.numericUnit",
            "expected numericUnit 'byte'",
        ),
        (
            _set(["categories", "performance", "score"], 93),
            "categories.performance.score",
            "0 to 1",
        ),
        (_set(["configSettings", "formFactor"], "tablet"), "configSettings.formFactor", "tablet"),
        (_set(["audits"], []), "audits", "expected an object of audits"),
        (_set(["finalDisplayedUrl"], "file:///etc/passwd"), "finalDisplayedUrl", "http(s) URL"),
        (_set(["lighthouseVersion"], 12), "lighthouseVersion", "expected a Lighthouse result"),
    ],
)
def test_malformed_lhr_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change, key: str, text: str
) -> None:
    bad = mutate(tmp_path, change)
    out = tmp_path / "verdict.json"
    assert main(["perf", "compare", str(bad), "--budgets", str(WEB), "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"summit: error: {bad}: {key}: " in err and text in err, err
    assert err.count("\n") == 1 and not out.exists()


def test_missing_audit_and_null_score_read_as_unknown(tmp_path: Path) -> None:
    def change(doc: dict) -> None:
        del doc["audits"]["interactive"]  # removed in a later Lighthouse
        doc["categories"]["performance"]["score"] = None

    run = read_lhr(mutate(tmp_path, change))
    assert run.metrics["tti_ms"] is None and run.metrics["score"] is None
    assert run.metrics["lcp_ms"] is not None


@pytest.mark.parametrize(
    ("content", "text"),
    [
        (lambda b: b[: len(b) // 2], "looks like a Lighthouse result but cannot be read"),
        (lambda b: gzip.compress(b)[:5000], "cannot read (Compressed file ended"),
        (lambda b: b"\x1f\x8b\x08garbage", "cannot read"),
        (lambda b: b"{}", "not a k6 or Locust result"),
        (lambda b: b"\x00\xff\xfe binary", "not a k6 or Locust result"),
    ],
)
def test_truncated_or_foreign_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content, text: str
) -> None:
    body = gzip.decompress((LH / "clean-index.mobile.json.gz").read_bytes())
    bad = tmp_path / "bad.json"
    bad.write_bytes(content(body))
    assert main(["perf", "compare", str(bad), "--budgets", str(WEB)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and text in err, err
    assert "Traceback" not in err


def test_parse_lhr_rejects_non_objects() -> None:
    with pytest.raises(UserError, match="expected a Lighthouse result"):
        parse_lhr(["not", "an", "lhr"], "x.json")


# --- the Done-when checks: summit perf compare on real LHRs --------------------------------


def test_lcp_7_8_s_against_a_2_5_s_budget_exits_1_naming_page_and_metric(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "verdict.json"
    args = ["perf", "compare", str(SLOW), "--budgets", str(WEB), "--json", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "page /: LCP 7,753 ms is over the budget of 2,500 ms" in err
    doc = json.loads(out.read_text())
    home = next(p for p in doc["pages"] if p["name"] == "/")
    assert doc["verdict"] == "fail" and home["verdict"] == "fail"
    assert home["metrics"]["lcp_ms"]["verdict"] == "fail"
    assert home["metrics"]["lcp_ms"]["budget"] == 2500
    assert home["lighthouse_version"] == "12.2.3"


def test_clean_lhrs_within_budgets_exit_0_with_json_on_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["perf", "compare", *map(str, CLEAN), "--budgets", str(WEB), "--json", "-"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # stdout holds only the JSON; the table went to stderr
    assert doc["verdict"] == "pass" and doc["summary"] == {"pass": 3, "fail": 0, "inconclusive": 0}
    assert [p["name"] for p in doc["pages"]] == ["/", "/catalog", "/checkout"]
    assert doc["web_budgets"] == str(WEB) and doc["endpoints"] == []
    assert "web budgets: pass" in captured.err


def test_one_lhr_within_a_one_page_budget_exits_0(tmp_path: Path) -> None:
    b = tmp_path / "web.yaml"
    b.write_text(yaml.safe_dump({"pages": [{"path": "/", "lcp_ms": 2500}]}))
    assert (
        main(["perf", "compare", str(LH / "clean-index.mobile.json.gz"), "--budgets", str(b)]) == 0
    )
    assert main(["perf", "compare", str(SLOW), "--budgets", str(b)]) == 1


def test_lhr_beside_locust_results_one_verdict(tmp_path: Path) -> None:
    csv = tmp_path / "run_stats.csv"
    csv.write_text(
        "Type,Name,Request Count,Failure Count,50%,90%,95%,99%,Max Response Time\n"
        "GET,/search,500,0,10,30,40,60,90\n"
    )
    api = tmp_path / "api.yaml"
    api.write_text(
        yaml.safe_dump(
            {
                "defaults": {"min_samples": 10},
                "endpoints": [{"path": "/search", "method": "GET", "p95_ms": 100}],
            }
        )
    )
    md = tmp_path / "comment.md"
    others = [p for p in CLEAN if "index" not in p.name]
    args = ["perf", "compare", str(csv), str(BLOCKING), *map(str, others)]
    rc = main([*args, "--budgets", str(api), "--budgets", str(WEB), "--markdown", str(md)])
    assert rc == 1
    comment = md.read_text()
    assert comment.count("<!-- summit-perf-budgets -->") == 1
    assert "#### API endpoints: ✅ pass" in comment and "#### Web pages: ❌ **blocked**" in comment
    assert "- `/`: LCP 3,306 ms is over the budget of 2,500 ms" in comment
    assert "TBT 2,357 ms is over the budget of 200 ms" in comment
    assert "CLS 0.162 is over the budget of 0.100" in comment
    # Lighthouse results without a web budgets file among --budgets: exit 2, say which.
    assert main([*args, "--budgets", str(api)]) == 2


def test_form_factor_mismatch_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    desktop = LH / "clean-index.desktop.json.gz"
    assert main(["perf", "compare", str(desktop), "--budgets", str(WEB)]) == 2
    assert "configSettings.formFactor: measured as desktop" in capsys.readouterr().err


def test_baseline_diff_blocks_what_the_budget_alone_lets_through(tmp_path: Path) -> None:
    """A baseline from the clean home page, then the blocking one with generous budgets:
    the absolute budgets pass it, the baseline rule (+10 %, at least +400 ms) does not."""
    loose = tmp_path / "web.yaml"
    loose.write_text(yaml.safe_dump({"pages": [{"path": "/", "lcp_ms": 10000, "tbt_ms": 5000}]}))
    base = tmp_path / "baseline.json"
    clean_home = LH / "clean-index.mobile.json.gz"
    assert main(["perf", "baseline", "--from", str(clean_home), "--json", str(base)]) == 0
    recorded = json.loads(base.read_text())
    assert recorded["pages"][0]["path"] == "/" and recorded["endpoints"] == []
    assert recorded["pages"][0]["lcp_ms"] == pytest.approx(973.4775, abs=0.01)
    out = tmp_path / "v.json"
    args = ["perf", "compare", "--budgets", str(loose), "--baseline", str(base), "--json", str(out)]
    assert main([*args[:2], str(clean_home), *args[2:]]) == 0
    assert main([*args[:2], str(BLOCKING), *args[2:]]) == 1
    page = json.loads(out.read_text())["pages"][0]
    reasons = " ".join(page["reasons"])
    assert "LCP 3,306 ms is +240% against the baseline 973 ms (limit 1,373 ms" in reasons
    assert "TBT 2,357 ms is +2,357 ms against the baseline 0 ms (limit 400 ms" in reasons
    assert page["metrics"]["cls"]["baseline_limit"] == pytest.approx(0.02)
