"""Pure builders for the Prometheus rule groups of one service in one region.

Plain values in, plain dicts out (the ``groups:`` entries of a Prometheus rule file, which are
also the ``spec.groups`` of a ``monitoring.coreos.com/v1`` PrometheusRule). Nothing here
imports Pulumi, so the component, the ``summit rules render`` command and the tests share it.

Input contract (names configurable through :class:`MetricContract`): every service exports the
histogram ``http_server_request_duration_seconds`` (``_bucket``, ``_count``, ``_sum``) labelled
``service``, ``region`` and ``code``. Request rate and errors come from ``_count``, so one
histogram feeds every rule. Saturation comes from two optional gauges (in-flight requests and
the concurrency the service can take); USE comes from cAdvisor and kube-state-metrics.

The recorded series names are a contract read by the traffic controller, the dashboards and
people: they are the constants below and are listed in docs/observability.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import yaml

from summit_platform.components.render import traffic_controller as tc
from summit_platform.components.render.durations import parse_duration

# --- the contract: recorded series and alert names -------------------------------------------

STEERING_P95 = "summit:steering_p95_seconds:1m"
STEERING_ERROR_RATIO = "summit:steering_error_ratio:1m"
STEERING_SATURATION = "summit:steering_saturation:1m"
STEERING_REQUEST_RATE = "summit:steering_request_rate:1m"
STEERING_SERIES = (STEERING_P95, STEERING_ERROR_RATIO, STEERING_SATURATION, STEERING_REQUEST_RATE)
"""What the traffic controller reads, per region and service (labels ``region``, ``service``)."""

RED_REQUEST_RATE = "service_region:http_server_requests:rate5m"
RED_ERROR_RATE = "service_region:http_server_requests_errors:rate5m"
RED_ERROR_RATIO = "service_region:http_server_requests_errors:ratio_rate5m"
RED_P95 = "service_region:http_server_request_duration_seconds:p95_rate5m"
RED_P99 = "service_region:http_server_request_duration_seconds:p99_rate5m"

USE_CPU_REQUESTS = "service_region:container_cpu_usage:ratio_requests"
USE_CPU_LIMITS = "service_region:container_cpu_usage:ratio_limits"
USE_CPU_THROTTLED = "service_region:container_cpu_cfs_throttled:ratio_rate5m"
USE_MEMORY_LIMITS = "service_region:container_memory_working_set:ratio_limits"
USE_RESTARTS = "service_region:kube_pod_container_restarts:increase1h"
USE_SATURATION = "service_region:http_server_saturation:ratio"

SLI_ERROR = "slo:sli_error:ratio_rate{window}"
"""Sloth's name for the SLI error ratio over a window (``slo:sli_error:ratio_rate5m``)."""
SLO_OBJECTIVE = "slo:objective:ratio"
SLO_ERROR_BUDGET = "slo:error_budget:ratio"
SLO_TIME_PERIOD = "slo:time_period:days"
SLO_CURRENT_BURN = "slo:current_burn_rate:ratio"
SLO_PERIOD_BURN = "slo:period_burn_rate:ratio"
SLO_BUDGET_REMAINING = "slo:period_error_budget_remaining:ratio"

ALERT_BURN = "SLOErrorBudgetBurn"
SLI_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
"""Every window a multi-window multi-burn-rate alert reads."""

AVAILABILITY = "requests-availability"
LATENCY = "requests-latency"


@dataclass(frozen=True, kw_only=True)
class MetricContract:
    """What the exporters produce: metric and label names (the defaults are the contract)."""

    histogram: str = "http_server_request_duration_seconds"
    """Request duration histogram; ``_count`` gives requests, ``_bucket`` latency."""
    service_label: str = "service"
    """Label naming the service on the histogram."""
    region_label: str = "region"
    """Label naming the region on the histogram."""
    code_label: str = "code"
    """Label carrying the HTTP status code."""
    error_code_regex: str = "5.."
    """Status codes that count as errors (server errors only: 4xx are the client's)."""
    inflight: str = "http_server_active_requests"
    """Gauge of requests in flight (optional; saturation is recorded when it exists)."""
    capacity: str = "http_server_concurrency_limit"
    """Gauge of the requests a replica can hold in flight (optional)."""


@dataclass(frozen=True, kw_only=True)
class BurnWindow:
    """One multi-window burn-rate condition of the Google SRE workbook (chapter 5)."""

    severity: str
    """``page`` or ``ticket``."""
    long: str
    """Long window (sets how much budget must burn before alerting)."""
    short: str
    """Short window (makes the alert reset soon after the burning stops)."""
    budget_fraction: float
    """Fraction of the period's budget that burning at the threshold consumes in ``long``."""

    def factor(self, period_days: int) -> float:
        """Burn-rate threshold: budget fraction times period over the long window.

        For a 30-day period this gives the workbook's anchors 14.4, 6, 3 and 1."""
        return float(fmt(self.budget_fraction * period_days * 24 / _hours(self.long)))


BURN_WINDOWS = (
    BurnWindow(severity="page", long="1h", short="5m", budget_fraction=0.02),
    BurnWindow(severity="page", long="6h", short="30m", budget_fraction=0.05),
    BurnWindow(severity="ticket", long="1d", short="2h", budget_fraction=0.10),
    BurnWindow(severity="ticket", long="3d", short="6h", budget_fraction=0.10),
)


@dataclass(frozen=True, kw_only=True)
class ServiceRules:
    """Everything the builders need to know about one service in one region."""

    service: str
    """The value of the histogram's ``service`` label (and the container name, unless
    ``container`` says otherwise)."""
    region: str
    """Region whose Prometheus evaluates these rules (a static label on the USE series)."""
    namespace: str = "platform"
    """Kubernetes namespace the service's pods run in (for cAdvisor/kube-state-metrics)."""
    team: str = "platform"
    """Owning team, put on alerts for routing."""
    objective: float = 99.9
    """Availability objective in percent (non-5xx over all requests)."""
    latency_threshold_seconds: float = 1.5
    """Requests slower than this count against the latency SLO; must be a bucket bound."""
    latency_objective: float = 99.0
    """Percent of requests that must be faster than the threshold."""
    min_request_rate: float = 0.1
    """Requests/s (1h average) below which burn-rate pages stay silent; 0 turns it off."""
    period_days: int = 30
    """SLO period the burn-rate factors are computed for."""
    runbook_base_url: str = "https://runbooks.summit.example/slo"
    """Runbook annotation prefix; the alert links ``<base>/<service>-<slo>``."""
    dashboard_base_url: str = "https://grafana.summit.example/d"
    """Dashboard annotation prefix; the alert links ``<base>/<dashboard uid>``."""
    steering_interval: str = "10s"
    """Evaluation interval of the steering group: the controller's 60 s time-to-steer budget
    cannot wait for the global interval (30 s in kube-prometheus-stack)."""
    metrics: MetricContract = field(default_factory=MetricContract)
    """Metric and label names of the exporters."""
    container: str | None = None
    """Container name for cAdvisor/kube-state-metrics (USE), when it differs from ``service``
    (a preview rewrites the service label to ``pr-<N>-<name>``; the container keeps the name)."""
    alert_labels: dict[str, str] = field(default_factory=dict)
    """Static labels added to every alert (Alertmanager routing, e.g. ``route: preview``)."""


# --- helpers ---------------------------------------------------------------------------------


def _hours(window: str) -> float:
    return parse_duration(window) / 3600


def fmt(value: float) -> str:
    """A float as PromQL reads it, without binary noise (``1 - 0.999`` -> ``0.001``)."""
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, found {value!r}")
    return f"{value:.12g}"


def le_matcher(seconds: float) -> str:
    """Label matcher for the bucket whose upper bound is ``seconds``.

    Clients spell whole bounds differently (Go: ``"1"``, Python: ``"1.0"``) and Prometheus
    2.x stores the label as scraped, so whole numbers match both spellings."""
    text = fmt(seconds)
    if "." in text or "e" in text:
        return f'le="{text}"'
    return f'le=~"{text}(\\\\.0)?"'


def _selector(**matchers: str) -> str:
    parts = []
    for key, value in matchers.items():
        if value.startswith("=~"):
            parts.append(f'{key}=~"{value[2:]}"')
        else:
            parts.append(f'{key}="{value}"')
    return "{" + ", ".join(parts) + "}"


def _by(spec: ServiceRules, *extra: str) -> str:
    m = spec.metrics
    return ", ".join([*extra, m.service_label, m.region_label])


def _svc(spec: ServiceRules, *more: str) -> str:
    """Selector for the service's histogram series, plus raw matchers."""
    m = spec.metrics
    return "{" + ", ".join([f'{m.service_label}="{spec.service}"', *more]) + "}"


def _rate_sum(spec: ServiceRules, suffix: str, window: str, *matchers: str, by: str = "") -> str:
    series = f"{spec.metrics.histogram}_{suffix}{_svc(spec, *matchers)}"
    return f"sum by ({by or _by(spec)}) (rate({series}[{window}]))"


def _error_ratio(spec: ServiceRules, window: str, by: str) -> str:
    """5xx over all requests. ``or ... 0 *`` keeps the ratio at 0 (not absent) when no error
    series exists yet, so a healthy service reads 0 rather than "no data"."""
    m = spec.metrics
    errors = _rate_sum(spec, "count", window, f'{m.code_label}=~"{m.error_code_regex}"', by=by)
    total = _rate_sum(spec, "count", window, by=by)
    return f"(\n  {errors}\n  or on ({by})\n  0 * {total}\n)\n/\n{total}"


def _quantile(spec: ServiceRules, q: float, window: str) -> str:
    inner = _rate_sum(spec, "bucket", window, by=_by(spec, "le"))
    return f"histogram_quantile({fmt(q)}, {inner})"


def _slow_ratio(spec: ServiceRules, window: str, by: str) -> str:
    """Fraction of requests slower than the latency threshold, from the histogram buckets."""
    fast = _rate_sum(spec, "bucket", window, le_matcher(spec.latency_threshold_seconds), by=by)
    total = _rate_sum(spec, "count", window, by=by)
    return f"(\n  {total}\n  -\n  {fast}\n)\n/\n{total}"


def _record(name: str, expr: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"record": name, "expr": expr}
    if labels:
        rule["labels"] = dict(labels)
    return rule


# --- RED, USE, steering ----------------------------------------------------------------------


def red_group(spec: ServiceRules) -> dict[str, Any]:
    """Rate, errors and duration per service and region over 5 minutes."""
    m = spec.metrics
    return {
        "name": f"summit-red-{spec.service}",
        "rules": [
            _record(RED_REQUEST_RATE, _rate_sum(spec, "count", "5m")),
            _record(
                RED_ERROR_RATE,
                _rate_sum(spec, "count", "5m", f'{m.code_label}=~"{m.error_code_regex}"'),
            ),
            _record(RED_ERROR_RATIO, _error_ratio(spec, "5m", _by(spec))),
            _record(RED_P95, _quantile(spec, 0.95, "5m")),
            _record(RED_P99, _quantile(spec, 0.99, "5m")),
        ],
    }


def use_group(spec: ServiceRules) -> dict[str, Any]:
    """Utilisation, saturation and errors of the service's containers.

    cAdvisor and kube-state-metrics series carry no ``service``/``region`` label, so the
    container is selected by name in the service's namespace and the two labels are added
    as static rule labels (the rules run in the region's own Prometheus)."""
    m = spec.metrics
    static = {m.service_label: spec.service, m.region_label: spec.region}
    container = spec.container or spec.service
    c = _selector(namespace=spec.namespace, container=container)
    cpu_req = _selector(namespace=spec.namespace, container=container, resource="cpu")
    mem_lim = _selector(namespace=spec.namespace, container=container, resource="memory")
    svc = _svc(spec)
    return {
        "name": f"summit-use-{spec.service}",
        "rules": [
            _record(
                USE_CPU_REQUESTS,
                f"sum(rate(container_cpu_usage_seconds_total{c}[5m]))\n/\n"
                f"sum(kube_pod_container_resource_requests{cpu_req})",
                static,
            ),
            _record(
                USE_CPU_LIMITS,
                f"sum(rate(container_cpu_usage_seconds_total{c}[5m]))\n/\n"
                f"sum(kube_pod_container_resource_limits{cpu_req})",
                static,
            ),
            _record(
                USE_CPU_THROTTLED,
                f"sum(rate(container_cpu_cfs_throttled_periods_total{c}[5m]))\n/\n"
                f"sum(rate(container_cpu_cfs_periods_total{c}[5m]))",
                static,
            ),
            _record(
                USE_MEMORY_LIMITS,
                f"sum(container_memory_working_set_bytes{c})\n/\n"
                f"sum(kube_pod_container_resource_limits{mem_lim})",
                static,
            ),
            _record(
                USE_RESTARTS,
                f"sum(increase(kube_pod_container_status_restarts_total{c}[1h]))",
                static,
            ),
            _record(
                USE_SATURATION,
                f"sum by ({_by(spec)}) ({m.inflight}{svc})\n/\n"
                f"sum by ({_by(spec)}) ({m.capacity}{svc})",
            ),
        ],
    }


def steering_group(spec: ServiceRules) -> dict[str, Any]:
    """The 1-minute signals the traffic controller steers on (names are a contract)."""
    m = spec.metrics
    svc = _svc(spec)
    return {
        "name": f"summit-steering-{spec.service}",
        "interval": spec.steering_interval,
        "rules": [
            _record(STEERING_REQUEST_RATE, _rate_sum(spec, "count", "1m")),
            _record(STEERING_ERROR_RATIO, _error_ratio(spec, "1m", _by(spec))),
            _record(STEERING_P95, _quantile(spec, 0.95, "1m")),
            _record(
                STEERING_SATURATION,
                f"sum by ({_by(spec)}) (avg_over_time({m.inflight}{svc}[1m]))\n/\n"
                f"sum by ({_by(spec)}) (avg_over_time({m.capacity}{svc}[1m]))",
            ),
        ],
    }


# --- SLOs ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Slo:
    name: str
    objective: float
    description: str


def _slos(spec: ServiceRules) -> list[_Slo]:
    return [
        _Slo(
            name=AVAILABILITY,
            objective=spec.objective,
            description=f"{fmt(spec.objective)}% of requests answer without a 5xx",
        ),
        _Slo(
            name=LATENCY,
            objective=spec.latency_objective,
            description=(
                f"{fmt(spec.latency_objective)}% of requests answer within "
                f"{fmt(spec.latency_threshold_seconds)}s"
            ),
        ),
    ]


def error_budget(objective_percent: float) -> float:
    """Allowed error ratio of an objective in percent (99.9 -> 0.001), without float noise."""
    return float(fmt(1 - objective_percent / 100))


def _slo_labels(spec: ServiceRules, slo: _Slo) -> dict[str, str]:
    return {"slo_service": spec.service, "slo_name": slo.name}


def _slo_sel(spec: ServiceRules, slo: _Slo) -> str:
    return _selector(**_slo_labels(spec, slo))


def sli_group(spec: ServiceRules) -> dict[str, Any]:
    """SLI error ratios over every alert window, plus the period average (sloth's shape)."""
    region = spec.metrics.region_label
    rules = []
    for slo in _slos(spec):
        labels = _slo_labels(spec, slo)
        for w in SLI_WINDOWS:
            expr = (
                _error_ratio(spec, w, region)
                if slo.name == AVAILABILITY
                else _slow_ratio(spec, w, region)
            )
            rules.append(_record(SLI_ERROR.format(window=w), expr, {**labels, "slo_window": w}))
        five = SLI_ERROR.format(window="5m") + _slo_sel(spec, slo)
        period = f"{spec.period_days}d"
        rules.append(
            _record(
                SLI_ERROR.format(window=period),
                f"sum_over_time({five}[{period}])\n/ ignoring (slo_window)\n"
                f"count_over_time({five}[{period}])",
                {**labels, "slo_window": period},
            )
        )
    return {"name": f"summit-slo-sli-{spec.service}", "rules": rules}


def meta_group(spec: ServiceRules) -> dict[str, Any]:
    """Objective, budget, period, current and period burn rate, and remaining budget."""
    rules = []
    for slo in _slos(spec):
        labels = _slo_labels(spec, slo)
        sel = _slo_sel(spec, slo)
        on = "on (slo_service, slo_name) group_left"
        five = SLI_ERROR.format(window="5m")
        period = SLI_ERROR.format(window=f"{spec.period_days}d")
        rules += [
            _record(SLO_OBJECTIVE, f"vector({fmt(slo.objective / 100)})", labels),
            _record(SLO_ERROR_BUDGET, f"vector({fmt(error_budget(slo.objective))})", labels),
            _record(SLO_TIME_PERIOD, f"vector({spec.period_days})", labels),
            _record(
                SLO_CURRENT_BURN,
                f"sum without (slo_window) ({five}{sel})\n/ {on}\n{SLO_ERROR_BUDGET}{sel}",
                labels,
            ),
            _record(
                SLO_PERIOD_BURN,
                f"sum without (slo_window) ({period}{sel})\n/ {on}\n{SLO_ERROR_BUDGET}{sel}",
                labels,
            ),
            _record(SLO_BUDGET_REMAINING, f"1 - {SLO_PERIOD_BURN}{sel}", labels),
        ]
    return {"name": f"summit-slo-meta-{spec.service}", "rules": rules}


def burn_condition(spec: ServiceRules, slo_name: str, window: BurnWindow, budget: float) -> str:
    """Both windows of one workbook condition over the budget times the burn factor."""
    sel = _selector(slo_service=spec.service, slo_name=slo_name)
    threshold = f"({fmt(window.factor(spec.period_days))} * {fmt(budget)})"
    parts = [
        f"max without (slo_window) ({SLI_ERROR.format(window=w)}{sel} > {threshold})"
        for w in (window.short, window.long)
    ]
    return "(\n  " + "\n  and\n  ".join(parts) + "\n)"


def traffic_guard(spec: ServiceRules) -> str:
    """Requests/s over the last hour at or above the configured minimum, per region."""
    region = spec.metrics.region_label
    rate = _rate_sum(spec, "count", "1h", by=region)
    return f"{rate} >= {fmt(spec.min_request_rate)}"


def alert_group(spec: ServiceRules, dashboard_uid: str | None = None) -> dict[str, Any]:
    """Multi-window multi-burn-rate alerts, one page and one ticket rule per SLO.

    The page rule has the low-traffic guard: with fewer requests than ``min_request_rate``
    over the last hour, a handful of errors is a large ratio but not worth waking anyone; the
    ticket still opens, because the budget is burning all the same."""
    region = spec.metrics.region_label
    uid = dashboard_uid or f"summit-{spec.service}-red"
    rules = []
    for slo in _slos(spec):
        budget = error_budget(slo.objective)
        for severity in ("page", "ticket"):
            windows = [w for w in BURN_WINDOWS if w.severity == severity]
            expr = "\nor\n".join(burn_condition(spec, slo.name, w, budget) for w in windows)
            if severity == "page" and spec.min_request_rate > 0:
                expr = f"(\n{expr}\n)\nand on ({region})\n{traffic_guard(spec)}"
            pairs = ", ".join(
                f"{fmt(w.factor(spec.period_days))}x over {w.long}/{w.short}" for w in windows
            )
            rules.append(
                {
                    "alert": ALERT_BURN,
                    "expr": expr,
                    "labels": {
                        **spec.alert_labels,
                        "severity": severity,
                        "slo_service": spec.service,
                        "slo_name": slo.name,
                        "team": spec.team,
                    },
                    "annotations": {
                        "summary": (
                            f"{spec.service} is burning its {slo.name} error budget too fast "
                            f"in {{{{ $labels.{region} }}}}"
                        ),
                        "description": (
                            f"SLO: {slo.description} over {spec.period_days} days. "
                            f"{severity} fires at {pairs}."
                        ),
                        "runbook_url": f"{spec.runbook_base_url}/{spec.service}-{slo.name}",
                        "dashboard_url": f"{spec.dashboard_base_url}/{uid}",
                    },
                }
            )
    return {"name": f"summit-slo-alerts-{spec.service}", "rules": rules}


def service_rule_groups(spec: ServiceRules) -> list[dict[str, Any]]:
    """Every rule group of one service: RED, USE, steering, SLI, SLO metadata, alerts."""
    return [
        red_group(spec),
        use_group(spec),
        steering_group(spec),
        sli_group(spec),
        meta_group(spec),
        alert_group(spec),
    ]


def rule_file(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """A plain Prometheus rule file (what ``promtool check rules`` reads)."""
    return {"groups": groups}


def recorded_names(groups: list[dict[str, Any]]) -> set[str]:
    """Every series name the groups record."""
    return {r["record"] for g in groups for r in g["rules"] if "record" in r}


class _LiteralDumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings (PromQL) as literal blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LiteralDumper.add_representer(str, _represent_str)


def to_yaml(doc: Any) -> str:
    """YAML text with multi-line PromQL as literal blocks (readable in a PR diff)."""
    return yaml.dump(doc, Dumper=_LiteralDumper, sort_keys=False, width=10_000, allow_unicode=True)


# --- the traffic controller ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ControllerAlert:
    """What the traffic controller's alert compares: the steering thresholds it steers by
    (the stack's ``slo``) and how long a breach may go with no leader applying."""

    p95_seconds: float = 1.5
    error_ratio: float = 0.01
    saturation: float = 0.85
    not_acting_after: str = "3m"
    """A leader applies (or confirms) its decision every evaluation; this much silence while a
    region breaches means nobody steers."""
    last_apply_metric: str = tc.METRIC_LAST_APPLY
    """The controller's gauge of the last time a leader made its decision real."""
    alert: str = tc.ALERT_NOT_ACTING
    region_label: str = "region"
    runbook_url: str = "https://runbooks.summit.example/slo/traffic-controller-not-acting"
    team: str = "platform"


def controller_alert_group(spec: ControllerAlert) -> dict[str, Any]:
    """One page: a region's steering signals breach the controller's own thresholds while no
    leader has applied for ``not_acting_after`` (or no controller exports the metric at all).

    Every controller, leader or not, exports the lease table's last-apply time, so each
    region's Prometheus sees the leader's progress even when the leader runs elsewhere."""
    r = spec.region_label
    breach = (
        f"max by ({r}) ({STEERING_P95}) > {fmt(spec.p95_seconds)}\n"
        f"or\nmax by ({r}) ({STEERING_ERROR_RATIO}) > {fmt(spec.error_ratio)}\n"
        f"or\nmax by ({r}) ({STEERING_SATURATION}) > {fmt(spec.saturation)}"
    )
    after = parse_duration(spec.not_acting_after)
    idle = (
        f"time() - max({spec.last_apply_metric}) > {fmt(after)}\n"
        f"or on ()\nabsent({spec.last_apply_metric})"
    )
    return {
        "name": "summit-traffic-controller",
        "rules": [
            {
                "alert": spec.alert,
                "expr": f"(\n{breach}\n)\nand on ()\n(\n{idle}\n)",
                # A single breaching evaluation is noise; a minute of it is an incident.
                "for": "1m",
                "labels": {"severity": "page", "team": spec.team},
                "annotations": {
                    "summary": (
                        f"{{{{ $labels.{r} }}}} breaches its steering thresholds and no traffic"
                        f" controller has applied for {spec.not_acting_after}"
                    ),
                    "description": (
                        f"p95 > {fmt(spec.p95_seconds)}s, error ratio >"
                        f" {fmt(spec.error_ratio)} or saturation > {fmt(spec.saturation)}, and"
                        f" {spec.last_apply_metric} is older than {spec.not_acting_after} or"
                        " absent: no leader is steering. Pin the shares by hand"
                        " (summit traffic pin) and look at the controllers' leases."
                    ),
                    "runbook_url": spec.runbook_url,
                },
            }
        ],
    }
