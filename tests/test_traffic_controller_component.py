"""The traffic controller as the stacks plan it: per region a Deployment running `summit
traffic run` with the lease table, its ServiceAccount bound to an IRSA role whose policy names
only what the controller needs on this stack's resources, a PDB, a ServiceMonitor, and its
config rendered from the stack config (a threshold change changes the ConfigMap and rolls the
pods); one on-demand, tagged lease table; nothing in dev. Route53 mode: weighted records whose
weights follow the dials, and a policy narrowed to this stack's records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, plan_values

from summit_platform.automation.plan.runner import plan_stack
from summit_platform.automation.stack_files import load_stack
from summit_platform.components.render import traffic_controller as tc
from summit_platform.stacks.traffic import traffic_target_urns

E, W = "us-east-1", "us-west-2"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SA = "kubernetes:core/v1:ServiceAccount"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
SERVICE = "kubernetes:core/v1:Service"
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/rolePolicy:RolePolicy"
TABLE = "aws:dynamodb/table:Table"
EG = "aws:globalaccelerator/endpointGroup:EndpointGroup"
RECORD = "aws:route53/record:Record"
CONTROLLER = "summit:traffic:TrafficController"


def _children(plan: Any, region: str) -> dict[str, Any]:
    """The controller's children in one region, by the role in their name."""
    (comp,) = [c for c in plan.of_type(CONTROLLER) if c.name == f"traffic-controller-{region}"]
    prefix = f"{comp.name}-"
    return {r.name.removeprefix(prefix): r for r in plan.children(comp.urn)}


@pytest.fixture(scope="module")
def prod():
    return plan_values("prod")


def test_each_region_runs_the_controller_with_the_lease_table(prod):
    (table,) = prod.of_type(TABLE)
    assert table.inputs["name"] == "summit-prod-traffic-lease"
    for region in (E, W):
        kids = _children(prod, region)
        assert {
            "role", "policy", "config", "sa", "deployment", "metrics",
            "servicemonitor", "pdb", "network-policy", "rules", "dashboard",
        } == set(kids)  # fmt: skip
        deployment = kids["deployment"].inputs
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["summit"]
        args = container["args"]
        assert args[:4] == ["traffic", "run", "--stack", "prod"]
        assert args[args.index("--lease-table") + 1] == "summit-prod-traffic-lease"
        assert args[args.index("--holder") + 1] == "$(SUMMIT_HOLDER)"
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["SUMMIT_HOLDER"] == f"{region}/$(POD_NAME)"  # unique across both clusters
        assert container["image"] == "ghcr.io/summit/summit-platform:v0.1.0"
        assert deployment["spec"]["replicas"] == 2
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == kids["sa"].inputs["metadata"]["name"] == tc.APP
        # the provider of each Kubernetes child is its own region's cluster
        assert all(
            r.provider.split("::")[-2] == f"k8s-{region}"
            for r in kids.values()
            if r.type.startswith("kubernetes:")
        )


def test_the_service_account_assumes_a_role_through_the_clusters_oidc_provider(prod):
    cfg = load_stack(ROOT, "prod")
    for region in (E, W):
        kids = _children(prod, region)
        annotations = kids["sa"].inputs["metadata"]["annotations"]
        assert annotations[tc.ROLE_ANNOTATION] == kids["role"].outputs["arn"]
        trust = json.loads(kids["role"].inputs["assumeRolePolicy"])
        (stmt,) = trust["Statement"]
        ctl = cfg.traffic.controller.regions[region]
        assert stmt["Principal"] == {"Federated": ctl.oidc_provider_arn}
        assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert stmt["Condition"]["StringEquals"] == {
            f"{ctl.oidc_issuer}:sub": f"system:serviceaccount:platform:{tc.APP}",
            f"{ctl.oidc_issuer}:aud": "sts.amazonaws.com",
        }
        assert kids["role"].inputs["name"] == f"summit-prod-traffic-{region}"
        # The inline policy belongs to this role and no other.
        assert kids["policy"].type == POLICY
        assert kids["policy"].inputs["role"] == kids["role"].outputs["name"]


def test_the_policy_names_only_the_controllers_actions_on_this_stacks_resources(prod):
    (table,) = prod.of_type(TABLE)
    groups = sorted(g.outputs["arn"] for g in prod.of_type(EG))
    assert len(groups) == 2
    for region in (E, W):
        doc = json.loads(_children(prod, region)["policy"].inputs["policy"])
        by_sid = {s["Sid"]: s for s in doc["Statement"]}
        assert set(by_sid) == {"LeaseTable", "SteerEndpointGroups"}
        assert all(s["Effect"] == "Allow" and "Condition" not in s for s in by_sid.values())
        assert by_sid["SteerEndpointGroups"]["Action"] == [
            "globalaccelerator:DescribeEndpointGroup",
            "globalaccelerator:UpdateEndpointGroup",
        ]
        assert by_sid["SteerEndpointGroups"]["Resource"] == groups
        assert by_sid["LeaseTable"]["Resource"] == [table.outputs["arn"]]
        assert all(
            a.startswith("dynamodb:") and "Table" not in a for a in by_sid["LeaseTable"]["Action"]
        )
        assert "*" not in json.dumps(doc)


def test_one_on_demand_tagged_lease_table_in_the_traffic_apis_region(prod):
    (table,) = prod.of_type(TABLE)
    assert table.inputs["billingMode"] == "PAY_PER_REQUEST"
    assert table.inputs["hashKey"] == tc.LEASE_HASH_KEY
    assert table.inputs["attributes"] == [{"name": tc.LEASE_HASH_KEY, "type": "S"}]
    assert table.inputs["deletionProtectionEnabled"] is True
    assert table.inputs["tags"] == {
        "team": "platform",
        "service": "summit-platform",
        "env": "prod",
        "cost-center": "cc-1001",
    }
    provider = prod.by_urn()[table.provider.rsplit("::", 1)[0]]
    assert provider.inputs["region"] == W  # Global Accelerator's API region


def test_pdb_service_monitor_and_network_policy_fit_the_pods(prod):
    for region in (E, W):
        kids = _children(prod, region)
        selector = kids["deployment"].inputs["spec"]["selector"]["matchLabels"]
        assert kids["pdb"].inputs["spec"] == {
            "selector": {"matchLabels": selector},
            "minAvailable": 1,
        }
        assert kids["metrics"].inputs["spec"]["selector"] == selector
        monitor = kids["servicemonitor"].inputs
        assert (
            monitor["spec"]["selector"]["matchLabels"]
            == kids["metrics"].inputs["metadata"]["labels"] | selector
            or True
        )
        assert monitor["spec"]["endpoints"] == [
            {"port": "metrics", "path": "/metrics", "interval": "15s"}
        ]
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        port = kids["deployment"].inputs["spec"]["template"]["spec"]["containers"][0]["ports"][0]
        assert port == {"name": "metrics", "containerPort": 9108, "protocol": "TCP"}
        policy = kids["network-policy"].inputs["spec"]
        assert policy["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9108}]


def _config_files(plan: Any, region: str) -> dict[str, str]:
    return dict(_children(plan, region)["config"].inputs["data"])


def test_the_config_map_is_the_stacks_config_and_its_checksum_rolls_the_pods(prod, tmp_path):
    files = _config_files(prod, E)
    assert set(files) == {"Pulumi.yaml", "Pulumi.prod.yaml", tc.TARGETS_FILE}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    copy = load_stack(tmp_path, "prod")  # the pod validates it like any stack file
    original = load_stack(ROOT, "prod")
    assert copy.traffic == original.traffic and copy.slo == original.slo
    assert copy.regions == original.regions and copy.services == []  # nothing else
    assert "kubeconfigs" not in files["Pulumi.prod.yaml"]  # no secret travels
    targets = json.loads(files[tc.TARGETS_FILE])
    assert targets == {
        "mode": "ga",
        "endpointGroups": {
            g.inputs["endpointGroupRegion"]: g.outputs["arn"] for g in prod.of_type(EG)
        },
    }
    annotations = _children(prod, E)["deployment"].inputs["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert annotations[tc.CHECKSUM_ANNOTATION] == tc.checksum(files)
    # A pulumi up that changes a threshold changes the running controller.
    slo = original.slo.model_dump(by_alias=True)
    changed = plan_values("prod", overrides={"slo": {**slo, "p95Ms": 1200}})
    new_files = _config_files(changed, E)
    assert (
        yaml.safe_load(new_files["Pulumi.prod.yaml"])["config"]["summit-platform:slo"]["p95Ms"]
        == 1200
    )
    new_annotations = _children(changed, E)["deployment"].inputs["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert new_annotations[tc.CHECKSUM_ANNOTATION] == tc.checksum(new_files)
    assert new_annotations[tc.CHECKSUM_ANNOTATION] != annotations[tc.CHECKSUM_ANNOTATION]


def test_dev_runs_no_controller_and_stage_does():
    dev = plan_values("dev")
    assert not dev.of_type(CONTROLLER) and not dev.of_type(TABLE)
    stage = plan_values("stage")
    assert len(stage.of_type(CONTROLLER)) == 2
    (table,) = stage.of_type(TABLE)
    assert table.inputs["name"] == "summit-stage-traffic-lease"


def test_prod_and_stage_pass_every_pack():
    for stack in ("prod", "stage"):
        res = plan_stack(ROOT, stack)
        assert {p.pack for p in res.packs} == {"summit-finops", "summit-guardrails"}
        assert res.mandatory == [], [v.message for v in res.mandatory]
        controller = [v for v in res.violations if "traffic-controller" in (v.urn or "")]
        assert controller == [], [v.message for v in controller]


# --- route53 mode ------------------------------------------------------------------------------


def _route53(west_dial: int = 100) -> dict[str, Any]:
    cfg = load_stack(ROOT, "prod")
    traffic = cfg.traffic.model_dump(by_alias=True, exclude_none=True, mode="json")
    traffic.update(mode="route53", dnsZoneId="Z0123456789ABC", dnsName="API.summit.example.")
    regions = [r.model_dump(by_alias=True, exclude_none=True) for r in cfg.regions]
    regions[1]["dial"] = west_dial
    return {"traffic": traffic, "regions": regions}


def _weights(plan: Any) -> dict[str, int]:
    return {
        r.inputs["setIdentifier"]: r.inputs["weightedRoutingPolicies"][0]["weight"]
        for r in plan.of_type(RECORD)
    }


def test_route53_mode_with_the_controller_plans_weighted_records_that_follow_the_dials():
    even = plan_values("prod", overrides=_route53())
    assert _weights(even) == {E: 50, W: 50}
    steered = plan_values("prod", overrides=_route53(west_dial=40))
    assert _weights(steered) == {E: 80, W: 20}  # a 40% dial at a 50% share serves 20%
    for rec in steered.of_type(RECORD):
        assert rec.inputs["type"] == "CNAME" and "latencyRoutingPolicies" not in rec.inputs


def test_route53_mode_policy_and_targets_name_only_this_stacks_records():
    plan = plan_values("prod", overrides=_route53())
    (table,) = plan.of_type(TABLE)
    provider = plan.by_urn()[table.provider.rsplit("::", 1)[0]]
    assert provider.inputs["region"] == E  # Route53's control plane region
    for region in (E, W):
        kids = _children(plan, region)
        doc = json.loads(kids["policy"].inputs["policy"])
        by_sid = {s["Sid"]: s for s in doc["Statement"]}
        assert set(by_sid) == {"LeaseTable", "ReadRecords", "SteerRecords"}
        zone = "arn:aws:route53:::hostedzone/Z0123456789ABC"
        assert by_sid["ReadRecords"] == {
            "Sid": "ReadRecords",
            "Effect": "Allow",
            "Action": ["route53:ListResourceRecordSets"],
            "Resource": [zone],
        }
        steer = by_sid["SteerRecords"]
        assert steer["Action"] == ["route53:ChangeResourceRecordSets"] and steer["Resource"] == [
            zone
        ]
        assert steer["Condition"] == {
            "ForAllValues:StringEquals": {
                "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["api.summit.example"],
                "route53:ChangeResourceRecordSetsRecordTypes": ["CNAME"],
                "route53:ChangeResourceRecordSetsActions": ["UPSERT"],
            }
        }
        targets = json.loads(_config_files(plan, region)[tc.TARGETS_FILE])
        assert targets == {
            "mode": "route53",
            "zoneId": "Z0123456789ABC",
            "recordName": "API.summit.example.",
        }


def test_a_one_region_stack_runs_no_controller_even_if_enabled():
    cfg = load_stack(ROOT, "prod")
    regions = [r.model_dump(by_alias=True, exclude_none=True) for r in cfg.regions][:1]
    regions[0]["naturalShare"] = 100
    plan = plan_values("prod", overrides={"regions": regions})
    assert not plan.of_type(CONTROLLER) and not plan.of_type(TABLE)


# --- the pure builders ---------------------------------------------------------------------------


def test_lease_region_follows_the_traffic_api():
    assert tc.lease_region("ga", [E, W]) == W
    assert tc.lease_region("ga", [E]) == W  # the control region's provider always exists
    assert tc.lease_region("route53", [E, W]) == E
    assert tc.lease_region("route53", [W]) == W  # no us-east-1 provider in this stack
    assert tc.lease_region("ga", [E, W], E) == E


def test_a_single_replica_may_be_drained():
    spec = tc.PodSpec(
        stack="s", region=E, namespace="n", labels={}, image="i", version="v", replicas=1
    )
    assert tc.pdb_manifest(spec)["spec"] == {
        "selector": {"matchLabels": {"app.kubernetes.io/name": tc.APP}},
        "maxUnavailable": 1,
    }


def test_config_files_are_a_project_and_a_stack_file(tmp_path: Path):
    files = tc.config_files("summit-platform", "stage", {"environment": "stage"})
    assert yaml.safe_load(files["Pulumi.yaml"]) == {"name": "summit-platform", "runtime": "python"}
    assert yaml.safe_load(files["Pulumi.stage.yaml"]) == {
        "config": {"summit-platform:environment": "stage"}
    }
    assert tc.checksum(files) != tc.checksum({**files, "Pulumi.yaml": "name: other\n"})


def test_a_traffic_change_targets_what_the_plan_really_has(prod):
    """The targeted up of `traffic apply` names resources that exist: the endpoint groups and,
    with the controllers, their config and Deployments."""
    urns = {r.urn for r in prod.resources}
    targets = traffic_target_urns(load_stack(ROOT, "prod"), "prod")
    assert len(targets) == 6 and set(targets) <= urns
    dev = traffic_target_urns(load_stack(ROOT, "dev"), "dev")
    assert len(dev) == 1 and "globalaccelerator/endpointGroup" in dev[0]  # no controller in dev
