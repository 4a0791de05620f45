"""One gate for API and web: result files of any kind in, one verdict, one JSON, one comment.

:func:`read_inputs` sorts result files by content (Lighthouse LHRs, plain or gzip, beside k6
and Locust results); :func:`resolve_budgets` pairs each kind with its budgets file;
:func:`evaluate_all` runs the API gate (:mod:`.gate`) and the web gate (:mod:`.web_gate`);
the renderers put both in one ``--json`` document and one PR comment. The verdict schema is
the API's, extended: ``pages[]`` beside ``endpoints[]``, overall ``verdict`` over both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from summit_platform.automation import safe_io
from summit_platform.automation.errors import UserError
from summit_platform.automation.perf.budgets import Budgets
from summit_platform.automation.perf.gate import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    Baseline,
    GateResult,
    Verdict,
    build_baseline,
    evaluate,
    overall,
    parse_baseline,
)
from summit_platform.automation.perf.ingest import NotAResult, read_result
from summit_platform.automation.perf.lhr import DIGEST_KIND, PageRun, parse_lhr, sniff_json
from summit_platform.automation.perf.model import RunResult
from summit_platform.automation.perf.report import (
    MARKER,
    RUNBOOK,
    endpoint_section,
    headline,
    to_json,
    to_markdown,
)
from summit_platform.automation.perf.trend import history_entry
from summit_platform.automation.perf.web_budgets import WebBudgets, load_any_budgets
from summit_platform.automation.perf.web_gate import (
    PageMeasurement,
    WebGateResult,
    build_web_baseline,
    evaluate_web,
    parse_web_baseline,
)
from summit_platform.automation.perf.web_report import page_json, web_headline, web_section
from summit_platform.automation.perf.web_trend import web_history

DEFAULT_API_BUDGETS = Path("budgets/api.yaml")
DEFAULT_WEB_BUDGETS = Path("budgets/web.yaml")
EXPECTED_LHR = "or a Lighthouse result (the LHR JSON of 'lighthouse --output json', plain or .gz)"
_ICON = {PASS: "✅", FAIL: "❌", INCONCLUSIVE: "⚠️"}


@dataclass(frozen=True)
class Inputs:
    """Result files read and sorted by kind."""

    api: tuple[RunResult, ...]
    web: tuple[PageRun, ...]
    skipped: tuple[str, ...] = ()
    """Digests of ``summit perf lighthouse`` (their LHR files are the input)."""


def read_inputs(paths: Sequence[Path]) -> Inputs:
    """Read every file before anything is written: bad input changes nothing."""
    if not paths:
        raise UserError(
            "give at least one result file (k6 NDJSON/summary, Locust CSV or Lighthouse LHR)"
        )
    api: list[RunResult] = []
    web: list[PageRun] = []
    skipped: list[str] = []
    for p in paths:
        doc = sniff_json(p) if p.is_file() else None
        if doc is not None and doc.get("kind") == DIGEST_KIND:
            skipped.append(str(p))
        elif doc is not None:
            web.append(parse_lhr(doc, str(p)))
        else:
            try:
                api.append(read_result(p))
            except NotAResult as err:
                raise NotAResult(f"{err}; {EXPECTED_LHR}") from None
    if not api and not web:
        raise UserError(
            f"no result file among {len(paths)} given: only digests ({', '.join(skipped)}); "
            "pass the LHR files beside them"
        )
    return Inputs(tuple(api), tuple(web), tuple(skipped))


def resolve_budgets(
    given: Sequence[Path] | None, inputs: Inputs, *, root: Path = Path(".")
) -> tuple[Budgets | None, WebBudgets | None]:
    """The API and web budgets to apply.

    Without ``--budgets``, each kind of result present takes its default file
    (``budgets/api.yaml``, ``budgets/web.yaml``). With ``--budgets``, every file given is
    applied (a kind without results is then inconclusive, never a silent pass), and a kind of
    result without its budgets file is an error."""
    if not given:
        api = load_any_budgets(root / DEFAULT_API_BUDGETS) if inputs.api else None
        web = load_any_budgets(root / DEFAULT_WEB_BUDGETS) if inputs.web else None
        return _kind(api, Budgets), _kind(web, WebBudgets)
    api_spec: Budgets | None = None
    web_spec: WebBudgets | None = None
    for path in given:
        spec = load_any_budgets(path)
        if isinstance(spec, WebBudgets):
            if web_spec is not None:
                raise UserError(
                    f"two web budgets files: {web_spec.source} and {path}", key="--budgets"
                )
            web_spec = spec
        else:
            if api_spec is not None:
                raise UserError(
                    f"two API budgets files: {api_spec.source} and {path}", key="--budgets"
                )
            api_spec = spec
    if inputs.api and api_spec is None:
        raise UserError(
            "k6/Locust results given, but no API budgets file among --budgets "
            f"(add --budgets {DEFAULT_API_BUDGETS})",
            key="--budgets",
        )
    if inputs.web and web_spec is None:
        raise UserError(
            "Lighthouse results given, but no web budgets file among --budgets "
            f"(add --budgets {DEFAULT_WEB_BUDGETS})",
            key="--budgets",
        )
    return api_spec, web_spec


def _kind(spec: Any, cls: type) -> Any:
    if spec is not None and not isinstance(spec, cls):
        what = "web (pages)" if cls is WebBudgets else "API (endpoints)"
        raise UserError(f"expected {what} budgets in the default file", source=spec.source)
    return spec


def load_baseline_doc(path: Path) -> tuple[Baseline, dict[str, PageMeasurement]]:
    """Read a baseline JSON written by ``summit perf baseline``: endpoints and pages (the
    safe JSON reader: bad bytes, NaN, duplicate keys refused; the figures then checked)."""
    doc = safe_io.load_json(path)
    api = parse_baseline(doc, str(path))
    return api, parse_web_baseline(doc, str(path))


@dataclass(frozen=True)
class CombinedResult:
    """Both gates' answers; either may be absent when no budgets of its kind apply."""

    api: GateResult | None
    web: WebGateResult | None
    skipped: tuple[str, ...] = ()

    @property
    def verdict(self) -> Verdict:
        """Fail if anything failed; else inconclusive if anything was; else pass."""
        return overall([part.verdict for part in (self.api, self.web) if part is not None])

    def failures(self) -> list[str]:
        """One line per failed endpoint or page, naming it and why."""
        lines = [
            f"{v.budget.label}: {'; '.join(v.reasons)}"
            for v in (self.api.endpoints if self.api else ())
            if v.verdict == FAIL
        ]
        lines += [
            f"page {p.budget.label}: {'; '.join(p.reasons)}"
            for p in (self.web.pages if self.web else ())
            if p.verdict == FAIL
        ]
        return lines

    def thin(self) -> list[str]:
        """Endpoints and pages with too little data."""
        out = [
            v.budget.label
            for v in (self.api.endpoints if self.api else ())
            if v.verdict == INCONCLUSIVE
        ]
        out += [
            f"page {p.budget.label}"
            for p in (self.web.pages if self.web else ())
            if p.verdict == INCONCLUSIVE
        ]
        return out


def evaluate_all(
    api_spec: Budgets | None,
    web_spec: WebBudgets | None,
    inputs: Inputs,
    baseline: tuple[Baseline, dict[str, PageMeasurement]] | None = None,
) -> CombinedResult:
    """Run each gate that has budgets, on its kind of results."""
    api = evaluate(api_spec, inputs.api, baseline[0] if baseline else None) if api_spec else None
    web = (
        evaluate_web(web_spec, inputs.web, baseline[1] if baseline else None) if web_spec else None
    )
    return CombinedResult(api, web, inputs.skipped)


def combined_json(
    result: CombinedResult,
    *,
    api_budgets: str | None = None,
    web_budgets: str | None = None,
    baseline: str | None = None,
) -> dict[str, Any]:
    """The ``--json`` document: the API schema, plus ``pages[]`` and ``web_budgets``."""
    if result.api is not None:
        doc = to_json(result.api, budgets=api_budgets, baseline=baseline)
    else:
        doc = {
            "verdict": None,
            "summary": {},
            "budgets": None,
            "baseline": baseline,
            "sources": [],
            "endpoints": [],
            "unbudgeted": [],
        }
    pages = result.web.pages if result.web else ()
    verdicts = [e["verdict"] for e in doc["endpoints"]] + [p.verdict for p in pages]
    doc["verdict"] = result.verdict
    doc["summary"] = {k: verdicts.count(k) for k in _ICON}
    doc["web_budgets"] = web_budgets
    doc["sources"] = list(doc["sources"]) + list(result.web.sources if result.web else ())
    doc["pages"] = [page_json(p) for p in pages]
    doc["unbudgeted_pages"] = list(result.web.unbudgeted) if result.web else []
    doc["skipped"] = list(result.skipped)
    return doc


def _combined_head(result: CombinedResult) -> str:
    api = result.api.endpoints if result.api else ()
    pages = result.web.pages if result.web else ()
    n_api, n_web = len(api), len(pages)

    def count(verdict: str) -> str:
        a = sum(v.verdict == verdict for v in api)
        w = sum(p.verdict == verdict for p in pages)
        return f"{a} of {n_api} endpoints and {w} of {n_web} pages"

    return {
        PASS: f"{_ICON[PASS]} pass: all {n_api} endpoints and {n_web} pages within budget",
        FAIL: f"{_ICON[FAIL]} **blocked**: {count(FAIL)} over budget",
        INCONCLUSIVE: f"{_ICON[INCONCLUSIVE]} inconclusive: not enough data for "
        f"{count(INCONCLUSIVE)}",
    }[result.verdict]


def combined_markdown(result: CombinedResult, *, baseline: str | None = None) -> str:
    """One PR comment for both gates (for API results alone, exactly the API comment)."""
    if result.web is None and result.api is not None:
        return to_markdown(result.api, baseline=baseline)
    assert result.web is not None
    if result.api is None:
        lines = [MARKER, f"### Performance budgets: {web_headline(result.web)}", ""]
        lines += web_section(result.web, baseline=baseline)
    else:
        lines = [MARKER, f"### Performance budgets: {_combined_head(result)}", ""]
        lines += [f"#### API endpoints: {headline(result.api)}", ""]
        lines += endpoint_section(result.api, baseline=baseline)
        lines += ["", f"#### Web pages: {web_headline(result.web)}", ""]
        lines += web_section(result.web, baseline=baseline)
    lines += ["", RUNBOOK]
    return "\n".join(lines) + "\n"


def history_entry_all(
    api_spec: Budgets | None,
    web_spec: WebBudgets | None,
    inputs: Inputs,
    *,
    commit: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One night of the trend: endpoints (when API results were given) and pages."""
    entry = (
        history_entry(api_spec, inputs.api, commit=commit, now=now)
        if (api_spec is not None and inputs.api)
        else {
            "time": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
            "commit": commit,
            "sources": [],
            "endpoints": [],
        }
    )
    if inputs.web:
        entry["pages"] = web_history(web_spec, inputs.web)
        entry["sources"] = [*entry["sources"], *(r.source for r in inputs.web)]
    return entry


def baseline_doc_all(
    inputs: Inputs, api_spec: Budgets | None, *, commit: str | None = None
) -> dict[str, Any]:
    """A baseline file for both: the API baseline document plus ``pages`` (per page path)."""
    doc = build_baseline(inputs.api, api_spec, commit=commit)
    doc["sources"] = [*doc["sources"], *(r.source for r in inputs.web)]
    doc["pages"] = build_web_baseline(inputs.web)
    return doc
