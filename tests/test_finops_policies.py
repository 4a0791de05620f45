"""The FinOps pack's policies called in-process with hand-made args: for each policy a
compliant case, a violating one, a missing property, and a config override."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pulumi_policy import (
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.policy import _NotApplicableError

PACK = Path(__file__).resolve().parents[1] / "policypacks" / "finops"
sys.path.insert(0, str(PACK))
import finops_policies as fp  # noqa: E402
import provider_tokens  # noqa: E402

ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
LABELS = {"team": "platform", "service": "gateway", "env": "dev", "cost-center": "cc-1"}


def _opts() -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        additional_secret_outputs=[],
        custom_timeouts=None,
        parent=None,
    )


def config(policy: Any, **override: Any) -> dict[str, Any]:
    """The policy's schema defaults with overrides, as the engine hands them to the pack."""
    props = policy.config_schema.properties if policy.config_schema else {}
    out = {k: v["default"] for k, v in props.items() if "default" in v}
    out.update(override)
    return out


def run(policy: Any, type_: str, props: dict, cfg: dict | None = None, provider=None, name="r"):
    """Validate one resource; returns the violation messages, or None if not applicable."""
    messages: list[str] = []
    args = ResourceValidationArgs(
        type_,
        props,
        f"urn:pulumi:dev::p::{type_}::{name}",
        name,
        _opts(),
        provider,
        cfg if cfg is not None else config(policy),
    )
    try:
        policy.validate(args, lambda m, urn=None: messages.append(m))
    except _NotApplicableError:
        return None
    return messages


def rollout(*containers: dict, init: list[dict] | None = None, labels=LABELS) -> dict:
    spec: dict[str, Any] = {"containers": list(containers)}
    if init:
        spec["initContainers"] = init
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "gw", "labels": labels},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": labels}, "spec": spec}},
    }


def c(name="app", cpu="500m", mem="512Mi", **limits) -> dict:
    res: dict[str, Any] = {"requests": {}}
    if cpu is not None:
        res["requests"]["cpu"] = cpu
    if mem is not None:
        res["requests"]["memory"] = mem
    if limits:
        res["limits"] = limits
    return {"name": name, "image": "x", "resources": res}


# --- cpu-request-cap -------------------------------------------------------------------------


def test_cpu_cap_compliant_violating_missing_and_override():
    p = fp.cpu_request_cap
    assert run(p, ROLLOUT, rollout(c(cpu="1000m"))) == []
    msgs = run(p, ROLLOUT, rollout(c(cpu="2000m")))
    assert msgs == ["Rollout 'r' container 'app' requests 2000m CPU; the cap is 1000m."]
    assert run(p, ROLLOUT, rollout(c(cpu=None))) == [
        "Rollout 'r' container 'app' has no CPU request (cap 1000m)."
    ]
    assert run(p, ROLLOUT, rollout(c(cpu="2")), config(p, maxCpuMillis=2000)) == []


def test_cpu_cap_checks_init_containers_and_every_kind():
    p = fp.cpu_request_cap
    msgs = run(p, ROLLOUT, rollout(c(), init=[c("migrate", cpu="1500m")]))
    assert msgs == ["Rollout 'r' init container 'migrate' requests 1500m CPU; the cap is 1000m."]
    cron = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [c(cpu="3")]}}}}}}
    assert len(run(p, "kubernetes:batch/v1:CronJob", cron)) == 1
    pod = {"spec": {"containers": [c(cpu="1200m")]}}
    assert len(run(p, "kubernetes:core/v1:Pod", pod)) == 1
    for t in ("apps/v1:Deployment", "apps/v1:StatefulSet", "apps/v1:DaemonSet", "batch/v1:Job"):
        props = {"spec": {"template": {"spec": {"containers": [c(cpu="1001m")]}}}}
        assert len(run(p, f"kubernetes:{t}", props)) == 1, t
    assert run(p, "kubernetes:core/v1:ConfigMap", {"data": {}}) is None


def test_rollout_with_workload_ref_is_not_applicable():
    props = {"spec": {"workloadRef": {"kind": "Deployment", "name": "web"}}}
    assert run(fp.cpu_request_cap, ROLLOUT, props) is None


# --- memory-request-cap ----------------------------------------------------------------------


def test_memory_cap_compliant_violating_missing_and_override():
    p = fp.memory_request_cap
    assert run(p, ROLLOUT, rollout(c(mem="2Gi"))) == []
    assert run(p, ROLLOUT, rollout(c(mem="3Gi"))) == [
        "Rollout 'r' container 'app' requests 3Gi memory; the cap is 2Gi."
    ]
    assert run(p, ROLLOUT, rollout(c(mem=None))) == [
        "Rollout 'r' container 'app' has no memory request (cap 2Gi)."
    ]
    assert run(p, ROLLOUT, rollout(c(mem="3Gi")), config(p, maxMemory="4Gi")) == []


# --- instance-class-deny-list ----------------------------------------------------------------


def test_deny_list_compliant_violating_missing_and_override():
    p = fp.instance_class_deny_list
    ec2 = "aws:ec2/instance:Instance"
    assert run(p, ec2, {"instanceType": "m6i.large"}) == []
    assert run(p, ec2, {"instanceType": "p4d.24xlarge"}, name="gpu") == [
        "Instance 'gpu' uses p4d.24xlarge, which the deny-list blocks (pattern 'p4d.*')."
    ]
    assert run(p, ec2, {}) == []  # no instance type chosen: nothing to deny
    assert run(p, ec2, {"instanceType": "m6i.large"}, config(p, denyList=["m6i.*"])) != []
    assert run(p, ec2, {"instanceType": "p4d.24xlarge"}, config(p, denyList=[])) == []


def test_deny_list_covers_templates_node_groups_asgs_and_rds():
    p = fp.instance_class_deny_list
    assert run(p, "aws:ec2/launchTemplate:LaunchTemplate", {"instanceType": "p5.48xlarge"})
    assert run(p, "aws:eks/nodeGroup:NodeGroup", {"instanceTypes": ["m5.large", "u-6tb1.metal"]})
    assert run(p, "aws:rds/instance:Instance", {"instanceClass": "db.x2g.large"})
    assert run(p, "aws:rds/instance:Instance", {"instanceClass": "db.r6g.large"}) == []
    asg = {
        "mixedInstancesPolicy": {
            "launchTemplate": {"overrides": [{"instanceType": "x2idn.16xlarge"}]}
        }
    }
    assert run(p, "aws:autoscaling/group:Group", asg)
    assert run(p, "aws:s3/bucket:Bucket", {}) is None


# --- cost-allocation-tags --------------------------------------------------------------------


def test_tags_compliant_violating_missing_and_override():
    p = fp.cost_allocation_tags
    bucket = "aws:s3/bucket:Bucket"
    assert run(p, bucket, {"tags": dict(LABELS)}) == []
    assert run(p, bucket, {"tags": {"team": "x", "env": " "}}, name="logs") == [
        "Bucket 'logs' is missing cost-allocation tags: service, env, cost-center"
        " (required: team, service, env, cost-center)."
    ]
    assert run(p, bucket, {}, name="logs") == [
        "Bucket 'logs' is missing cost-allocation tags: team, service, env, cost-center"
        " (required: team, service, env, cost-center)."
    ]
    assert run(p, bucket, {"tags": {"team": "x"}}, config(p, requiredTags=["team"])) == []


def test_tags_required_set_is_the_stacks_four_keys():
    """One set for tags and labels: the keys the stack's `tags` puts on everything."""
    p = fp.cost_allocation_tags
    defaults = config(p)
    assert defaults["requiredTags"] == ["team", "service", "env", "cost-center"]
    assert defaults["requiredLabels"] == defaults["requiredTags"]
    no_cc = {k: v for k, v in LABELS.items() if k != "cost-center"}
    (msg,) = run(p, "aws:s3/bucket:Bucket", {"tags": no_cc}, name="logs")
    assert "missing cost-allocation tags: cost-center (" in msg


def test_tags_apply_to_listed_types_and_any_aws_resource_with_tags():
    p = fp.cost_allocation_tags
    # A listed type is checked even without a tags property ...
    assert run(p, "aws:globalaccelerator/accelerator:Accelerator", {}) != []
    # ... an unlisted AWS type only when it carries tags ...
    assert run(p, "aws:globalaccelerator/listener:Listener", {}) is None
    (msg,) = run(p, "aws:sqs/queue:Queue", {"tags": {"team": "a"}}, name="q")
    assert msg.startswith("Queue 'q' is missing cost-allocation tags: service, env, cost-center")
    # ... and a config override of the type list changes which types count.
    listed_only = config(p, taggableTypes=["aws:s3/bucket:Bucket"])
    assert run(p, "aws:globalaccelerator/accelerator:Accelerator", {}, listed_only) is None


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


def test_type_lists_are_real_provider_tokens():
    """Every AWS/Kubernetes token the pack matches is one the installed provider SDKs
    register (``aws:ec2/volume:Volume``, for one, is not: EBS volumes are
    ``aws:ebs/volume:Volume``), each taggable type takes ``tags`` and each instance type the
    property the deny-list reads."""
    assert provider_tokens.resource_class("aws:ec2/volume:Volume") is None
    for token in fp.policies.TAGGABLE_TYPES:
        cls = provider_tokens.resource_class(token)
        assert cls is not None, f"{token} is not a pulumi-aws type token"
        assert provider_tokens.takes_input(cls, "tags"), f"{token} takes no tags"
    for token, prop in fp.policies.INSTANCE_TYPES.items():
        cls = provider_tokens.resource_class(token)
        assert cls is not None, f"{token} is not a pulumi-aws type token"
        assert provider_tokens.takes_input(cls, _snake(prop)), f"{token} has no {prop}"
    # Rollout is a CRD our components register (checked in test_finops_pack_e2e.py); every
    # other workload kind comes from pulumi-kubernetes.
    crds = {"kubernetes:argoproj.io/v1alpha1:Rollout"}
    for token in set(fp.policies.WORKLOAD_TYPES) - crds:
        assert provider_tokens.resource_class(token) is not None, token


def test_tags_come_from_provider_default_tags_too():
    prov = PolicyProviderResource(
        "pulumi:providers:aws", {"defaultTags": {"tags": dict(LABELS)}}, "urn:prov", "aws"
    )
    assert run(fp.cost_allocation_tags, "aws:s3/bucket:Bucket", {}, provider=prov) == []


def test_kubernetes_labels_on_objects_and_pod_templates():
    p = fp.cost_allocation_tags
    assert run(p, ROLLOUT, rollout(c())) == []
    props = rollout(c())
    props["spec"]["template"]["metadata"]["labels"] = {"app": "gw"}
    assert run(p, ROLLOUT, props) == [
        "Rollout 'r' pod template is missing cost-allocation labels: team, service, env,"
        " cost-center."
    ]
    cm = {"metadata": {"name": "flags"}, "data": {}}
    assert run(p, "kubernetes:core/v1:ConfigMap", cm) == [
        "ConfigMap 'r' is missing cost-allocation labels: team, service, env, cost-center"
        " (required: team, service, env, cost-center)."
    ]
    assert run(p, "random:index/randomPet:RandomPet", {}) is None


# --- right-size-hints ------------------------------------------------------------------------


def test_right_size_ratio_and_observed_usage_with_suggestion():
    p = fp.right_size_hints
    assert run(p, ROLLOUT, rollout(c(cpu="500m", mem="512Mi"))) == []
    ratio = rollout(
        {"name": "app", "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}}}
    )
    assert run(p, ROLLOUT, ratio) == [
        "Rollout 'r' container 'app': cpu limit/request ratio is 10.0 (> 4); suggested: request"
        " 250m (limit / 4) or limit 400m (request x 4)."
    ]
    mem_ratio = rollout(
        {"name": "app", "resources": {"requests": {"memory": "128Mi"}, "limits": {"memory": "2Gi"}}}
    )
    assert run(p, ROLLOUT, mem_ratio) == [
        "Rollout 'r' container 'app': memory limit/request ratio is 16.0 (> 4); suggested:"
        " request 512Mi (limit / 4) or limit 512Mi (request x 4)."
    ]
    obs = config(p, observed={"r": {"cpuMillis": 120}})
    msgs = run(p, ROLLOUT, rollout(c(cpu="800m")), obs)
    assert msgs == ["Rollout 'r' requests 800m CPU per pod but uses 120m; suggested request: 150m."]
    mem_obs = config(p, observed={"r": {"cpuMillis": 700, "memoryMiB": 300}})
    msgs = run(p, ROLLOUT, rollout(c(cpu="800m", mem="2Gi")), mem_obs)
    assert msgs == [
        "Rollout 'r' requests 2048Mi memory per pod but uses 300Mi; suggested request: 360Mi."
    ]
    # missing usage: no usage hint; override the factor: 800 <= 120 x 10
    assert run(p, ROLLOUT, rollout(c(cpu="800m"))) == []
    assert run(p, ROLLOUT, rollout(c(cpu="800m")), {**obs, "overRequestFactor": 10}) == []


def test_suggested_request_rounds_up_with_headroom():
    assert fp.policies.suggested_cpu_request(120, 0.2) == 150
    assert fp.policies.suggested_cpu_request(0, 0.2) == 10
    assert fp.policies.suggested_memory_request(300, 0.2) == 360
    assert fp.policies.suggested_memory_request(301, 0.2) == 368  # 361.2 up to 8Mi
    assert fp.policies.suggested_memory_request(0, 0.2) == 16


@given(st.floats(0, 1e6), st.floats(0, 2))
def test_suggested_requests_cover_usage_plus_headroom(used, headroom):
    cpu = fp.policies.suggested_cpu_request(used, headroom)
    assert (
        cpu >= used * (1 + headroom) - 1e-6
        and cpu % 10 == 0
        and cpu - 10 < max(10, used * (1 + headroom))
    )
    mem = fp.policies.suggested_memory_request(used, headroom)
    assert (
        mem >= used * (1 + headroom) - 1e-6
        and mem % 8 == 0
        and mem - 8 < max(16, used * (1 + headroom))
    )


# --- preview-cost-cap ------------------------------------------------------------------------


def _res(type_: str, props: dict, name: str) -> PolicyResource:
    return PolicyResource(
        type_, props, f"urn:pulumi:pr-1::p::{type_}::{name}", name, _opts(), None, None, [], {}
    )


def run_stack(stack: str, resources: list, cfg: dict | None = None, tags=None, monkeypatch=None):
    monkeypatch.setenv("PULUMI_STACK", stack)
    messages: list[str] = []
    args = StackValidationArgs(resources, cfg or config(fp.preview_cost_cap), tags or {})
    try:
        fp.preview_cost_cap.validate(args, lambda m, urn=None: messages.append(m))
    except _NotApplicableError:
        return None
    return messages


def pods(n: int, cpu="1000m", mem="2Gi") -> list:
    return [_res(ROLLOUT, rollout(c(cpu=cpu, mem=mem)), f"svc{i}") for i in range(n)]


def test_cost_cap_under_over_and_message(monkeypatch):
    # 2 replicas x $0.0401 each = $0.0802 per rollout; 18 rollouts = $1.44; 19 = $1.52
    assert run_stack("pr-1", pods(18), monkeypatch=monkeypatch) == []
    msgs = run_stack("pr-1", pods(19), monkeypatch=monkeypatch)
    assert len(msgs) == 1
    assert msgs[0].startswith(
        "Preview exceeds cost cap: $1.52/h (cap $1.50/h); top: svc0 (Rollout)"
    )
    assert msgs[0].count("(Rollout) $0.08/h") == 3


def test_cost_cap_only_for_previews_by_name_or_tag(monkeypatch):
    assert run_stack("prod", pods(40), monkeypatch=monkeypatch) is None
    assert run_stack("prod", pods(40), tags={"preview": "true"}, monkeypatch=monkeypatch)
    assert run_stack("pr-abc", pods(40), monkeypatch=monkeypatch) is None


def test_cost_cap_missing_requests_are_unpriced_and_said(monkeypatch):
    resources = [*pods(19), _res(ROLLOUT, rollout(c(cpu=None)), "noreq")]
    msgs = run_stack("pr-1", resources, monkeypatch=monkeypatch)
    assert msgs[0].endswith("1 resource(s) unpriced and not counted.")


def test_cost_cap_config_override(monkeypatch):
    cfg = config(fp.preview_cost_cap, capHourly=2.0)
    assert run_stack("pr-1", pods(19), cfg, monkeypatch=monkeypatch) == []
    cfg = config(fp.preview_cost_cap, previewStackPattern="preview-[a-z]+")
    assert run_stack("preview-foo", pods(19), cfg, monkeypatch=monkeypatch)
    assert run_stack("pr-1", pods(19), cfg, monkeypatch=monkeypatch) is None


@pytest.mark.parametrize("name", [p.name for p in fp.POLICIES])
def test_every_policy_is_documented_with_a_schema(name):
    p = next(x for x in fp.POLICIES if x.name == name)
    assert p.description and p.remediation_steps and p.config_schema is not None
    assert p.enforcement_level is not None
