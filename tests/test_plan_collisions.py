"""The cross-stack collision check (automation/plan/collisions.py): identities of Kubernetes
objects and AWS resources from planned rows, the pairing across stacks (a property test
against a brute-force oracle), and `summit plan --stack all` failing on a copied stack file."""

from __future__ import annotations

import json
import shutil
from itertools import combinations
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from summit_platform.automation.cli import main
from summit_platform.automation.plan import collisions as col

ROOT = Path(__file__).resolve().parents[1]


def provider(name: str, **inputs) -> dict:
    kind = "kubernetes" if name.startswith("k8s") else "aws"
    return {
        "urn": f"urn:pulumi:s::p::pulumi:providers:{kind}::{name}",
        "type": f"pulumi:providers:{kind}",
        "name": name,
        "custom": True,
        "inputs": inputs,
    }


def kobj(type_: str, name: str | None, namespace: str | None = None, prov: str = "k8s-us-east-1"):
    meta = {} if name is None else {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    return {
        "urn": f"urn:pulumi:s::p::{type_}::{name}-{namespace}",
        "type": type_,
        "custom": True,
        "inputs": {"metadata": meta},
        "provider": f"urn:pulumi:s::p::pulumi:providers:kubernetes::{prov}::id",
    }


ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
SERVICE = "kubernetes:core/v1:Service"
NAMESPACE = "kubernetes:core/v1:Namespace"


def keys(rows: list[dict]) -> list[col.ObjectKey]:
    return [o.key for o in col.owned_objects("s", rows)]


def test_kubernetes_identity_cluster_apiversion_kind_namespace_name():
    rows = [
        provider("k8s-us-east-1", context="summit-stage-use1", namespace="platform"),
        kobj(ROLLOUT, "gateway", "pr-5"),
        kobj(SERVICE, "web"),  # no namespace: the provider's default
        kobj(NAMESPACE, "pr-5", "ignored"),  # cluster-scoped: no namespace
        kobj(SERVICE, None, "x"),  # auto-named by Pulumi: owns no fixed name
    ]
    assert keys(rows) == [
        col.ObjectKey(
            "kubernetes",
            "context summit-stage-use1",
            "argoproj.io/v1alpha1/Rollout",
            "pr-5",
            "gateway",
        ),
        col.ObjectKey("kubernetes", "context summit-stage-use1", "v1/Service", "platform", "web"),
        col.ObjectKey("kubernetes", "context summit-stage-use1", "v1/Namespace", "", "pr-5"),
    ]


def test_cluster_of_a_secret_kubeconfig_is_its_region_and_ambient_is_one_cluster():
    secret = provider("k8s-us-west-2", kubeconfig={"secret": "v1:abc"})
    assert col.cluster_of(secret).startswith("kubeconfigs.us-west-2")
    assert col.cluster_of(provider("k8s-x")) == col.cluster_of(None) == "of the ambient kubeconfig"
    row = kobj(SERVICE, "web", "platform", prov="k8s-us-west-2")
    (key,) = keys([secret, row])
    assert key.scope.startswith("kubeconfigs.us-west-2") and key.namespace == "platform"


def test_aws_identity_names_accounts_and_records():
    aws = provider("aws-us-east-1", region="us-east-1", allowedAccountIds=["111122223333"])
    rows = [
        aws,
        {
            "urn": "urn:pulumi:s::p::aws:s3/bucket:Bucket::logs",
            "type": "aws:s3/bucket:Bucket",
            "custom": True,
            "inputs": {"bucket": "summit-logs"},
            "provider": aws["urn"] + "::id",
        },
        {
            "urn": "urn:pulumi:s::p::aws:route53/record:Record::r",
            "type": "aws:route53/record:Record",
            "custom": True,
            "inputs": {
                "zoneId": "Z1",
                "name": "api.example.com",
                "type": "A",
                "setIdentifier": "e",
            },
            "provider": aws["urn"] + "::id",
        },
        {  # the cloud names it: nothing to collide on
            "urn": "urn:pulumi:s::p::aws:globalaccelerator/listener:Listener::l",
            "type": "aws:globalaccelerator/listener:Listener",
            "custom": True,
            "inputs": {"acceleratorArn": "<unknown>"},
            "provider": aws["urn"] + "::id",
        },
    ]
    owned = col.owned_objects("s", rows)
    assert [(o.key.scope, o.key.name, o.account) for o in owned] == [
        ("us-east-1", "summit-logs", "111122223333"),
        ("global", "Z1/api.example.com/A/e", "111122223333"),
    ]


def test_an_inline_policy_is_named_within_its_role():
    aws = provider("aws-us-east-1", region="us-east-1")

    def inline(role, name="summit-traffic-controller"):
        return {
            "urn": f"urn:pulumi:s::p::aws:iam/rolePolicy:RolePolicy::{role}",
            "type": "aws:iam/rolePolicy:RolePolicy",
            "custom": True,
            "inputs": {"role": role, "name": name, "policy": "{}"},
            "provider": aws["urn"] + "::id",
        }

    claims = {
        "stage": col.owned_objects("stage", [aws, inline("summit-stage-traffic")]),
        "prod": col.owned_objects("prod", [aws, inline("summit-prod-traffic")]),
        "copy": col.owned_objects("copy", [aws, inline("summit-prod-traffic")]),
        "unknown": col.owned_objects("unknown", [aws, inline("<unknown>")]),
    }
    assert claims["unknown"] == []
    assert [o.key.name for o in claims["stage"]] == [
        "summit-stage-traffic/summit-traffic-controller"
    ]
    found = col.find_collisions(claims)
    assert [(c.first.stack, c.second.stack) for c in found] == [("copy", "prod")]


def test_accounts_known_and_different_do_not_collide_unknown_matches_any():
    key = col.ObjectKey("aws", "global", "aws:iam/role:Role", "", "deployer")
    a = col.Owned(key, "a", "urn:a", "111122223333")
    b = col.Owned(key, "b", "urn:b", "444455556666")
    c = col.Owned(key, "c", "urn:c", None)
    found = col.find_collisions({"a": [a], "b": [b], "c": [c]})
    assert [(x.first.stack, x.second.stack) for x in found] == [("a", "c"), ("b", "c")]


def test_violations_name_both_stacks_and_the_object():
    key = col.ObjectKey("kubernetes", "context c", "v1/ConfigMap", "monitoring", "dash")
    found = col.find_collisions(
        {"stage": [col.Owned(key, "stage", "urn::a")], "pr-5": [col.Owned(key, "pr-5", "urn::b")]}
    )
    (v,) = col.violations(found, "stage")
    assert (v.pack, v.policy, v.enforcement) == (
        "summit-plan",
        "cross-stack-collision",
        "mandatory",
    )
    assert v.urn == "urn::a"
    assert "v1/ConfigMap monitoring/dash in cluster context c" in v.message
    assert "'stage'" in v.message and "'pr-5'" in v.message
    assert col.violations(found, "prod") == []
    assert col.pack_result(found, "pr-5", 7).analyzed == 7


# --- the pairing, against a brute-force oracle --------------------------------------------

_KEYS = st.builds(
    col.ObjectKey,
    st.sampled_from(["kubernetes", "aws"]),
    st.sampled_from(["c1", "c2"]),
    st.sampled_from(["v1/Service", "aws:iam/role:Role"]),
    st.sampled_from(["", "ns"]),
    st.sampled_from(["a", "b", "c"]),
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["dev", "stage", "prod", "pr-1", "pr-2"]),
        st.lists(st.tuples(_KEYS, st.sampled_from([None, "1", "2"])), max_size=8),
        max_size=5,
    ),
    st.sampled_from([None, "pr-1", "stage"]),
)
def test_collisions_are_exactly_the_objects_two_stacks_claim(claims, only):
    owned = {
        stack: [col.Owned(k, stack, f"urn:{stack}:{i}", acct) for i, (k, acct) in enumerate(rows)]
        for stack, rows in claims.items()
    }
    found = col.find_collisions(owned, only=only)
    got = {(c.key, c.first.stack, c.second.stack) for c in found}
    expected = set()
    for s1, s2 in combinations(sorted(owned), 2):
        if only is not None and only not in (s1, s2):
            continue
        for a in owned[s1]:
            for b in owned[s2]:
                if a.key == b.key and (None in (a.account, b.account) or a.account == b.account):
                    expected.add((a.key, s1, s2))
    assert got == expected
    assert len(found) == len(got)  # each object and pair of stacks once
    for c in found:  # each violation is on the stack's own resource
        for v in col.violations([c], c.first.stack):
            assert v.urn.startswith(f"urn:{c.first.stack}:")


# --- summit plan --stack all ------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    dst = tmp_path / "project"
    dst.mkdir()
    shutil.copytree(
        ROOT / "policypacks", dst / "policypacks", ignore=shutil.ignore_patterns("__pycache__")
    )
    for f in (
        "Pulumi.yaml",
        "__main__.py",
        "Pulumi.dev.yaml",
        "Pulumi.stage.yaml",
        "Pulumi.prod.yaml",
    ):
        shutil.copy(ROOT / f, dst / f)
    return dst


def test_a_copy_of_stage_fails_plan_all_naming_both_stacks_and_removing_it_passes(
    project: Path, capsys: pytest.CaptureFixture[str]
):
    copy = project / "Pulumi.stage-b.yaml"
    shutil.copy(project / "Pulumi.stage.yaml", copy)
    out = project / "out.json"
    assert main(["plan", "--stack", "all", "-C", str(project), "--json", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert "mandatory policy violation(s) in stage-b, stage" in err
    doc = json.loads(out.read_text())
    hits = [
        v for v in doc["stacks"]["stage"]["violations"] if v["policy"] == "cross-stack-collision"
    ]
    assert hits and all(
        v["pack"] == "summit-plan" and v["enforcement"] == "mandatory" for v in hits
    )
    rollout = [v for v in hits if "argoproj.io/v1alpha1/Rollout platform/gateway" in v["message"]]
    assert len(rollout) == 2  # one per region's cluster
    assert "'stage'" in rollout[0]["message"] and "'stage-b'" in rollout[0]["message"]
    assert {p["name"] for p in doc["stacks"]["dev"]["packs"]} >= {"summit-plan"}
    assert doc["stacks"]["dev"]["summary"]["mandatory"] == 0  # dev shares nothing

    copy.unlink()
    assert main(["plan", "--stack", "all", "-C", str(project), "--json", str(out), "-q"]) == 0
    doc = json.loads(out.read_text())
    assert set(doc["stacks"]) == {"dev", "stage", "prod"}
    assert all(not s["violations"] for s in doc["stacks"].values())


def test_one_stack_alone_is_not_checked_against_anything(project: Path):
    out = project / "out.json"
    assert main(["plan", "--stack", "dev", "-C", str(project), "--json", str(out), "-q"]) == 0
    packs = [p["name"] for p in json.loads(out.read_text())["stacks"]["dev"]["packs"]]
    assert "summit-plan" not in packs
