"""Nightly FinOps: stage and prod set a monthly budget derived from their estimate
(`summit finops budget`), and `summit finops reconcile` holds the spend rate (OpenCost actuals
of every cluster plus the estimate of what OpenCost does not see) against it, posting a budget
alert to the webhook, whose secret path never appears in any output. OpenCost (one per
regional cluster) and the webhook are real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from hypothesis import given
from hypothesis import strategies as st
from loopback import Server

from summit_platform.automation.cli import main
from summit_platform.automation.finops import budget
from summit_platform.automation.finops.cost import CostLine, Estimate
from summit_platform.automation.stack_files import load_stack
from summit_platform.stacks.config import from_values

SECRET = "T0001/B0002/nightlySecretToken42"
WORKFLOW = ROOT / ".github" / "workflows" / "finops-nightly.yml"


def allocation(costs: dict[str, float], minutes: float = 1440) -> dict[str, Any]:
    """OpenCost's /allocation/compute answer (one accumulated window, by namespace)."""
    return {
        "code": 200,
        "data": [{ns: {"name": ns, "minutes": minutes, "totalCost": c} for ns, c in costs.items()}],
    }


# --- budgets ---------------------------------------------------------------------------------


@given(st.decimals(0, 100, places=4), st.floats(0, 3), st.integers(1, 500))
def test_a_suggested_budget_covers_the_scaled_out_estimate_plus_headroom(ceiling, headroom, step):
    want = ceiling * 730 * Decimal(str(1 + headroom))
    got = budget.suggested_monthly(ceiling, headroom, step)
    assert got % step == 0 and got >= want and got - step < want


def _est(lines: dict[str | None, str]) -> Estimate:
    return Estimate(
        tuple(
            CostLine(f"urn:{ns}", "t", str(ns), Decimal(v), "", "c", None, ns)
            for ns, v in lines.items()
        )
    )


@given(st.decimals(0, 10, places=4), st.decimals(0, 10, places=4), st.decimals(0, 10, places=4))
def test_the_spend_rate_is_actuals_where_opencost_has_them_and_the_estimate_elsewhere(a, b, aws):
    est = _est({"platform": "0.5", "web": "0.25", None: str(aws)})
    assert budget.run_rate_hourly(est, {}) == est.total_hourly
    assert budget.run_rate_hourly(est, {"platform": a}) == a + Decimal("0.25") + aws
    # namespaces outside the estimate (kube-system, other teams) are not the stack's spend
    assert budget.run_rate_hourly(est, {"platform": a, "web": b, "other": Decimal(9)}) == (
        a + b + aws
    )


def test_at_ceiling_scales_every_service_out_and_stays_valid() -> None:
    cfg = load_stack(ROOT, "prod")
    scaled = budget.at_ceiling(cfg.services)
    assert [s["replicas"] for s in scaled] == [
        {"min": s.replicas.max, "max": s.replicas.max} for s in cfg.services
    ]
    values = {**cfg.model_dump(by_alias=True, exclude_none=True), "services": scaled}
    # the model takes it back (the plan runs it), every service at its ceiling
    assert [s.replicas.min for s in from_values(values, "t").services] == [12, 10, 8]


@pytest.mark.parametrize("stack", ["stage", "prod"])
def test_stage_and_prod_budgets_are_derived_from_their_estimates(stack, capsys) -> None:
    assert main(["finops", "budget", "-s", stack, "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    configured = load_stack(ROOT, stack).finops.monthly_budget
    assert configured is not None and doc["monthlyBudget"] == configured
    # A full scale-out for the whole month never alerts; the budget is not pulled from the air.
    assert doc["floorMonthly"] < doc["ceilingMonthly"] <= configured <= 2 * doc["ceilingMonthly"]
    assert doc["suggestedMonthlyBudget"] <= configured + budget.STEP


def test_budget_is_for_the_platform_project(tmp_path, capsys) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: other\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    assert main(["finops", "budget", "-s", "dev", "-C", str(tmp_path)]) == 2
    assert "platform project" in capsys.readouterr().err


# --- reconcile with budget alerts ------------------------------------------------------------


@pytest.fixture(scope="module")
def prod_platform_hourly() -> float:
    """The prod estimate of the `platform` namespace (both regions), $/h."""
    from summit_platform.automation.finops.estimate import estimate_stack

    return float(estimate_stack(ROOT, "prod").by_namespace()["platform"])


@pytest.fixture
def webhook() -> Iterator[Server]:
    with Server({"ok": True}) as s:
        yield s


def reconcile(opencost: list[str], webhook_url: str | None, monkeypatch, capsys):
    if webhook_url is not None:
        monkeypatch.setenv("SUMMIT_FINOPS_WEBHOOK", webhook_url)
    argv = ["finops", "reconcile", "--stack", "prod", "--window", "1d", "--json", "-"]
    for url in opencost:
        argv += ["--opencost", url]
    code = main(argv)
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err  # the webhook's path is the secret
    return code, (json.loads(out.out) if out.out.strip() else None), out.err


def test_within_budget_nothing_is_posted(prod_platform_hourly, webhook, monkeypatch, capsys):
    half_day = prod_platform_hourly * 24 / 2  # each region's cluster holds half
    with (
        Server(allocation({"platform": half_day})) as east,
        Server(allocation({"platform": half_day, "kube-system": 3.0})) as west,
    ):
        code, doc, err = reconcile(
            [east.url, west.url], f"{webhook.url}/services/{SECRET}", monkeypatch, capsys
        )
        assert len(east.requests) == len(west.requests) == 1
    assert code == 0, err
    (row,) = [r for r in doc["namespaces"] if r["namespace"] == "platform"]
    assert row["actual_hourly"] == pytest.approx(prod_platform_hourly, rel=1e-6)  # both clusters
    assert doc["budget"]["monthlyBudget"] == 900 and doc["budget"]["over"] is False
    assert webhook.requests == []


def test_over_budget_posts_an_alert_and_fails(prod_platform_hourly, webhook, monkeypatch, capsys):
    per_cluster_day = 15.0  # $0.625/h per cluster: ~$930/month with the accelerator
    with (
        Server(allocation({"platform": per_cluster_day})) as east,
        Server(allocation({"platform": per_cluster_day})) as west,
    ):
        code, doc, err = reconcile(
            [east.url, west.url], f"{webhook.url}/services/{SECRET}", monkeypatch, capsys
        )
    assert code == 1
    assert doc["budget"]["over"] is True
    assert doc["budget"]["runRateMonthly"] == pytest.approx((1.25 + 0.025) * 730, rel=1e-6)
    assert "over its budget" in err and "cost drift" in err
    ((method, path, body),) = webhook.requests
    assert (method, path) == ("POST", f"/services/{SECRET}")
    text = json.loads(body)["text"]
    assert "`prod` spends $930.75/month" in text and "budget of $900.00/month" in text


def test_a_failing_webhook_fails_the_run_without_showing_its_path(monkeypatch, capsys):
    with Server({"ok": False}, status=500) as hook, Server(allocation({"platform": 15.0})) as oc:
        code, _, err = reconcile(
            [oc.url, oc.url], f"{hook.url}/services/{SECRET}", monkeypatch, capsys
        )
        assert len(hook.requests) == 1
    assert code == 1 and "answered HTTP 500" in err and SECRET not in err


@pytest.mark.parametrize(
    "bad", [f"hooks.example.com/services/{SECRET}", f"ftp://hooks.example.com/{SECRET}"]
)
def test_a_malformed_webhook_exits_2_before_anything_runs(bad, monkeypatch, capsys):
    with Server(allocation({"platform": 1.0})) as oc:
        code, _, err = reconcile([oc.url], bad, monkeypatch, capsys)
        assert oc.requests == []
    assert code == 2 and "SUMMIT_FINOPS_WEBHOOK" in err and "webhook URL" in err


# --- the workflow ----------------------------------------------------------------------------


def test_the_nightly_workflow_reconciles_stage_and_prod_and_alerts_from_a_secret() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert doc[True]["schedule"] and "workflow_dispatch" in doc[True]
    (job,) = doc["jobs"].values()
    assert job["strategy"]["matrix"]["stack"] == ["stage", "prod"]
    steps = {s.get("name"): s for s in job["steps"]}
    run = next(s for s in job["steps"] if "summit finops reconcile" in str(s.get("run")))
    assert run["env"]["SUMMIT_FINOPS_WEBHOOK"] == "${{ secrets.FINOPS_WEBHOOK }}"
    assert "secrets.OPENCOST_URLS" in run["env"]["OPENCOST_URLS"]
    # every OpenCost URL is masked in the log before use (it may carry credentials)
    assert "::add-mask::" in run["run"] and "--opencost" in run["run"]
    assert "--webhook" not in run["run"]  # from the environment, never on a command line
    assert any("upload-artifact" in str(s.get("uses")) for s in steps.values())


def test_observed_usage_flows_from_the_nightly_run_to_the_preview_gate() -> None:
    nightly = yaml.safe_load(WORKFLOW.read_text())
    (job,) = nightly["jobs"].values()
    observe = next(s for s in job["steps"] if "summit finops observe" in str(s.get("run")))
    assert "secrets.PROMETHEUS_URLS" in observe["env"]["PROMETHEUS_URLS"]
    assert "::add-mask::" in observe["run"] and "--json usage/observed.json" in observe["run"]
    kept = next(
        s for s in job["steps"] if str(s.get("with", {}).get("name", "")).startswith("observed")
    )
    assert kept["with"]["name"] == "observed-usage-${{ matrix.stack }}"
    gate = yaml.safe_load((ROOT / ".github" / "workflows" / "finops-gate.yml").read_text())
    steps = gate["jobs"]["finops"]["steps"]
    names = [s.get("name") for s in steps]
    fetch = steps[names.index("Observed usage of stage (right-size hints)")]
    assert "--name observed-usage-stage" in fetch["run"]
    # into the folder the preview config's usageFile names, before the preview is planned
    pack_cfg = json.loads((ROOT / "policypacks/finops/config/preview.json").read_text())
    usage_file = Path("policypacks/finops") / pack_cfg["right-size-hints"]["usageFile"]
    assert f"--dir {usage_file.parent}" in fetch["run"]
    assert names.index("Observed usage of stage (right-size hints)") < names.index(
        "Preview stack of this PR (embedded lane)"
    )


@pytest.mark.parametrize("headroom", ["nan", "-1", "inf"])
def test_a_bad_headroom_exits_2_before_planning(headroom, capsys) -> None:
    assert main(["finops", "budget", "-s", "prod", "--headroom", headroom]) == 2
    err = capsys.readouterr().err
    assert "--headroom: expected a finite share >= 0" in err and "Traceback" not in err
