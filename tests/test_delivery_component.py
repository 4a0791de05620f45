"""CanaryRollout structure under the recording mock, the prod plan's delivery resources, and
every Rollout/AnalysisTemplate the prod plan renders validated against the real Argo Rollouts
CRD schemas (v1.9.1, automation/plan/provider_check/crds/argo-rollouts)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import crds
import pytest
from conftest import plan_values, run_component
from crds import manifest

from summit_platform.automation.stack_files import load_stack, read_stack_file
from summit_platform.components.canary_rollout import (
    ANALYSIS_TEMPLATE_TYPE,
    CONFIGMAP_TYPE,
    ROLLOUT_TYPE,
    SERVICE_TYPE,
    TOKEN,
    CanaryRollout,
    CanaryRolloutArgs,
)
from summit_platform.components.render import canary as render
from summit_platform.components.render.analysis_cadence import manifest_coverage
from summit_platform.stacks.delivery import region_target_urns

ROOT = Path(__file__).resolve().parents[1]
HPA_TYPE = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"


def crd_errors(file: str, manifest: dict[str, Any]) -> list[str]:
    return crds.errors(crds.ARGO, file, manifest)


LABELS = {"team": "t", "service": "s", "env": "e", "cost-center": "c"}


def _args(**kw) -> CanaryRolloutArgs:
    base = dict(
        service="web",
        region="us-west-2",
        namespace="platform",
        image="ghcr.io/summit/web",
        version="v2.4.1",
        port=8081,
        replicas=3,
        labels=LABELS,
        flags={"featureX": False, "beta": True},
        steps=[{"setWeight": 20}, {"pause": {"duration": "1m"}}, {"setWeight": 100}],
        analysis=render.AnalysisSettings(p95_ms=800, error_ratio=0.02, interval="30s"),
    )
    base.update(kw)
    return CanaryRolloutArgs(**base)


def test_component_children_names_parents_and_values():
    plan = run_component(lambda: CanaryRollout("web-us-west-2", _args()))
    (comp,) = plan.of_type(TOKEN)
    kids = {r.name: r for r in plan.children(comp.urn)}
    assert set(kids) == {
        "web-us-west-2-flags",
        "web-us-west-2-stable",
        "web-us-west-2-canary",
        "web-us-west-2-analysis",
        "web-us-west-2-rollout",
    }
    assert kids["web-us-west-2-flags"].type == CONFIGMAP_TYPE
    assert kids["web-us-west-2-stable"].type == SERVICE_TYPE
    assert kids["web-us-west-2-analysis"].type == ANALYSIS_TEMPLATE_TYPE
    rollout = kids["web-us-west-2-rollout"]
    assert rollout.type == ROLLOUT_TYPE
    for k in kids.values():
        md = k.inputs["metadata"]
        assert md["namespace"] == "platform"
        assert LABELS.items() <= md["labels"].items()
    spec = rollout.inputs["spec"]
    canary = spec["strategy"]["canary"]
    # the configured steps, with the one-measurement promotion check after the last pause
    assert canary["steps"][:2] + canary["steps"][3:] == [
        {"setWeight": 20},
        {"pause": {"duration": "1m"}},
        {"setWeight": 100},
    ]
    check = canary["steps"][2]["analysis"]
    assert check["templates"] == canary["analysis"]["templates"]
    assert {a["name"]: a.get("value") for a in check["args"]} == {
        "service": "web",
        "region": "us-west-2",
        "canary-hash": None,
        "count": "1",
        "initial-delay": "0s",
        "failure-limit": "0",
        "inconclusive-limit": "0",
    }
    assert canary["analysis"]["startingStep"] == 1  # the pause after the first weight
    assert canary["stableService"] == kids["web-us-west-2-stable"].inputs["metadata"]["name"]
    assert canary["canaryService"] == kids["web-us-west-2-canary"].inputs["metadata"]["name"]
    assert canary["analysis"]["templates"] == [
        {"templateName": kids["web-us-west-2-analysis"].inputs["metadata"]["name"]}
    ]
    args = {a["name"]: a for a in canary["analysis"]["args"]}
    assert args["region"]["value"] == "us-west-2"
    assert args["canary-hash"]["valueFrom"] == {"podTemplateHashValue": "Latest"}
    assert spec["progressDeadlineAbort"] is True
    assert "trafficRouting" not in canary
    container = spec["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/summit/web:v2.4.1"
    assert container["ports"][0]["containerPort"] == 8081
    # the checksum on the pod template is the one of the ConfigMap's data
    data = kids["web-us-west-2-flags"].inputs["data"]
    assert data["beta"] == "true" and data["featureX"] == "false"
    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations[render.FLAGS_CHECKSUM_ANNOTATION] == render.checksum(data)
    # the rollout is created after what it references
    assert {kids[n].urn for n in kids if n != "web-us-west-2-rollout"} <= set(rollout.dependencies)
    metrics = {m["name"]: m for m in kids["web-us-west-2-analysis"].inputs["spec"]["metrics"]}
    assert metrics["p95-latency"]["successCondition"].endswith("< 0.8")
    assert metrics["error-ratio"]["failureCondition"].endswith(">= 0.02")
    # interval: the configured longest (30s), within half the 1m pause; count: the 1m pause
    # plus the progress deadline (600s) for the last weight change, 30s apart -> 22
    template = kids["web-us-west-2-analysis"].inputs["spec"]
    defaults = {a["name"]: a.get("value") for a in template["args"]}
    assert metrics["p95-latency"]["interval"] == "30s"
    assert metrics["p95-latency"]["count"] == "{{args.count}}" and defaults["count"] == "22"
    assert defaults["initial-delay"] == "30s" and defaults["failure-limit"] == "1"
    assert crd_errors("analysis-template-crd.yaml", manifest(kids["web-us-west-2-analysis"])) == []
    assert crd_errors("rollout-crd.yaml", manifest(rollout)) == []
    # no HPA around it here: the Rollout sets its own replicas, and surge limits
    assert spec["replicas"] == 3
    assert (canary["maxSurge"], canary["maxUnavailable"]) == ("25%", 0)


def test_flag_change_changes_only_the_checksum_and_data():
    a = run_component(lambda: CanaryRollout("w", _args()))
    b = run_component(lambda: CanaryRollout("w", _args(flags={"featureX": True, "beta": True})))
    ra, rb = a.of_type(ROLLOUT_TYPE)[0], b.of_type(ROLLOUT_TYPE)[0]
    ann = render.FLAGS_CHECKSUM_ANNOTATION
    assert (
        ra.inputs["spec"]["template"]["metadata"]["annotations"][ann]
        != rb.inputs["spec"]["template"]["metadata"]["annotations"][ann]
    )
    sa, sb = copy.deepcopy(ra.inputs["spec"]), copy.deepcopy(rb.inputs["spec"])
    del (
        sa["template"]["metadata"]["annotations"][ann],
        sb["template"]["metadata"]["annotations"][ann],
    )
    assert sa == sb


@pytest.mark.parametrize("routing", ["alb", "nginx"])
def test_traffic_routing_is_rendered_and_valid(routing):
    plan = run_component(lambda: CanaryRollout("w", _args(traffic_routing=routing)))
    (r,) = plan.of_type(ROLLOUT_TYPE)
    tr = r.inputs["spec"]["strategy"]["canary"]["trafficRouting"]
    if routing == "alb":
        # no rootService: Argo edits the Ingress rule of the stable Service (its backend)
        assert tr == {"alb": {"ingress": "web", "servicePort": 8081}}
    else:
        assert tr == {"nginx": {"stableIngress": "web"}}
    assert crd_errors("rollout-crd.yaml", manifest(r)) == []


def test_bad_steps_fail_the_component():
    with pytest.raises(Exception, match="must rise"):
        run_component(
            lambda: CanaryRollout("w", _args(steps=[{"setWeight": 50}, {"setWeight": 40}]))
        )


def test_strict_validator_catches_a_misspelt_field():
    plan = run_component(lambda: CanaryRollout("w", _args()))
    (r,) = plan.of_type(ROLLOUT_TYPE)
    bad = manifest(r)
    bad["spec"]["strategy"]["canary"]["stepz"] = bad["spec"]["strategy"]["canary"].pop("steps")
    assert any("stepz" in e for e in crd_errors("rollout-crd.yaml", bad))
    bad = manifest(r)
    bad["spec"]["strategy"]["canary"]["steps"][0]["setWeight"] = "ten"
    assert crd_errors("rollout-crd.yaml", bad)


@pytest.fixture(scope="module")
def prod_plan():
    return plan_values("prod")


def _hpa_targets(plan) -> set[tuple[str, str]]:
    """(namespace, Rollout name) of every HorizontalPodAutoscaler's target in the plan."""
    return {
        (h.inputs["metadata"]["namespace"], h.inputs["spec"]["scaleTargetRef"]["name"])
        for h in plan.of_type(HPA_TYPE)
        if h.inputs["spec"]["scaleTargetRef"]["kind"] == "Rollout"
    }


def test_prod_plan_has_a_valid_rollout_and_template_per_service_and_region(prod_plan):
    cfg = load_stack(ROOT, "prod")
    delivered = [s for s in cfg.services if s.deliver]
    rollouts = prod_plan.of_type(ROLLOUT_TYPE)
    templates = {t.name: t for t in prod_plan.of_type(ANALYSIS_TEMPLATE_TYPE)}
    assert len(rollouts) == len(templates) == len(delivered) * len(cfg.regions) == 6
    by_urn = prod_plan.by_urn()
    expected_steps = render.build_steps(cfg.rollout.steps)
    targets = _hpa_targets(prod_plan)
    for r in rollouts:
        spec = r.inputs["spec"]
        canary = spec["strategy"]["canary"]
        assert crd_errors("rollout-crd.yaml", manifest(r)) == [], r.name
        # the configured steps, plus the promotion check after the last pause
        assert [s for s in canary["steps"] if "analysis" not in s] == expected_steps
        assert spec["progressDeadlineSeconds"] == cfg.rollout.progress_deadline_seconds
        # replicas belong to the HPA that targets this Rollout
        assert (r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]) in targets
        assert "replicas" not in spec, r.name
        assert (canary["maxSurge"], canary["maxUnavailable"]) == ("25%", 0)
        assert canary["abortScaleDownDelaySeconds"] == 30
        # each region's objects go to that region's cluster
        # The CanaryRollout is now the ``-canary`` child of the service's ServiceComponent.
        comp = by_urn[r.parent]
        region = comp.name.split("-", 1)[1].removesuffix("-canary")
        svc = next(s for s in delivered if r.name.startswith(f"{s.name}-"))
        image = spec["template"]["spec"]["containers"][0]["image"]
        assert image == f"{svc.image}:{svc.region_versions.get(region, svc.version)}"
        assert r.inputs["metadata"]["labels"]["cost-center"] == "cc-1001"
        # background analysis from the first serving step, and no pause unanalysed
        template = templates[r.name.removesuffix("-rollout") + "-analysis"]
        assert canary["analysis"]["startingStep"] == 1
        assert canary["analysis"]["templates"] == [
            {"templateName": template.inputs["metadata"]["name"]}
        ]
        for name, cov in manifest_coverage(spec, template.inputs["spec"]).items():
            assert cov.uncovered == [] and cov.pauses, (r.name, name)
            assert cov.analysed_seconds == cov.total_seconds == 15 * 60, (r.name, name)
    for t in templates.values():
        assert crd_errors("analysis-template-crd.yaml", manifest(t)) == [], t.name
        metrics = {m["name"]: m for m in t.inputs["spec"]["metrics"]}
        assert metrics["p95-latency"]["successCondition"].endswith("< 1.5")
        assert metrics["error-ratio"]["successCondition"].endswith("< 0.01")
        defaults = {a["name"]: a.get("value") for a in t.inputs["spec"]["args"]}
        assert defaults["failure-limit"] == str(cfg.rollout.failure_limit)
        assert defaults["count"] == "35"
        for m in metrics.values():
            assert m["count"] == "{{args.count}}" and m["interval"] == "1m"


def test_a_redeploy_writes_no_replica_count(prod_plan):
    """Plan prod as `summit deploy` leaves it after moving web to a new version in east (a
    redeploy): the Rollouts change only in their image, and no Rollout an HPA scales carries
    spec.replicas, so an `up` cannot reset what the autoscaler chose."""
    raw = read_stack_file(ROOT, "prod")["summit-platform:services"]
    services = copy.deepcopy(raw)
    services[1]["regionVersions"] = {"us-east-1": "v2.5.0"}
    again = plan_values("prod", {"services": services})
    before = {r.urn: r.inputs["spec"] for r in prod_plan.of_type(ROLLOUT_TYPE)}
    after = {r.urn: r for r in again.of_type(ROLLOUT_TYPE)}
    assert before.keys() == after.keys()
    targets = _hpa_targets(again)
    changed = []
    for urn, r in after.items():
        spec = r.inputs["spec"]
        assert (r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]) in targets
        assert "replicas" not in spec and "replicas" not in before[urn]
        if spec != before[urn]:
            changed.append(r.name)
            a, b = copy.deepcopy(before[urn]), copy.deepcopy(spec)
            for s in (a, b):
                s["template"]["spec"]["containers"][0].pop("image")
            assert a == b  # only the image moved
    assert changed == ["web-us-east-1-canary-rollout"]
    hpas = {h.name: h.inputs["spec"]["minReplicas"] for h in again.of_type(HPA_TYPE)}
    assert hpas["web-us-east-1-hpa"] == 3  # the floor lives in the HPA, unchanged


def test_prod_children_use_their_regions_kubernetes_provider(prod_plan):
    by_urn = prod_plan.by_urn()
    for r in prod_plan.of_type(ROLLOUT_TYPE) + prod_plan.of_type(ANALYSIS_TEMPLATE_TYPE):
        region = by_urn[r.parent].name.split("-", 1)[1].removesuffix("-canary")
        assert r.provider.split("::")[-2] == f"k8s-{region}"


def test_region_target_urns_match_the_plan(prod_plan):
    cfg = load_stack(ROOT, "prod")
    planned = {r.urn for r in prod_plan.resources}
    east = region_target_urns(cfg, "prod", "summit-platform", "us-east-1")
    west = region_target_urns(cfg, "prod", "summit-platform", "us-west-2")
    assert len(east) == len(west) == 3 * 6
    assert set(east) <= planned and set(west) <= planned
    assert not set(east) & set(west)
    # CanaryRollouts sit under ServiceComponents (summit:platform:Service$...CanaryRollout).
    delivery = {r.urn for r in prod_plan.resources if TOKEN in r.urn.split("::")[2]}
    assert delivery == set(east) | set(west)
