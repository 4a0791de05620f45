"""The NetworkPolicy evaluator (components/render/netpol.py) against the semantics of the API
reference: selectors, isolation, peers (alone and combined), ipBlock, ports (numbered, named,
ranges, protocols), policy types and directions; and properties over generated policies
(order does not matter, rules add up, a policy that does not select a pod changes nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from summit_platform.components.render.netpol import Endpoint, allows, selects

APP = "app.kubernetes.io/name"


def pod(name: str, ns: str, ip: str | None = None, **labels: str) -> Endpoint:
    return Endpoint(name, ns, {APP: name, **labels}, ip=ip, ports={"http": 8080})


def policy(ns: str, selector: dict[str, Any], ingress: list[Any] | None = None, **spec: Any):
    body: dict[str, Any] = {"podSelector": selector, **spec}
    if ingress is not None:
        body["ingress"] = ingress
    return {"metadata": {"name": "p", "namespace": ns}, "spec": body}


API = pod("api", "shop")
WEB = pod("web", "shop")
DB = pod("db", "shop")
OTHER_API = pod("api", "other")  # same labels, another namespace
INTERNET = Endpoint("internet", ip="203.0.113.7")
ALB = Endpoint("alb", ip="10.20.1.5")
DENY_DB = policy("shop", {"matchLabels": {APP: "db"}}, [], policyTypes=["Ingress"])


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]},
            {"a": "2"},
            True,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        (
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]},
            {"a": "1"},
            False,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": "x"}, False),
        (
            {"matchLabels": {"b": "2"}, "matchExpressions": [{"key": "a", "operator": "Exists"}]},
            {"b": "2"},
            False,
        ),
    ],
)
def test_label_selectors(selector, labels, expected) -> None:
    assert selects(selector, labels) is expected


def test_an_unknown_operator_is_refused() -> None:
    with pytest.raises(ValueError, match="operator"):
        selects({"matchExpressions": [{"key": "a", "operator": "Gt"}]}, {"a": "1"})


def test_no_policy_means_everything_flows() -> None:
    assert allows([], INTERNET, DB, 5432) and allows([], API, DB, 1)


def test_a_selected_pod_with_no_rules_is_isolated_and_others_are_not() -> None:
    assert not allows([DENY_DB], API, DB, 8080)
    assert allows([DENY_DB], API, WEB, 8080)  # web is not selected
    # a policy in another namespace does not select shop's pods
    assert allows([policy("other", {}, [])], API, DB, 8080)


def test_pod_selector_alone_means_the_policys_namespace() -> None:
    rule = [{"from": [{"podSelector": {"matchLabels": {APP: "api"}}}]}]
    ps = [DENY_DB, policy("shop", {"matchLabels": {APP: "db"}}, rule)]
    assert allows(ps, API, DB, 8080)
    assert not allows(ps, OTHER_API, DB, 8080)
    assert not allows(ps, WEB, DB, 8080)


def test_namespace_and_pod_selector_in_one_peer_is_and_in_two_peers_is_or() -> None:
    ns_sel = {"matchLabels": {"kubernetes.io/metadata.name": "other"}}
    one_peer = [
        {"from": [{"namespaceSelector": ns_sel, "podSelector": {"matchLabels": {APP: "api"}}}]}
    ]
    two_peers = [
        {"from": [{"namespaceSelector": ns_sel}, {"podSelector": {"matchLabels": {APP: "api"}}}]}
    ]
    both = policy("shop", {"matchLabels": {APP: "db"}}, one_peer)
    either = policy("shop", {"matchLabels": {APP: "db"}}, two_peers)
    other_web = pod("web", "other")
    assert allows([both], OTHER_API, DB, 1) and not allows([both], other_web, DB, 1)
    assert not allows([both], API, DB, 1)  # right pod, wrong namespace
    assert allows([either], other_web, DB, 1) and allows([either], API, DB, 1)
    assert not allows([either], WEB, DB, 1)


def test_namespace_labels_are_looked_up_and_the_name_label_is_implicit() -> None:
    rule = [{"from": [{"namespaceSelector": {"matchLabels": {"team": "payments"}}}]}]
    ps = [policy("shop", {}, rule)]
    assert allows(ps, OTHER_API, DB, 1, namespaces={"other": {"team": "payments"}})
    assert not allows(ps, OTHER_API, DB, 1, namespaces={"other": {"team": "search"}})
    by_name = [
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}}}]}
    ]
    assert allows([policy("shop", {}, by_name)], OTHER_API, DB, 1)


def test_ip_blocks_match_addresses_minus_their_exceptions_and_never_by_labels() -> None:
    rule = [{"from": [{"ipBlock": {"cidr": "10.20.0.0/16", "except": ["10.20.9.0/24"]}}]}]
    ps = [policy("shop", {}, rule)]
    assert allows(ps, ALB, WEB, 8080)
    assert not allows(ps, INTERNET, WEB, 8080)
    assert not allows(ps, Endpoint("x", ip="10.20.9.4"), WEB, 8080)
    assert not allows(ps, API, WEB, 8080)  # a pod without an address in the block
    selector_rule = [{"from": [{"podSelector": {}}]}]
    assert not allows([policy("shop", {}, selector_rule)], INTERNET, WEB, 8080)


def test_ports_numbered_named_ranged_and_by_protocol() -> None:
    def only(ports):
        return [policy("shop", {}, [{"ports": ports}])]

    assert allows(only([{"port": 8080}]), INTERNET, WEB, 8080)
    assert not allows(only([{"port": 8080}]), INTERNET, WEB, 9090)
    assert not allows(only([{"port": 8080}]), INTERNET, WEB, 8080, protocol="UDP")
    assert allows(only([{"protocol": "UDP", "port": 53}]), INTERNET, WEB, 53, protocol="UDP")
    assert allows(only([{"port": "http"}]), INTERNET, WEB, 8080)
    assert not allows(only([{"port": "http"}]), INTERNET, WEB, 8081)
    assert allows(only([{"port": 8000, "endPort": 8100}]), INTERNET, WEB, 8080)
    assert not allows(only([{"port": 8000, "endPort": 8100}]), INTERNET, WEB, 8101)
    assert allows(only([{"protocol": "TCP"}]), INTERNET, WEB, 1)


def test_an_empty_rule_allows_everything_and_no_rules_allow_nothing() -> None:
    assert allows([policy("shop", {}, [{}])], INTERNET, DB, 1)
    assert not allows([policy("shop", {}, [])], INTERNET, DB, 1)
    assert not allows([policy("shop", {})], INTERNET, DB, 1)  # ingress left out


def test_egress_policies_restrict_the_source_and_egress_only_does_not_isolate_ingress() -> None:
    egress_only = policy("shop", {"matchLabels": {APP: "api"}}, policyTypes=["Egress"], egress=[])
    assert not allows([egress_only], API, DB, 8080)  # api may send nothing
    assert allows([egress_only], WEB, API, 8080)  # api still receives
    to_db = policy(
        "shop",
        {"matchLabels": {APP: "api"}},
        egress=[
            {"to": [{"podSelector": {"matchLabels": {APP: "db"}}}], "ports": [{"port": "http"}]}
        ],
    )
    assert allows([to_db], API, DB, 8080) and not allows([to_db], API, WEB, 8080)
    assert not allows([to_db], API, DB, 9090)  # the destination's named port


# --- properties ------------------------------------------------------------------------------

NAMES = st.sampled_from(["api", "web", "db"])
NAMESPACES = st.sampled_from(["shop", "other"])
SELECTORS = st.one_of(
    st.just({}),
    NAMES.map(lambda n: {"matchLabels": {APP: n}}),
    NAMES.map(lambda n: {"matchExpressions": [{"key": APP, "operator": "NotIn", "values": [n]}]}),
)
PEERS = st.one_of(
    SELECTORS.map(lambda s: {"podSelector": s}),
    NAMESPACES.map(
        lambda n: {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": n}}}
    ),
    st.tuples(NAMESPACES, SELECTORS).map(
        lambda t: {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": t[0]}},
            "podSelector": t[1],
        }
    ),
    st.just({"ipBlock": {"cidr": "10.20.0.0/16"}}),
)
RULES = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "from": st.lists(PEERS, max_size=2),
            "ports": st.lists(
                st.sampled_from([{"port": 8080}, {"port": "http"}, {"port": 9090}]), max_size=2
            ),
        },
    ),
    max_size=2,
)
POLICIES = st.builds(policy, NAMESPACES, SELECTORS, RULES)
ENDPOINTS = st.one_of(
    st.tuples(NAMES, NAMESPACES).map(lambda t: pod(t[0], t[1])),
    st.sampled_from([INTERNET, ALB]),
)
PODS = st.tuples(NAMES, NAMESPACES).map(lambda t: pod(t[0], t[1]))
PORTS = st.sampled_from([8080, 9090])


@settings(max_examples=300)
@given(st.lists(POLICIES, max_size=4), ENDPOINTS, PODS, PORTS, st.randoms())
def test_policy_order_does_not_matter(ps, src, dst, port, rnd) -> None:
    shuffled = list(ps)
    rnd.shuffle(shuffled)
    assert allows(ps, src, dst, port) == allows(shuffled, src, dst, port)


@settings(max_examples=300)
@given(
    st.lists(POLICIES, min_size=1, max_size=3),
    st.lists(POLICIES, min_size=1, max_size=3),
    ENDPOINTS,
    PODS,
    PORTS,
)
def test_rules_of_policies_selecting_a_pod_add_up(a, b, src, dst, port) -> None:
    # Once both sets isolate the pod, together they allow exactly what either allows.
    deny_all = policy(dst.namespace or "shop", {}, [])
    a, b = [*a, deny_all], [*b, deny_all]
    assert allows(a + b, src, dst, port) == (allows(a, src, dst, port) or allows(b, src, dst, port))


@settings(max_examples=300)
@given(st.lists(POLICIES, max_size=3), POLICIES, ENDPOINTS, PODS, PORTS)
def test_a_policy_that_does_not_select_the_pod_changes_nothing(ps, extra, src, dst, port) -> None:
    if (
        selects(extra["spec"]["podSelector"], dst.labels)
        and extra["metadata"]["namespace"] == dst.namespace
    ):
        extra = {**extra, "metadata": {"name": "p", "namespace": "elsewhere"}}
    assert allows([*ps, extra], src, dst, port) == allows(ps, src, dst, port)


@settings(max_examples=200)
@given(st.lists(POLICIES, max_size=3), ENDPOINTS, PODS, PORTS)
def test_adding_a_deny_all_to_an_isolated_pod_changes_nothing(ps, src, dst, port) -> None:
    deny_all = policy(dst.namespace or "shop", {}, [])
    isolated = [*ps, deny_all]
    assert allows([*isolated, deny_all], src, dst, port) == allows(isolated, src, dst, port)
    assert not allows([deny_all], src, dst, port)
