"""MonitoringRules through the embedded lane: structure, labels, the platform wiring, and every
PrometheusRule of the prod plan validated against the real prometheus-operator CRD schema."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import crds
import pulumi
import pytest
import yaml
from obs_helpers import ROOT

from summit_platform.automation.plan.engine import Plan, config_map, run_program
from summit_platform.automation.stack_files import load_stack, project_defaults, read_stack_file
from summit_platform.components.monitoring_rules import MonitoringRules, MonitoringRulesArgs
from summit_platform.components.render import prometheus_rules as pr
from summit_platform.stacks.config import ConfigError, namespace_values

RULE_TYPE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
CM_TYPE = "kubernetes:core/v1:ConfigMap"
COMPONENT = "summit:observability:MonitoringRules"
COST = {"team": "platform", "service": "summit-platform", "env": "test", "cost-center": "cc-1"}


def plan_stack(stack: str) -> Plan:
    project, defaults = project_defaults(ROOT)
    values = namespace_values(
        project, defaults, read_stack_file(ROOT, stack), f"Pulumi.{stack}.yaml"
    )
    return run_program(ROOT, stack, project, config_map(project, values), [])


@cache
def prod_plan() -> Plan:
    return plan_stack("prod")


def one_component() -> Plan:
    def program() -> None:
        provider = pulumi.ProviderResource("kubernetes", "k8s-test", {})
        MonitoringRules(
            "obs",
            MonitoringRulesArgs(
                region="us-east-1",
                services=[
                    pr.ServiceRules(service="gateway", region="us-east-1"),
                    pr.ServiceRules(service="web", region="us-east-1", objective=99.5),
                ],
                labels=COST,
            ),
            opts=pulumi.ResourceOptions(provider=provider),
        )

    return run_program(ROOT, "test", "summit-platform", {}, [], program=program)


def test_component_children_names_parents_and_provider() -> None:
    plan = one_component()
    (comp,) = plan.of_type(COMPONENT)
    children = plan.children(comp.urn)
    assert sorted((c.type, c.name) for c in children) == [
        (CM_TYPE, "obs-gateway-dashboards"),
        (CM_TYPE, "obs-overview-dashboard"),
        (CM_TYPE, "obs-web-dashboards"),
        (RULE_TYPE, "obs-gateway-rules"),
        (RULE_TYPE, "obs-web-rules"),
    ]
    for c in children:
        assert c.provider and "k8s-test" in c.provider
        meta = c.inputs["metadata"]
        assert meta["name"] and meta["namespace"] == "monitoring"
        assert COST.items() <= meta["labels"].items()
    rule = next(c for c in children if c.name == "obs-web-rules")
    assert rule.inputs["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule.inputs["kind"] == "PrometheusRule"
    assert rule.inputs["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule.inputs["spec"]["groups"] == pr.service_rule_groups(
        pr.ServiceRules(service="web", region="us-east-1", objective=99.5)
    )
    board = next(c for c in children if c.name == "obs-gateway-dashboards")
    assert board.inputs["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert sorted(board.inputs["data"]) == ["summit-gateway-red.json", "summit-gateway-use.json"]
    assert (
        json.loads(board.inputs["data"]["summit-gateway-red.json"])["uid"] == "summit-gateway-red"
    )


def test_prod_stack_has_rules_for_every_service_in_every_region() -> None:
    plan = prod_plan()
    cfg = load_stack(ROOT, "prod")
    # Per-service rules come from each service's ServiceComponent (its ``-monitoring``
    # MonitoringRules); the per-region ``obs-<region>`` instance keeps the overview dashboard.
    comps = plan.of_type(COMPONENT)
    overview = sorted(c.name for c in comps if c.name.startswith("obs-"))
    assert overview == [f"obs-{r}" for r in sorted(cfg.region_names)]
    for name in overview:
        (comp,) = [c for c in comps if c.name == name]
        kids = plan.children(comp.urn)
        assert [k.inputs["metadata"]["name"] for k in kids] == ["summit-overview-dashboard"]
    for region in cfg.region_names:
        region_comps = [c for c in comps if c.name.endswith(f"-{region}-monitoring")]
        children = [k for c in region_comps for k in plan.children(c.urn)]
        rules = [c for c in children if c.type == RULE_TYPE]
        assert sorted(c.inputs["metadata"]["name"] for c in rules) == sorted(
            f"summit-{s.name}" for s in cfg.services
        )
        assert all(f"k8s-{region}" in (c.provider or "") for c in children)
        gw = next(c for c in rules if c.inputs["metadata"]["name"] == "summit-gateway")
        alerts = [r for g in gw.inputs["spec"]["groups"] for r in g["rules"] if "alert" in r]
        # prod: gateway 99.95%, minRequestRate 1/s (Pulumi.prod.yaml)
        page = next(a for a in alerts if a["labels"]["severity"] == "page")
        assert "(14.4 * 0.0005)" in page["expr"]
        assert page["expr"].endswith(">= 1")
        use = next(g for g in gw.inputs["spec"]["groups"] if g["name"] == "summit-use-gateway")
        assert use["rules"][0]["labels"] == {"service": "gateway", "region": region}


RULE_CRD = "monitoring.coreos.com_prometheusrules.yaml"


def test_every_prometheusrule_in_the_prod_plan_validates_against_the_crd() -> None:
    rules = prod_plan().of_type(RULE_TYPE)
    controller = [r for r in rules if "summit:traffic:TrafficController" in r.urn]
    assert len(rules) - len(controller) == 6  # one per service and region
    assert len(controller) == 2  # the traffic controller's alert, one per region
    for res in rules:
        assert crds.errors(crds.PROMETHEUS_OPERATOR, RULE_CRD, res.inputs) == [], res.name


def test_the_crd_schema_does_reject_a_broken_rule() -> None:
    """The validation above has teeth: a bad ``for`` duration and a missing group name fail."""
    good = next(r for r in prod_plan().of_type(RULE_TYPE) if "MonitoringRules" in r.urn).inputs
    bad = json.loads(json.dumps(good))
    bad["spec"]["groups"][0]["rules"][0]["for"] = "five minutes"
    del bad["spec"]["groups"][1]["name"]
    messages = crds.errors(crds.PROMETHEUS_OPERATOR, RULE_CRD, bad)
    assert any("does not match" in m for m in messages)
    assert any("'name' is a required property" in m for m in messages)


def test_disabled_observability_creates_nothing(tmp_path: Path) -> None:
    for f in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        (tmp_path / f).write_text((ROOT / f).read_text())
    project, defaults = project_defaults(tmp_path)
    values = namespace_values(
        project, defaults, read_stack_file(tmp_path, "dev"), "Pulumi.dev.yaml"
    )
    values["observability"] = {"enabled": False}
    plan = run_program(ROOT, "dev", project, config_map(project, values), [])
    assert not plan.of_type(COMPONENT)
    values["observability"] = {"enabled": True}
    plan = run_program(ROOT, "dev", project, config_map(project, values), [])
    assert len(plan.of_type(RULE_TYPE)) == 3


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("codeLabel", "__code", "label name"),
        ("histogramMetric", "http-duration", "metric name"),
        ("sloPeriodDays", 0, "greater than or equal to 1"),
    ],
)
def test_bad_observability_config_names_file_and_key(
    tmp_path: Path, key: str, value: Any, expected: str
) -> None:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    stack["config"]["summit-platform:observability"] = {key: value}
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack))
    with pytest.raises(ConfigError) as err:
        load_stack(tmp_path, "dev")
    text = str(err.value)
    assert "Pulumi.dev.yaml" in text and f"observability.{key}" in text and expected in text
