"""The cost model: every workload kind, AWS resources by region, unpriced never zero, and
totals that are exactly the sum of their parts (property-tested)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from summit_platform.automation.errors import UserError
from summit_platform.automation.finops import cost
from summit_platform.automation.finops.cost import PriceTable, Usage, estimate

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PRICES = PriceTable.load()
STACK = "urn:pulumi:dev::summit-platform::pulumi:pulumi:Stack::summit-platform-dev"


def pod(cpu: str | None = "1000m", mem: str | None = "2Gi", **extra) -> dict:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", mem)) if v is not None}
    c = {"name": "app", "image": "x", "resources": {"requests": requests}}
    return {"containers": [c], **extra}


def workload(kind_type: str, name: str = "w", spec: dict | None = None, **props) -> dict:
    return {
        "urn": f"urn:pulumi:dev::p::{kind_type}::{name}",
        "type": kind_type,
        "name": name,
        "custom": True,
        "parent": STACK,
        "inputs": {"metadata": {"name": name, "namespace": "apps"}, "spec": spec or {}, **props},
    }


def test_packaged_opencost_prices_are_the_fixture():
    shipped = json.loads((cost.DATA_DIR / "opencost_default.json").read_text())
    fixture = json.loads((FIXTURES / "pricing" / "opencost_configs_default.json").read_text())
    assert shipped == fixture
    assert PRICES.cpu_hour == Decimal("0.031611")
    assert PRICES.ram_gib_hour == Decimal("0.004237")


def test_one_1000m_2gi_pod_costs_about_four_cents_and_37_fit_the_cap():
    r = workload("kubernetes:apps/v1:Deployment", spec={"replicas": 1, "template": {"spec": pod()}})
    est = estimate([r], PRICES)
    assert est.lines[0].hourly == Decimal("0.0401")
    assert int(Decimal("1.5") / est.lines[0].hourly) == 37


@pytest.mark.parametrize(
    ("type_", "spec", "expected_pods"),
    [
        ("kubernetes:apps/v1:Deployment", {"replicas": 3, "template": {"spec": pod()}}, 3),
        ("kubernetes:apps/v1:StatefulSet", {"replicas": 2, "template": {"spec": pod()}}, 2),
        (
            "kubernetes:argoproj.io/v1alpha1:Rollout",
            {"replicas": 4, "template": {"spec": pod()}},
            4,
        ),
        ("kubernetes:apps/v1:DaemonSet", {"template": {"spec": pod()}}, 3),  # assumed 3 nodes
        ("kubernetes:batch/v1:Job", {"parallelism": 2, "template": {"spec": pod()}}, 2),
        (
            "kubernetes:batch/v1:CronJob",
            {"jobTemplate": {"spec": {"template": {"spec": pod()}}}},
            1,
        ),
        ("kubernetes:apps/v1:Deployment", {"template": {"spec": pod()}}, 1),  # default replicas
    ],
)
def test_every_workload_kind_is_replicas_times_pod(type_, spec, expected_pods):
    one = PRICES.pod_hourly(1000, 2 * cost.GIB)
    est = estimate([workload(type_, spec=spec)], PRICES)
    assert not est.unpriced
    assert est.lines[0].hourly == (one * expected_pods).quantize(cost.QUANTUM)
    assert est.lines[0].namespace == "apps"


def test_bare_pod_and_daemonset_nodes_from_usage():
    p = {
        "urn": "urn:pulumi:dev::p::kubernetes:core/v1:Pod::p",
        "type": "kubernetes:core/v1:Pod",
        "name": "p",
        "inputs": {"metadata": {"name": "p"}, "spec": pod("500m", "1Gi")},
    }
    ds = workload(
        "kubernetes:apps/v1:DaemonSet", "ds", {"template": {"spec": pod("100m", "128Mi")}}
    )
    est = estimate([p, ds], PRICES, Usage(resources={"ds": {"nodes": 10}}))
    by = {line.name: line for line in est.lines}
    assert by["p"].hourly == PRICES.pod_hourly(500, cost.GIB).quantize(cost.QUANTUM)
    assert by["ds"].hourly == (PRICES.pod_hourly(100, 128 * 1024**2) * 10).quantize(cost.QUANTUM)
    assert by["ds"].usage_missing == ()


def test_init_containers_run_to_completion_but_sidecars_are_allocated():
    spec = pod("500m", "1Gi")
    spec["initContainers"] = [
        {"name": "migrate", "resources": {"requests": {"cpu": "4", "memory": "8Gi"}}},
        {
            "name": "proxy",
            "restartPolicy": "Always",
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
        },
    ]
    est = estimate(
        [workload("kubernetes:apps/v1:Deployment", spec={"template": {"spec": spec}})], PRICES
    )
    expected = PRICES.pod_hourly(600, cost.GIB + 64 * 1024**2).quantize(cost.QUANTUM)
    assert est.lines[0].hourly == expected


def test_limit_only_container_is_priced_at_its_limit():
    spec = {"containers": [{"name": "a", "resources": {"limits": {"cpu": "2", "memory": "1Gi"}}}]}
    est = estimate([workload("kubernetes:core/v1:Pod", spec=spec)], PRICES)
    # bare Pod reads `spec` directly
    assert est.lines[0].hourly == PRICES.pod_hourly(2000, cost.GIB).quantize(cost.QUANTUM)


def test_missing_request_or_unknown_replicas_is_unpriced_not_zero():
    no_req = workload("kubernetes:apps/v1:Deployment", "a", {"template": {"spec": pod(cpu=None)}})
    unknown = workload(
        "kubernetes:apps/v1:Deployment", "b", {"replicas": "<unknown>", "template": {"spec": pod()}}
    )
    strange = {"urn": "u", "type": "random:index/randomPet:RandomPet", "name": "pet"}
    est = estimate([no_req, unknown, strange], PRICES)
    assert est.lines == ()
    reasons = {u.name: u.reason for u in est.unpriced}
    assert "no CPU request" in reasons["a"]
    assert "unknown" in reasons["b"]
    assert reasons["pet"] == "no price rule for this type"


def test_observed_usage_above_request_raises_allocation():
    r = workload("kubernetes:apps/v1:Deployment", "w", {"template": {"spec": pod("100m", "128Mi")}})
    est = estimate([r], PRICES, Usage(resources={"w": {"cpuMillis": 900}}))
    assert est.lines[0].hourly == PRICES.pod_hourly(900, 128 * 1024**2).quantize(cost.QUANTUM)


def test_rollout_with_workload_ref_prices_the_referenced_template():
    dep = workload(
        "kubernetes:apps/v1:Deployment", "web", {"replicas": 0, "template": {"spec": pod()}}
    )
    ro = workload(
        "kubernetes:argoproj.io/v1alpha1:Rollout",
        "web-ro",
        {"replicas": 2, "workloadRef": {"kind": "Deployment", "name": "web"}},
    )
    est = estimate([dep, ro], PRICES)
    by = {line.name: line.hourly for line in est.lines}
    assert by["web"] == 0
    assert by["web-ro"] == (PRICES.pod_hourly(1000, 2 * cost.GIB) * 2).quantize(cost.QUANTUM)


def test_statefulset_volume_claims_and_pvc():
    spec = {
        "replicas": 2,
        "template": {"spec": pod("100m", "128Mi")},
        "volumeClaimTemplates": [{"spec": {"resources": {"requests": {"storage": "100Gi"}}}}],
    }
    pvc = {
        "urn": "urn:x::pvc",
        "type": "kubernetes:core/v1:PersistentVolumeClaim",
        "name": "pvc",
        "inputs": {"spec": {"resources": {"requests": {"storage": "730Gi"}}}},
    }
    est = estimate([workload("kubernetes:apps/v1:StatefulSet", spec=spec), pvc], PRICES)
    by = {line.name: line.hourly for line in est.lines}
    assert by["pvc"] == (730 * PRICES.storage_gib_hour).quantize(cost.QUANTUM)  # ~$0.04/GiB-month
    per_pod = PRICES.pod_hourly(100, 128 * 1024**2) + 100 * PRICES.storage_gib_hour
    assert by["w"] == (2 * per_pod).quantize(cost.QUANTUM)


def _aws(type_: str, name: str, provider: str | None = None, **inputs) -> dict:
    return {
        "urn": f"urn:pulumi:dev::p::{type_}::{name}",
        "type": type_,
        "name": name,
        "custom": True,
        "provider": provider,
        "inputs": inputs,
    }


def test_aws_resources_priced_by_their_providers_region():
    prov = {
        "urn": "urn:pulumi:dev::p::pulumi:providers:aws::aws-us-west-2",
        "id": "abc",
        "type": "pulumi:providers:aws",
        "name": "aws-us-west-2",
        "inputs": {"region": "us-west-2"},
    }
    ref = f"{prov['urn']}::abc"
    rs = [
        prov,
        _aws("aws:globalaccelerator/accelerator:Accelerator", "ga", ref),
        _aws("aws:lb/loadBalancer:LoadBalancer", "alb", ref, loadBalancerType="application"),
        _aws("aws:ec2/natGateway:NatGateway", "nat", ref),
        _aws("aws:ec2/instance:Instance", "vm", ref, instanceType="m5.large"),
        _aws(
            "aws:rds/instance:Instance",
            "db",
            ref,
            instanceClass="db.r5.large",
            multiAz=True,
            allocatedStorage=100,
        ),
        _aws("aws:ebs/volume:Volume", "vol", ref, size=730, type="gp3"),
        _aws(
            "aws:eks/nodeGroup:NodeGroup",
            "ng",
            ref,
            instanceTypes=["m5.xlarge"],
            scalingConfig={"desiredSize": 3},
        ),
    ]
    est = estimate(rs, PRICES, Usage(resources={"alb": {"lcu": 2}}))
    by = {line.name: line for line in est.lines}
    assert by["ga"].hourly == Decimal("0.025") and by["ga"].usage_missing == ("dataTransferGb",)
    assert by["alb"].hourly == Decimal("0.0385")  # 0.0225 + 2 x 0.008
    assert by["nat"].hourly == Decimal("0.045")
    assert by["vm"].hourly == Decimal("0.096") and by["vm"].region == "us-west-2"
    assert by["db"].hourly == (2 * (Decimal("0.25") + Decimal("11.5") / 730)).quantize(cost.QUANTUM)
    assert by["vol"].hourly == Decimal("0.08")
    assert by["ng"].hourly == Decimal("0.576")
    assert not est.unpriced


def test_unknown_instance_type_is_unpriced_with_a_hint():
    est = estimate([_aws("aws:ec2/instance:Instance", "vm", instanceType="zz9.huge")], PRICES)
    assert est.lines == ()
    assert "refresh-prices" in est.unpriced[0].reason


def test_components_and_providers_are_structure_not_spend():
    comp = {"urn": "urn:c", "type": "summit:traffic:GlobalTraffic", "name": "c", "custom": False}
    prov = {"urn": "urn:p", "type": "pulumi:providers:aws", "name": "p", "custom": True}
    est = estimate([comp, prov], PRICES)
    assert est.lines == () and est.unpriced == ()


def test_usage_file_errors_name_the_key():
    with pytest.raises(UserError, match=r"usage\.yaml: resources\.alb\.lcus: unknown usage key"):
        Usage.from_doc({"resources": {"alb": {"lcus": 2}}}, "usage.yaml")
    with pytest.raises(UserError, match=r"defaults\.nodes: expected a finite number >= 0"):
        Usage.from_doc({"defaults": {"nodes": -1}}, "usage.yaml")


@st.composite
def resource_lists(draw):
    out = []
    n = draw(st.integers(0, 25))
    for i in range(n):
        kind = draw(st.sampled_from(["dep", "ga", "vm", "pvc", "junk", "noreq"]))
        if kind == "dep":
            cpu = draw(st.integers(1, 4000))
            mem = draw(st.integers(1, 8192))
            reps = draw(st.integers(0, 50))
            out.append(
                workload(
                    "kubernetes:apps/v1:Deployment",
                    f"d{i}",
                    {"replicas": reps, "template": {"spec": pod(f"{cpu}m", f"{mem}Mi")}},
                )
            )
        elif kind == "ga":
            out.append(_aws("aws:globalaccelerator/accelerator:Accelerator", f"g{i}"))
        elif kind == "vm":
            t = draw(st.sampled_from(["m5.large", "t3.micro", "p4d.24xlarge", "nope.large"]))
            out.append(_aws("aws:ec2/instance:Instance", f"v{i}", instanceType=t))
        elif kind == "pvc":
            gi = draw(st.integers(1, 2000))
            out.append(
                {
                    "urn": f"urn:pvc{i}",
                    "type": "kubernetes:core/v1:PersistentVolumeClaim",
                    "name": f"pvc{i}",
                    "parent": f"urn:comp{i % 3}",
                    "inputs": {"spec": {"resources": {"requests": {"storage": f"{gi}Gi"}}}},
                }
            )
        elif kind == "noreq":
            out.append(
                workload(
                    "kubernetes:apps/v1:Deployment",
                    f"n{i}",
                    {"template": {"spec": pod(None, None)}},
                )
            )
        else:
            out.append({"urn": f"urn:j{i}", "type": "x:y:Z", "name": f"j{i}"})
    comps = [
        {
            "urn": f"urn:comp{k}",
            "type": "summit:x:C",
            "name": f"comp{k}",
            "custom": False,
            "parent": STACK,
        }
        for k in range(3)
    ]
    return comps + out


@settings(max_examples=150, deadline=None)
@given(resource_lists())
def test_totals_equal_the_sum_of_parts(resources):
    est = estimate(resources, PRICES)
    assert est.total_hourly == sum((line.hourly for line in est.lines), Decimal(0))
    assert sum(est.by_component().values(), Decimal(0)) == est.total_hourly
    # every custom resource is either priced or listed as unpriced, exactly once
    custom = [r for r in resources if r.get("custom") is not False]
    seen = [line.urn for line in est.lines] + [u.urn for u in est.unpriced]
    assert sorted(seen) == sorted(r["urn"] for r in custom)
    assert all(line.hourly >= 0 for line in est.lines)
    doc = est.to_json()
    assert doc["total_hourly"] == pytest.approx(sum(r["hourly"] for r in doc["resources"]))


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 100), st.integers(1, 4000), st.integers(1, 16384))
def test_workload_cost_is_linear_in_replicas(reps, cpu, mem):
    one = estimate(
        [
            workload(
                "kubernetes:apps/v1:Deployment",
                spec={"replicas": 1, "template": {"spec": pod(f"{cpu}m", f"{mem}Mi")}},
            )
        ],
        PRICES,
    ).total_hourly
    many = estimate(
        [
            workload(
                "kubernetes:apps/v1:Deployment",
                spec={"replicas": reps, "template": {"spec": pod(f"{cpu}m", f"{mem}Mi")}},
            )
        ],
        PRICES,
    ).total_hourly
    exact = PRICES.pod_hourly(cpu, mem * 1024**2)
    assert abs(one - exact) <= cost.QUANTUM / 2
    assert abs(many - exact * reps) <= cost.QUANTUM / 2
