"""The web budgets file (``budgets/web.yaml``): a typed schema, a loader, and the loader that
tells an API budgets file from a web one.

Shape, in the style of ``budgets/api.yaml``::

    version: 1
    service: web
    runs: 3                 # Lighthouse runs per page; the gate takes the median
    form_factor: mobile     # or desktop (Lighthouse's desktop preset)
    defaults: {...}         # budgets every page inherits, and the baseline rule
    pages:
      - {path: /, lcp_ms: 2500, tbt_ms: 200, cls: 0.1, fcp_ms: 1800, total_kb: 300, min_score: 0.9}

Every metric is optional per page. A page is matched by the path of the LHR's final URL
(query and trailing slash ignored), so ``path`` is a literal path, not a template.
Validation follows ``budgets/api.yaml``: unknown keys, quoted numbers, booleans, NaN or
infinity where a number belongs exit 2 with the file and the dotted key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from summit_platform.automation.errors import UserError
from summit_platform.automation.perf.budgets import (
    Budgets,
    _describe,
    _dotted,
    parse_budgets,
    read_budgets_document,
)
from summit_platform.automation.perf.lhr import GATED, FormFactor

Ms = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Kib = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Shift = Annotated[float, Field(ge=0, allow_inf_nan=False)]
_PATH = re.compile(r"/[^\s?#{}]*")


class _Strict(BaseModel):
    # strict: a quoted "2500" or a bool where a number belongs is a mistake worth an exit 2.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Metrics(_Strict):
    lcp_ms: Ms | None = Field(default=None, description="Largest Contentful Paint, ms.")
    tbt_ms: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        default=None, description="Total Blocking Time, ms."
    )
    cls: Shift | None = Field(default=None, description="Cumulative Layout Shift (unitless).")
    fcp_ms: Ms | None = Field(default=None, description="First Contentful Paint, ms.")
    total_kb: Kib | None = Field(
        default=None, description="Total bytes transferred, KiB (Lighthouse's total-byte-weight)."
    )
    min_score: Fraction | None = Field(
        default=None, description="Lowest performance score, 0-1 as in the LHR (0.9 = 90)."
    )


class WebDefaults(_Metrics):
    """Budgets every page inherits, and the baseline rule per metric."""

    min_runs: Annotated[int, Field(ge=1)] = Field(
        default=1, description="Fewer successful runs of a page than this is inconclusive."
    )
    baseline_tolerance_pct: Annotated[float, Field(ge=0, allow_inf_nan=False)] = Field(
        default=10, description="Allowed growth of timings and bytes over the baseline, %."
    )
    baseline_min_delta_ms: Annotated[float, Field(ge=0, allow_inf_nan=False)] = Field(
        default=400,
        description=(
            "A timing regression must also be at least this many ms: TBT is 0 on a fast "
            "page, where +10 % alone would block on the first millisecond, and Lighthouse's "
            "simulated timings jump by whole round trips (150 ms on mobile) between "
            "identical runs."
        ),
    )
    baseline_min_delta_kb: Annotated[float, Field(ge=0, allow_inf_nan=False)] = Field(
        default=10, description="A byte regression must also be at least this many KiB."
    )
    cls_tolerance: Shift = Field(
        default=0.02, description="Absolute CLS increase over the baseline that still passes."
    )
    score_tolerance: Fraction = Field(
        default=0.05, description="Absolute score drop under the baseline that still passes."
    )


class PageModel(_Metrics):
    """One budgeted page."""

    path: str = Field(description="URL path of the page (the LHR's final URL path).")

    @model_validator(mode="after")
    def _literal_path(self) -> PageModel:
        if not _PATH.fullmatch(self.path):
            raise ValueError(
                f"'path' must be a literal URL path starting with '/' (no query, fragment, "
                f"space or {{param}}), found {self.path!r}"
            )
        return self


class WebBudgetsFile(_Strict):
    """The whole web budgets file."""

    version: Literal[1] = 1
    service: str | None = Field(default=None, description="Service the pages belong to.")
    runs: Annotated[int, Field(ge=1, le=15)] = Field(
        default=3, description="Lighthouse runs per page (the gate takes the median)."
    )
    form_factor: Literal["mobile", "desktop"] = Field(
        default="mobile", description="Lighthouse's mobile (default) or desktop settings."
    )
    defaults: WebDefaults = Field(default_factory=WebDefaults)
    pages: list[PageModel] = Field(min_length=1)


@dataclass(frozen=True)
class PageBudget:
    """One page's budgets with the defaults filled in (None: that metric is not budgeted)."""

    path: str
    limits: dict[str, float | None]
    """Metric key -> absolute budget (``score`` holds ``min_score``)."""
    min_runs: int
    baseline_tolerance_pct: float
    baseline_min_delta_ms: float
    baseline_min_delta_kb: float
    cls_tolerance: float
    score_tolerance: float

    @property
    def label(self) -> str:
        """How reports name the page."""
        return self.path

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON reports."""
        out: dict[str, Any] = {str(m.budget_key): self.limits.get(m.key) for m in GATED}
        out.update(
            min_runs=self.min_runs,
            baseline_tolerance_pct=self.baseline_tolerance_pct,
            baseline_min_delta_ms=self.baseline_min_delta_ms,
            baseline_min_delta_kb=self.baseline_min_delta_kb,
            cls_tolerance=self.cls_tolerance,
            score_tolerance=self.score_tolerance,
        )
        return out


@dataclass(frozen=True)
class WebBudgets:
    """A loaded web budgets file."""

    source: str
    service: str | None
    runs: int
    form_factor: FormFactor
    pages: tuple[PageBudget, ...]


def _norm(path: str) -> str:
    return path.rstrip("/") or "/"


def parse_web_budgets(doc: Any, source: str) -> WebBudgets:
    """Validate a parsed web budgets document; errors name the file and the dotted key."""
    try:
        model = WebBudgetsFile.model_validate(doc)
    except ValidationError as err:
        errors = err.errors()
        first = errors[0]
        more = "; ".join(f"{_dotted(e['loc'])}: {_describe(e)}" for e in errors[1:4])
        extra = f" (also {more})" if more else ""
        raise UserError(
            _describe(first) + extra, source=source, key=_dotted(first["loc"])
        ) from None
    d = model.defaults
    seen: dict[str, int] = {}
    pages = []
    for i, page in enumerate(model.pages):
        path = _norm(page.path)
        if path in seen:
            raise UserError(
                f"duplicate page {path!r} (first at pages[{seen[path]}])",
                source=source,
                key=f"pages[{i}].path",
            )
        seen[path] = i
        limits = {}
        for m in GATED:
            own = getattr(page, m.budget_key or "")
            limits[m.key] = own if own is not None else getattr(d, m.budget_key or "")
        pages.append(
            PageBudget(
                path=path,
                limits=limits,
                min_runs=d.min_runs,
                baseline_tolerance_pct=d.baseline_tolerance_pct,
                baseline_min_delta_ms=d.baseline_min_delta_ms,
                baseline_min_delta_kb=d.baseline_min_delta_kb,
                cls_tolerance=d.cls_tolerance,
                score_tolerance=d.score_tolerance,
            )
        )
    return WebBudgets(
        source=source,
        service=model.service,
        runs=model.runs,
        form_factor=model.form_factor,
        pages=tuple(pages),
    )


def load_web_budgets(path: str | Path) -> WebBudgets:
    """Read and validate a web budgets YAML file."""
    doc = read_budgets_document(path, "a mapping with a 'pages' list")
    return parse_web_budgets(doc, str(Path(path)))


def load_any_budgets(path: str | Path) -> Budgets | WebBudgets:
    """An API budgets file (``endpoints``) or a web one (``pages``), told apart by content."""
    doc = read_budgets_document(path, "a mapping with an 'endpoints' or a 'pages' list")
    has_endpoints, has_pages = "endpoints" in doc, "pages" in doc
    if has_pages and not has_endpoints:
        return parse_web_budgets(doc, str(Path(path)))
    if has_endpoints and not has_pages:
        return parse_budgets(doc, str(Path(path)))
    raise UserError(
        "expected either 'endpoints' (API budgets, like budgets/api.yaml) or 'pages' "
        "(web budgets, like budgets/web.yaml)" + (", found both" if has_pages else ""),
        source=str(Path(path)),
        key="pages" if has_pages else "endpoints",
    )
