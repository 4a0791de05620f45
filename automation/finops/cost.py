"""The cost model: an hourly estimate for every resource of a plan graph.

Pure: plain resource dicts in (``urn``, ``type``, ``name``, ``custom``, ``parent``,
``provider``, ``inputs``/``outputs`` - the shape of ``RecordedResource.to_json()`` or of a
policy pack's ``PolicyResource``), an :class:`Estimate` out. No cloud, no engine, no clock.

Kubernetes workloads cost what OpenCost would allocate to them: replicas x (CPU request x CPU
price + memory request x RAM price), where a container's request is ``max(request, observed
usage)`` when the usage file gives an observation. AWS resources are priced from
:class:`PriceTable` by the region of their provider. Every custom resource ends up either as a
:class:`CostLine` (possibly $0 for types AWS does not bill by the hour, with the reason in its
``basis``) or in ``unpriced`` with the reason: nothing unknown is silently counted as zero.

Money is :class:`decimal.Decimal`, each line quantised to $0.0001/h, so the total is exactly
the sum of the lines that any report prints.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from summit_platform.automation import numbers, safe_io
from summit_platform.automation.errors import UserError
from summit_platform.automation.numbers import found
from summit_platform.components.render.quantities import cpu_millis, memory_bytes

DATA_DIR = Path(__file__).resolve().parent / "data"
OPENCOST_DEFAULT = DATA_DIR / "opencost_default.json"
AWS_PRICES = DATA_DIR / "aws_prices.json"

QUANTUM = Decimal("0.0001")
"""Every line is rounded to a hundredth of a cent per hour; totals are sums of lines."""
GIB = 1024**3
UNKNOWN = "<unknown>"

# --- Kubernetes parsing (quantities and the pod spec of every workload kind) -----------------

WORKLOAD_KINDS: dict[str, str] = {
    "kubernetes:apps/v1:Deployment": "Deployment",
    "kubernetes:apps/v1:StatefulSet": "StatefulSet",
    "kubernetes:apps/v1:ReplicaSet": "ReplicaSet",
    "kubernetes:apps/v1:DaemonSet": "DaemonSet",
    "kubernetes:batch/v1:Job": "Job",
    "kubernetes:batch/v1:CronJob": "CronJob",
    "kubernetes:argoproj.io/v1alpha1:Rollout": "Rollout",
    "kubernetes:core/v1:Pod": "Pod",
}
"""Every workload type token whose pods we price and police (Rollouts come from
CanaryRollout and the paved-road ServiceComponent)."""


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, Mapping):
            return None
        d = d.get(p)
    return d


def pod_template(type_: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec a workload runs (``spec.template.spec``, a CronJob's job template, a bare
    Pod's ``spec``), or None when it has none (a Rollout with ``workloadRef``)."""
    kind = WORKLOAD_KINDS.get(type_)
    if kind is None:
        return None
    if kind == "Pod":
        spec = _get(props, "spec")
    elif kind == "CronJob":
        spec = _get(props, "spec", "jobTemplate", "spec", "template", "spec")
    else:
        spec = _get(props, "spec", "template", "spec")
    return spec if isinstance(spec, Mapping) else None


def containers(pod_spec: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """``(kind, container)`` for every container, init containers included
    (kind is ``container``, ``initContainer`` or ``sidecar`` for an init container with
    ``restartPolicy: Always``, which runs as long as the pod)."""
    out: list[tuple[str, Mapping[str, Any]]] = []
    for c in pod_spec.get("initContainers") or []:
        if isinstance(c, Mapping):
            out.append(("sidecar" if c.get("restartPolicy") == "Always" else "initContainer", c))
    for c in pod_spec.get("containers") or []:
        if isinstance(c, Mapping):
            out.append(("container", c))
    return out


def container_requests(c: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(CPU millicores, memory bytes) the scheduler reserves: the request, or the limit when
    only a limit is set (Kubernetes defaults the request to the limit)."""
    res = c.get("resources") or {}
    req = res.get("requests") or {} if isinstance(res, Mapping) else {}
    lim = res.get("limits") or {} if isinstance(res, Mapping) else {}
    cpu = cpu_millis(req.get("cpu")) if isinstance(req, Mapping) else None
    mem = memory_bytes(req.get("memory")) if isinstance(req, Mapping) else None
    if cpu is None and isinstance(lim, Mapping):
        cpu = cpu_millis(lim.get("cpu"))
    if mem is None and isinstance(lim, Mapping):
        mem = memory_bytes(lim.get("memory"))
    return cpu, mem


# --- prices and usage ------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceTable:
    """Unit prices: OpenCost's allocation prices for Kubernetes and AWS list prices by region."""

    cpu_hour: Decimal
    """$ per vCPU-hour."""
    ram_gib_hour: Decimal
    """$ per GiB-hour of RAM."""
    gpu_hour: Decimal
    """$ per GPU-hour."""
    storage_gib_hour: Decimal
    """$ per GiB-hour of persistent volume."""
    aws: Mapping[str, Mapping[str, Any]]
    """region -> prices (``ec2``, ``rds``, ``ebsGbMonth``, ``albHourly``, ...)."""
    global_prices: Mapping[str, Any]
    """Prices of global services (Global Accelerator)."""
    assumptions: Mapping[str, Any] = field(default_factory=dict)
    hours_per_month: int = 730

    @classmethod
    def load(cls, opencost: Path = OPENCOST_DEFAULT, aws: Path = AWS_PRICES) -> PriceTable:
        """Read the packaged (or given) OpenCost config and AWS table."""
        oc = safe_io.load_json(opencost)
        aw = safe_io.load_json(aws)
        return cls.from_docs(oc, aw)

    @classmethod
    def from_docs(cls, oc: Mapping[str, Any], aw: Mapping[str, Any]) -> PriceTable:
        return cls(
            cpu_hour=Decimal(str(oc["CPU"])),
            ram_gib_hour=Decimal(str(oc["RAM"])),
            gpu_hour=Decimal(str(oc["GPU"])),
            storage_gib_hour=Decimal(str(oc["storage"])),
            aws=aw.get("regions", {}),
            global_prices=aw.get("global", {}),
            assumptions=aw.get("assumptions", {}),
            hours_per_month=int(aw.get("hoursPerMonth", 730)),
        )

    def region(self, name: str) -> Mapping[str, Any]:
        return self.aws.get(name, {})

    def pod_hourly(self, cpu_m: float, mem_bytes: float, gpus: float = 0) -> Decimal:
        """Unrounded $/h of one pod's allocation."""
        return (
            Decimal(str(cpu_m)) / 1000 * self.cpu_hour
            + Decimal(str(mem_bytes)) / GIB * self.ram_gib_hour
            + Decimal(str(gpus)) * self.gpu_hour
        )


@dataclass(frozen=True)
class Usage:
    """Quantities for usage-priced items and observed usage, keyed by resource name or URN.

    Per resource: ``lcu`` (load balancer capacity units per hour), ``dataTransferGb`` (GB per
    hour through an accelerator or NAT gateway), ``storageGb`` (S3), ``cpuMillis`` and
    ``memoryMiB`` (observed per pod, so allocation is max(request, usage)), ``nodes``
    (DaemonSet), ``activeFraction`` (share of hours a Job/CronJob runs). ``defaults`` holds
    the same keys for every resource."""

    resources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def of(self, r: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(self.defaults)
        out.update(self.resources.get(str(r.get("name")), {}))
        out.update(self.resources.get(str(r.get("urn")), {}))
        return out

    @classmethod
    def from_doc(cls, doc: Any, source: str = "usage file") -> Usage:
        """Validate a usage document; :class:`UserError` names the source and the dotted key
        (every quantity a finite number >= 0, ``activeFraction`` at most 1)."""
        if doc is None:
            return cls()
        if not isinstance(doc, Mapping):
            raise UserError(
                f"expected a mapping with `resources` and `defaults`, found {found(doc)}",
                source=source,
            )
        unknown = sorted(str(k) for k in set(doc) - {"resources", "defaults"})
        if unknown:
            raise UserError("unknown key (resources, defaults)", source=source, key=unknown[0])
        # Only a missing or null section is empty: `resources: []` or `defaults: 0` is a slip.
        resources = {} if doc.get("resources") is None else doc["resources"]
        defaults = {} if doc.get("defaults") is None else doc["defaults"]
        if not isinstance(resources, Mapping):
            raise UserError(
                f"expected a mapping of resource name or URN -> usage, found {found(resources)}",
                source=source,
                key="resources",
            )
        for where, m in [
            ("defaults", defaults),
            *[(f"resources.{k}", v) for k, v in resources.items()],
        ]:
            if not isinstance(m, Mapping):
                raise UserError(f"expected a mapping, found {found(m)}", source=source, key=where)
            for k, v in m.items():
                if k not in USAGE_KEYS:
                    raise UserError(
                        f"unknown usage key ({', '.join(USAGE_KEYS)})",
                        source=source,
                        key=f"{where}.{k}",
                    )
                high = 1.0 if k == "activeFraction" else None
                numbers.number(v, source=source, key=f"{where}.{k}", low=0.0, high=high)
        return cls(resources=resources, defaults=defaults)


USAGE_KEYS = (
    "lcu",
    "dataTransferGb",
    "storageGb",
    "cpuMillis",
    "memoryMiB",
    "nodes",
    "activeFraction",
)


# --- the estimate ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CostLine:
    """One priced resource."""

    urn: str
    type: str
    name: str
    hourly: Decimal
    basis: str
    """How the number was made (replicas x requests, instance type, fixed + usage ...)."""
    component: str
    """The top-level component the resource belongs to (``type::name``), or ``(stack)``."""
    region: str | None = None
    namespace: str | None = None
    usage_missing: tuple[str, ...] = ()
    """Usage-priced parts left out because the usage file has no quantity for them."""

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "hourly": float(self.hourly),
            "monthly": float(self.hourly * 730),
            "basis": self.basis,
            "component": self.component,
            "region": self.region,
            "namespace": self.namespace,
            "usage_missing": list(self.usage_missing),
        }


@dataclass(frozen=True)
class Unpriced:
    """A resource the model cannot price, and why."""

    urn: str
    type: str
    name: str
    reason: str
    component: str

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "reason": self.reason,
            "component": self.component,
        }


@dataclass(frozen=True)
class Estimate:
    """Lines and unpriced resources of one plan. ``total_hourly`` is the sum of the lines."""

    lines: tuple[CostLine, ...]
    unpriced: tuple[Unpriced, ...] = ()
    stack: str = ""

    @property
    def total_hourly(self) -> Decimal:
        return sum((line.hourly for line in self.lines), Decimal(0))

    def by_component(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for line in self.lines:
            out[line.component] = out.get(line.component, Decimal(0)) + line.hourly
        return out

    def by_namespace(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for line in self.lines:
            if line.namespace is not None:
                out[line.namespace] = out.get(line.namespace, Decimal(0)) + line.hourly
        return out

    def top(self, n: int = 3) -> list[CostLine]:
        """The n most expensive lines (ties broken by URN, so the order is stable)."""
        return sorted(self.lines, key=lambda line: (-line.hourly, line.urn))[:n]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "total_hourly": float(self.total_hourly),
            "total_monthly": float(self.total_hourly * 730),
            "currency": "USD",
            "components": {k: float(v) for k, v in sorted(self.by_component().items())},
            "resources": [line.to_json() for line in self.lines],
            "unpriced": [u.to_json() for u in self.unpriced],
        }


FREE_TYPES: dict[str, str] = {
    "aws:globalaccelerator/listener:Listener": "billed with its accelerator",
    "aws:globalaccelerator/endpointGroup:EndpointGroup": "billed with its accelerator",
    "aws:route53/record:Record": "no hourly charge (queries are usage)",
    "aws:dynamodb/table:Table": "on demand: billed per request and stored GB, no hourly charge",
    "aws:ec2/launchTemplate:LaunchTemplate": "a template; priced where a group uses it",
    "aws:iam/role:Role": "no charge",
    "aws:iam/policy:Policy": "no charge",
    "aws:iam/rolePolicy:RolePolicy": "no charge",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "no charge",
    "aws:ec2/securityGroup:SecurityGroup": "no charge",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "first 10 alarms free; usage otherwise",
    "kubernetes:core/v1:ConfigMap": "no compute",
    "kubernetes:core/v1:Secret": "no compute",
    "kubernetes:core/v1:ServiceAccount": "no compute",
    "kubernetes:core/v1:Namespace": "no compute",
    "kubernetes:policy/v1:PodDisruptionBudget": "no compute",
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": "no compute (replicas priced at spec)",
    "kubernetes:networking.k8s.io/v1:Ingress": "no compute (its load balancer is priced apart)",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": "no compute",
    "kubernetes:rbac.authorization.k8s.io/v1:Role": "no compute",
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": "no compute",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": "no compute",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": "no compute",
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule": "no compute (evaluated by Prometheus)",
    "kubernetes:monitoring.coreos.com/v1:ServiceMonitor": "no compute",
    "kubernetes:monitoring.coreos.com/v1:PodMonitor": "no compute",
    "kubernetes:argoproj.io/v1alpha1:AnalysisTemplate": "no compute (analysis runs are short)",
    "kubernetes:argoproj.io/v1alpha1:ClusterAnalysisTemplate": "no compute",
}
"""Types AWS or the cluster does not bill by the hour: priced at $0 with the reason shown."""

SKIPPED_PREFIXES = ("pulumi:providers:", "pulumi:pulumi:")


class _Unpriced(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _q(x: Decimal) -> Decimal:
    return x.quantize(QUANTUM, rounding=ROUND_HALF_UP)


def _d(x: Any) -> Decimal:
    return Decimal(str(x))


def _props(r: Mapping[str, Any]) -> Mapping[str, Any]:
    """Inputs when present (what a plan declares), else outputs (a pack's stack view)."""
    inputs = r.get("inputs")
    if isinstance(inputs, Mapping) and inputs:
        return inputs
    outputs = r.get("outputs") or r.get("props") or {}
    return outputs if isinstance(outputs, Mapping) else {}


class _Graph:
    """Lookups over the resource list: providers by reference, parents by URN."""

    def __init__(self, resources: list[Mapping[str, Any]]):
        self.by_urn = {str(r.get("urn")): r for r in resources}
        self.providers: dict[str, Mapping[str, Any]] = {}
        for r in resources:
            if str(r.get("type", "")).startswith("pulumi:providers:"):
                ref = f"{r.get('urn')}::{r.get('id') or ''}"
                self.providers[ref] = r
                self.providers[str(r.get("urn"))] = r
        self.by_name_type = {(str(r.get("type")), str(r.get("name"))): r for r in resources}

    def provider_of(self, r: Mapping[str, Any]) -> Mapping[str, Any] | None:
        ref = r.get("provider")
        if not ref:
            return None
        return self.providers.get(str(ref)) or self.providers.get(str(ref).rsplit("::", 1)[0])

    def region_of(self, r: Mapping[str, Any], default: str) -> str:
        props = _props(r)
        if isinstance(props.get("region"), str) and props["region"] != UNKNOWN:
            return props["region"]
        prov = self.provider_of(r)
        if prov is not None:
            region = _props(prov).get("region")
            if isinstance(region, str) and region != UNKNOWN:
                return region
        return default

    def namespace_of(self, r: Mapping[str, Any]) -> str:
        ns = _get(_props(r), "metadata", "namespace")
        if isinstance(ns, str) and ns != UNKNOWN:
            return ns
        prov = self.provider_of(r)
        if prov is not None:
            pns = _props(prov).get("namespace")
            if isinstance(pns, str) and pns != UNKNOWN:
                return pns
        return "default"

    def component_of(self, r: Mapping[str, Any]) -> str:
        top: Mapping[str, Any] | None = None
        parent = r.get("parent")
        seen = 0
        while parent and parent in self.by_urn and seen < 100:
            p = self.by_urn[parent]
            if str(p.get("type")) == "pulumi:pulumi:Stack":
                break
            top = p
            parent = p.get("parent")
            seen += 1
        if top is None:
            return "(stack)"
        return f"{top.get('type')}::{top.get('name')}"


def _pod_spec(r: Mapping[str, Any], g: _Graph, kind: str, name: Any) -> Mapping[str, Any]:
    """The workload's pod template; a Rollout with ``workloadRef`` borrows its Deployment's."""
    type_ = str(r["type"])
    props = _props(r)
    spec = pod_template(type_, props)
    if spec is None and kind == "Rollout":
        ref = _get(props, "spec", "workloadRef")
        if isinstance(ref, Mapping):
            target = next(
                (
                    x
                    for x in g.by_urn.values()
                    if str(x.get("type")) == "kubernetes:apps/v1:Deployment"
                    and _get(_props(x), "metadata", "name") == ref.get("name")
                ),
                None,
            )
            if target is not None:
                spec = pod_template("kubernetes:apps/v1:Deployment", _props(target))
    if spec is None:
        raise _Unpriced(f"{kind} {name}: no pod template in its inputs")
    return spec


def _pod_size(
    spec: Mapping[str, Any], kind: str, name: Any, u: Mapping[str, Any]
) -> tuple[float, float, float]:
    """(CPU millis, memory bytes, GPUs) one pod is allocated: the requests of its long-running
    containers, raised to observed usage (OpenCost allocates max(request, usage))."""
    cpu = mem = 0.0
    for ckind, c in containers(spec):
        if ckind == "initContainer":
            continue  # runs to completion before the pod starts; not allocated over time
        c_cpu, c_mem = container_requests(c)
        if c_cpu is None and "cpuMillis" not in u:
            raise _Unpriced(f"{kind} {name}: container {c.get('name')!r} has no CPU request")
        if c_mem is None and "memoryMiB" not in u:
            raise _Unpriced(f"{kind} {name}: container {c.get('name')!r} has no memory request")
        cpu += c_cpu or 0.0
        mem += c_mem or 0.0
    if not containers(spec):
        raise _Unpriced(f"{kind} {name}: pod template has no containers")
    if "cpuMillis" in u:
        cpu = max(cpu, float(u["cpuMillis"]))
    if "memoryMiB" in u:
        mem = max(mem, float(u["memoryMiB"]) * 1024**2)
    gpus = 0.0
    for _, c in containers(spec):
        lim = _get(c, "resources", "limits") or {}
        if isinstance(lim, Mapping):
            for key in ("nvidia.com/gpu", "amd.com/gpu"):
                if lim.get(key) not in (None, UNKNOWN):
                    gpus += float(lim[key])
    return cpu, mem, gpus


def _hpa_min_replicas(r: Mapping[str, Any], g: _Graph, kind: str, name: Any) -> Any:
    """``minReplicas`` (default 1) of the HorizontalPodAutoscaler in the plan that targets
    the workload ``kind``/``name`` in its namespace, or None when none does."""
    namespace = g.namespace_of(r)
    for x in g.by_urn.values():
        if not str(x.get("type")).startswith("kubernetes:autoscaling/"):
            continue
        hpa = _props(x)
        ref = _get(hpa, "spec", "scaleTargetRef") or {}
        if (
            isinstance(ref, Mapping)
            and ref.get("kind") == kind
            and ref.get("name") == name
            and g.namespace_of(x) == namespace
        ):
            floor = _get(hpa, "spec", "minReplicas")
            return 1 if floor is None else floor
    return None


def _pod_count(
    kind: str,
    props: Mapping[str, Any],
    name: Any,
    prices: PriceTable,
    u: Mapping[str, Any],
    hpa_floor: Any = None,
) -> tuple[float, str, list[str]]:
    """(pods running on average, what the count is based on, usage keys assumed).
    ``hpa_floor``: the ``minReplicas`` of an HPA that scales the workload, if one does."""
    missing: list[str] = []
    replicas: Any
    if kind in ("Deployment", "StatefulSet", "ReplicaSet", "Rollout"):
        replicas = _get(props, "spec", "replicas")
        count_basis = "replicas"
        if replicas is None and hpa_floor is not None:
            # A workload an HPA scales leaves spec.replicas to it: price the HPA's floor.
            replicas, count_basis = hpa_floor, "replicas (HPA floor)"
        if replicas is None:
            replicas = 1  # the API server's default
    elif kind == "DaemonSet":
        replicas = u.get("nodes", prices.assumptions.get("daemonSetNodes"))
        count_basis = "nodes"
        if "nodes" not in u:
            missing.append("nodes")
    elif kind in ("Job", "CronJob"):
        job = _get(props, "spec", "jobTemplate", "spec") if kind == "CronJob" else props.get("spec")
        par = _get(job, "parallelism")
        par = 1 if par is None else par
        frac = u.get("activeFraction", prices.assumptions.get("jobActiveFraction", 1.0))
        if "activeFraction" not in u:
            missing.append("activeFraction")
        if isinstance(par, bool) or not isinstance(par, int | float):
            raise _Unpriced(f"{kind} {name}: parallelism is {par!r}")
        replicas = float(par) * float(frac)
        count_basis = f"parallelism x active {float(frac):g}"
    else:
        replicas = 1
        count_basis = "pod"
    if isinstance(replicas, bool) or not isinstance(replicas, int | float):
        raise _Unpriced(f"{kind} {name}: replica count is {replicas!r} (unknown until apply)")
    return replicas, count_basis, missing


def _claims_hourly(kind: str, props: Mapping[str, Any], name: Any, prices: PriceTable) -> Decimal:
    """A StatefulSet pod's volume claims per hour (other kinds claim nothing here)."""
    storage = Decimal(0)
    if kind == "StatefulSet":
        for t in _get(props, "spec", "volumeClaimTemplates") or []:
            size = memory_bytes(_get(t, "spec", "resources", "requests", "storage"))
            if size is None:
                raise _Unpriced(f"StatefulSet {name}: a volumeClaimTemplate has no storage size")
            storage += _d(size) / GIB * prices.storage_gib_hour
    return storage


def _workload(
    r: Mapping[str, Any], g: _Graph, prices: PriceTable, u: dict[str, Any]
) -> tuple[Decimal, str, tuple[str, ...]]:
    """A Kubernetes workload: pods x (pod size at the node price + volume claims)."""
    kind = WORKLOAD_KINDS[str(r["type"])]
    props = _props(r)
    name = _get(props, "metadata", "name") or r.get("name")
    cpu, mem, gpus = _pod_size(_pod_spec(r, g, kind, name), kind, name, u)
    floor = _hpa_min_replicas(r, g, kind, name) if _get(props, "spec", "replicas") is None else None
    replicas, count_basis, missing = _pod_count(kind, props, name, prices, u, floor)
    per_pod = prices.pod_hourly(cpu, mem, gpus)
    storage = _claims_hourly(kind, props, name, prices)
    hourly = _d(replicas) * (per_pod + storage)
    basis = f"{replicas:g} {count_basis} x ({cpu:g}m CPU, {mem / 1024**2:g}Mi"
    basis += f", {gpus:g} GPU)" if gpus else ")"
    if storage:
        basis += " + volume claims"
    return hourly, basis, tuple(missing)


def _instance_price(table: Mapping[str, Any], key: str, itype: Any, region: str) -> Decimal:
    if not isinstance(itype, str) or itype == UNKNOWN:
        raise _Unpriced(f"instance type is {itype!r}")
    price = (table.get(key) or {}).get(itype)
    if price is None:
        raise _Unpriced(
            f"no {key} price for {itype} in {region} (run `summit finops refresh-prices`)"
        )
    return _d(price)


_Priced = tuple[Decimal, str, tuple[str, ...]]
"""(hourly price, how it was computed, usage keys the usage file did not give)."""


@dataclass(frozen=True)
class _AwsCtx:
    """What an AWS pricing rule reads: the resource's inputs, the graph (launch templates),
    the region's prices, the usage entry and the hours in a month."""

    props: Mapping[str, Any]
    g: _Graph
    p: Mapping[str, Any]
    u: Mapping[str, Any]
    region: str
    month: Decimal


def _price_accelerator(c: _AwsCtx, prices: PriceTable) -> _Priced:
    fixed = _d(prices.global_prices["globalAcceleratorHourly"])
    if "dataTransferGb" in c.u:
        dt = _d(c.u["dataTransferGb"]) * _d(prices.global_prices["globalAcceleratorPremiumPerGb"])
        return fixed + dt, f"fixed ${fixed}/h + {c.u['dataTransferGb']} GB/h premium", ()
    return fixed, f"fixed ${fixed}/h (data transfer not in usage file)", ("dataTransferGb",)


def _price_load_balancer(c: _AwsCtx, prices: PriceTable) -> _Priced:
    lb_type = c.props.get("loadBalancerType") or "application"
    prefix = {"application": "alb", "network": "nlb"}.get(lb_type)
    if prefix is None:
        raise _Unpriced(f"no price rule for a {lb_type} load balancer")
    fixed = _d(c.p[f"{prefix}Hourly"])
    if "lcu" in c.u:
        return (
            fixed + _d(c.u["lcu"]) * _d(c.p[f"{prefix}LcuHourly"]),
            f"{lb_type}: fixed + {c.u['lcu']} LCU",
            (),
        )
    return fixed, f"{lb_type}: fixed ${fixed}/h (LCUs not in usage file)", ("lcu",)


def _price_nat_gateway(c: _AwsCtx, prices: PriceTable) -> _Priced:
    fixed = _d(c.p["natGatewayHourly"])
    if "dataTransferGb" in c.u:
        return (
            fixed + _d(c.u["dataTransferGb"]) * _d(c.p["natGatewayPerGb"]),
            "fixed + GB processed",
            (),
        )
    return fixed, f"fixed ${fixed}/h (GB processed not in usage file)", ("dataTransferGb",)


def _price_instance(c: _AwsCtx, prices: PriceTable) -> _Priced:
    itype = c.props.get("instanceType")
    if itype is None and c.props.get("launchTemplate"):
        itype = _launch_template_type(c.props["launchTemplate"], c.g)
    return _instance_price(c.p, "ec2", itype, c.region), f"1 x {itype}", ()


def _price_node_group(c: _AwsCtx, prices: PriceTable) -> _Priced:
    size = _get(c.props, "scalingConfig", "desiredSize")
    types = c.props.get("instanceTypes") or []
    itype = types[0] if isinstance(types, list) and types else None
    if itype is None and c.props.get("launchTemplate"):
        itype = _launch_template_type(c.props["launchTemplate"], c.g)
    if itype is None:
        itype = "t3.medium"  # EKS's documented default for managed node groups
    if isinstance(size, bool) or not isinstance(size, int | float):
        raise _Unpriced(f"desiredSize is {size!r}")
    return _d(size) * _instance_price(c.p, "ec2", itype, c.region), f"{size:g} x {itype}", ()


def _price_autoscaling_group(c: _AwsCtx, prices: PriceTable) -> _Priced:
    size = c.props.get("desiredCapacity", c.props.get("minSize"))
    lt = c.props.get("launchTemplate")
    itype = _launch_template_type(lt, c.g) if lt else None
    if isinstance(size, bool) or not isinstance(size, int | float):
        raise _Unpriced(f"desiredCapacity is {size!r}")
    return _d(size) * _instance_price(c.p, "ec2", itype, c.region), f"{size:g} x {itype}", ()


def _price_rds(c: _AwsCtx, prices: PriceTable) -> _Priced:
    cls = c.props.get("instanceClass")
    price = _instance_price(c.p, "rds", cls, c.region)
    multi = 2 if c.props.get("multiAz") else 1
    gb = c.props.get("allocatedStorage") or 0
    if not isinstance(gb, int | float) or isinstance(gb, bool):
        raise _Unpriced(f"allocatedStorage is {gb!r}")
    storage = _d(gb) * _d(c.p["rdsStorageGbMonth"]) / c.month
    return _d(multi) * (price + storage), f"{multi} x {cls} + {gb:g} GB storage", ()


def _price_ebs(c: _AwsCtx, prices: PriceTable) -> _Priced:
    size = c.props.get("size")
    vtype = c.props.get("type") or "gp3"
    if isinstance(size, bool) or not isinstance(size, int | float):
        raise _Unpriced(f"size is {size!r}")
    per = (c.p.get("ebsGbMonth") or {}).get(vtype)
    if per is None:
        raise _Unpriced(f"no EBS price for volume type {vtype}")
    return _d(size) * _d(per) / c.month, f"{size:g} GB {vtype}", ()


def _price_eks_cluster(c: _AwsCtx, prices: PriceTable) -> _Priced:
    return _d(c.p["eksClusterHourly"]), "EKS control plane", ()


def _price_health_check(c: _AwsCtx, prices: PriceTable) -> _Priced:
    return _d(c.p["route53HealthCheckMonthly"]) / c.month, "health check, monthly fee / 730", ()


def _price_bucket(c: _AwsCtx, prices: PriceTable) -> _Priced:
    if "storageGb" in c.u:
        return (
            _d(c.u["storageGb"]) * _d(c.p["s3StandardGbMonth"]) / c.month,
            f"{c.u['storageGb']} GB standard",
            (),
        )
    return Decimal(0), "storage is usage-priced (storageGb not in usage file)", ("storageGb",)


_AWS_RULES = {
    "aws:globalaccelerator/accelerator:Accelerator": _price_accelerator,
    "aws:lb/loadBalancer:LoadBalancer": _price_load_balancer,
    "aws:alb/loadBalancer:LoadBalancer": _price_load_balancer,
    "aws:ec2/natGateway:NatGateway": _price_nat_gateway,
    "aws:ec2/instance:Instance": _price_instance,
    "aws:eks/nodeGroup:NodeGroup": _price_node_group,
    "aws:autoscaling/group:Group": _price_autoscaling_group,
    "aws:rds/instance:Instance": _price_rds,
    "aws:ebs/volume:Volume": _price_ebs,
    "aws:eks/cluster:Cluster": _price_eks_cluster,
    "aws:route53/healthCheck:HealthCheck": _price_health_check,
    "aws:s3/bucket:Bucket": _price_bucket,
    "aws:s3/bucketV2:BucketV2": _price_bucket,
    "aws:s3/bucket:BucketV2": _price_bucket,
}
"""The pricing rule per AWS type token."""


def _aws(
    r: Mapping[str, Any], g: _Graph, prices: PriceTable, u: dict[str, Any], region: str
) -> _Priced:
    """An AWS resource, by the pricing rule for its type (global ones need no region)."""
    type_ = str(r["type"])
    p = prices.region(region)
    if not p and type_ != "aws:globalaccelerator/accelerator:Accelerator":
        raise _Unpriced(f"no AWS prices for region {region}")
    rule = _AWS_RULES.get(type_)
    if rule is None:
        raise _Unpriced("no price rule for this type")
    ctx = _AwsCtx(_props(r), g, p, u, region, _d(prices.hours_per_month))
    return rule(ctx, prices)


def _launch_template_type(ref: Any, g: _Graph) -> str | None:
    ident = ref.get("id") or ref.get("name") if isinstance(ref, Mapping) else ref
    for x in g.by_urn.values():
        if str(x.get("type")) != "aws:ec2/launchTemplate:LaunchTemplate":
            continue
        xp = _props(x)
        if ident in (
            x.get("id"),
            xp.get("name"),
            x.get("name"),
            (x.get("outputs") or {}).get("id"),
        ):
            return xp.get("instanceType")
    return None


def _pvc(r: Mapping[str, Any], prices: PriceTable) -> tuple[Decimal, str, tuple[str, ...]]:
    size = memory_bytes(_get(_props(r), "spec", "resources", "requests", "storage"))
    if size is None:
        raise _Unpriced("no storage request")
    return _d(size) / GIB * prices.storage_gib_hour, f"{size / GIB:g} GiB", ()


def _service(
    r: Mapping[str, Any], prices: PriceTable, region: str
) -> tuple[Decimal, str, tuple[str, ...]]:
    if _get(_props(r), "spec", "type") != "LoadBalancer":
        return Decimal(0), "cluster service: no compute", ()
    p = prices.region(region)
    if not p:
        raise _Unpriced(f"no AWS prices for region {region}")
    return _d(p["nlbHourly"]), "type LoadBalancer: one NLB, fixed part", ("lcu",)


def estimate(
    resources: Iterable[Mapping[str, Any]],
    prices: PriceTable,
    usage: Usage | None = None,
    *,
    default_region: str = "us-east-1",
    stack: str = "",
) -> Estimate:
    """Price every custom resource of a plan. Components, providers and the stack are
    structure, not spend, and are skipped."""
    items = list(resources)
    usage = usage or Usage()
    g = _Graph(items)
    lines: list[CostLine] = []
    unpriced: list[Unpriced] = []
    for r in items:
        type_ = str(r.get("type", ""))
        if type_.startswith(SKIPPED_PREFIXES) or r.get("custom") is False:
            continue
        urn, name = str(r.get("urn")), str(r.get("name"))
        component = g.component_of(r)
        u = usage.of(r)
        region: str | None = None
        namespace: str | None = None
        try:
            if type_ in WORKLOAD_KINDS:
                namespace = g.namespace_of(r)
                hourly, basis, missing = _workload(r, g, prices, u)
            elif type_ == "kubernetes:core/v1:PersistentVolumeClaim":
                namespace = g.namespace_of(r)
                hourly, basis, missing = _pvc(r, prices)
            elif type_ == "kubernetes:core/v1:Service":
                namespace = g.namespace_of(r)
                region = g.region_of(r, default_region)
                hourly, basis, missing = _service(r, prices, region)
            elif type_ in FREE_TYPES:
                hourly, basis, missing = Decimal(0), FREE_TYPES[type_], ()
                if type_.startswith("kubernetes:"):
                    namespace = g.namespace_of(r)
            elif type_.startswith("aws:"):
                region = g.region_of(r, default_region)
                hourly, basis, missing = _aws(r, g, prices, u, region)
            else:
                raise _Unpriced("no price rule for this type")
        except _Unpriced as err:
            unpriced.append(Unpriced(urn, type_, name, err.reason, component))
            continue
        except (KeyError, TypeError, ValueError, ArithmeticError) as err:
            unpriced.append(Unpriced(urn, type_, name, f"could not price: {err!r}", component))
            continue
        if not math.isfinite(float(hourly)) or hourly < 0:
            unpriced.append(Unpriced(urn, type_, name, f"nonsensical price {hourly}", component))
            continue
        lines.append(
            CostLine(urn, type_, name, _q(hourly), basis, component, region, namespace, missing)
        )
    return Estimate(tuple(lines), tuple(unpriced), stack)


def load_usage(path: Path | None) -> Usage:
    """Read a usage file (YAML or JSON, through the safe YAML reader); :class:`UserError`
    names the file and the key on bad input."""
    if path is None:
        return Usage()
    return Usage.from_doc(safe_io.load_yaml(path), str(path))
