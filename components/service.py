"""ServiceComponent: one service in one region, the paved road's unit of deployment.

From one typed args object it composes what a service needs to run, be delivered and be
watched, reusing the other domains' pieces rather than copying them:

- ``<name>-namespace`` (only when ``create_namespace``) and ``<name>-sa`` (ServiceAccount);
- ``<name>-canary``: the :class:`~summit_platform.components.canary_rollout.CanaryRollout` (Rollout, stable and
  canary Services, AnalysisTemplate, flags ConfigMap) with the OTEL and Prometheus wiring in the
  pod spec;
- ``<name>-metrics`` (a headless Service over every pod of the service, stable and canary) and
  ``<name>-servicemonitor`` scraping it, relabelled with the pod-template hash the canary
  analysis needs;
- ``<name>-hpa`` (autoscaling/v2 on the Rollout), ``<name>-pdb`` (policy/v1);
- ``<name>-deny-ingress`` and ``<name>-allow-ingress`` NetworkPolicies: nothing reaches the
  service's pods but its declared callers (``callers``), the region's entry path when it is
  given one (the ingress controller's namespace, or the load balancer's source ranges) and
  Prometheus, and only on the service's port;
- ``<name>-ingress`` (only with ``ingress_host``);
- ``<name>-monitoring``: a :class:`~summit_platform.components.monitoring_rules.MonitoringRules` for this one
  service (RED, USE, SLO burn-rate rules and its dashboards); the region overview dashboard stays
  with the platform's per-region instance.

Every manifest body is a pure function of the args (:func:`manifests`), testable without mocks.
The Kubernetes provider comes through ``opts``; every child inherits it. The platform
composition maps its stack config onto these args in :mod:`summit_platform.stacks.services`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field, ValidationInfo, field_validator, model_validator

from summit_platform.components.args import ComponentArgs, ComponentArgsError
from summit_platform.components.canary_rollout import (
    CanaryRollout,
    CanaryRolloutArgs,
    component_name,
)
from summit_platform.components.monitoring_rules import TOKEN as MONITORING_TOKEN
from summit_platform.components.monitoring_rules import MonitoringRules, MonitoringRulesArgs
from summit_platform.components.render import canary as render
from summit_platform.components.render import prometheus_rules as pr
from summit_platform.components.render.analysis_cadence import starting_step_problem
from summit_platform.components.render.quantities import parse_cpu_millis, parse_memory_bytes
from summit_platform.components.render.replica_split import check_surge, int_or_percent

TOKEN = "summit:platform:Service"
SERVICE_MONITOR_API = "monitoring.coreos.com/v1"
SCRAPE_LABEL = "summit.io/scrape"
"""Label on the metrics Service that the ServiceMonitor selects (not on stable/canary, which
would scrape each pod twice)."""

_DNS1123 = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_DNS1123_SUBDOMAIN = r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"


class ServiceComponentError(ComponentArgsError):
    """Args that do not fit: one line per problem, each naming the field."""


class Caller(ComponentArgs):
    """A service whose pods may call this one: pods labelled with its name in its namespace."""

    service: Annotated[str, Field(pattern=_DNS1123)]
    """The calling service's name (its pods' ``app.kubernetes.io/name``)."""
    namespace: Annotated[str, Field(pattern=_DNS1123)] | None = None
    """Its namespace (None: this service's own namespace)."""


class ServiceComponentArgs(ComponentArgs):
    """Inputs of :class:`ServiceComponent`: one service in one region. Build them with
    :meth:`of` for errors that name each field (:class:`ServiceComponentError`)."""

    error_type = ServiceComponentError

    name: Annotated[str, Field(pattern=_DNS1123)]
    """Service name (DNS-1123): Rollout, Services, metric ``service`` label."""
    team: Annotated[str, Field(min_length=1)]
    """Owning team: the ``team`` cost label and the alerts' routing label."""
    image: Annotated[str, Field(min_length=1)]
    """Image repository without a tag."""
    version: Annotated[str, Field(min_length=1)] = "v0.1.0"
    """Image tag this region runs."""
    region: str
    """Region this instance runs in (scopes flags, analysis and metric labels)."""
    env: Annotated[str, Field(min_length=1)]
    """Environment (the ``env`` cost label, ``deployment.environment`` for OTEL)."""
    cost_center: Annotated[str, Field(min_length=1)]
    """The ``cost-center`` cost label."""
    namespace: Annotated[str, Field(pattern=_DNS1123)]
    """Namespace of the service's objects."""
    create_namespace: bool = True
    """Create the namespace (False when it is shared and owned elsewhere, as in the platform)."""
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    """Container port named ``http`` (serves the API and ``/metrics``)."""
    min_replicas: Annotated[int, Field(ge=1)] = 2
    """HPA floor. The Rollout sets no replica count of its own: the HPA owns it."""
    max_replicas: Annotated[int, Field(ge=1)] = 6
    """HPA ceiling."""
    cpu_request: str = "250m"
    """Container CPU request (the FinOps pack caps it)."""
    memory_request: str = "256Mi"
    """Container memory request (the FinOps pack caps it)."""
    cpu_limit: str = "500m"
    """Container CPU limit."""
    memory_limit: str = "512Mi"
    """Container memory limit."""
    target_cpu_utilization: Annotated[int, Field(ge=10, le=100)] = 70
    """HPA target: average CPU utilisation in percent of the request."""
    slo_objective: Annotated[float, Field(gt=0, lt=100)] = 99.9
    """Availability SLO in percent."""
    latency_threshold_ms: Annotated[float, Field(gt=0)] = 1500
    """Latency SLO threshold (a histogram bucket bound of the app) and canary p95 gate."""
    latency_objective: Annotated[float, Field(gt=0, lt=100)] = 99.0
    """Percent of requests faster than the threshold."""
    min_request_rate: Annotated[float, Field(ge=0)] = 0.1
    """Requests/s below which burn-rate pages stay silent (low-traffic guard)."""
    error_ratio: Annotated[float, Field(gt=0, lt=1)] = render.DEFAULT_ANALYSIS.error_ratio
    """Canary error-ratio gate."""
    steps: list[dict[str, Any]] = Field(default_factory=render.default_steps)
    """Canary steps (default: the 10/50/100 ladder), validated by the delivery builder."""
    flags: dict[str, bool] = Field(default_factory=dict)
    """The region's effective feature flags."""
    deliver: bool = True
    """Run the workload through a canary Rollout (False: no Rollout, HPA or PDB here)."""
    otel_endpoint: str = "http://otel-collector.monitoring:4317"
    """OTLP endpoint the pods export traces to."""
    runtime_class: str | None = None
    """Pod ``runtimeClassName`` (e.g. ``gvisor``), if any."""
    ingress_host: str | None = None
    """Create an Ingress for this host (the gateway's public name), if set."""
    ingress_class: str = "alb"
    """IngressClass of that Ingress."""
    ingress_namespace: Annotated[str, Field(pattern=_DNS1123)] | None = "ingress-nginx"
    """Namespace of the ingress controller whose pods may reach the service (None: none; an
    internal service that only its callers reach)."""
    entry_cidrs: list[str] = Field(default_factory=list)
    """Source ranges of a load balancer that targets the pods directly (an ALB with IP
    targets connects from its subnets): admitted like the ingress controller."""
    callers: list[Caller] = Field(default_factory=list)
    """Services whose pods may call this one; no other pod gets in."""
    prometheus_namespace: str = "monitoring"
    """Namespace of Prometheus: allowed to scrape, and where the rules go (unless
    ``rules_namespace``)."""
    rules_namespace: Annotated[str, Field(pattern=_DNS1123)] | None = None
    """Namespace of the service's PrometheusRule and dashboards, when not Prometheus's own (a
    preview keeps every object it creates in its namespace)."""
    metric_service: Annotated[str, Field(pattern=_DNS1123)] | None = None
    """The ``service`` label value on this service's series (None: ``name``). When it differs,
    the ServiceMonitor rewrites the label at scrape time, and the rules, dashboards and canary
    analysis read the rewritten value: two stacks sharing one Prometheus (a preview beside
    stage) then never read each other's series."""
    alert_labels: dict[str, str] = Field(default_factory=dict)
    """Static labels on every SLO alert (Alertmanager routing, e.g. ``route: preview``)."""
    rule_selector_labels: dict[str, str] = Field(
        default_factory=lambda: {"release": "kube-prometheus-stack"}
    )
    """Labels the Prometheus ``ruleSelector``/``serviceMonitorSelector`` match."""
    dashboard_label: str = "grafana_dashboard"
    """Label the Grafana sidecar watches."""
    slo_period_days: Annotated[int, Field(ge=1, le=90)] = 30
    """SLO period of the burn-rate rules."""
    runbook_base_url: str = "https://runbooks.summit.example/slo"
    """Runbook annotation prefix of the alerts."""
    dashboard_base_url: str = "https://grafana.summit.example/d"
    """Dashboard annotation prefix of the alerts."""
    metrics: pr.MetricContract = Field(default_factory=pr.MetricContract)
    """Metric and label names the app exports (the observability contract)."""
    analysis: render.AnalysisSettings | None = None
    """Full canary analysis settings; None derives them from the SLO fields above."""
    progress_deadline_seconds: Annotated[int, Field(ge=60)] = (
        render.DEFAULT_PROGRESS_DEADLINE_SECONDS
    )
    """Seconds without progress before the rollout aborts."""
    abort_scale_down_delay_seconds: Annotated[int, Field(ge=0)] = (
        render.DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS
    )
    """Seconds an aborted canary's pods stay up."""
    analysis_starting_step: Annotated[int, Field(ge=0)] | None = None
    """Step index from which background analysis runs (None: the first serving step)."""
    max_surge: int | str = render.DEFAULT_MAX_SURGE
    """Canary steps: pods (or percent) above the desired count."""
    max_unavailable: int | str = render.DEFAULT_MAX_UNAVAILABLE
    """Canary steps: pods (or percent) below the desired count."""
    traffic_routing: Literal["none", "alb", "nginx"] = "none"
    """``none`` (replica ratio), ``alb`` or ``nginx``."""
    monitoring: bool = True
    """Create the service's PrometheusRule and dashboards (the platform's
    ``observability.enabled``)."""
    scrape_interval: str = "30s"
    """ServiceMonitor scrape interval."""
    legacy_aliases: bool = False
    """Platform stacks deployed before ServiceComponent existed: alias the CanaryRollout (was
    the top-level ``<service>-<region>``) and the rules/dashboards (were children of the
    per-region MonitoringRules ``obs-<region>``) so an update moves them instead of replacing."""

    @field_validator("cpu_request", "cpu_limit")
    @classmethod
    def _cpu(cls, v: str) -> str:
        parse_cpu_millis(v)
        return v

    @field_validator("memory_request", "memory_limit")
    @classmethod
    def _mem(cls, v: str) -> str:
        parse_memory_bytes(v)
        return v

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return render.build_steps(v)

    @field_validator("entry_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for cidr in v:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise ValueError(f"expected a CIDR without host bits, found {cidr!r}") from None
        return v

    @field_validator("max_surge", "max_unavailable", mode="before")
    @classmethod
    def _int_or_percent(cls, v: Any, info: ValidationInfo) -> int | str:
        return int_or_percent(v, str(info.field_name))

    @field_validator("runtime_class")
    @classmethod
    def _runtime_class(cls, v: str | None) -> str | None:
        # The API server's rule for runtimeClassName (a RuntimeClass object's name).
        if v is not None and not re.fullmatch(_DNS1123_SUBDOMAIN, v):
            raise ValueError(f"expected a RuntimeClass name (DNS-1123 subdomain), found {v!r}")
        return v

    @field_validator("otel_endpoint")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL, found {v!r}")
        return v

    @model_validator(mode="after")
    def _cross(self) -> ServiceComponentArgs:
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"max_replicas: expected >= min_replicas ({self.min_replicas}),"
                f" found {self.max_replicas}"
            )
        if parse_cpu_millis(self.cpu_limit) < parse_cpu_millis(self.cpu_request):
            raise ValueError(f"cpu_limit: expected >= cpu_request, found {self.cpu_limit}")
        if parse_memory_bytes(self.memory_limit) < parse_memory_bytes(self.memory_request):
            raise ValueError(f"memory_limit: expected >= memory_request, found {self.memory_limit}")
        if self.analysis_starting_step is not None:
            problem = starting_step_problem(self.steps, self.analysis_starting_step)
            if problem:
                raise ValueError(f"analysis_starting_step: {problem}")
        check_surge(self.max_surge, self.max_unavailable)
        return self

    @property
    def series_service(self) -> str:
        """The ``service`` label value on this service's series."""
        return self.metric_service or self.name

    @property
    def labels(self) -> dict[str, str]:
        """Cost-allocation labels for every object (FinOps allocates by them)."""
        return {
            "team": self.team,
            "service": self.name,
            "env": self.env,
            "cost-center": self.cost_center,
        }


# --- pure manifests --------------------------------------------------------------------------


def pod_wiring(a: ServiceComponentArgs) -> tuple[dict[str, str], dict[str, str]]:
    """(env, pod annotations): the OTEL SDK's standard variables and the Prometheus contract
    (the app labels its histogram with ``service``/``region``/``code`` from these)."""
    env = {
        "OTEL_SERVICE_NAME": a.name,
        "OTEL_EXPORTER_OTLP_ENDPOINT": a.otel_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
        "OTEL_RESOURCE_ATTRIBUTES": (
            f"service.namespace={a.namespace},deployment.environment={a.env},"
            f"cloud.region={a.region},team={a.team}"
        ),
        "SUMMIT_SERVICE": a.name,
        "SUMMIT_METRICS_PATH": "/metrics",
        "PORT": str(a.port),
    }
    annotations = {
        "prometheus.io/path": "/metrics",
        "prometheus.io/port": str(a.port),
    }
    return env, annotations


def _meta(
    a: ServiceComponentArgs, name: str, extra: dict[str, str] | None = None, ns: bool = True
) -> dict[str, Any]:
    """``metadata``: the name, the cost labels plus the app label (and ``extra``), and the
    service's namespace unless ``ns`` is False (cluster-scoped objects)."""
    m: dict[str, Any] = {
        "name": name,
        "labels": {**a.labels, render.APP_LABEL: a.name, **(extra or {})},
    }
    if ns:
        m["namespace"] = a.namespace
    return m


def _app(a: ServiceComponentArgs) -> dict[str, str]:
    """The selector every object uses to find the service's pods."""
    return {render.APP_LABEL: a.name}


def namespace_manifest(a: ServiceComponentArgs) -> dict[str, Any]:
    """The service's own namespace (created only when ``create_namespace``)."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(a, a.namespace, ns=False)}


def service_account_manifest(a: ServiceComponentArgs) -> dict[str, Any]:
    """The pods' identity; it mounts no API token (the service does not call the API server)."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(a, a.name),
        "automountServiceAccountToken": False,
    }


def metrics_service_manifest(a: ServiceComponentArgs) -> dict[str, Any]:
    """A headless Service over every pod of the service (stable and canary), the one the
    ServiceMonitor scrapes."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(a, f"{a.name}-metrics", {SCRAPE_LABEL: "true"}),
        "spec": {
            "clusterIP": "None",
            "selector": _app(a),
            "ports": [{"name": "http", "port": a.port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def service_monitor_manifest(a: ServiceComponentArgs) -> dict[str, Any]:
    """The ServiceMonitor scraping the metrics Service, relabelled with the pod-template hash
    the canary analysis scopes its queries by, and with the pod name; with a
    ``metric_service``, the service label is rewritten to it at scrape time."""
    relabelings = [
        # The canary analysis scopes its queries to the new pods by this label.
        {
            "action": "replace",
            "sourceLabels": ["__meta_kubernetes_pod_label_rollouts_pod_template_hash"],
            "targetLabel": render.POD_HASH_LABEL,
        },
        {
            "action": "replace",
            "sourceLabels": ["__meta_kubernetes_pod_name"],
            "targetLabel": "pod",
        },
    ]
    endpoint: dict[str, Any] = {
        "port": "http",
        "path": "/metrics",
        "interval": a.scrape_interval,
        "honorLabels": True,
        "relabelings": relabelings,
    }
    if a.series_service != a.name:
        label = a.metrics.service_label
        endpoint["metricRelabelings"] = [
            # After the app's own labels (honorLabels): only this service's value changes.
            {
                "action": "replace",
                "sourceLabels": [label],
                "regex": re.escape(a.name),
                "targetLabel": label,
                "replacement": a.series_service,
            }
        ]
    return {
        "apiVersion": SERVICE_MONITOR_API,
        "kind": "ServiceMonitor",
        "metadata": _meta(a, a.name, dict(a.rule_selector_labels)),
        "spec": {
            "selector": {"matchLabels": {**_app(a), SCRAPE_LABEL: "true"}},
            "namespaceSelector": {"matchNames": [a.namespace]},
            "endpoints": [endpoint],
        },
    }


def hpa_manifest(a: ServiceComponentArgs) -> dict[str, Any]:
    """autoscaling/v2 on the Rollout, by CPU utilisation of the request."""
    cpu_target = {"type": "Utilization", "averageUtilization": a.target_cpu_utilization}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(a, a.name),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": render.ROLLOUTS_API,
                "kind": "Rollout",
                "name": a.name,
            },
            "minReplicas": a.min_replicas,
            "maxReplicas": a.max_replicas,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": cpu_target}}],
            "behavior": {
                # Scale down slowly: a canary abort or a traffic shift must not flap pods.
                "scaleDown": {"stabilizationWindowSeconds": 300},
            },
        },
    }


def pdb_manifest(a: ServiceComponentArgs) -> dict[str, Any]:
    """policy/v1 PodDisruptionBudget: one pod at a time may go."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(a, a.name),
        # maxUnavailable, not minAvailable: with one replica minAvailable 1 blocks drains.
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _app(a)}},
    }


def deny_ingress_manifest(a: ServiceComponentArgs) -> dict[str, Any]:
    """Deny every ingress to the service's pods (the allow policy opens what is needed)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(a, f"{a.name}-deny-ingress"),
        # Scoped to this service's pods, so a namespace shared by several services is safe.
        "spec": {
            "podSelector": {"matchLabels": _app(a)},
            "policyTypes": ["Ingress"],
            "ingress": [],
        },
    }


NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""The label the API server puts on every namespace, with its name (immutable)."""


def ingress_sources(a: ServiceComponentArgs) -> list[dict[str, Any]]:
    """The peers the allow policy admits, in this order: each caller's pods (its name label in
    its namespace, never any namespace: a pod elsewhere could wear the label), the entry path
    (the ingress controller's namespace, the load balancer's source ranges) and Prometheus."""

    def in_namespace(ns: str) -> dict[str, Any]:
        return {"matchLabels": {NAMESPACE_NAME_LABEL: ns}}

    sources: list[dict[str, Any]] = [
        {
            "namespaceSelector": in_namespace(c.namespace or a.namespace),
            "podSelector": {"matchLabels": {render.APP_LABEL: c.service}},
        }
        for c in a.callers
    ]
    if a.ingress_namespace:
        sources.append({"namespaceSelector": in_namespace(a.ingress_namespace)})
    sources += [{"ipBlock": {"cidr": cidr}} for cidr in a.entry_cidrs]
    sources.append(
        {
            "namespaceSelector": in_namespace(a.prometheus_namespace),
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    )
    return sources


def allow_ingress_manifest(a: ServiceComponentArgs) -> dict[str, Any]:
    """Allow :func:`ingress_sources` to reach the service's port, and nothing else."""
    sources = ingress_sources(a)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(a, f"{a.name}-allow-ingress"),
        "spec": {
            "podSelector": {"matchLabels": _app(a)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": sources, "ports": [{"protocol": "TCP", "port": a.port}]}],
        },
    }


def ingress_manifest(a: ServiceComponentArgs) -> dict[str, Any]:
    """An Ingress for ``ingress_host`` to the stable Service (the canary split, if any, is the
    Rollout's traffic routing)."""
    backend = {"service": {"name": f"{a.name}-stable", "port": {"name": "http"}}}
    path = {"path": "/", "pathType": "Prefix", "backend": backend}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta(a, a.name),
        "spec": {
            "ingressClassName": a.ingress_class,
            "rules": [{"host": a.ingress_host, "http": {"paths": [path]}}],
        },
    }


def manifests(a: ServiceComponentArgs) -> dict[str, dict[str, Any]]:
    """Every object ServiceComponent creates besides the CanaryRollout and MonitoringRules,
    keyed by role: plain dicts (apiVersion, kind, metadata, spec)."""
    out: dict[str, dict[str, Any]] = {}
    if a.create_namespace:
        out["namespace"] = namespace_manifest(a)
    out["sa"] = service_account_manifest(a)
    out["metrics"] = metrics_service_manifest(a)
    out["servicemonitor"] = service_monitor_manifest(a)
    if a.deliver:
        out["hpa"] = hpa_manifest(a)
        out["pdb"] = pdb_manifest(a)
    out["deny-ingress"] = deny_ingress_manifest(a)
    out["allow-ingress"] = allow_ingress_manifest(a)
    if a.ingress_host:
        out["ingress"] = ingress_manifest(a)
    return out


def rollout_args(a: ServiceComponentArgs) -> CanaryRolloutArgs:
    """The CanaryRollout's args: the delivery domain's component, with the pod wiring."""
    env, annotations = pod_wiring(a)
    analysis = a.analysis or render.AnalysisSettings(
        p95_ms=a.latency_threshold_ms, error_ratio=a.error_ratio
    )
    return CanaryRolloutArgs(
        service=a.name,
        region=a.region,
        namespace=a.namespace,
        image=a.image,
        version=a.version,
        port=a.port,
        # The HPA (hpa_manifest) owns the replica count: the Rollout leaves spec.replicas out.
        replicas=None,
        resources={
            "requests": {"cpu": a.cpu_request, "memory": a.memory_request},
            "limits": {"cpu": a.cpu_limit, "memory": a.memory_limit},
        },
        labels=a.labels,
        steps=list(a.steps),
        analysis=analysis,
        flags=dict(a.flags),
        progress_deadline_seconds=a.progress_deadline_seconds,
        abort_scale_down_delay_seconds=a.abort_scale_down_delay_seconds,
        analysis_starting_step=a.analysis_starting_step,
        max_surge=a.max_surge,
        max_unavailable=a.max_unavailable,
        traffic_routing=a.traffic_routing,
        ingress=a.name if a.ingress_host else None,
        env=env,
        pod_annotations=annotations,
        service_account=a.name,
        runtime_class=a.runtime_class,
        metric_service=a.metric_service,
    )


def service_rules(a: ServiceComponentArgs) -> pr.ServiceRules:
    """The observability builders' input for this service."""
    return pr.ServiceRules(
        service=a.series_service,
        container=a.name,
        alert_labels=dict(a.alert_labels),
        region=a.region,
        namespace=a.namespace,
        team=a.team,
        objective=a.slo_objective,
        latency_threshold_seconds=a.latency_threshold_ms / 1000,
        latency_objective=a.latency_objective,
        min_request_rate=a.min_request_rate,
        period_days=a.slo_period_days,
        runbook_base_url=a.runbook_base_url,
        dashboard_base_url=a.dashboard_base_url,
        metrics=a.metrics,
    )


_SNAKE = {"automountServiceAccountToken": "automount_service_account_token"}
"""Top-level manifest keys whose typed-resource argument is spelt differently."""

_RESOURCE_CLASSES: dict[str, Any] = {
    "namespace": k8s.core.v1.Namespace,
    "sa": k8s.core.v1.ServiceAccount,
    "metrics": k8s.core.v1.Service,
    "hpa": k8s.autoscaling.v2.HorizontalPodAutoscaler,
    "pdb": k8s.policy.v1.PodDisruptionBudget,
    "deny-ingress": k8s.networking.v1.NetworkPolicy,
    "allow-ingress": k8s.networking.v1.NetworkPolicy,
    "ingress": k8s.networking.v1.Ingress,
}


def _legacy_monitoring_aliases(region: str, service: str) -> Any:
    """A transformation aliasing the service's rules/dashboards to their old parent
    (``obs-<region>``, the per-region MonitoringRules) and old names."""
    old_parent = (
        f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{MONITORING_TOKEN}::obs-{region}"
    )

    def transform(rta: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult:
        for role in ("rules", "dashboards"):
            if rta.name.endswith(f"-{service}-{role}"):
                alias = pulumi.Alias(name=f"obs-{region}-{service}-{role}", parent=old_parent)
                opts = pulumi.ResourceOptions.merge(
                    rta.opts, pulumi.ResourceOptions(aliases=[alias])
                )
                return pulumi.ResourceTransformationResult(rta.props, opts)
        return None  # type: ignore[return-value]

    return transform


class ServiceComponent(pulumi.ComponentResource):
    """A service in one region: namespace, identity, canary delivery, scaling, disruption
    budget, network policy, scraping, SLO rules and dashboards."""

    canary: CanaryRollout | None
    monitoring: MonitoringRules | None
    objects: dict[str, pulumi.CustomResource]
    service_name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    rollout_name: pulumi.Output[str | None]
    rule_names: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: ServiceComponentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TOKEN, name, None, opts)
        self.objects = self._objects(name, args)
        ns_obj = self.objects.get("namespace")
        self.canary = self._canary(name, args, ns_obj) if args.deliver else None
        self.monitoring = self._monitoring(name, args) if args.monitoring else None
        self.service_name = pulumi.Output.from_input(args.name)
        self.namespace = pulumi.Output.from_input(args.namespace)
        self.rollout_name = (
            self.canary.rollout_name if self.canary else pulumi.Output.from_input(None)
        )
        self.rule_names = (
            self.monitoring.rule_names if self.monitoring else pulumi.Output.from_input([])
        )
        self.register_outputs(
            {
                "service_name": self.service_name,
                "namespace": self.namespace,
                "rollout_name": self.rollout_name,
                "rule_names": self.rule_names,
            }
        )

    def _objects(self, name: str, args: ServiceComponentArgs) -> dict[str, pulumi.CustomResource]:
        """The plain Kubernetes objects of :func:`manifests`, keyed by role; the namespace (if
        created) first, the ServiceMonitor last (after the Service it scrapes)."""
        bodies = manifests(args)
        objects: dict[str, pulumi.CustomResource] = {}
        ns_obj = None
        if "namespace" in bodies:
            body = bodies.pop("namespace")
            ns_obj = k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata=body["metadata"],
                opts=pulumi.ResourceOptions(parent=self),
            )
            objects["namespace"] = ns_obj
        # Namespaced objects wait for the namespace the component created (if any).
        ns_opts = pulumi.ResourceOptions(parent=self, depends_on=[ns_obj] if ns_obj else [])
        monitor_body = bodies.pop("servicemonitor")
        for role, body in bodies.items():
            cls = _RESOURCE_CLASSES[role]
            kwargs = {
                _SNAKE.get(k, k): v for k, v in body.items() if k not in ("apiVersion", "kind")
            }
            objects[role] = cls(f"{name}-{role}", **kwargs, opts=ns_opts)
        objects["servicemonitor"] = k8s.apiextensions.CustomResource(
            f"{name}-servicemonitor",
            api_version=monitor_body["apiVersion"],
            kind=monitor_body["kind"],
            metadata=monitor_body["metadata"],
            spec=monitor_body["spec"],
            opts=pulumi.ResourceOptions.merge(
                ns_opts, pulumi.ResourceOptions(depends_on=[objects["metrics"]])
            ),
        )
        return objects

    def _canary(
        self, name: str, args: ServiceComponentArgs, ns_obj: pulumi.CustomResource | None
    ) -> CanaryRollout:
        """The ``-canary`` CanaryRollout, after the ServiceAccount (and namespace) it uses."""
        aliases = []
        if args.legacy_aliases:
            aliases = [
                pulumi.Alias(
                    name=component_name(args.name, args.region),
                    parent=pulumi.ROOT_STACK_RESOURCE,
                )
            ]
        return CanaryRollout(
            f"{name}-canary",
            rollout_args(args),
            opts=pulumi.ResourceOptions(
                parent=self,
                aliases=aliases,
                depends_on=[self.objects["sa"], *([ns_obj] if ns_obj else [])],
            ),
        )

    def _monitoring(self, name: str, args: ServiceComponentArgs) -> MonitoringRules:
        """The ``-monitoring`` MonitoringRules for this one service (no region overview)."""
        transformations = (
            [_legacy_monitoring_aliases(args.region, args.name)] if args.legacy_aliases else []
        )
        return MonitoringRules(
            f"{name}-monitoring",
            MonitoringRulesArgs(
                region=args.region,
                services=[service_rules(args)],
                namespace=args.rules_namespace or args.prometheus_namespace,
                labels=args.labels,
                rule_selector_labels=dict(args.rule_selector_labels),
                dashboard_label=args.dashboard_label,
                overview=False,
            ),
            opts=pulumi.ResourceOptions(parent=self, transformations=transformations),
        )
