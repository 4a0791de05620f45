"""Read Lighthouse results (LHR JSON, plain or gzip) into plain per-run page metrics.

An LHR is what ``lighthouse URL --output json`` writes: ``lighthouseVersion``, the final
URL (``finalDisplayedUrl``; ``finalUrl`` before Lighthouse 10), ``configSettings.formFactor``,
``categories.performance.score`` (0-1, null when a metric failed) and ``audits`` keyed by id,
each with ``numericValue`` (ms for timings, bytes for ``total-byte-weight``, unitless for
CLS). :func:`parse_lhr` validates exactly the parts the budgets use, so a file that does
not fit exits 2 naming the file and the dotted key; everything else in the LHR is ignored.

A run Lighthouse could not finish (``runtimeError``, for instance ``NO_FCP`` or an
unreachable page) is kept with its error and no metrics, so the gate can say why a page
is inconclusive instead of silently dropping it.
"""

from __future__ import annotations

import gzip
import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from summit_platform.automation.errors import UserError

FormFactor = Literal["mobile", "desktop"]
DIGEST_KIND = "summit-lighthouse-digest"
"""``kind`` of the digest ``summit perf lighthouse`` writes beside its LHR files."""
_MAX_JSON_BYTES = 256 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Metric:
    """One page metric: where it comes from in an LHR and how the gate treats it."""

    key: str
    """Key in JSON, digests, baselines and history (``lcp_ms``)."""
    label: str
    """Short name people know (``LCP``)."""
    audit: str | None
    """LHR audit id; None for the performance score (a category, not an audit)."""
    unit: str
    """``ms``, ``KiB``, or empty for unitless values (CLS, score)."""
    budget_key: str | None
    """Key of its absolute budget in ``budgets/web.yaml`` (None: measured, not budgeted)."""
    lhr_unit: str | None = None
    """``numericUnit`` the audit must declare (guards against a changed LHR format)."""
    scale: float = 1.0
    """Factor from the LHR's value to ours (bytes -> KiB)."""
    higher_is_better: bool = False
    relative: bool = True
    """Baseline rule: relative (+N %, with a floor) or absolute tolerance (CLS, score)."""


METRICS: tuple[Metric, ...] = (
    Metric("lcp_ms", "LCP", "largest-contentful-paint", "ms", "lcp_ms", "millisecond"),
    Metric("tbt_ms", "TBT", "total-blocking-time", "ms", "tbt_ms", "millisecond"),
    Metric("cls", "CLS", "cumulative-layout-shift", "", "cls", "unitless", relative=False),
    Metric("fcp_ms", "FCP", "first-contentful-paint", "ms", "fcp_ms", "millisecond"),
    Metric("si_ms", "Speed Index", "speed-index", "ms", None, "millisecond"),
    Metric("tti_ms", "TTI", "interactive", "ms", None, "millisecond"),
    Metric("total_kb", "Bytes", "total-byte-weight", "KiB", "total_kb", "byte", scale=1 / 1024),
    Metric("score", "Score", None, "", "min_score", higher_is_better=True, relative=False),
)
BY_KEY = {m.key: m for m in METRICS}
GATED = tuple(m for m in METRICS if m.budget_key is not None)
"""Metrics with a budget key; these are also the ones compared with the baseline."""


@dataclass(frozen=True)
class PageRun:
    """One Lighthouse run of one page, as read from its LHR."""

    source: str
    lighthouse_version: str
    url: str
    path: str
    form_factor: FormFactor
    fetch_time: str | None
    metrics: dict[str, float | None] = field(default_factory=dict)
    runtime_error: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def major(self) -> int | None:
        """Lighthouse's major version (metrics are comparable within one)."""
        head = self.lighthouse_version.split(".", 1)[0]
        return int(head) if head.isascii() and head.isdigit() else None


def url_path(url: str) -> str:
    """The path of a URL as budgets name pages: no query, no trailing slash (``/`` stays)."""
    path = urlsplit(url).path or "/"
    return path.rstrip("/") or "/"


def _number(value: Any, source: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"expected a number, found {value!r}", source=source, key=key)
    if not math.isfinite(value) or value < 0:
        raise UserError(f"expected a finite number >= 0, found {value!r}", source=source, key=key)
    return float(value)


def _audit_value(audits: dict[str, Any], m: Metric, source: str) -> float | None:
    assert m.audit is not None
    audit = audits.get(m.audit)
    if audit is None:
        return None  # not in this Lighthouse version
    key = f"audits.{m.audit}"
    if not isinstance(audit, dict):
        raise UserError(f"expected an object, found {audit!r}", source=source, key=key)
    raw = audit.get("numericValue")
    if raw is None:
        return None  # the audit errored (scoreDisplayMode "error"); the run says why
    unit = audit.get("numericUnit")
    if m.lhr_unit and unit is not None and unit != m.lhr_unit:
        raise UserError(
            f"expected numericUnit {m.lhr_unit!r}, found {unit!r}",
            source=source,
            key=f"{key}.numericUnit",
        )
    return _number(raw, source, f"{key}.numericValue") * m.scale


def _score(doc: dict[str, Any], source: str) -> float | None:
    cats = doc.get("categories")
    perf = cats.get("performance") if isinstance(cats, dict) else None
    if not isinstance(perf, dict) or perf.get("score") is None:
        return None
    score = _number(perf["score"], source, "categories.performance.score")
    if score > 1:
        raise UserError(
            f"expected a score from 0 to 1, found {score!r}",
            source=source,
            key="categories.performance.score",
        )
    return score


def _final_url(doc: dict[str, Any], source: str) -> str:
    for key in ("finalDisplayedUrl", "finalUrl", "mainDocumentUrl", "requestedUrl"):
        url = doc.get(key)
        if isinstance(url, str) and url:
            if urlsplit(url).scheme not in ("http", "https"):
                raise UserError(f"expected an http(s) URL, found {url!r}", source=source, key=key)
            return url
    raise UserError("no final URL (finalDisplayedUrl or finalUrl)", source=source, key="finalUrl")


def parse_lhr(doc: Any, source: str) -> PageRun:
    """Validate one LHR document and take its page metrics."""
    if not isinstance(doc, dict) or not isinstance(doc.get("lighthouseVersion"), str):
        raise UserError(
            "expected a Lighthouse result (LHR JSON with 'lighthouseVersion')",
            source=source,
            key="lighthouseVersion",
        )
    url = _final_url(doc, source)
    settings = doc.get("configSettings")
    form = settings.get("formFactor") if isinstance(settings, dict) else None
    if form not in ("mobile", "desktop"):
        raise UserError(
            f"expected 'mobile' or 'desktop', found {form!r}",
            source=source,
            key="configSettings.formFactor",
        )
    audits = doc.get("audits")
    if not isinstance(audits, dict):
        raise UserError("expected an object of audits", source=source, key="audits")
    err = doc.get("runtimeError")
    runtime_error = None
    if isinstance(err, dict) and err.get("code"):
        runtime_error = f"{err.get('code')}: {err.get('message') or ''}".strip().rstrip(":")
    metrics: dict[str, float | None] = {}
    if runtime_error is None:
        for m in METRICS:
            metrics[m.key] = (
                _score(doc, source) if m.audit is None else _audit_value(audits, m, source)
            )
    warnings = doc.get("runWarnings")
    return PageRun(
        source=source,
        lighthouse_version=doc["lighthouseVersion"],
        url=url,
        path=url_path(url),
        form_factor=form,
        fetch_time=doc.get("fetchTime") if isinstance(doc.get("fetchTime"), str) else None,
        metrics=metrics,
        runtime_error=runtime_error,
        warnings=tuple(str(w) for w in warnings) if isinstance(warnings, list) else (),
    )


def _open(path: Path) -> Any:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rb")
    return open(path, "rb")


def sniff_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path`` (plain or gzip) when it is an LHR or a Lighthouse digest;
    None for anything else (k6 NDJSON, k6 summaries, Locust CSV), which other readers take.

    k6 NDJSON is recognised from its first line, so a large stream is never parsed here."""
    try:
        with _open(path) as fh:
            head = fh.read(64 * 1024)
    except (OSError, EOFError, zlib.error) as err:
        raise UserError(f"cannot read ({err})", source=str(path)) from None
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff").lstrip()
    if not text.startswith("{"):
        return None
    first = text.split("\n", 1)[0]
    try:
        line = json.loads(first)
    except ValueError:
        line = None
    if isinstance(line, dict) and line.get("type") in ("Metric", "Point"):
        return None  # k6 NDJSON
    lighthouse_like = b'"lighthouseVersion"' in head or DIGEST_KIND.encode() in head
    if path.stat().st_size > _MAX_JSON_BYTES:
        return None
    try:
        with _open(path) as fh:
            doc = json.loads(fh.read().decode("utf-8-sig"))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as err:
        if lighthouse_like:
            raise UserError(
                f"looks like a Lighthouse result but cannot be read ({err}); truncated?",
                source=str(path),
            ) from None
        return None
    if isinstance(doc, dict) and ("lighthouseVersion" in doc or doc.get("kind") == DIGEST_KIND):
        return doc
    return None


def read_lhr(path: str | Path) -> PageRun:
    """Read one LHR file (plain or gzip)."""
    p = Path(path)
    if not p.is_file():
        raise UserError("no such Lighthouse result file", source=str(p))
    doc = sniff_json(p)
    if doc is None or doc.get("kind") == DIGEST_KIND:
        raise UserError(
            "not a Lighthouse result: expected the LHR JSON of 'lighthouse --output json'",
            source=str(p),
        )
    return parse_lhr(doc, str(p))
