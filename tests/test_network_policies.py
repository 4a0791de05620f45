"""Traffic that is meant to flow does, and nothing else: the prod stack is planned, and its
NetworkPolicies (per region, as planned) are evaluated with components/render/netpol.py over
the pods the plan runs (labels and ports from the planned Rollouts) plus the pods and addresses
around them: the ingress controller, Prometheus, a stranger in the services' namespace, a pod
wearing the gateway's label in another namespace, the internet, the load balancer's subnets.

Declared in Pulumi.prod.yaml: gateway and web are public (the region's entry reaches them),
intelgraph is called by gateway. With the entry as the ingress controller's namespace (the
default) and as the ALB's source ranges (a region whose ALB targets pods), exactly the declared
connections are admitted, on the service port only."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from summit_platform.automation.plan.report import region_of
from summit_platform.automation.plan.runner import plan_stack
from summit_platform.automation.stack_files import project_defaults, read_stack_file
from summit_platform.components.render.netpol import Endpoint, allows
from summit_platform.components.service import Caller
from summit_platform.stacks.config import ConfigError, from_values, namespace_values
from summit_platform.stacks.services import network_args

APP = "app.kubernetes.io/name"
REGIONS = ("us-east-1", "us-west-2")
ALB_RANGES = ["10.20.0.0/20", "10.20.16.0/20"]
PORT, OTHER_PORT = 8080, 9090
CONTROLLER, METRICS_PORT = "summit-traffic-controller", 9108  # the traffic controller's /metrics

AROUND = [
    Endpoint("ingress-controller", "ingress-nginx", {APP: "ingress-nginx"}, ip="10.9.0.4"),
    Endpoint("prometheus", "monitoring", {APP: "prometheus"}, ip="10.9.0.5"),
    Endpoint("grafana", "monitoring", {APP: "grafana"}, ip="10.9.0.6"),
    Endpoint("stranger", "platform", {APP: "batch-job"}, ip="10.9.0.7"),
    Endpoint("impostor", "sandbox", {APP: "gateway"}, ip="10.9.0.8"),
    Endpoint("internet", ip="203.0.113.7"),
    Endpoint("alb", ip="10.20.1.5"),
    Endpoint("other-subnet", ip="10.30.1.5"),
]


def prod_values() -> dict[str, Any]:
    project, defaults = project_defaults(ROOT)
    return namespace_values(project, defaults, read_stack_file(ROOT, "prod"), "Pulumi.prod.yaml")


def planned(overrides: dict[str, Any] | None = None) -> dict[str, tuple[list, list[Endpoint]]]:
    """Per region: (the planned NetworkPolicies as manifests, the pods the plan runs)."""
    plan = plan_stack(ROOT, "prod", overrides=overrides, evaluate=False).plan
    by_urn = {r.urn: r for r in plan.resources}
    out: dict[str, tuple[list, list[Endpoint]]] = {r: ([], []) for r in REGIONS}
    for r in plan.resources:
        region = region_of(r, by_urn)  # the cluster: its Kubernetes provider's region
        if r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy":
            out[region][0].append(r.to_json()["inputs"])
        elif r.type in (
            "kubernetes:argoproj.io/v1alpha1:Rollout",
            "kubernetes:apps/v1:Deployment",  # the traffic controller
        ):
            inputs = r.to_json()["inputs"]
            template = inputs["spec"]["template"]
            ports = {
                p["name"]: p["containerPort"]
                for c in template["spec"]["containers"]
                for p in c.get("ports", [])
            }
            out[region][1].append(
                Endpoint(
                    inputs["metadata"]["name"],
                    inputs["metadata"]["namespace"],
                    template["metadata"]["labels"],
                    ip=f"10.1.0.{len(out[region][1]) + 10}",
                    ports=ports,
                )
            )
    return out


def admitted(policies: list, pods: list[Endpoint]) -> set[tuple[str, str, int]]:
    """Every (source, destination pod, port) the policies let through to a planned pod."""
    return {
        (src.name, dst.name, port)
        for dst in pods
        for src in [*pods, *AROUND]
        for port in (PORT, OTHER_PORT, METRICS_PORT)
        if src is not dst and allows(policies, src, dst, port)
    }


def expected(entry: str) -> set[tuple[str, str, int]]:
    return {
        ("gateway", "intelgraph", PORT),  # intelgraph's declared caller
        (entry, "gateway", PORT),  # the entry path reaches the public services
        (entry, "web", PORT),
        ("prometheus", "gateway", PORT),  # and Prometheus scrapes every service
        ("prometheus", "web", PORT),
        ("prometheus", "intelgraph", PORT),
        ("prometheus", CONTROLLER, METRICS_PORT),  # and the traffic controller's metrics
    }


@pytest.fixture(scope="module")
def default_entry() -> dict[str, tuple[list, list[Endpoint]]]:
    return planned()


@pytest.fixture(scope="module")
def alb_entry() -> dict[str, tuple[list, list[Endpoint]]]:
    regions = copy.deepcopy(prod_values()["regions"])
    regions[1]["entry"] = {"sourceRanges": ALB_RANGES}  # us-west-2's ALB targets pods
    return planned({"regions": regions})


@pytest.mark.parametrize("region", REGIONS)
def test_declared_callers_and_the_ingress_controller_are_admitted_and_nothing_else(
    default_entry, region: str
) -> None:
    policies, pods = default_entry[region]
    assert sorted(p.name for p in pods) == sorted(["gateway", "intelgraph", "web", CONTROLLER])
    assert len(policies) == 7  # deny + allow per service, the controller's own
    assert admitted(policies, pods) == expected("ingress-controller")


def test_with_the_albs_source_ranges_the_alb_is_the_entry(alb_entry) -> None:
    policies, pods = alb_entry["us-west-2"]
    assert admitted(policies, pods) == expected("alb")
    # us-east-1 keeps its ingress controller
    policies, pods = alb_entry["us-east-1"]
    assert admitted(policies, pods) == expected("ingress-controller")


def test_without_the_policies_everything_would_flow(default_entry) -> None:
    # The evaluation is not vacuous: the same pods with no policies reach each other.
    _, pods = default_entry["us-east-1"]
    flows = admitted([], pods)
    assert ("internet", "intelgraph", OTHER_PORT) in flows and ("web", "intelgraph", PORT) in flows


def test_the_mapping_from_config() -> None:
    values = prod_values()
    values["services"] = [
        *values["services"],
        {"name": "batch", "team": "data", "image": "x/batch", "callers": ["jobs/scheduler"]},
    ]
    cfg = from_values(values, "test")
    by_name = {s.name: s for s in cfg.services}
    assert network_args(cfg, by_name["gateway"], "us-east-1") == {
        "callers": [],
        "ingress_namespace": "ingress-nginx",
        "entry_cidrs": [],
    }
    assert network_args(cfg, by_name["intelgraph"], "us-east-1") == {
        "callers": [Caller(service="gateway")],
        "ingress_namespace": None,
        "entry_cidrs": [],
    }
    # another namespace's service, named with its namespace
    assert network_args(cfg, by_name["batch"], "us-west-2")["callers"] == [
        Caller(service="scheduler", namespace="jobs")
    ]


@pytest.mark.parametrize(
    ("change", "key", "needle"),
    [
        (
            lambda v: v["regions"][0].update(entry={}),
            "summit-platform:regions[0].entry",
            "exactly one of ingressNamespace or sourceRanges",
        ),
        (
            lambda v: v["regions"][0].update(
                entry={"ingressNamespace": "ingress-nginx", "sourceRanges": ALB_RANGES}
            ),
            "summit-platform:regions[0].entry",
            "exactly one of",
        ),
        (
            lambda v: v["regions"][1].update(entry={"sourceRanges": ["10.20.1.5/20"]}),
            "summit-platform:regions[1].entry.sourceRanges",
            "no host bits",
        ),
        (
            lambda v: v["services"][2].update(callers=["gatewy"]),
            "summit-platform:services",
            "intelgraph.callers: 'gatewy' is not another service",
        ),
        (
            lambda v: v["services"][2].update(callers=["intelgraph"]),
            "summit-platform:services",
            "'intelgraph' is not another service",
        ),
        (
            lambda v: v["services"][2].update(callers=["a/b/c"]),
            "summit-platform:services[2].callers",
            "'namespace/service'",
        ),
        (
            lambda v: v["services"][0].update(public="yes please"),
            "summit-platform:services[0].public",
            "boolean",
        ),
    ],
)
def test_bad_entry_or_callers_name_the_key(change, key: str, needle: str) -> None:
    values = copy.deepcopy(prod_values())
    change(values)
    with pytest.raises(ConfigError) as err:
        from_values(values, "Pulumi.prod.yaml")
    line = str(err.value)
    assert f"Pulumi.prod.yaml: {key}: " in line and needle in line, line


def test_a_stack_file_with_a_bad_caller_exits_2(tmp_path: Path, capsys) -> None:
    from summit_platform.automation.cli import main

    for name in ("Pulumi.yaml", "__main__.py"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    text = (ROOT / "Pulumi.prod.yaml").read_text().replace("callers: [gateway]", "callers: [gw]")
    (tmp_path / "Pulumi.prod.yaml").write_text(text)
    assert main(["plan", "-C", str(tmp_path), "--stack", "prod", "-q"]) == 2
    err = capsys.readouterr().err
    assert "Pulumi.prod.yaml: summit-platform:services: intelgraph.callers: 'gw'" in err
    assert "Traceback" not in err
