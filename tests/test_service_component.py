"""ServiceComponent (summit:platform:Service): structure under the recording mock, args
validation naming the field, the platform composition (aliases for moved resources), and its
Rollout, PrometheusRule and ServiceMonitor validated against the real CRDs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import crds
import pytest
from conftest import plan_values, run_component
from crds import manifest

from summit_platform.automation.stack_files import load_stack
from summit_platform.components.service import (
    TOKEN,
    Caller,
    ServiceComponent,
    ServiceComponentArgs,
    ServiceComponentError,
    manifests,
)
from summit_platform.stacks.delivery import region_target_urns

ROOT = Path(__file__).resolve().parents[1]


def args(**kw: Any) -> ServiceComponentArgs:
    base: dict[str, Any] = dict(
        name="demo-svc",
        team="search",
        image="ghcr.io/summit/demo-svc",
        version="v1.0.0",
        region="us-east-1",
        env="stage",
        cost_center="cc-1",
        namespace="demo-svc",
    )
    return ServiceComponentArgs.of(**{**base, **kw})


def plan_one(a: ServiceComponentArgs):
    return run_component(lambda: ServiceComponent("demo-svc-us-east-1", a))


def prom_errors(file: str, manifest: dict[str, Any]) -> list[str]:
    return crds.errors(crds.PROMETHEUS_OPERATOR, file, manifest)


def test_children_roles_parents_and_cost_labels() -> None:
    plan = plan_one(args())
    (comp,) = plan.of_type(TOKEN)
    direct = {(c.type, c.name) for c in plan.children(comp.urn)}
    n = "demo-svc-us-east-1"
    assert direct == {
        ("kubernetes:core/v1:Namespace", f"{n}-namespace"),
        ("kubernetes:core/v1:ServiceAccount", f"{n}-sa"),
        ("kubernetes:core/v1:Service", f"{n}-metrics"),
        ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", f"{n}-hpa"),
        ("kubernetes:policy/v1:PodDisruptionBudget", f"{n}-pdb"),
        ("kubernetes:networking.k8s.io/v1:NetworkPolicy", f"{n}-deny-ingress"),
        ("kubernetes:networking.k8s.io/v1:NetworkPolicy", f"{n}-allow-ingress"),
        ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", f"{n}-servicemonitor"),
        ("summit:delivery:CanaryRollout", f"{n}-canary"),
        ("summit:observability:MonitoringRules", f"{n}-monitoring"),
    }
    for r in plan.resources:
        if r.type.startswith("kubernetes:"):
            labels = r.inputs["metadata"]["labels"]
            assert labels["team"] == "search" and labels["service"] == "demo-svc", r.name
            assert labels["env"] == "stage" and labels["cost-center"] == "cc-1", r.name
            assert r.inputs["metadata"]["name"], r.name
    # the region overview belongs to the platform, not to each service
    assert not [r for r in plan.resources if r.name.endswith("overview-dashboard")]


def test_pod_spec_carries_otel_prometheus_identity_and_runtime_class() -> None:
    plan = plan_one(args(runtime_class="gvisor", otel_endpoint="http://otel.example:4317"))
    (rollout,) = plan.of_type("kubernetes:argoproj.io/v1alpha1:Rollout")
    pod = rollout.inputs["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["OTEL_SERVICE_NAME"] == "demo-svc"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel.example:4317"
    assert "cloud.region=us-east-1" in env["OTEL_RESOURCE_ATTRIBUTES"]
    assert env["SUMMIT_REGION"] == "us-east-1"
    assert pod["serviceAccountName"] == "demo-svc" and pod["runtimeClassName"] == "gvisor"
    ann = rollout.inputs["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/path"] == "/metrics" and "summit.io/flags-checksum" in ann
    assert crds.errors(crds.ARGO, "rollout-crd.yaml", manifest(rollout)) == []


def test_hpa_pdb_and_network_policies() -> None:
    m = manifests(args(min_replicas=3, max_replicas=9))
    hpa = m["hpa"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": "demo-svc",
    }
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 9)
    assert m["pdb"]["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "demo-svc"}
    deny = m["deny-ingress"]["spec"]
    assert deny["ingress"] == [] and deny["policyTypes"] == ["Ingress"]
    sources = m["allow-ingress"]["spec"]["ingress"][0]["from"]
    ns = [s["namespaceSelector"].get("matchLabels", {}) for s in sources]
    assert {"kubernetes.io/metadata.name": "monitoring"} in ns
    assert {"kubernetes.io/metadata.name": "ingress-nginx"} in ns
    # no caller is admitted unless declared
    assert all("podSelector" not in s or "prometheus" in str(s) for s in sources)
    called = manifests(
        args(callers=[Caller(service="gateway"), Caller(service="cron", namespace="jobs")])
    )["allow-ingress"]["spec"]["ingress"][0]["from"]
    # each caller in its own namespace (the service's when not named), never any namespace
    assert called[:2] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "demo-svc"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}},
        },
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "jobs"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "cron"}},
        },
    ]
    # an internal service has no entry path; an ALB targeting pods is admitted by its ranges
    internal = manifests(args(ingress_namespace=None))["allow-ingress"]["spec"]["ingress"][0]
    assert "ingress-nginx" not in str(internal) and len(internal["from"]) == 1
    alb = manifests(args(ingress_namespace=None, entry_cidrs=["10.20.0.0/20"]))
    assert {"ipBlock": {"cidr": "10.20.0.0/20"}} in alb["allow-ingress"]["spec"]["ingress"][0][
        "from"
    ]
    with pytest.raises(ServiceComponentError, match=r"entry_cidrs.*10\.20\.0\.1/20"):
        args(entry_cidrs=["10.20.0.1/20"])


def test_no_delivery_means_no_rollout_hpa_or_pdb_and_no_namespace_when_shared() -> None:
    m = manifests(args(deliver=False, create_namespace=False))
    assert "hpa" not in m and "pdb" not in m and "namespace" not in m
    plan = plan_one(args(deliver=False))
    assert not plan.of_type("summit:delivery:CanaryRollout")


def test_servicemonitor_and_prometheusrule_validate_against_the_crds() -> None:
    plan = plan_one(args(ingress_host="demo.summit.example"))
    (sm,) = plan.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
    assert prom_errors("monitoring.coreos.com_servicemonitors.yaml", manifest(sm)) == []
    relabel = sm.inputs["spec"]["endpoints"][0]["relabelings"][0]
    assert relabel["targetLabel"] == "rollouts_pod_template_hash"
    assert sm.inputs["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (rule,) = plan.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    assert prom_errors("monitoring.coreos.com_prometheusrules.yaml", manifest(rule)) == []
    (ing,) = plan.of_type("kubernetes:networking.k8s.io/v1:Ingress")
    assert ing.inputs["spec"]["rules"][0]["host"] == "demo.summit.example"


def test_the_crd_schema_rejects_a_misspelt_servicemonitor_field() -> None:
    bad = manifests(args())["servicemonitor"]
    bad["spec"]["endpoints"][0]["intervall"] = "30s"
    errors = prom_errors("monitoring.coreos.com_servicemonitors.yaml", bad)
    assert errors and "intervall" in errors[0]


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"name": "Demo_Svc"}, "name"),
        ({"cpu_request": "lots"}, "cpu_request"),
        ({"min_replicas": 5, "max_replicas": 2}, "max_replicas"),
        ({"steps": [{"setWeight": 50}, {"setWeight": 10}]}, "steps"),
        ({"otel_endpoint": "otel:4317"}, "otel_endpoint"),
        ({"replicas": 3}, "replicas"),
    ],
)
def test_validation_errors_name_the_field(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(ServiceComponentError) as err:
        args(**kw)
    assert f"ServiceComponentArgs.{field}" in str(err.value) or f"{field}:" in str(err.value)


@pytest.fixture(scope="module")
def prod_plan():
    return plan_values("prod")


def test_platform_builds_every_service_in_every_region_with_aliases(prod_plan) -> None:
    cfg = load_stack(ROOT, "prod")
    comps = prod_plan.of_type(TOKEN)
    assert sorted(c.name for c in comps) == sorted(
        f"{s.name}-{r}" for s in cfg.services for r in cfg.region_names
    )
    by_urn = prod_plan.by_urn()
    for c in comps:  # components record no provider; their custom children inherit it
        region = c.name.split("-", 1)[1]
        kids = [r for r in prod_plan.resources if r.urn.split("::")[-1].startswith(c.name)]
        custom = [k for k in kids if k.custom and "Service$" in k.urn]
        assert custom and all(f"k8s-{region}" in (k.provider or "") for k in custom)
    # prod may be deployed: the CanaryRollout moved under the component, the rules and
    # dashboards moved from obs-<region>; each carries an alias to its old URN.
    for canary in prod_plan.of_type("summit:delivery:CanaryRollout"):
        (alias,) = canary.options["aliases"]
        assert alias["spec"] == {"name": by_urn[canary.parent].name, "noParent": True}
    # The services' rules (the traffic controller's own alert rule has no old URN to keep).
    rules = [
        r
        for r in prod_plan.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
        if "summit:traffic:TrafficController" not in r.urn
    ]
    assert len(rules) == len(cfg.services) * len(cfg.region_names)
    for rule in rules:
        (alias,) = rule.options["aliases"]
        svc = rule.inputs["metadata"]["name"].removeprefix("summit-")
        region = next(r for r in cfg.region_names if f"-{r}-" in rule.name)
        assert alias["spec"]["name"] == f"obs-{region}-{svc}-rules"
        assert alias["spec"]["parentUrn"].endswith(f"MonitoringRules::obs-{region}")
        assert prom_errors("monitoring.coreos.com_prometheusrules.yaml", manifest(rule)) == []
    for sm in prod_plan.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor"):
        assert prom_errors("monitoring.coreos.com_servicemonitors.yaml", manifest(sm)) == []
        assert sm.inputs["metadata"]["namespace"] == "platform"
    # the shared region namespace is not created (or owned) by any service
    assert not prod_plan.of_type("kubernetes:core/v1:Namespace")


def test_region_target_urns_are_each_regions_rollouts(prod_plan) -> None:
    cfg = load_stack(ROOT, "prod")
    planned = {r.urn for r in prod_plan.resources}
    east = region_target_urns(cfg, "prod", "summit-platform", "us-east-1")
    assert set(east) <= planned
    assert all("us-east-1" in u for u in east)
    assert len([u for u in east if u.endswith("-rollout")]) == len(cfg.services)
