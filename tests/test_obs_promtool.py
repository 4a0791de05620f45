"""The rendered rules under Debian's real ``promtool``: ``check rules`` and ``test rules``.

The ``test rules`` suites feed synthetic histogram series and assert what the SRE workbook
predicts for a 99.9% objective over 30 days (chapter 5, "Alerting on SLOs"):

- a full outage pages within 0.001 * 14.4 * 60 min / 100% = 0.86 min (plus one evaluation);
- 2% errors page after 0.001 * 14.4 * 60 min / 2% = 43.2 min, and not before;
- 0.05% errors (burn rate 0.5) never page;
- under the low-traffic guard a full outage of a trickle of requests does not page.

Page and ticket rules share the alert name, and promtool compares every alert of a name, so
each suite loads the recording groups plus only the alert rules of the severity it tests.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from obs_helpers import promtool, write_rules

from summit_platform.components.render import prometheus_rules as pr

pytestmark = pytest.mark.prometheus

REGION = "us-east-1"
H = "http_server_request_duration_seconds"
T = 120  # minute the incident starts, after two healthy hours


def spec(**kw: Any) -> pr.ServiceRules:
    base: dict[str, Any] = {
        "service": "gateway",
        "region": REGION,
        "objective": 99.9,
        "latency_threshold_seconds": 0.25,
        "min_request_rate": 0.1,
    }
    base.update(kw)
    return pr.ServiceRules(**base)


def groups_for(s: pr.ServiceRules, severity: str | None) -> list[dict[str, Any]]:
    """Every recording group, plus the alert rules of one severity (or all with None)."""
    out = []
    for g in pr.service_rule_groups(s):
        if g["name"].startswith("summit-slo-alerts-") and severity is not None:
            g = {**g, "rules": [r for r in g["rules"] if r["labels"]["severity"] == severity]}
        out.append(g)
    return out


def count_series(code: str, values: str, service: str = "gateway") -> dict[str, str]:
    return {
        "series": f'{H}_count{{service="{service}", region="{REGION}", code="{code}"}}',
        "values": values,
    }


def traffic(per_min: int, errors_per_min: int, minutes_after: int) -> list[dict[str, str]]:
    """Healthy traffic for T minutes, then ``errors_per_min`` of ``per_min`` fail."""
    ok_after = per_min - errors_per_min
    ok_at_t = per_min * T
    return [
        count_series("200", f"0+{per_min}x{T} {ok_at_t + ok_after}+{ok_after}x{minutes_after}"),
        count_series("500", f"0+0x{T} {errors_per_min}+{errors_per_min}x{minutes_after}"),
    ]


def expected(s: pr.ServiceRules, severity: str, slo: str = pr.AVAILABILITY) -> dict[str, Any]:
    """The alert as promtool reports it: rule labels plus the data's region, templates expanded."""
    rule = next(
        r
        for r in pr.alert_group(s)["rules"]
        if r["labels"]["severity"] == severity and r["labels"]["slo_name"] == slo
    )
    annotations = {
        k: v.replace("{{ $labels.region }}", REGION) for k, v in rule["annotations"].items()
    }
    return {"exp_labels": {**rule["labels"], "region": REGION}, "exp_annotations": annotations}


def alert_at(minute: int, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eval_time": f"{minute}m", "alertname": pr.ALERT_BURN, "exp_alerts": alerts}


def run_suite(tmp_path: Path, groups: list[dict[str, Any]], tests: list[dict[str, Any]]) -> None:
    write_rules(tmp_path / "rules.yml", groups)
    suite = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "suite.yml").write_text(yaml.safe_dump(suite, sort_keys=False))
    checked = promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = promtool("test", "rules", "suite.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def detection_minutes(budget: float, factor: float, window_min: float, error_rate: float) -> float:
    """Workbook time to detect: the long window's ratio reaches factor * budget."""
    return budget * factor * window_min / error_rate


def test_full_outage_pages_within_one_evaluation(tmp_path: Path) -> None:
    s = spec()
    predicted = detection_minutes(0.001, 14.4, 60, 1.0)
    assert predicted == pytest.approx(0.864)
    # Plus one evaluation: the alert group reads the SLI group's recordings, and groups are
    # evaluated independently (promtool even in random order), so it may lag one interval.
    first = T + math.ceil(predicted) + 1
    run_suite(
        tmp_path,
        groups_for(s, "page"),
        [
            {
                "interval": "1m",
                "input_series": traffic(600, 600, 30),
                "alert_rule_test": [
                    alert_at(T - 1, []),
                    alert_at(T, []),
                    alert_at(first, [expected(s, "page")]),
                    alert_at(T + 20, [expected(s, "page")]),
                ],
            }
        ],
    )


def test_two_percent_errors_page_when_the_workbook_predicts(tmp_path: Path) -> None:
    s = spec()
    predicted = detection_minutes(0.001, 14.4, 60, 0.02)
    assert predicted == pytest.approx(43.2)
    run_suite(
        tmp_path,
        groups_for(s, "page"),
        [
            {
                "interval": "1m",
                "input_series": traffic(600, 12, 60),
                "alert_rule_test": [
                    alert_at(T + 30, []),
                    alert_at(T + math.floor(predicted) - 1, []),
                    alert_at(T + math.ceil(predicted) + 1, [expected(s, "page")]),
                    alert_at(T + 55, [expected(s, "page")]),
                ],
            }
        ],
    )


def test_burn_rate_below_one_never_pages(tmp_path: Path) -> None:
    """0.05% errors at 99.9% is burn rate 0.5: the budget lasts the period, no page, ever."""
    s = spec()
    run_suite(
        tmp_path,
        groups_for(s, "page"),
        [
            {
                "interval": "1m",
                "input_series": traffic(6000, 3, 6 * 60 + 10),
                "alert_rule_test": [alert_at(T + m, []) for m in (5, 60, 6 * 60 + 10)],
                "promql_expr_test": [
                    sample(
                        pr.SLI_ERROR.format(window="6h"),
                        0.0005,
                        at=f"{T + 6 * 60 + 10}m",
                        where=f'{{slo_name="{pr.AVAILABILITY}"}}',
                        region=REGION,
                        slo_name=pr.AVAILABILITY,
                        slo_service="gateway",
                        slo_window="6h",
                    )
                ],
            }
        ],
    )


def test_low_traffic_guard_keeps_the_pager_quiet(tmp_path: Path) -> None:
    """Three requests a minute (0.05/s), all failing: below minRequestRate 0.1/s, no page;
    the same data with the guard at 0.01/s pages, so the guard is what keeps it quiet."""
    quiet = spec(min_request_rate=0.1)
    loud = spec(min_request_rate=0.01)
    series = traffic(3, 3, 60)
    run_suite(
        tmp_path,
        groups_for(quiet, "page"),
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [alert_at(T + m, []) for m in (2, 10, 30, 60)],
            }
        ],
    )
    run_suite(
        tmp_path,
        groups_for(loud, "page"),
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [alert_at(T + 10, [expected(loud, "page")])],
            }
        ],
    )


def test_tickets_fire_on_a_slow_burn_that_never_pages(tmp_path: Path) -> None:
    """0.5% errors at 99.9% is burn rate 5: below both page factors (14.4 and 6), above the
    ticket's 3x over 2h and, once 1.5 T minutes of errors fill the young 1d window, over 1d."""
    s = spec()
    series = traffic(600, 3, 4 * 60)
    run_suite(
        tmp_path,
        groups_for(s, "ticket"),
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [alert_at(T + 4 * 60, [expected(s, "ticket")])],
            }
        ],
    )
    run_suite(
        tmp_path,
        groups_for(s, "page"),
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [alert_at(T + m, []) for m in (30, 2 * 60, 4 * 60)],
            }
        ],
    )


# --- recordings from a synthetic histogram with a known quantile ------------------------------

BOUNDS = ("0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf")
# Every 15 s, 100 requests: code 200 has 88 at 20 ms and 10 at 300 ms, code 500 has 2 at 20 ms.
# Cumulative over both codes: 90 at le=0.025 ... 90 at le=0.25, 100 from le=0.5 up, so the
# 95th percentile interpolates to 0.25 + (0.5 - 0.25) * (95 - 90) / (100 - 90) = 0.375 s.
PER_STEP = {"200": (88, 88, 88, 88, 98, 98, 98), "500": (2, 2, 2, 2, 2, 2, 2)}


def histogram_series(service: str = "gateway") -> list[dict[str, str]]:
    out = []
    for code, cumulative in PER_STEP.items():
        for le, n in zip(BOUNDS, cumulative, strict=True):
            out.append(
                {
                    "series": (
                        f'{H}_bucket{{service="{service}", region="{REGION}", code="{code}", '
                        f'le="{le}"}}'
                    ),
                    "values": f"0+{n}x80",
                }
            )
        out.append(count_series(code, f"0+{cumulative[-1]}x80", service))
    return out


def sample(
    name: str, value: float, *, where: str = "", at: str = "15m", **labels: str
) -> dict[str, Any]:
    """Expect one sample of recorded series ``name`` (filtered by ``where``) at ``at``.

    promtool 2.42 compares floats exactly and rate() arithmetic leaves binary noise in the
    last digits (0.37499999999999983), so the value is rounded to 1e-6 (which drops the name).
    """
    text = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {
        "expr": f"round({name}{where}, 0.000001)",
        "eval_time": at,
        "exp_samples": [{"labels": f"{{{text}}}", "value": round(value, 6)}],
    }


def test_recorded_quantiles_ratios_and_rates_match_the_synthetic_histogram(tmp_path: Path) -> None:
    s = spec(latency_threshold_seconds=0.25)
    svc = {"service": "gateway", "region": REGION}
    slo = {"slo_service": "gateway", "region": REGION}
    tests = [
        sample(pr.STEERING_P95, 0.375, **svc),
        sample(pr.RED_P95, 0.375, **svc),
        sample(pr.STEERING_ERROR_RATIO, 0.02, **svc),
        sample(pr.RED_ERROR_RATIO, 0.02, **svc),
        sample(pr.STEERING_REQUEST_RATE, 100 / 15, **svc),
        sample(pr.RED_REQUEST_RATE, 100 / 15, **svc),
        # 10 of 100 requests are slower than 0.25 s: the latency SLI error ratio is 0.1.
        sample(
            pr.SLI_ERROR.format(window="5m"),
            0.1,
            where=f'{{slo_name="{pr.LATENCY}"}}',
            **slo,
            slo_name=pr.LATENCY,
            slo_window="5m",
        ),
        sample(
            pr.SLI_ERROR.format(window="5m"),
            0.02,
            where=f'{{slo_name="{pr.AVAILABILITY}"}}',
            **slo,
            slo_name=pr.AVAILABILITY,
            slo_window="5m",
        ),
        # 2% errors against a 0.1% budget burns at 20x.
        sample(
            pr.SLO_CURRENT_BURN,
            20,
            where=f'{{slo_name="{pr.AVAILABILITY}"}}',
            slo_service="gateway",
            slo_name=pr.AVAILABILITY,
            region=REGION,
        ),
    ]
    run_suite(
        tmp_path,
        groups_for(s, None),
        [{"interval": "15s", "input_series": histogram_series(), "promql_expr_test": tests}],
    )


def test_whole_second_threshold_matches_go_style_bucket_label(tmp_path: Path) -> None:
    """Go clients write le="1", Python clients le="1.0": a 1 s threshold matches either."""
    s = spec(latency_threshold_seconds=1.0)
    t = sample(
        pr.SLI_ERROR.format(window="5m"),
        0.0,
        where=f'{{slo_name="{pr.LATENCY}"}}',
        slo_service="gateway",
        region=REGION,
        slo_name=pr.LATENCY,
        slo_window="5m",
    )
    run_suite(
        tmp_path,
        groups_for(s, None),
        [{"interval": "15s", "input_series": histogram_series(), "promql_expr_test": [t]}],
    )
