"""API-server rules for a pod spec (a Pod's ``spec`` or a workload's ``spec.template.spec``):
containers, ports, environment, resources, probes, volumes, scheduling fields.

Each rule names its function in kubernetes/kubernetes ``pkg/apis/core/validation`` (see
:mod:`.kube_rules` for the framework)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from summit_platform.automation.plan.provider_check import kube_names as kn
from summit_platform.automation.plan.provider_check.kube_rules import (
    CORE,
    QUANTITY,
    Ctx,
    arr,
    is_int,
    known,
    labels,
    obj,
    rule,
)
from summit_platform.automation.plan.provider_check.model import join

CONTAINER_NAME = rule(
    "pod.container.name",
    "container names must be DNS-1123 labels",
    f"{CORE} validateContainerCommon",
)
CONTAINER_UNIQUE = rule(
    "pod.container.name-unique",
    "container names must be unique across containers and initContainers",
    f"{CORE} validateContainers",
)
IMAGE = rule("pod.container.image", "image is required", f"{CORE} validateContainerCommon")
PULL_POLICY = rule(
    "pod.container.image-pull-policy",
    "imagePullPolicy must be Always, IfNotPresent or Never",
    f"{CORE} validatePullPolicy",
)
TERMINATION_MESSAGE = rule(
    "pod.container.termination-message-policy",
    "terminationMessagePolicy must be File or FallbackToLogsOnError",
    f"{CORE} validateContainerCommon",
)
PORT_NUMBER = rule(
    "pod.port.number", "containerPort must be a valid port number", f"{CORE} validateContainerPorts"
)
HOST_PORT = rule(
    "pod.port.host-port", "hostPort must be a valid port number", f"{CORE} validateContainerPorts"
)
PORT_PROTOCOL = rule(
    "pod.port.protocol",
    "protocol must be TCP, UDP or SCTP",
    f"{CORE} validateContainerPorts (supportedPortProtocols)",
)
PORT_NAME = rule(
    "pod.port.name",
    "port names must be IANA service names (IsValidPortName)",
    f"{CORE} validateContainerPorts",
)
PORT_NAME_UNIQUE = rule(
    "pod.port.name-unique",
    "port names must be unique in a container",
    f"{CORE} validateContainerPorts",
)
ENV_NAME = rule("pod.env.name", "invalid environment variable name", f"{CORE} validateEnvVarName")
ENV_VALUE_FROM = rule(
    "pod.env.value-and-value-from",
    "valueFrom may not be specified when value is not empty",
    f"{CORE} ValidateEnv",
)
ENV_ONE_SOURCE = rule(
    "pod.env.value-from-one-source",
    "valueFrom must specify exactly one of fieldRef, resourceFieldRef, configMapKeyRef,"
    " secretKeyRef, fileKeyRef",
    f"{CORE} validateEnvVarValueFrom",
)
RESOURCE_NAME = rule(
    "pod.resources.name",
    "must be a standard resource for containers (cpu, memory, ephemeral-storage, hugepages-<size>)"
    " or a fully qualified extended resource name",
    f"{CORE} ValidateContainerResourceName",
)
QUANTITY_SYNTAX = rule("pod.resources.quantity", kn.QUANTITY_MESSAGE, f"{QUANTITY} ParseQuantity")
QUANTITY_NEGATIVE = rule(
    "pod.resources.non-negative",
    "must be greater than or equal to 0",
    f"{CORE} ValidateResourceQuantityValue (ValidateNonnegativeQuantity)",
)
REQUESTS_LIMITS = rule(
    "pod.resources.requests-within-limits",
    "a request must be less than or equal to its limit",
    f"{CORE} ValidateContainerResourceRequirements",
)
PROBE_HANDLER = rule(
    "pod.probe.handler",
    "a probe must specify exactly one handler (exec, httpGet, tcpSocket or grpc)",
    f"{CORE} validateHandler",
)
PROBE_NONNEGATIVE = rule(
    "pod.probe.non-negative", "must be greater than or equal to 0", f"{CORE} validateProbe"
)
PROBE_SUCCESS = rule(
    "pod.probe.success-threshold",
    "successThreshold must be 1 for liveness and startup probes",
    f"{CORE} validateContainerCommon",
)
PROBE_PORT = rule(
    "pod.probe.port",
    "must be a port number (1-65535) or an IANA service name",
    f"{CORE} ValidatePortNumOrName",
)
PROBE_SCHEME = rule(
    "pod.probe.scheme", "scheme must be HTTP or HTTPS", f"{CORE} validateHTTPGetAction"
)
MOUNT_VOLUME = rule(
    "pod.volume-mount.volume",
    "volumeMounts must name a volume of the pod",
    f"{CORE} ValidateVolumeMounts",
)
MOUNT_PATH_UNIQUE = rule(
    "pod.volume-mount.path-unique", "mountPath must be unique", f"{CORE} ValidateVolumeMounts"
)
VOLUME_NAME = rule(
    "pod.volume.name", "volume names must be DNS-1123 labels", f"{CORE} ValidateVolumes"
)
VOLUME_UNIQUE = rule(
    "pod.volume.name-unique", "volume names must be unique", f"{CORE} ValidateVolumes"
)
VOLUME_SOURCE = rule(
    "pod.volume.source",
    "a volume must specify exactly one volume type",
    f"{CORE} validateVolumeSource",
)
RESTART_POLICY = rule(
    "pod.restart-policy",
    "restartPolicy must be Always, OnFailure or Never",
    f"{CORE} validateRestartPolicy",
)
DNS_POLICY = rule(
    "pod.dns-policy",
    "dnsPolicy must be ClusterFirstWithHostNet, ClusterFirst, Default or None",
    f"{CORE} validateDNSPolicy",
)
SERVICE_ACCOUNT = rule(
    "pod.service-account-name",
    "serviceAccountName must be a DNS-1123 subdomain",
    f"{CORE} ValidatePodSpec (ValidateServiceAccountName)",
)
NODE_SELECTOR = rule(
    "pod.node-selector",
    "nodeSelector must be valid labels",
    f"{CORE} ValidatePodSpec (ValidateLabels)",
)
TOLERATION_OPERATOR = rule(
    "pod.toleration.operator",
    "operator must be Equal or Exists; Exists when key is empty; no value with Exists",
    f"{CORE} ValidateTolerations",
)
TOLERATION_EFFECT = rule(
    "pod.toleration.effect",
    "effect must be NoSchedule, PreferNoSchedule or NoExecute (NoExecute with tolerationSeconds)",
    f"{CORE} ValidateTolerations",
)
STANDARD_RESOURCES = {"cpu", "memory", "ephemeral-storage"}
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
PROBE_FIELDS = (
    "initialDelaySeconds",
    "timeoutSeconds",
    "periodSeconds",
    "successThreshold",
    "failureThreshold",
)


def pod_spec(ctx: Ctx, path: str, spec: Any) -> None:
    """Every pod-spec rule over ``spec`` (a dict, or unknown)."""
    spec = obj(spec)
    volumes = volume_names(ctx, join(path, "volumes"), spec.get("volumes"))
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, c in enumerate(arr(spec.get(group))):
            container(ctx, join(join(path, group), i), obj(c), volumes, seen)
    policy = spec.get("restartPolicy")
    if isinstance(policy, str) and policy not in ("Always", "OnFailure", "Never"):
        ctx.fail(RESTART_POLICY, join(path, "restartPolicy"), policy)
    dns = spec.get("dnsPolicy")
    if isinstance(dns, str) and dns not in (
        "ClusterFirstWithHostNet",
        "ClusterFirst",
        "Default",
        "None",
    ):
        ctx.fail(DNS_POLICY, join(path, "dnsPolicy"), dns)
    sa = spec.get("serviceAccountName")
    if isinstance(sa, str) and sa:
        ctx.check(
            SERVICE_ACCOUNT, join(path, "serviceAccountName"), sa, kn.is_dns1123_subdomain(sa)
        )
    labels(ctx, join(path, "nodeSelector"), spec.get("nodeSelector"), NODE_SELECTOR, NODE_SELECTOR)
    for i, t in enumerate(arr(spec.get("tolerations"))):
        toleration(ctx, join(join(path, "tolerations"), i), obj(t))


def volume_names(ctx: Ctx, path: str, value: Any) -> set[str] | None:
    """Check the volumes; their names (None when the list is unknown)."""
    if not known(value):
        return None
    names: set[str] = set()
    for i, v in enumerate(arr(value)):
        v = obj(v)
        where = join(path, i)
        name = v.get("name")
        if isinstance(name, str):
            ctx.check(VOLUME_NAME, join(where, "name"), name, kn.is_dns1123_label(name))
            if name in names:
                ctx.fail(VOLUME_UNIQUE, join(where, "name"), name)
            names.add(name)
        sources = [k for k in v if k != "name"]
        if len(sources) != 1:
            ctx.fail(VOLUME_SOURCE, where, sources, f"found {len(sources)}")
    return names


def container(
    ctx: Ctx, path: str, c: dict[str, Any], volumes: set[str] | None, seen: set[str]
) -> None:
    """One container: name, image, pull policy, ports, env, resources, probes, mounts."""
    name = c.get("name")
    if isinstance(name, str):
        ctx.check(CONTAINER_NAME, join(path, "name"), name, kn.is_dns1123_label(name))
        if name in seen:
            ctx.fail(CONTAINER_UNIQUE, join(path, "name"), name)
        seen.add(name)
    image = c.get("image")
    if image is None or image == "":
        ctx.fail(IMAGE, join(path, "image"), image)
    policy = c.get("imagePullPolicy")
    if isinstance(policy, str) and policy not in ("Always", "IfNotPresent", "Never"):
        ctx.fail(PULL_POLICY, join(path, "imagePullPolicy"), policy)
    tmp = c.get("terminationMessagePolicy")
    if isinstance(tmp, str) and tmp not in ("File", "FallbackToLogsOnError"):
        ctx.fail(TERMINATION_MESSAGE, join(path, "terminationMessagePolicy"), tmp)
    ports(ctx, join(path, "ports"), c.get("ports"))
    env(ctx, join(path, "env"), c.get("env"))
    resources(ctx, join(path, "resources"), obj(c.get("resources")))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe in c and known(c[probe]):
            probe_rules(ctx, join(path, probe), obj(c[probe]), probe != "readinessProbe")
    mounts(ctx, join(path, "volumeMounts"), c.get("volumeMounts"), volumes)


def ports(ctx: Ctx, path: str, value: Any) -> None:
    """``validateContainerPorts``."""
    names: set[str] = set()
    for i, p in enumerate(arr(value)):
        p = obj(p)
        where = join(path, i)
        number = p.get("containerPort")
        if is_int(number):
            ctx.check(
                PORT_NUMBER, join(where, "containerPort"), number, kn.is_valid_port_num(number)
            )
        host = p.get("hostPort")
        if is_int(host) and host != 0:
            ctx.check(HOST_PORT, join(where, "hostPort"), host, kn.is_valid_port_num(host))
        protocol = p.get("protocol")
        if isinstance(protocol, str) and protocol not in ("TCP", "UDP", "SCTP"):
            ctx.fail(PORT_PROTOCOL, join(where, "protocol"), protocol)
        name = p.get("name")
        if isinstance(name, str) and name:
            msgs = kn.is_valid_port_name(name)
            ctx.check(PORT_NAME, join(where, "name"), name, msgs)
            if not msgs and name in names:
                ctx.fail(PORT_NAME_UNIQUE, join(where, "name"), name)
            names.add(name)


def env(ctx: Ctx, path: str, value: Any) -> None:
    """``ValidateEnv``: names (relaxed from Kubernetes 1.32), value xor valueFrom."""
    predicate = kn.is_relaxed_env_var_name if ctx.minor >= 32 else kn.is_env_var_name
    for i, e in enumerate(arr(value)):
        e = obj(e)
        where = join(path, i)
        name = e.get("name")
        if isinstance(name, str):
            ctx.check(ENV_NAME, join(where, "name"), name, predicate(name))
        source = e.get("valueFrom")
        if source is None:
            continue
        if isinstance(e.get("value"), str) and e["value"]:
            ctx.fail(ENV_VALUE_FROM, join(where, "valueFrom"), source)
        if isinstance(source, dict) and len(source) != 1:
            ctx.fail(ENV_ONE_SOURCE, join(where, "valueFrom"), sorted(source))


def _resource_name_ok(name: str) -> bool:
    if "/" not in name:
        return name in STANDARD_RESOURCES or (
            name.startswith("hugepages-") and kn.parse_quantity(name[10:]) is not None
        )
    return not kn.is_qualified_name(name)


def resources(ctx: Ctx, path: str, res: dict[str, Any]) -> None:
    """``ValidateContainerResourceRequirements``: names, quantities, requests <= limits."""
    parsed: dict[str, dict[str, Any]] = {"limits": {}, "requests": {}}
    for part in ("limits", "requests"):
        for name, value in obj(res.get(part)).items():
            where = join(join(path, part), name)
            if not _resource_name_ok(name):
                ctx.fail(RESOURCE_NAME, where, name)
            if not known(value):
                continue
            q = kn.parse_quantity(value)
            if q is None:
                ctx.fail(QUANTITY_SYNTAX, where, value)
            elif q < 0:
                ctx.fail(QUANTITY_NEGATIVE, where, value)
            else:
                parsed[part][name] = (q, value)
    for name, (q, value) in parsed["requests"].items():
        limit = parsed["limits"].get(name)
        if limit is not None and q > limit[0]:
            ctx.fail(
                REQUESTS_LIMITS,
                join(join(path, "requests"), name),
                value,
                f"{name} limit is {limit[1]}",
            )


def probe_rules(ctx: Ctx, path: str, probe: dict[str, Any], success_one: bool) -> None:
    """``validateProbe``/``validateHandler``; successThreshold 1 for liveness/startup."""
    handlers = [h for h in PROBE_HANDLERS if h in probe]
    if len(handlers) != 1:
        ctx.fail(PROBE_HANDLER, path, handlers, f"found {len(handlers)}")
    for f in PROBE_FIELDS:
        v = probe.get(f)
        if is_int(v) and v < 0:
            ctx.fail(PROBE_NONNEGATIVE, join(path, f), v)
    st = probe.get("successThreshold")
    if success_one and is_int(st) and st not in (0, 1):  # 0 is defaulted to 1
        ctx.fail(PROBE_SUCCESS, join(path, "successThreshold"), st)
    for h in ("httpGet", "tcpSocket", "grpc"):
        port = obj(probe.get(h)).get("port")
        where = join(join(path, h), "port")
        if is_int(port):
            ctx.check(PROBE_PORT, where, port, kn.is_valid_port_num(port))
        elif isinstance(port, str) and h != "grpc":
            ctx.check(PROBE_PORT, where, port, kn.is_valid_port_name(port))
    scheme = obj(probe.get("httpGet")).get("scheme")
    if isinstance(scheme, str) and scheme not in ("HTTP", "HTTPS"):
        ctx.fail(PROBE_SCHEME, join(join(path, "httpGet"), "scheme"), scheme)


def mounts(ctx: Ctx, path: str, value: Any, volumes: set[str] | None) -> None:
    """``ValidateVolumeMounts``: a mount names a volume; mount paths are unique."""
    paths: set[str] = set()
    for i, m in enumerate(arr(value)):
        m = obj(m)
        where = join(path, i)
        name = m.get("name")
        if isinstance(name, str) and volumes is not None and name not in volumes:
            ctx.fail(MOUNT_VOLUME, join(where, "name"), name, "not found")
        mount_path = m.get("mountPath")
        if isinstance(mount_path, str):
            if mount_path in paths:
                ctx.fail(MOUNT_PATH_UNIQUE, join(where, "mountPath"), mount_path)
            paths.add(mount_path)


def toleration(ctx: Ctx, path: str, t: dict[str, Any]) -> None:
    """``ValidateTolerations``."""
    key, op, value, effect = t.get("key"), t.get("operator"), t.get("value"), t.get("effect")
    if not all(known(x) for x in (key, op, value, effect)):
        return
    op = op or "Equal"
    if op not in ("Equal", "Exists"):
        ctx.fail(TOLERATION_OPERATOR, join(path, "operator"), op)
    elif not key and op != "Exists":
        ctx.fail(TOLERATION_OPERATOR, join(path, "operator"), op, "key is empty")
    elif op == "Exists" and value:
        ctx.fail(TOLERATION_OPERATOR, join(path, "value"), value, "operator is Exists")
    if effect and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
        ctx.fail(TOLERATION_EFFECT, join(path, "effect"), effect)
    elif t.get("tolerationSeconds") is not None and effect != "NoExecute":
        ctx.fail(TOLERATION_EFFECT, join(path, "effect"), effect, "tolerationSeconds is set")


def is_base64(value: str) -> bool:
    """What Go's encoding/json accepts for a []byte field (standard base64, padded)."""
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True
