"""The budgets file (``budgets/api.yaml``): a typed schema, a loader and the endpoint matcher.

It is a list of endpoints, ``endpoints: [{path, p95_ms, err_rate}]``, with snake_case keys
(it is our file, not Pulumi config). An endpoint is matched either by ``name`` (exactly the
k6 ``name`` tag or the Locust request name) or by ``path`` (the URL path, ``{param}``
segments match any one segment) with an optional ``method``. ``err_rate`` is a percentage
(``1`` is 1%). Anything an endpoint leaves out comes from ``defaults``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from summit_platform.automation import safe_io
from summit_platform.automation.errors import UserError
from summit_platform.automation.perf.model import EndpointStats

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
PositiveMs = Annotated[float, Field(gt=0)]
Percent = Annotated[float, Field(ge=0, le=100)]
Count = Annotated[int, Field(ge=1, le=1_000_000_000)]
"""A number of samples or runs: at least 1, and not beyond what any load test makes."""


class _Strict(BaseModel):
    # strict: a quoted "250" or a bool where a number belongs is a mistake worth an exit 2.
    # allow_inf_nan=False: a budget of inf ms is no budget, whatever produced the document.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Defaults(_Strict):
    """Values every endpoint inherits unless it sets its own."""

    p95_ms: PositiveMs = Field(default=500, description="Absolute p95 budget in milliseconds.")
    p99_ms: PositiveMs | None = Field(default=None, description="Absolute p99 budget (optional).")
    err_rate: Percent = Field(default=1.0, description="Highest allowed error rate, in percent.")
    min_samples: Count = Field(
        default=100, description="Fewer requests than this (all runs together) is inconclusive."
    )
    min_runs: Count = Field(
        default=1,
        description="Fewer result files measuring the endpoint than this is inconclusive.",
    )
    baseline_tolerance_pct: Annotated[float, Field(ge=0)] = Field(
        default=10, description="Allowed p95 growth over the main-branch baseline, in percent."
    )
    baseline_min_delta_ms: Annotated[float, Field(ge=0)] = Field(
        default=5,
        description=(
            "A baseline regression must also exceed this many ms, so that sub-millisecond "
            "jitter on a fast endpoint (2.0 -> 2.3 ms is +15 %) does not block a PR."
        ),
    )


class EndpointBudget(_Strict):
    """One budgeted endpoint: ``name``, or ``path`` with an optional ``method``."""

    name: str | None = Field(default=None, description="Exact k6 name tag / Locust request name.")
    path: str | None = Field(default=None, description="URL path; {param} matches one segment.")
    method: Method | None = Field(default=None, description="HTTP method (only with path).")
    p95_ms: PositiveMs | None = None
    p99_ms: PositiveMs | None = None
    err_rate: Percent | None = None
    min_samples: Count | None = None

    @model_validator(mode="after")
    def _one_matcher(self) -> EndpointBudget:
        if (self.name is None) == (self.path is None):
            raise ValueError("set exactly one of 'name' or 'path'")
        if self.method is not None and self.path is None:
            raise ValueError("'method' only applies with 'path'")
        if self.path is not None and not self.path.startswith("/"):
            raise ValueError(f"'path' must start with '/', found {self.path!r}")
        return self


class BudgetsFile(_Strict):
    """The whole budgets file."""

    version: Literal[1] = 1
    service: str | None = Field(default=None, description="Service the budgets belong to.")
    defaults: Defaults = Field(default_factory=Defaults)
    endpoints: list[EndpointBudget] = Field(min_length=1)


@dataclass(frozen=True)
class Budget:
    """One endpoint's budget with the defaults filled in, plus its matcher."""

    label: str
    name: str | None
    path: str | None
    method: str | None
    p95_ms: float
    p99_ms: float | None
    err_rate: float
    min_samples: int
    min_runs: int
    baseline_tolerance_pct: float
    baseline_min_delta_ms: float

    def matches(self, e: EndpointStats) -> bool:
        """Whether a measured endpoint belongs to this budget."""
        if self.name is not None:
            return e.name == self.name
        if e.path is None or self.path is None:
            return False
        if self.method is not None and (e.method or "").upper() != self.method:
            return False
        return _path_regex(self.path).fullmatch(_norm(e.path)) is not None

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON reports."""
        return {
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "err_rate": self.err_rate,
            "min_samples": self.min_samples,
            "min_runs": self.min_runs,
            "baseline_tolerance_pct": self.baseline_tolerance_pct,
            "baseline_min_delta_ms": self.baseline_min_delta_ms,
        }


@dataclass(frozen=True)
class Budgets:
    """A loaded budgets file."""

    source: str
    service: str | None
    budgets: tuple[Budget, ...]


def _norm(path: str) -> str:
    path = path.split("?", 1)[0]
    return path.rstrip("/") or "/"


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _path_regex(template: str) -> re.Pattern[str]:
    rx = _REGEX_CACHE.get(template)
    if rx is None:
        parts = re.split(r"(\{[^/{}]+\})", _norm(template))
        body = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        rx = _REGEX_CACHE[template] = re.compile(body)
    return rx


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith("function-") and part not in ("literal", "nullable"):
            out += f".{part}" if out else str(part)
    return out


def _describe(err: Any) -> str:
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ")
    if err["type"] in ("missing", "extra_forbidden"):
        return "unknown key" if err["type"] == "extra_forbidden" else "required key is missing"
    if err["type"] == "value_error":
        return msg
    return f"{msg[0].lower()}{msg[1:]}, found {_echo(err['input'])} ({type(err['input']).__name__})"


def _echo(value: Any) -> str:
    """A found value for a message: its repr, cut after 40 characters (an int of thousands of
    digits has no repr at all: Python refuses past 4300 digits)."""
    if isinstance(value, int) and abs(value) >= 10**40:
        return "a number of more than 40 digits"
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def parse_budgets(doc: Any, source: str) -> Budgets:
    """Validate a parsed budgets document; errors name the file and the dotted key."""
    try:
        model = BudgetsFile.model_validate(doc)
    except ValidationError as err:
        errors = err.errors()
        first = errors[0]
        more = "; ".join(f"{_dotted(e['loc'])}: {_describe(e)}" for e in errors[1:4])
        extra = f" (also {more})" if more else ""
        key = _dotted(first["loc"])
        raise UserError(_describe(first) + extra, source=source, key=key) from None
    d = model.defaults
    out: list[Budget] = []
    seen: dict[str, int] = {}
    for i, ep in enumerate(model.endpoints):
        prefix = f"{ep.method} " if ep.method else ""
        label = ep.name if ep.name is not None else f"{prefix}{ep.path}"
        if label in seen:
            raise UserError(
                f"duplicate endpoint {label!r} (first at endpoints[{seen[label]}])",
                source=source,
                key=f"endpoints[{i}]",
            )
        seen[label] = i
        p95 = ep.p95_ms if ep.p95_ms is not None else d.p95_ms
        p99 = ep.p99_ms if ep.p99_ms is not None else d.p99_ms
        if p99 is not None and p99 < p95:
            raise UserError(
                f"p99_ms ({p99}) is below p95_ms ({p95})", source=source, key=f"endpoints[{i}]"
            )
        out.append(
            Budget(
                label=label,
                name=ep.name,
                path=ep.path,
                method=ep.method,
                p95_ms=p95,
                p99_ms=p99,
                err_rate=ep.err_rate if ep.err_rate is not None else d.err_rate,
                min_samples=ep.min_samples if ep.min_samples is not None else d.min_samples,
                min_runs=d.min_runs,
                baseline_tolerance_pct=d.baseline_tolerance_pct,
                baseline_min_delta_ms=d.baseline_min_delta_ms,
            )
        )
    return Budgets(source=source, service=model.service, budgets=tuple(out))


def read_budgets_document(path: str | Path, expected: str) -> dict[str, Any]:
    """Read a budgets YAML file into a mapping with the one safe YAML reader (unreadable files,
    invalid UTF-8, broken YAML, duplicate keys, non-finite numbers refused); something other
    than a mapping exits 2 naming the file."""
    p = Path(path)
    doc = safe_io.load_yaml(p, finite=False)  # the schema names the key of a NaN budget
    if not isinstance(doc, dict):
        raise UserError(f"expected {expected}, found {type(doc).__name__}", source=str(p))
    return doc


def load_budgets(path: str | Path) -> Budgets:
    """Read and validate a budgets YAML file."""
    doc = read_budgets_document(path, "a mapping with an 'endpoints' list")
    return parse_budgets(doc, str(Path(path)))
