"""API-server rules for each built-in kind: workloads, Service, ConfigMap, Secret,
HorizontalPodAutoscaler, PodDisruptionBudget, NetworkPolicy, and :func:`validate`, which runs
the metadata rules and the kind's own over one manifest."""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Callable
from typing import Any

from summit_platform.automation.plan.provider_check import kube_names as kn
from summit_platform.automation.plan.provider_check.kube_pod import is_base64, pod_spec
from summit_platform.automation.plan.provider_check.kube_rules import (
    CORE,
    Ctx,
    Rule,
    arr,
    is_int,
    known,
    label_selector,
    labels,
    metadata,
    obj,
    rule,
    selector_matches,
)
from summit_platform.automation.plan.provider_check.model import join

APPS = "pkg/apis/apps/validation/validation.go"
BATCH = "pkg/apis/batch/validation/validation.go"
AUTOSCALING = "pkg/apis/autoscaling/validation/validation.go"
POLICY = "pkg/apis/policy/validation/validation.go"
NETWORKING = "pkg/apis/networking/validation/validation.go"
MAX_CONFIG_BYTES = 1024 * 1024  # core.MaxSecretSize, also the ConfigMap limit

WORKLOAD_ALWAYS = rule(
    "workload.restart-policy-always",
    "restartPolicy must be Always (the default) for this workload",
    f"{APPS} ValidatePodTemplateSpecForReplicaSet, ValidateStatefulSetSpec, ValidateDaemonSetSpec",
)
SELECTOR_EMPTY = rule(
    "workload.selector-empty", "an empty selector is invalid", f"{APPS} ValidateDeploymentSpec"
)
SELECTOR_MATCH = rule(
    "workload.selector-matches-template",
    "`selector` does not match template `labels`",
    f"{APPS} ValidatePodTemplateSpecForReplicaSet",
)
NONNEGATIVE = rule(
    "workload.non-negative",
    "must be greater than or equal to 0",
    f"{APPS} ValidateDeploymentSpec (ValidateNonnegativeField)",
)
PROGRESS_DEADLINE = rule(
    "deployment.progress-deadline",
    "progressDeadlineSeconds must be greater than minReadySeconds",
    f"{APPS} ValidateDeploymentSpec",
)
STRATEGY_TYPE = rule(
    "deployment.strategy-type",
    "strategy.type must be Recreate or RollingUpdate; rollingUpdate only with RollingUpdate",
    f"{APPS} ValidateDeploymentStrategy",
)
INT_OR_PERCENT = rule(
    "deployment.rolling-update.int-or-percent",
    "must be a non-negative integer or a percentage ('25%') of at most 100%",
    f"{APPS} ValidatePositiveIntOrPercent, IsNotMoreThan100Percent",
)
BOTH_ZERO = rule(
    "deployment.rolling-update-both-zero",
    "maxUnavailable may not be 0 when maxSurge is 0",
    f"{APPS} ValidateRollingUpdateDeployment",
)
STATEFULSET_POLICIES = rule(
    "statefulset.policies",
    "podManagementPolicy must be OrderedReady or Parallel; updateStrategy.type RollingUpdate or"
    " OnDelete",
    f"{APPS} ValidateStatefulSetSpec",
)
JOB_RESTART = rule(
    "job.restart-policy",
    "a Job's restartPolicy must be OnFailure or Never (it defaults to Always)",
    f"{BATCH} validateJobSpec",
)
CRONJOB_NAME = rule(
    "cronjob.name-length",
    "a CronJob name must be no more than 52 characters",
    f"{BATCH} ValidateCronJobCreate",
)
CRONJOB_CONCURRENCY = rule(
    "cronjob.concurrency-policy",
    "concurrencyPolicy must be Allow, Forbid or Replace",
    f"{BATCH} validateConcurrencyPolicy",
)


def _template(ctx: Ctx, spec: dict[str, Any], path: str, always: bool) -> dict[str, Any]:
    """A pod template: its labels/annotations and pod spec; restartPolicy Always if asked."""
    template = obj(spec.get("template"))
    meta = obj(template.get("metadata"))
    tpath = join(path, "template")
    labels(ctx, join(tpath, "metadata.labels"), meta.get("labels"))
    pod_spec(ctx, join(tpath, "spec"), template.get("spec"))
    policy = obj(template.get("spec")).get("restartPolicy", "Always")
    if always and isinstance(policy, str) and policy != "Always":
        ctx.fail(WORKLOAD_ALWAYS, join(tpath, "spec.restartPolicy"), policy)
    return template


def _selected(ctx: Ctx, spec: dict[str, Any], template: dict[str, Any]) -> None:
    """A workload's selector: valid, not empty, and it selects its template's labels."""
    if "selector" not in spec or not known(spec["selector"]):
        return  # required by the schema; unknown is skipped
    sel = obj(spec["selector"])
    label_selector(ctx, "spec.selector", sel)
    if not sel.get("matchLabels") and not sel.get("matchExpressions"):
        ctx.fail(SELECTOR_EMPTY, "spec.selector", sel)
        return
    tlabels = obj(template.get("metadata")).get("labels", {})
    if known(tlabels) and selector_matches(sel, obj(tlabels)) is False:
        ctx.fail(SELECTOR_MATCH, "spec.template.metadata.labels", tlabels)


def _nonnegative(ctx: Ctx, spec: dict[str, Any], *fields: str) -> None:
    for f in fields:
        v = spec.get(f)
        if is_int(v) and v < 0:
            ctx.fail(NONNEGATIVE, join("spec", f), v)


def int_or_percent(ctx: Ctx, r: Rule, path: str, value: Any) -> None:
    """``ValidatePositiveIntOrPercent`` and ``IsNotMoreThan100Percent``."""
    bad_int = is_int(value) and value < 0
    bad_str = isinstance(value, str) and (not kn.is_percent(value) or int(value[:-1]) > 100)
    if bad_int or bad_str:
        ctx.fail(r, path, value)


def deployment(ctx: Ctx, m: dict[str, Any]) -> None:
    """``ValidateDeploymentSpec`` (and ReplicaSet/ReplicationController's common part)."""
    spec = obj(m.get("spec"))
    template = _template(ctx, spec, "spec", always=True)
    _selected(ctx, spec, template)
    _nonnegative(
        ctx, spec, "replicas", "minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds"
    )
    # Both are defaulted before validation (SetDefaults_Deployment: a 600 s deadline).
    deadline, ready = spec.get("progressDeadlineSeconds", 600), spec.get("minReadySeconds", 0)
    if is_int(deadline) and is_int(ready) and deadline <= ready:
        ctx.fail(PROGRESS_DEADLINE, "spec.progressDeadlineSeconds", deadline)
    strategy = obj(spec.get("strategy"))
    kind = strategy.get("type", "RollingUpdate")
    if isinstance(kind, str) and (
        kind not in ("Recreate", "RollingUpdate")
        or (kind == "Recreate" and "rollingUpdate" in strategy)
    ):
        ctx.fail(STRATEGY_TYPE, "spec.strategy.type", kind)
    ru = obj(strategy.get("rollingUpdate"))
    for f in ("maxUnavailable", "maxSurge"):
        if f in ru:
            int_or_percent(ctx, INT_OR_PERCENT, f"spec.strategy.rollingUpdate.{f}", ru[f])
    if ru.get("maxUnavailable") in (0, "0%") and ru.get("maxSurge") in (0, "0%"):
        ctx.fail(BOTH_ZERO, "spec.strategy.rollingUpdate.maxUnavailable", ru["maxUnavailable"])


def replica_set(ctx: Ctx, m: dict[str, Any]) -> None:
    spec = obj(m.get("spec"))
    template = _template(ctx, spec, "spec", always=True)
    _selected(ctx, spec, template)
    _nonnegative(ctx, spec, "replicas", "minReadySeconds")


def stateful_set(ctx: Ctx, m: dict[str, Any]) -> None:
    """``ValidateStatefulSetSpec``."""
    spec = obj(m.get("spec"))
    template = _template(ctx, spec, "spec", always=True)
    _selected(ctx, spec, template)
    _nonnegative(ctx, spec, "replicas", "minReadySeconds")
    pmp = spec.get("podManagementPolicy", "OrderedReady")
    if isinstance(pmp, str) and pmp not in ("OrderedReady", "Parallel"):
        ctx.fail(STATEFULSET_POLICIES, "spec.podManagementPolicy", pmp)
    ust = obj(spec.get("updateStrategy")).get("type", "RollingUpdate")
    if isinstance(ust, str) and ust not in ("RollingUpdate", "OnDelete"):
        ctx.fail(STATEFULSET_POLICIES, "spec.updateStrategy.type", ust)


def daemon_set(ctx: Ctx, m: dict[str, Any]) -> None:
    spec = obj(m.get("spec"))
    template = _template(ctx, spec, "spec", always=True)
    _selected(ctx, spec, template)


def _job_spec(ctx: Ctx, spec: dict[str, Any], path: str) -> None:
    template = obj(spec.get("template"))
    tpath = join(path, "template")
    labels(ctx, join(tpath, "metadata.labels"), obj(template.get("metadata")).get("labels"))
    pod_spec(ctx, join(tpath, "spec"), template.get("spec"))
    policy = obj(template.get("spec")).get("restartPolicy", "Always")
    if isinstance(policy, str) and policy not in ("OnFailure", "Never"):
        ctx.fail(JOB_RESTART, join(tpath, "spec.restartPolicy"), policy)


def job(ctx: Ctx, m: dict[str, Any]) -> None:
    _job_spec(ctx, obj(m.get("spec")), "spec")


def cron_job(ctx: Ctx, m: dict[str, Any]) -> None:
    name = obj(m.get("metadata")).get("name")
    if isinstance(name, str) and len(name) > 52:
        ctx.fail(CRONJOB_NAME, "metadata.name", name)
    spec = obj(m.get("spec"))
    policy = spec.get("concurrencyPolicy", "Allow")
    if isinstance(policy, str) and policy not in ("Allow", "Forbid", "Replace"):
        ctx.fail(CRONJOB_CONCURRENCY, "spec.concurrencyPolicy", policy)
    _job_spec(ctx, obj(obj(spec.get("jobTemplate")).get("spec")), "spec.jobTemplate.spec")


def pod(ctx: Ctx, m: dict[str, Any]) -> None:
    pod_spec(ctx, "spec", m.get("spec"))


# --- Service --------------------------------------------------------------------------------

SERVICE_TYPE = rule(
    "service.type",
    "type must be ClusterIP, NodePort, LoadBalancer or ExternalName",
    f"{CORE} ValidateService (supportedServiceType)",
)
SERVICE_PORTS_REQUIRED = rule(
    "service.ports-required",
    "ports are required unless clusterIP is None or type is ExternalName",
    f"{CORE} ValidateService",
)
SERVICE_PORT = rule(
    "service.port.number", "port must be a valid port number", f"{CORE} validateServicePort"
)
SERVICE_PROTOCOL = rule(
    "service.port.protocol", "protocol must be TCP, UDP or SCTP", f"{CORE} validateServicePort"
)
SERVICE_PORT_NAME = rule(
    "service.port.name",
    "port names must be DNS-1123 labels, unique, and given when there is more than one port",
    f"{CORE} validateServicePort",
)
SERVICE_TARGET_PORT = rule(
    "service.port.target-port",
    "targetPort must be a port number (1-65535) or an IANA service name",
    f"{CORE} validateServicePort (ValidatePortNumOrName)",
)
SERVICE_NODE_PORT = rule(
    "service.port.node-port",
    "nodePort may not be used when type is ClusterIP (the default)",
    f"{CORE} ValidateService",
)
SERVICE_DUPLICATE = rule(
    "service.port.duplicate",
    "each (protocol, port) pair may appear once",
    f"{CORE} ValidateService",
)
SERVICE_AFFINITY = rule(
    "service.session-affinity",
    "sessionAffinity must be ClientIP or None",
    f"{CORE} ValidateService",
)
SERVICE_TRAFFIC_POLICY = rule(
    "service.traffic-policy",
    "externalTrafficPolicy and internalTrafficPolicy must be Cluster or Local;"
    " externalTrafficPolicy only on NodePort and LoadBalancer services",
    f"{CORE} validateServiceExternalTrafficPolicy, validateServiceInternalTrafficFieldsValue",
)
SERVICE_EXTERNAL_NAME = rule(
    "service.external-name",
    "an ExternalName service needs externalName, a DNS-1123 subdomain",
    f"{CORE} ValidateService",
)
SERVICE_CLUSTER_IP = rule(
    "service.cluster-ip",
    "clusterIP must be empty, 'None', or a valid IP address",
    f"{CORE} ValidateService",
)
SERVICE_SELECTOR = rule(
    "service.selector", "selector must be valid labels", f"{CORE} ValidateService (ValidateLabels)"
)


def _service_ports(ctx: Ctx, spec: dict[str, Any], kind: str) -> None:
    """``validateServicePort`` over every port, and the duplicate (protocol, port) check."""
    ports = arr(spec.get("ports"))
    names: set[str] = set()
    pairs: set[tuple[Any, Any]] = set()
    for i, p in enumerate(ports):
        p = obj(p)
        where = join("spec.ports", i)
        name = p.get("name")
        if len(ports) > 1 and name in (None, ""):
            ctx.fail(
                SERVICE_PORT_NAME, join(where, "name"), name, "required with more than one port"
            )
        elif isinstance(name, str) and name:
            ctx.check(SERVICE_PORT_NAME, join(where, "name"), name, kn.is_dns1123_label(name))
            if name in names:
                ctx.fail(SERVICE_PORT_NAME, join(where, "name"), name, "duplicate")
            names.add(name)
        port, protocol = p.get("port"), p.get("protocol", "TCP")
        if is_int(port):
            ctx.check(SERVICE_PORT, join(where, "port"), port, kn.is_valid_port_num(port))
        if isinstance(protocol, str) and protocol not in ("TCP", "UDP", "SCTP"):
            ctx.fail(SERVICE_PROTOCOL, join(where, "protocol"), protocol)
        target = p.get("targetPort")
        if is_int(target):
            ctx.check(
                SERVICE_TARGET_PORT, join(where, "targetPort"), target, kn.is_valid_port_num(target)
            )
        elif isinstance(target, str):
            ctx.check(
                SERVICE_TARGET_PORT,
                join(where, "targetPort"),
                target,
                kn.is_valid_port_name(target),
            )
        if kind == "ClusterIP" and p.get("nodePort") not in (None, 0):
            ctx.fail(SERVICE_NODE_PORT, join(where, "nodePort"), p["nodePort"])
        if known(port) and known(protocol):
            if (protocol, port) in pairs:
                ctx.fail(SERVICE_DUPLICATE, where, {"protocol": protocol, "port": port})
            pairs.add((protocol, port))


def service(ctx: Ctx, m: dict[str, Any]) -> None:
    """``ValidateService`` on create."""
    spec = obj(m.get("spec"))
    kind = spec.get("type", "ClusterIP")
    if not isinstance(kind, str):
        return
    if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        ctx.fail(SERVICE_TYPE, "spec.type", kind)
    cluster_ip = spec.get("clusterIP")
    if isinstance(cluster_ip, str) and cluster_ip not in ("", "None"):
        try:
            ipaddress.ip_address(cluster_ip)
        except ValueError:
            ctx.fail(SERVICE_CLUSTER_IP, "spec.clusterIP", cluster_ip)
    if "ports" not in spec and cluster_ip != "None" and kind != "ExternalName":
        ctx.fail(SERVICE_PORTS_REQUIRED, "spec.ports", None)
    _service_ports(ctx, spec, kind)
    affinity = spec.get("sessionAffinity", "None")
    if isinstance(affinity, str) and affinity not in ("ClientIP", "None"):
        ctx.fail(SERVICE_AFFINITY, "spec.sessionAffinity", affinity)
    for f in ("externalTrafficPolicy", "internalTrafficPolicy"):
        v = spec.get(f)
        if isinstance(v, str) and v not in ("Cluster", "Local"):
            ctx.fail(SERVICE_TRAFFIC_POLICY, join("spec", f), v)
    etp = spec.get("externalTrafficPolicy")
    if (
        isinstance(etp, str)
        and kind not in ("NodePort", "LoadBalancer")
        and not spec.get("externalIPs")
    ):
        ctx.fail(SERVICE_TRAFFIC_POLICY, "spec.externalTrafficPolicy", etp, f"type is {kind}")
    if kind == "ExternalName":
        name = spec.get("externalName")
        if not name or (isinstance(name, str) and kn.is_dns1123_subdomain(name.rstrip("."))):
            ctx.fail(SERVICE_EXTERNAL_NAME, "spec.externalName", name)
    labels(ctx, "spec.selector", spec.get("selector"), SERVICE_SELECTOR, SERVICE_SELECTOR)


# --- ConfigMap, Secret ----------------------------------------------------------------------

DATA_KEY = rule(
    "config.key",
    "keys must consist of alphanumerics, '-', '_' or '.' (IsConfigMapKey)",
    f"{CORE} ValidateConfigMap, ValidateSecret",
)
DATA_DUPLICATE = rule(
    "config.duplicate-key",
    "a key may not be in both data and binaryData",
    f"{CORE} ValidateConfigMap",
)
DATA_SIZE = rule(
    "config.size",
    f"data may not exceed {MAX_CONFIG_BYTES} bytes in total",
    f"{CORE} ValidateConfigMap, ValidateSecret (MaxSecretSize)",
)
DATA_BASE64 = rule(
    "config.base64",
    "binaryData and Secret data values must be base64 (they are bytes in the API)",
    "Go encoding/json decode.go literalStore ([]byte fields are base64), as the API server"
    " decodes the request",
)


def _data(ctx: Ctx, m: dict[str, Any], text_field: str, bytes_field: str, dup: bool) -> None:
    total = 0
    text, raw = obj(m.get(text_field)), obj(m.get(bytes_field))
    for f, bag in ((text_field, text), (bytes_field, raw)):
        for k, v in bag.items():
            ctx.check(DATA_KEY, join(f, k), k, kn.is_config_map_key(k))
            if not isinstance(v, str):
                continue
            if f == bytes_field:
                if not is_base64(v):
                    ctx.fail(DATA_BASE64, join(f, k), v)
                    continue
                total += len(base64.b64decode(v))
            else:
                total += len(v.encode())
    for k in sorted(set(text) & set(raw)) if dup else ():  # a Secret's stringData wins
        ctx.fail(DATA_DUPLICATE, join(bytes_field, k), k)
    if total > MAX_CONFIG_BYTES:
        ctx.fail(DATA_SIZE, text_field, f"{total} bytes")


def config_map(ctx: Ctx, m: dict[str, Any]) -> None:
    _data(ctx, m, "data", "binaryData", dup=True)


def secret(ctx: Ctx, m: dict[str, Any]) -> None:
    _data(ctx, m, "stringData", "data", dup=False)


# --- HorizontalPodAutoscaler ----------------------------------------------------------------

HPA_MIN = rule(
    "hpa.min-replicas",
    "minReplicas must be at least 1",
    f"{AUTOSCALING} validateHorizontalPodAutoscalerSpec",
)
HPA_MAX = rule(
    "hpa.max-replicas",
    "maxReplicas must be at least 1 and at least minReplicas",
    f"{AUTOSCALING} validateHorizontalPodAutoscalerSpec",
)
HPA_TARGET_REF = rule(
    "hpa.scale-target-ref",
    "scaleTargetRef needs kind and name, valid path segments",
    f"{AUTOSCALING} ValidateCrossVersionObjectReference",
)
HPA_METRIC = rule(
    "hpa.metric-source",
    "type must be Object, Pods, Resource, ContainerResource or External, with that source and"
    " only that one populated",
    f"{AUTOSCALING} validateMetricSpec",
)
HPA_TARGET = rule(
    "hpa.metric-target",
    "target.type must be Utilization, Value or AverageValue; averageUtilization > 0; value and"
    " averageValue positive; not both averageUtilization and averageValue",
    f"{AUTOSCALING} validateMetricTarget, validateResourceSource",
)
HPA_BEHAVIOR = rule(
    "hpa.behavior",
    "stabilizationWindowSeconds 0-3600; selectPolicy Max, Min or Disabled; policies of type Pods"
    " or Percent with value > 0 and periodSeconds 1-1800",
    f"{AUTOSCALING} validateScalingRules, validateScalingPolicy",
)
_METRIC_SOURCES = {
    "Object": "object",
    "Pods": "pods",
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "External": "external",
}


def _segment_ok(value: str) -> bool:
    """``IsValidPathSegmentName``: not '.' or '..', no '/' or '%'."""
    return value not in (".", "..") and "/" not in value and "%" not in value


def _metric(ctx: Ctx, path: str, metric: dict[str, Any]) -> None:
    kind = metric.get("type")
    if not isinstance(kind, str):
        return
    source = _METRIC_SOURCES.get(kind)
    present = [f for f in _METRIC_SOURCES.values() if f in metric]
    if source is None or source not in present or len(present) != 1:
        ctx.fail(HPA_METRIC, join(path, "type"), kind, f"populated: {present}")
    if source is None:
        return
    target = obj(obj(metric.get(source)).get("target"))
    where = join(join(path, source), "target")
    ttype = target.get("type")
    if isinstance(ttype, str) and ttype not in ("Utilization", "Value", "AverageValue"):
        ctx.fail(HPA_TARGET, join(where, "type"), ttype)
    util = target.get("averageUtilization")
    if is_int(util) and util < 1:
        ctx.fail(HPA_TARGET, join(where, "averageUtilization"), util)
    for f in ("value", "averageValue"):
        q = kn.parse_quantity(target[f]) if f in target and known(target[f]) else None
        if f in target and known(target[f]) and (q is None or q <= 0):
            ctx.fail(HPA_TARGET, join(where, f), target[f])
    if (
        source in ("resource", "containerResource")
        and "averageUtilization" in target
        and "averageValue" in target
    ):
        ctx.fail(HPA_TARGET, join(where, "averageValue"), target["averageValue"], "both set")


def _scaling_rules(ctx: Ctx, path: str, rules: dict[str, Any]) -> None:
    window = rules.get("stabilizationWindowSeconds")
    if is_int(window) and not 0 <= window <= 3600:
        ctx.fail(HPA_BEHAVIOR, join(path, "stabilizationWindowSeconds"), window)
    select = rules.get("selectPolicy")
    if isinstance(select, str) and select not in ("Max", "Min", "Disabled"):
        ctx.fail(HPA_BEHAVIOR, join(path, "selectPolicy"), select)
    for i, p in enumerate(arr(rules.get("policies"))):
        p = obj(p)
        where = join(join(path, "policies"), i)
        if isinstance(p.get("type"), str) and p["type"] not in ("Pods", "Percent"):
            ctx.fail(HPA_BEHAVIOR, join(where, "type"), p["type"])
        if is_int(p.get("value")) and p["value"] <= 0:
            ctx.fail(HPA_BEHAVIOR, join(where, "value"), p["value"])
        period = p.get("periodSeconds")
        if is_int(period) and not 1 <= period <= 1800:
            ctx.fail(HPA_BEHAVIOR, join(where, "periodSeconds"), period)


def hpa(ctx: Ctx, m: dict[str, Any]) -> None:
    """``validateHorizontalPodAutoscalerSpec`` (autoscaling/v2)."""
    spec = obj(m.get("spec"))
    lo, hi = spec.get("minReplicas"), spec.get("maxReplicas")
    if is_int(lo) and lo < 1:
        ctx.fail(HPA_MIN, "spec.minReplicas", lo)
    if is_int(hi) and (hi < 1 or (is_int(lo) and hi < lo)):
        ctx.fail(HPA_MAX, "spec.maxReplicas", hi)
    ref = obj(spec.get("scaleTargetRef"))
    for f in ("kind", "name"):
        v = ref.get(f)
        if isinstance(v, str) and (v == "" or not _segment_ok(v)):  # a missing one: schema
            ctx.fail(HPA_TARGET_REF, join("spec.scaleTargetRef", f), v)
    for i, metric in enumerate(arr(spec.get("metrics"))):
        _metric(ctx, join("spec.metrics", i), obj(metric))
    behavior = obj(spec.get("behavior"))
    for f in ("scaleUp", "scaleDown"):
        _scaling_rules(ctx, join("spec.behavior", f), obj(behavior.get(f)))


# --- PodDisruptionBudget --------------------------------------------------------------------

PDB_BOTH = rule(
    "pdb.min-and-max",
    "minAvailable and maxUnavailable cannot be both set",
    f"{POLICY} ValidatePodDisruptionBudgetSpec",
)
PDB_INT_OR_PERCENT = rule(
    "pdb.int-or-percent",
    "must be a non-negative integer or a percentage of at most 100%",
    f"{POLICY} ValidatePodDisruptionBudgetSpec (ValidatePositiveIntOrPercent)",
)
PDB_EVICTION = rule(
    "pdb.unhealthy-pod-eviction-policy",
    "unhealthyPodEvictionPolicy must be IfHealthyBudget or AlwaysAllow",
    f"{POLICY} ValidatePodDisruptionBudgetSpec",
)


def pdb(ctx: Ctx, m: dict[str, Any]) -> None:
    spec = obj(m.get("spec"))
    if "minAvailable" in spec and "maxUnavailable" in spec:
        ctx.fail(PDB_BOTH, "spec", {k: spec[k] for k in ("minAvailable", "maxUnavailable")})
    for f in ("minAvailable", "maxUnavailable"):
        if f in spec:
            int_or_percent(ctx, PDB_INT_OR_PERCENT, join("spec", f), spec[f])
    if "selector" in spec:
        label_selector(ctx, "spec.selector", spec["selector"])
    policy = spec.get("unhealthyPodEvictionPolicy")
    if isinstance(policy, str) and policy not in ("IfHealthyBudget", "AlwaysAllow"):
        ctx.fail(PDB_EVICTION, "spec.unhealthyPodEvictionPolicy", policy)


# --- NetworkPolicy --------------------------------------------------------------------------

NETPOL_TYPES = rule(
    "netpol.policy-types",
    "policyTypes may hold Ingress and Egress, at most once each",
    f"{NETWORKING} ValidateNetworkPolicySpec",
)
NETPOL_PORT = rule(
    "netpol.port",
    "protocol TCP, UDP or SCTP; port a number (1-65535) or an IANA service name; endPort only"
    " with a numeric port and not below it",
    f"{NETWORKING} ValidateNetworkPolicyPort",
)
NETPOL_PEER = rule(
    "netpol.peer",
    "a peer needs podSelector, namespaceSelector or ipBlock, and ipBlock stands alone",
    f"{NETWORKING} ValidateNetworkPolicyPeer",
)
NETPOL_IPBLOCK = rule(
    "netpol.ip-block",
    "cidr must be a valid CIDR and every except a CIDR strictly inside it",
    f"{NETWORKING} ValidateIPBlock",
)


def _netpol_port(ctx: Ctx, path: str, p: dict[str, Any]) -> None:
    protocol = p.get("protocol", "TCP")
    if isinstance(protocol, str) and protocol not in ("TCP", "UDP", "SCTP"):
        ctx.fail(NETPOL_PORT, join(path, "protocol"), protocol)
    port, end = p.get("port"), p.get("endPort")
    if is_int(port):
        ctx.check(NETPOL_PORT, join(path, "port"), port, kn.is_valid_port_num(port))
    elif isinstance(port, str):
        ctx.check(NETPOL_PORT, join(path, "port"), port, kn.is_valid_port_name(port))
    if is_int(end) and known(port) and (not is_int(port) or end < port):
        ctx.fail(NETPOL_PORT, join(path, "endPort"), end, f"port is {port!r}")


def _ip_block(ctx: Ctx, path: str, block: dict[str, Any]) -> None:
    cidr = block.get("cidr")
    if not isinstance(cidr, str):
        return
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        ctx.fail(NETPOL_IPBLOCK, join(path, "cidr"), cidr)
        return
    for i, e in enumerate(arr(block.get("except"))):
        if not isinstance(e, str):
            continue
        try:
            inner = ipaddress.ip_network(e, strict=False)
            ok = inner.version == net.version and inner.subnet_of(net) and inner != net  # type: ignore[arg-type]
        except ValueError:
            ok = False
        if not ok:
            ctx.fail(NETPOL_IPBLOCK, join(join(path, "except"), i), e, f"cidr is {cidr}")


def _netpol_rules(ctx: Ctx, direction: str, peers_field: str, spec: dict[str, Any]) -> None:
    for i, r in enumerate(arr(spec.get(direction))):
        r = obj(r)
        where = join(join("spec", direction), i)
        for j, p in enumerate(arr(r.get("ports"))):
            _netpol_port(ctx, join(join(where, "ports"), j), obj(p))
        for j, peer in enumerate(arr(r.get(peers_field))):
            peer = obj(peer)
            ppath = join(join(where, peers_field), j)
            present = [k for k in ("podSelector", "namespaceSelector", "ipBlock") if k in peer]
            if not present or ("ipBlock" in present and len(present) > 1):
                ctx.fail(NETPOL_PEER, ppath, present)
            for k in ("podSelector", "namespaceSelector"):
                if k in peer:
                    label_selector(ctx, join(ppath, k), peer[k])
            if "ipBlock" in peer:
                _ip_block(ctx, join(ppath, "ipBlock"), obj(peer["ipBlock"]))


def network_policy(ctx: Ctx, m: dict[str, Any]) -> None:
    """``ValidateNetworkPolicySpec``."""
    spec = obj(m.get("spec"))
    label_selector(ctx, "spec.podSelector", spec.get("podSelector"))
    types = arr(spec.get("policyTypes"))
    for i, t in enumerate(types):
        if isinstance(t, str) and t not in ("Ingress", "Egress"):
            ctx.fail(NETPOL_TYPES, join("spec.policyTypes", i), t)
    if len(types) > 2 or len(set(map(str, types))) != len(types):
        ctx.fail(NETPOL_TYPES, "spec.policyTypes", types)
    _netpol_rules(ctx, "ingress", "from", spec)
    _netpol_rules(ctx, "egress", "to", spec)


KIND_RULES: dict[str, Callable[[Ctx, dict[str, Any]], None]] = {
    "Pod": pod,
    "Deployment": deployment,
    "ReplicaSet": replica_set,
    "StatefulSet": stateful_set,
    "DaemonSet": daemon_set,
    "Job": job,
    "CronJob": cron_job,
    "Service": service,
    "ConfigMap": config_map,
    "Secret": secret,
    "HorizontalPodAutoscaler": hpa,
    "PodDisruptionBudget": pdb,
    "NetworkPolicy": network_policy,
}
"""Kinds with rules beyond their metadata (every built-in kind gets the metadata rules)."""


def validate(kind: str, manifest: dict[str, Any], version: str, resource_name: str) -> Ctx:
    """Every API-server rule for one built-in object; the problems are in ``ctx.problems``."""
    ctx = Ctx(version)
    metadata(ctx, kind, manifest, resource_name)
    if kind in KIND_RULES:
        KIND_RULES[kind](ctx, manifest)
    return ctx
