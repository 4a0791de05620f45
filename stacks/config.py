"""The typed stack configuration: one pydantic model for the project's config namespace.

Data flows one way: a stack file (or ``pulumi.Config``) -> :class:`StackConfig` -> the
composition in :mod:`summit_platform.stacks.platform`. The same validation serves the Pulumi program (through
``pulumi.Config``, :mod:`summit_platform.stacks.pulumi_config`) and the ``summit`` CLI (straight from the YAML
files), so both see the same defaults and the same errors. Every error names the stack file and the dotted key
(``summit-platform:regions[1].naturalShare``), what was expected and what was found.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import math
import re
from collections.abc import Collection, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from summit_platform.components.render import canary
from summit_platform.components.render.analysis_cadence import starting_step_problem
from summit_platform.components.render.durations import go_duration, parse_duration
from summit_platform.components.render.quantities import parse_cpu_millis, parse_memory_bytes
from summit_platform.components.render.redact import printable, redact_text, short
from summit_platform.components.render.replica_split import check_surge, int_or_percent

PROJECT = "summit-platform"
"""The Pulumi project name, which is also the config namespace (``summit-platform:<key>``)."""

DEFAULT_KUBERNETES_VERSION = "1.35"
"""The cluster version `summit plan` checks Kubernetes objects against when a stack names none:
a minor version inside both upstream's and EKS's standard support at the time of writing."""

DEFAULT_RUNTIME_CLASSES = ("runc",)
"""RuntimeClass names the clusters define when a stack lists none: ``runc``, containerd's
default handler, which every EKS node runs (the cluster bootstrap creates the object)."""

SUPPORTED_REGIONS = ("us-east-1", "us-west-2")
GA_CONTROL_REGION = "us-west-2"
"""The Global Accelerator API is served only from us-west-2."""

# Matched with fullmatch: `$` alone also matches before a trailing newline.
_DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_ARN = re.compile(r"arn:aws[a-zA-Z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{12}:\S+")
_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_K8S_VERSION = re.compile(r"[0-9]+\.[0-9]+(\.[0-9]+)?")
_DNS1123_SUBDOMAIN = re.compile(
    r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)
_PREFIX = re.compile(r"[a-z0-9][-a-z0-9]{0,13}-")
"""A service label prefix (at most 15 characters): the region overview dashboard's uid
``summit-<prefix>overview-us-east-1`` stays within Grafana's 40 characters."""
GRAFANA_UID_MAX = 40

SECRET_KEYS = ("kubeconfigs",)
"""Top-level keys whose values are Pulumi secrets whatever Pulumi.yaml says (a project file
can mark more with ``secret: true``). No message ever shows any part of their values."""
DECRYPTED = "decrypted"
"""Validation-context flag: the values come from a running program, where the engine has
decrypted secrets (only then may a :class:`Secret` hold plain text)."""


class ConfigError(Exception):
    """A stack file or config value that does not fit the model.

    ``problems`` holds ``(dotted_key, message)`` pairs; ``str()`` gives one line per problem,
    each naming the file and the key, which is what the CLI prints before exiting 2.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {key}: {msg}" if key else f"{source}: {msg}" for key, msg in problems]
        super().__init__("\n".join(lines))


class _Model(BaseModel):
    """Base for every config section: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=True,
    )


class Secret(_Model):
    """A value that is a Pulumi secret in the stack file (``{secure: v1:...}``).

    The embedded lane cannot decrypt it (no passphrase, no backend); it carries the ciphertext
    and the program hands the provider a secret Output. In the cloud lane ``pulumi.Config``
    decrypts it and ``plaintext`` holds the value (still wrapped as a secret by the program).
    A stack file never holds ``plaintext``: only values validated with the :data:`DECRYPTED`
    context (the running program's) may, so plain text in a stack file is refused.
    """

    secure: str | None = Field(default=None, repr=False)
    plaintext: str | None = Field(default=None, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any, info: ValidationInfo) -> Any:
        decrypted = bool(info.context and info.context.get(DECRYPTED))
        if not isinstance(data, Mapping) or set(data) - {"secure", "plaintext"}:
            raise ValueError(_NOT_SECRET)
        if "plaintext" in data and not decrypted:
            raise ValueError(_NOT_SECRET)
        for key, value in data.items():
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{key}: expected a non-empty string, found {_kind(value)}")
        return data

    @model_validator(mode="after")
    def _one_of(self) -> Secret:
        if (self.secure is None) == (self.plaintext is None):
            raise ValueError(_NOT_SECRET)
        return self


_NOT_SECRET = (
    "expected a Pulumi secret ({secure: ...}, written by `pulumi config set --secret`),"
    " found a value in plain text or of another shape (not shown)"
)


class StackRefEndpoint(_Model):
    """The regional endpoint read from another stack's output through a StackReference."""

    stack: str = Field(description="Fully qualified stack name, e.g. acme/network/prod.")
    output: str = Field(description="Name of the output holding the ALB ARN.")


class KubernetesTarget(_Model):
    """The region's cluster: a kubeconfig context name, or a kubeconfig kept as a secret in
    ``summit-platform:kubeconfigs`` under the region's name."""

    context: str | None = None
    namespace: str = "platform"
    create_namespace: bool = Field(
        default=False,
        description=(
            "Create `namespace` in this stack (a preview's own `pr-<N>`); false when the"
            " cluster bootstrap owns it (dev, stage, prod share `platform`)."
        ),
    )
    cluster: str | None = Field(
        default=None,
        description="EKS cluster name: service pipelines run `aws eks update-kubeconfig` with it.",
    )

    @field_validator("namespace")
    @classmethod
    def _dns(cls, v: str) -> str:
        if not _DNS1123.fullmatch(v):
            raise ValueError(f"expected a DNS-1123 label, found {_describe(v)}")
        return v


class EntryConfig(_Model):
    """Where production traffic enters the region's cluster: the ingress controller's
    namespace, or the load balancer's source ranges when it targets pods directly (an ALB with
    IP targets connects from its subnets' addresses). Services marked ``public`` admit it."""

    ingress_namespace: Annotated[str, Field(pattern=_DNS1123.pattern)] | None = Field(
        default=None, description="Namespace of the ingress controller whose pods forward it."
    )
    source_ranges: list[str] = Field(
        default_factory=list,
        description="CIDRs the load balancer connects from when it targets pods (its subnets).",
    )

    @field_validator("source_ranges")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for cidr in v:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise ValueError(
                    f"expected CIDRs like 10.20.0.0/20 (no host bits set), found {cidr!r}"
                ) from None
        return v

    @model_validator(mode="after")
    def _one(self) -> EntryConfig:
        if (self.ingress_namespace is None) == (not self.source_ranges):
            raise ValueError("give exactly one of ingressNamespace or sourceRanges")
        return self


class RegionConfig(_Model):
    """One serving region. Its endpoint (``endpointArn`` or ``endpointStackRef``) is what
    global traffic sends to; a stack with ``traffic.mode: none`` has none."""

    name: Literal["us-east-1", "us-west-2"]
    endpoint_arn: str | None = Field(default=None, description="ARN of the regional ALB.")
    endpoint_stack_ref: StackRefEndpoint | None = None
    natural_share: Annotated[float, Field(gt=0, le=100)] = Field(
        description="Share of global clients whose nearest region this is, in percent."
    )
    dial: Annotated[int, Field(ge=0, le=100)] = 100
    kubernetes: KubernetesTarget = KubernetesTarget()
    entry: EntryConfig = Field(
        default=EntryConfig(ingress_namespace="ingress-nginx"),
        description="Where production traffic enters the cluster (default: ingress-nginx).",
    )

    @field_validator("endpoint_arn")
    @classmethod
    def _arn(cls, v: str | None) -> str | None:
        if v is not None and not _ARN.fullmatch(v):
            raise ValueError(
                f"expected an ARN (arn:aws:elasticloadbalancing:...), found {_describe(v)}"
            )
        return v

    @model_validator(mode="after")
    def _endpoint(self) -> RegionConfig:
        if self.endpoint_arn is not None and self.endpoint_stack_ref is not None:
            raise ValueError("give exactly one of endpointArn or endpointStackRef")
        return self

    @property
    def has_endpoint(self) -> bool:
        return self.endpoint_arn is not None or self.endpoint_stack_ref is not None


class HealthCheckConfig(_Model):
    """Endpoint-group health check (Global Accelerator) and Route53 health check settings."""

    path: str = "/healthz"
    port: Annotated[int, Field(ge=1, le=65535)] = 443
    protocol: Literal["HTTP", "HTTPS", "TCP"] = "HTTPS"
    interval_seconds: Literal[10, 30] = 10
    threshold_count: Annotated[int, Field(ge=1, le=10)] = 3


TRAFFIC_MODES = ("ga", "route53", "none")
"""``ga``: Global Accelerator; ``route53``: DNS failover records; ``none``: no global entry
point at all (a preview: reviewers reach its services inside the cluster)."""

_GLOBAL_ONLY = ("pin", "dns_zone_id", "dns_name", "flow_logs_bucket")
"""Traffic keys that only a stack with a global entry point (ga or route53) can use."""


PIN_MAX_SECONDS = 3600
"""A pin lasts at most 60 minutes (``expiresAt`` - ``at``)."""


def _pin_time(value: Any) -> dt.datetime:
    """An ISO 8601 time (``2026-11-27T12:00:00Z``; no zone means UTC) or a YAML timestamp."""
    if isinstance(value, str) and value.isascii():
        with contextlib.suppress(ValueError):  # not a time: refused below, naming the value
            value = dt.datetime.fromisoformat(value.strip())
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    # Numbers are refused: seconds and milliseconds look alike, and the pin writes ISO 8601.
    raise ValueError(f"expected an ISO 8601 time like 2026-11-27T12:00:00Z, found {value!r:.40}")


class TrafficPin(_Model):
    """A manual pin written by ``summit traffic pin``: fixed shares of traffic (percent, over
    exactly the stack's regions, adding to 100) with a reason, until ``expiresAt``, at most
    60 minutes after ``at``."""

    shares: dict[str, Annotated[int, Field(strict=True, ge=0, le=100)]] = Field(
        description="Share of traffic per region, whole percents adding to 100."
    )
    reason: Annotated[str, Field(min_length=1)] = Field(description="Why (required).")
    by: Annotated[str, Field(min_length=1)] = Field(default="unknown", description="Who.")
    at: dt.datetime = Field(description="When the pin was set (ISO 8601).")
    expires_at: dt.datetime = Field(description="When it ends, at most 60 minutes after `at`.")

    @field_validator("at", "expires_at", mode="before")
    @classmethod
    def _time(cls, v: Any) -> dt.datetime:
        return _pin_time(v)

    @model_validator(mode="after")
    def _bounds(self) -> TrafficPin:
        total = sum(self.shares.values())
        if total != 100:
            raise ValueError(f"shares: expected whole percents adding to 100, found {total}")
        ttl = (self.expires_at - self.at).total_seconds()
        if not 0 < ttl <= PIN_MAX_SECONDS:
            raise ValueError(
                "expiresAt: expected a time after `at` and at most 60 minutes after it, found"
                f" at {self.at.isoformat()} and expiresAt {self.expires_at.isoformat()}"
            )
        return self


_OIDC_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:iam::\d{12}:oidc-provider/([a-z0-9.-]+(?:/[A-Za-z0-9._-]+)*)$"
)
_URL = re.compile(r"^https?://[^\s/?#]+(?:/[^\s?#]*)?$")
_TABLE = re.compile(r"^[a-zA-Z0-9_.-]{3,255}$")


class ControllerRegion(_Model):
    """Where the in-cluster traffic controller of one region reads and who it is in AWS."""

    prometheus_url: str = Field(
        description="Prometheus HTTP API base URL serving this region's steering series."
    )
    oidc_provider_arn: str = Field(
        description="IAM OIDC provider of the region's EKS cluster (IAM roles for service accounts)."
    )

    @field_validator("prometheus_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not _URL.fullmatch(v):
            raise ValueError(f"expected an http(s) URL, found {v!r}")
        return v

    @field_validator("oidc_provider_arn")
    @classmethod
    def _oidc(cls, v: str) -> str:
        if not _OIDC_ARN.fullmatch(v):
            raise ValueError(
                "expected an IAM OIDC provider ARN"
                f" (arn:aws:iam::<account>:oidc-provider/oidc.eks...), found {v!r}"
            )
        return v

    @property
    def oidc_issuer(self) -> str:
        """The issuer host and path (``oidc.eks.<region>.amazonaws.com/id/<id>``), the prefix
        of the IRSA trust policy's condition keys."""
        m = _OIDC_ARN.fullmatch(self.oidc_provider_arn)
        assert m is not None  # validated above
        return m.group(1)


def _controller_resources() -> Resources:
    return Resources(
        cpu_request="50m", memory_request="128Mi", cpu_limit="200m", memory_limit="256Mi"
    )


class ControllerConfig(_Model):
    """The in-cluster traffic controller (``summit traffic run``), one Deployment per region;
    a DynamoDB lease makes exactly one of them act."""

    enabled: bool = Field(
        default=False,
        description="Run the controller in every region (a one-region stack has nothing to steer and runs none).",
    )
    image: str = Field(
        default="ghcr.io/summit/summit-platform",
        description="Image with this project installed (the `summit` CLI), without a tag.",
    )
    version: str = Field(default="v0.1.0", description="Image tag.")
    replicas: Annotated[int, Field(ge=1, le=5)] = Field(
        default=2, description="Pods per region (one leader across all regions)."
    )
    interval: str = Field(default="5s", description="Evaluation interval (a duration).")
    lease_duration: str = Field(
        default="15s",
        description="How long a lease lasts without renewal: the longest handover after a leader dies.",
    )
    lease_table: str | None = Field(
        default=None,
        description="DynamoDB table name (default summit-<environment>-traffic-lease).",
    )
    lease_region: Literal["us-east-1", "us-west-2"] | None = Field(
        default=None,
        description="Region of the lease table (default: the traffic API's own region).",
    )
    metrics_port: Annotated[int, Field(ge=1024, le=65535)] = Field(
        default=9108, description="Port of /metrics and /healthz."
    )
    alert_after: str = Field(
        default="3m",
        description="How long a breach may last with no leader applying before the alert fires.",
    )
    resources: Resources = Field(default_factory=_controller_resources)
    regions: dict[str, ControllerRegion] = Field(
        default_factory=dict, description="Per region: prometheusUrl and oidcProviderArn."
    )

    @field_validator("interval", "lease_duration", "alert_after")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v, minimum=1)
        return v

    @field_validator("lease_table")
    @classmethod
    def _table(cls, v: str | None) -> str | None:
        if v is not None and not _TABLE.fullmatch(v):
            raise ValueError(
                f"expected a DynamoDB table name (3-255 of a-z A-Z 0-9 _ . -), found {v!r}"
            )
        return v

    @model_validator(mode="after")
    def _lease_outlasts_turns(self) -> ControllerConfig:
        interval, lease = parse_duration(self.interval), parse_duration(self.lease_duration)
        if lease < 3 * interval:
            raise ValueError(
                f"leaseDuration: expected at least 3 x interval ({self.interval}) so one slow"
                f" turn does not cost the lease, found {self.lease_duration}"
            )
        return self


class TrafficConfig(_Model):
    """How global traffic reaches the regions and the guardrails that bound steering."""

    mode: Literal["ga", "route53", "none"] = Field(
        default="ga",
        description="ga: Global Accelerator; route53: DNS failover records; none: no global"
        " entry point (a preview: its services are reached inside the cluster).",
    )
    floor_percent: Annotated[float, Field(ge=0, le=50)] = 20
    listener_port: Annotated[int, Field(ge=1, le=65535)] = 443
    client_ip_preservation: bool = True
    flow_logs_bucket: str | None = None
    health_check: HealthCheckConfig = HealthCheckConfig()
    dns_zone_id: str | None = Field(default=None, description="Route53 zone (route53 mode).")
    dns_name: str | None = Field(default=None, description="Record name (route53 mode).")
    dns_ttl: Annotated[int, Field(ge=1, le=60)] = 60
    pin: TrafficPin | None = Field(
        default=None, description="Manual pin written by `summit traffic pin` (with expiry)."
    )
    breach_hold: Annotated[int, Field(ge=1, le=20)] = Field(
        default=3, description="Consecutive breaching evaluations before a region is shed."
    )
    recovery_hold: Annotated[int, Field(ge=1, le=240)] = Field(
        default=40, description="Consecutive healthy evaluations before weight starts to return."
    )
    step_percent: Annotated[int, Field(ge=1, le=100)] = Field(
        default=5, description="Largest share (percent) returned to a region per evaluation."
    )
    stale_after_seconds: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=60, description="Samples older than this hold the weights (fail-static)."
    )
    prometheus_url: str | None = Field(
        default=None, description="Prometheus HTTP API base URL read by `summit traffic run`."
    )
    queries: dict[str, str] = Field(
        default_factory=dict,
        description="PromQL per signal (p95, errorRatio, saturation, requestRate), by region.",
    )
    controller: ControllerConfig = Field(
        default_factory=ControllerConfig,
        description="The in-cluster controller with leader election (off unless enabled).",
    )


class SloConfig(_Model):
    """Regional SLO thresholds the controller and the canary gates read."""

    p95_ms: Annotated[float, Field(gt=0)] = 1500
    error_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.01
    saturation: Annotated[float, Field(gt=0, le=1)] = 0.85
    objective: Annotated[float, Field(gt=0, lt=100)] = 99.9


class CostTags(_Model):
    """Cost-allocation tags put on every taggable AWS resource and as Kubernetes labels."""

    # Services' components need team, env and cost center (their labels); a blank service
    # tag is the FinOps pack's to report (cost-allocation-tags), not a config error.
    team: Annotated[str, Field(min_length=1)]
    service: str
    env: Annotated[str, Field(min_length=1)]
    cost_center: Annotated[str, Field(min_length=1)]

    def as_aws_tags(self) -> dict[str, str]:
        return {
            "team": self.team,
            "service": self.service,
            "env": self.env,
            "cost-center": self.cost_center,
        }


class Resources(_Model):
    """Container requests and limits (Kubernetes quantities)."""

    cpu_request: str = "250m"
    memory_request: str = "256Mi"
    cpu_limit: str = "500m"
    memory_limit: str = "512Mi"

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


class Replicas(_Model):
    min: Annotated[int, Field(ge=0)] = 2
    max: Annotated[int, Field(ge=1)] = 6

    @model_validator(mode="after")
    def _order(self) -> Replicas:
        if self.max < self.min:
            raise ValueError(f"expected max >= min, found min={self.min} max={self.max}")
        return self


class ServiceSlo(_Model):
    """Per-service SLO: availability objective, latency threshold and the low-traffic guard."""

    objective: Annotated[float, Field(gt=0, lt=100)] = 99.9
    latency_threshold_ms: Annotated[float, Field(gt=0)] = 1500
    latency_objective: Annotated[float, Field(gt=0, lt=100)] = 99.0
    min_request_rate: Annotated[float, Field(ge=0)] = Field(
        default=0.1, description="Requests/s below which burn-rate pages stay silent."
    )


class ServiceConfig(_Model):
    """A service the platform stack runs in every region (gateway, web, intelgraph, ...)."""

    name: str
    team: Annotated[str, Field(min_length=1)]
    image: Annotated[str, Field(min_length=1)]
    version: Annotated[str, Field(min_length=1)] = "v1.0.0"
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    replicas: Replicas = Replicas()
    resources: Resources = Resources()
    slo: ServiceSlo = ServiceSlo()
    deliver: bool = Field(default=True, description="Deliver through a canary Rollout.")
    region_versions: dict[str, str] = Field(
        default_factory=dict, description="Per-region image version (serial deploys)."
    )
    runtime_class: str | None = Field(
        default=None,
        description="Pod runtimeClassName: one of runtimeClasses (none: the node's default).",
    )
    public: bool = Field(
        default=False,
        description="Production traffic reaches it from the region's entry (regions[].entry).",
    )
    callers: list[str] = Field(
        default_factory=list,
        description=(
            "Services whose pods may call it: a service of this stack by name, or"
            " 'namespace/service' for one elsewhere. Nothing else gets in."
        ),
    )

    @field_validator("name")
    @classmethod
    def _dns(cls, v: str) -> str:
        if not _DNS1123.fullmatch(v):
            raise ValueError(
                f"expected a DNS-1123 name (lowercase, digits, '-'), found {_describe(v)}"
            )
        return v

    @field_validator("callers")
    @classmethod
    def _callers(cls, v: list[str]) -> list[str]:
        for caller in v:
            parts = caller.split("/")
            if len(parts) > 2 or not all(_DNS1123.fullmatch(p) for p in parts):
                raise ValueError(
                    f"expected 'service' or 'namespace/service' (DNS-1123 names), found {caller!r}"
                )
        if len(set(v)) != len(v):
            raise ValueError(f"each caller once, found {v}")
        return v


_ALERT_LABELS_SET = ("severity", "slo_service", "slo_name", "team")
"""Labels the SLO alert builder sets itself; ``alertLabels`` may not replace them."""


class ObservabilityConfig(_Model):
    """Where rules and dashboards go and how the input histogram is labelled."""

    enabled: bool = True
    namespace: str = Field(
        default="monitoring",
        description="Namespace Prometheus runs in (allowed to scrape); rules go here too"
        " unless ruleNamespace says otherwise.",
    )
    rule_namespace: str | None = Field(
        default=None,
        description="Namespace of the stack's PrometheusRules and dashboard ConfigMaps"
        " (default: namespace). A preview keeps them in its own namespace.",
    )
    alert_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Static labels on every SLO alert, for Alertmanager routing (a preview"
        " sets route: preview, which routes to a receiver that never pages).",
    )
    service_label_prefix: str = Field(
        default="",
        description="Prefix of the service label on this stack's series (a preview: pr-<N>-)."
        " The ServiceMonitor rewrites the label at scrape time, so stacks sharing one"
        " Prometheus never read each other's series, rules or dashboards.",
    )
    rule_selector_labels: dict[str, str] = Field(
        default_factory=lambda: {"release": "kube-prometheus-stack"}
    )
    dashboard_label: str = "grafana_dashboard"
    runbook_base_url: str = "https://runbooks.summit.example/slo"
    dashboard_base_url: str = "https://grafana.summit.example/d"
    histogram_metric: str = Field(
        default="http_server_request_duration_seconds",
        description="Request duration histogram every service exports (_bucket/_count/_sum).",
    )
    service_label: str = "service"
    region_label: str = "region"
    code_label: str = Field(default="code", description="Label holding the HTTP status code.")
    inflight_metric: str = Field(
        default="http_server_active_requests",
        description="Gauge of in-flight requests (saturation is recorded when exported).",
    )
    capacity_metric: str = Field(
        default="http_server_concurrency_limit",
        description="Gauge of the in-flight requests a replica can hold.",
    )
    slo_period_days: Annotated[int, Field(ge=1, le=90)] = Field(
        default=30, description="SLO period; burn-rate factors are derived from it."
    )

    @field_validator("histogram_metric", "inflight_metric", "capacity_metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        if not _METRIC.fullmatch(v):
            raise ValueError(f"expected a Prometheus metric name, found {_describe(v)}")
        return v

    @field_validator("service_label", "region_label", "code_label")
    @classmethod
    def _label(cls, v: str) -> str:
        if not _LABEL.fullmatch(v) or v.startswith("__"):
            raise ValueError(f"expected a Prometheus label name, found {_describe(v)}")
        return v

    @field_validator("rule_namespace")
    @classmethod
    def _namespace(cls, v: str | None) -> str | None:
        if v is not None and not _DNS1123.fullmatch(v):
            raise ValueError(f"expected a DNS-1123 label, found {v!r}")
        return v

    @field_validator("alert_labels")
    @classmethod
    def _alert_labels(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not _LABEL.fullmatch(name) or name.startswith("__"):
                raise ValueError(f"expected Prometheus label names, found {name!r}")
            if name in _ALERT_LABELS_SET:
                raise ValueError(f"{name!r} is set by the SLO alerts themselves; pick another")
        return v

    @field_validator("service_label_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if v and not _PREFIX.fullmatch(v):
            raise ValueError(
                f"expected lowercase letters, digits and '-', ending in '-', found {v!r}"
            )
        return v

    @property
    def rules_namespace(self) -> str:
        """Where the PrometheusRules and dashboard ConfigMaps go."""
        return self.rule_namespace or self.namespace


_ANALYSIS = canary.DEFAULT_ANALYSIS


class RolloutConfig(_Model):
    """Canary delivery settings shared by every delivered service.

    The defaults are :mod:`summit_platform.components.render.canary`'s, shared with the components and the
    renderer. The analysis' interval and count are derived from the steps
    (:mod:`summit_platform.components.render.analysis_cadence`), so no pause goes unanalysed."""

    steps: list[dict[str, Any]] = Field(
        default_factory=canary.default_steps,
        description="Canary steps: setWeight (whole percent, rising) or pause {duration}.",
    )
    p95_ms: Annotated[float, Field(gt=0)] = Field(
        default=_ANALYSIS.p95_ms, description="Canary gate: p95 latency must stay below (ms)."
    )
    error_ratio: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=_ANALYSIS.error_ratio, description="Canary gate: 5xx share must stay below."
    )
    analysis_interval: str = Field(
        default=_ANALYSIS.interval,
        description=(
            "Longest time between analysis measurements; the interval used is at most this,"
            " the rate window and half the shortest pause."
        ),
    )
    failure_limit: Annotated[int, Field(ge=0)] = Field(
        default=_ANALYSIS.failure_limit,
        description="Failed measurements tolerated; one more aborts the rollout.",
    )
    progress_deadline_seconds: Annotated[int, Field(ge=60)] = Field(
        default=canary.DEFAULT_PROGRESS_DEADLINE_SECONDS,
        description="Seconds a step may go without progress before the rollout aborts.",
    )
    prometheus_address: str = Field(
        default=_ANALYSIS.prometheus_address,
        description="Prometheus the in-cluster analysis queries.",
    )
    traffic_routing: Literal["none", "alb", "nginx"] = Field(
        default="none",
        description=(
            "none: the canary's share is its share of pods (see weightTolerancePercent);"
            " alb or nginx: the ingress splits requests by weight."
        ),
    )
    inconclusive_limit: Annotated[int, Field(ge=0)] = Field(
        default=_ANALYSIS.inconclusive_limit,
        description="No-data measurements tolerated before the rollout pauses.",
    )
    analysis_window: str = Field(
        default=_ANALYSIS.window, description="rate() range of the gate queries."
    )
    analysis_starting_step: Annotated[int, Field(ge=0)] | None = Field(
        default=None,
        description=(
            "Step index from which background analysis runs; default: the step after the"
            " first weight above 0, when the canary starts to serve."
        ),
    )
    abort_scale_down_delay_seconds: Annotated[int, Field(ge=0)] = Field(
        default=canary.DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS,
        description=(
            "With traffic routing: seconds an aborted canary's pods stay up (to read their"
            " logs); 0 keeps them. Without it an abort rolls back to stable at once."
        ),
    )
    max_surge: int | str = Field(
        default=canary.DEFAULT_MAX_SURGE,
        description=(
            "Pods (or percent of the desired pods, rounded up) a canary step may run above the"
            " desired count."
        ),
    )
    max_unavailable: int | str = Field(
        default=canary.DEFAULT_MAX_UNAVAILABLE,
        description=(
            "Pods (or percent, rounded down) a canary step may run below the desired count;"
            " 0 keeps full capacity. Not both 0."
        ),
    )
    weight_tolerance_percent: Annotated[float, Field(ge=0, le=100)] = Field(
        default=canary.DEFAULT_WEIGHT_TOLERANCE_PERCENT,
        description=(
            "Without traffic routing: how far (percentage points) the canary's share of pods"
            " may be from a setWeight step at the best replica count; summit deploy refuses"
            " a step no replica count realises."
        ),
    )
    ingress: str | None = Field(
        default=None, description="Ingress split by ALB/NGINX routing (default: service name)."
    )
    gate_prometheus_url: str | None = Field(
        default=None, description="Prometheus base URL `summit deploy` gates each region on."
    )
    healthy_timeout_seconds: Annotated[int, Field(ge=60)] = Field(
        default=2700, description="How long `summit deploy` waits for a Rollout to be healthy."
    )

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return canary.build_steps(v)

    @field_validator("analysis_interval", "analysis_window")
    @classmethod
    def _duration(cls, v: str) -> str:
        go_duration(v)  # a Go duration with a unit, above zero (Argo Rollouts reads it)
        return v

    @field_validator("max_surge", "max_unavailable", mode="before")
    @classmethod
    def _int_or_percent(cls, v: Any, info: ValidationInfo) -> int | str:
        return int_or_percent(v, to_camel(str(info.field_name)))

    @model_validator(mode="after")
    def _cross(self) -> RolloutConfig:
        if self.analysis_starting_step is not None:
            problem = starting_step_problem(self.steps, self.analysis_starting_step)
            if problem:
                raise ValueError(f"analysisStartingStep: {problem}")
        check_surge(self.max_surge, self.max_unavailable)
        return self


class FlagsConfig(_Model):
    """Feature flags: defaults plus per-region overrides (``regionOverrides``)."""

    defaults: dict[str, bool] = Field(default_factory=dict)
    region_overrides: dict[str, dict[str, bool]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names(self) -> FlagsConfig:
        for region in self.region_overrides:
            if region not in SUPPORTED_REGIONS:
                raise ValueError(
                    f"regionOverrides: expected a region of {list(SUPPORTED_REGIONS)},"
                    f" found {_describe(region)}"
                )
        canary.region_flags(self.defaults, self.region_overrides, SUPPORTED_REGIONS[0])
        return self


PREVIEW_COST_CAP_HOME = "policypacks/finops/config/preview.json (preview-cost-cap.capHourly)"
"""The one place the preview cost cap lives: the FinOps pack reads it in both lanes."""


class FinopsConfig(_Model):
    """FinOps settings read by the cost model and the preview tooling. The preview cost cap
    is not here: it is the FinOps pack's ``preview-cost-cap.capHourly`` (one place)."""

    monthly_budget: Annotated[float, Field(gt=0)] | None = None
    preview_ttl_hours: Annotated[float, Field(gt=0)] = 24

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "previewCostCapHourly" in data:
            raise ValueError(
                f"previewCostCapHourly: the preview cost cap lives in {PREVIEW_COST_CAP_HOME};"
                " remove it here"
            )
        return data


class StackConfig(_Model):
    """The whole ``summit-platform:*`` config namespace of one stack."""

    environment: Literal["dev", "stage", "prod", "preview"]
    regions: Annotated[list[RegionConfig], Field(min_length=1, max_length=2)]
    traffic: TrafficConfig = TrafficConfig()
    slo: SloConfig = SloConfig()
    tags: CostTags
    kubeconfigs: dict[str, Secret] = Field(default_factory=dict)
    services: list[ServiceConfig] = Field(default_factory=list)
    observability: ObservabilityConfig = ObservabilityConfig()
    rollout: RolloutConfig = RolloutConfig()
    flags: FlagsConfig = FlagsConfig()
    finops: FinopsConfig = FinopsConfig()
    runtime_classes: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: list(DEFAULT_RUNTIME_CLASSES),
        description="RuntimeClass names the clusters define; the first is new services' default.",
    )
    kubernetes_version: str = Field(
        default=DEFAULT_KUBERNETES_VERSION,
        description="Kubernetes version of the clusters (MAJOR.MINOR), for the plan's schema checks.",
    )

    @field_validator("kubernetes_version", mode="before")
    @classmethod
    def _k8s_version(cls, v: Any) -> Any:
        # pulumi.Config hands every value over as a string that summit_platform.stacks.pulumi_config decodes,
        # so "1.35" arrives as a number; `summit plan` reads the stack file itself and asks for
        # a quoted version there (an unquoted 1.30 is the number 1.3).
        if isinstance(v, int | float) and not isinstance(v, bool):
            v = str(v)
        if isinstance(v, str) and not _K8S_VERSION.fullmatch(v.strip()):
            raise ValueError(f"expected a Kubernetes version like '1.35', found {_describe(v)}")
        return v

    @field_validator("runtime_classes")
    @classmethod
    def _runtime_classes(cls, v: list[str]) -> list[str]:
        for name in v:
            if not _DNS1123_SUBDOMAIN.fullmatch(name):
                raise ValueError(
                    f"expected RuntimeClass names (DNS-1123 subdomains), found {name!r}"
                )
        if len(set(v)) != len(v):
            raise ValueError(f"each RuntimeClass once, found {v}")
        return v

    @field_validator("traffic")
    @classmethod
    def _pin_regions(cls, traffic: TrafficConfig, info: ValidationInfo) -> TrafficConfig:
        """A pin's shares cover exactly the stack's regions (reported at traffic.pin.shares)."""
        regions = info.data.get("regions")
        pin = traffic.pin
        if pin is None or regions is None:
            return traffic
        names = [r.name for r in regions]
        if sorted(pin.shares) != sorted(names):
            msg = f"expected a share for each of the regions {names}, found {sorted(pin.shares)}"
            detail = InitErrorDetails(
                type=PydanticCustomError("value_error", msg),
                loc=("pin", "shares"),
                input=dict(pin.shares),
            )
            raise ValidationError.from_exception_data("TrafficConfig", [detail])
        return traffic

    @model_validator(mode="after")
    def _cross_checks(self) -> StackConfig:
        names = [r.name for r in self.regions]
        if len(set(names)) != len(names):
            raise ValueError(f"regions: each region once, found {names}")
        total = sum(r.natural_share for r in self.regions)
        if not math.isclose(total, 100, abs_tol=0.01):
            raise ValueError(f"regions: naturalShare must add up to 100, found {total:g}")
        if self.traffic.mode == "route53" and not (
            self.traffic.dns_zone_id and self.traffic.dns_name
        ):
            raise ValueError("traffic: route53 mode needs dnsZoneId and dnsName")
        self._check_endpoints()
        for region, kc in self.kubeconfigs.items():
            if region not in names:
                raise ValueError(
                    f"kubeconfigs: {_describe(region)} is not one of the regions {names}"
                )
            del kc
        svc = [s.name for s in self.services]
        if len(set(svc)) != len(svc):
            raise ValueError(f"services: each name once, found {svc}")
        self._check_dashboard_uids()
        self._check_service_refs(svc)
        return self

    def _check_service_refs(self, svc: list[str]) -> None:
        """What a service names must exist: its runtime class among ``runtimeClasses``, each
        caller written without a namespace among the stack's other services."""
        for s in self.services:
            if s.runtime_class is not None and s.runtime_class not in self.runtime_classes:
                raise ValueError(
                    f"services: {s.name}'s runtimeClass {s.runtime_class!r} is not one of"
                    f" runtimeClasses {self.runtime_classes}"
                )
            for caller in s.callers:
                if "/" not in caller and (caller not in svc or caller == s.name):
                    raise ValueError(
                        f"services: {s.name}.callers: {caller!r} is not another service of"
                        f" this stack {svc} (write 'namespace/service' for one elsewhere)"
                    )

    def _check_dashboard_uids(self) -> None:
        """Each service's dashboards are ``summit-<prefix><name>-red|use``: Grafana refuses a
        uid over 40 characters, so a long name is caught here rather than mid-plan."""
        if not self.observability.enabled:
            return
        prefix = self.observability.service_label_prefix
        for i, s in enumerate(self.services):
            uid = f"summit-{prefix}{s.name}-red"
            if len(uid) > GRAFANA_UID_MAX:
                raise ValueError(
                    f"services[{i}].name: its dashboard uid {uid!r} would be {len(uid)}"
                    f" characters; Grafana allows {GRAFANA_UID_MAX}"
                )

    def _check_endpoints(self) -> None:
        """Global traffic (ga, route53) needs each region's endpoint; ``none`` has no global
        entry point, so an endpoint or a global-only traffic key would be silently unused."""
        for i, r in enumerate(self.regions):
            if self.traffic.mode != "none" and not r.has_endpoint:
                raise ValueError(
                    f"regions[{i}]: give exactly one of endpointArn or endpointStackRef"
                )
            if self.traffic.mode == "none" and r.has_endpoint:
                raise ValueError(
                    f"regions[{i}]: traffic.mode none sends no traffic to an endpoint;"
                    " remove endpointArn/endpointStackRef"
                )
        if self.traffic.mode == "none":
            for name in _GLOBAL_ONLY:
                if getattr(self.traffic, name) is not None:
                    key = TrafficConfig.model_fields[name].alias or to_camel(name)
                    raise ValueError(
                        f"traffic.{key}: only a stack with global traffic (mode ga or"
                        " route53) uses it; traffic.mode is none"
                    )

    @model_validator(mode="after")
    def _controller_and_steering(self) -> StackConfig:
        """The controller knows every region; in route53 mode dials (and so a pin) need the
        weighted records only the controller's mode builds: never ignore them silently."""
        ctl = self.traffic.controller
        missing = [r for r in self.region_names if r not in ctl.regions]
        if ctl.enabled and len(self.regions) > 1 and missing:
            # An entry for a region the stack does not serve (a one-region preview cut from a
            # two-region stack) is allowed; a served region without one is not.
            raise ValueError(
                f"traffic.controller.regions: expected an entry (prometheusUrl,"
                f" oidcProviderArn) for every region {self.region_names}, missing {missing}"
            )
        if self.traffic.mode == "route53" and not ctl.enabled:
            steered = [f"{r.name}={r.dial}" for r in self.regions if r.dial != 100]
            if steered:
                raise ValueError(
                    f"regions[].dial: route53 mode routes by latency unless"
                    f" traffic.controller.enabled (weighted records); dials {steered} would be"
                    " ignored"
                )
            if self.traffic.pin:
                raise ValueError(
                    "traffic.pin: route53 mode routes by latency unless"
                    " traffic.controller.enabled (weighted records); the pin would be ignored"
                )
        return self

    @property
    def region_names(self) -> list[str]:
        return [r.name for r in self.regions]

    def region(self, name: str) -> RegionConfig:
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(name)


# Top-level config keys (camelCase, as in the stack files) -> the model's fields.
TOP_LEVEL_KEYS = {(f.alias or to_camel(name)): name for name, f in StackConfig.model_fields.items()}


def shown_key(key: object, limit: int = 64) -> str:
    """A config key as an error message shows it: at most ``limit`` characters, with any
    character a terminal would act on escaped (keys come from files people can edit)."""
    text = printable(str(key))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{shown_key(part)}" if out else shown_key(part)
    return out


def _kind(value: Any) -> str:
    """What a value is, without any of its content (for secrets)."""
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    if isinstance(value, bool) or value is None:
        return "a boolean" if value is not None else "null"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    return f"a {type(value).__name__}"


def _describe(value: Any) -> str:
    """A short, redacted prefix of a value for a message; never the whole of a long one."""
    if isinstance(value, str):
        return short(value)
    try:
        text = json.dumps(value, default=str)
    except ValueError:  # an int of more than 4300 digits, or a NaN inside a list
        return short(value)
    return short(text)[1:-1] if len(text) <= 24 else short(text)


def _clip(msg: str, value: Any) -> str:
    """A validator's message with a long echoed value cut to its short prefix, URLs redacted,
    terminal controls escaped, and the whole kept to one readable line."""
    if isinstance(value, str) and len(value) > 24:
        for shown in (repr(value), value):
            msg = msg.replace(shown, short(value))
    msg = printable(redact_text(msg))
    return msg if len(msg) <= 240 else msg[:237] + "..."


def _problems(
    err: ValidationError,
    secret_keys: Collection[str],
    *,
    all_secret: bool = False,
    namespace: str = PROJECT,
) -> list[tuple[str, str]]:
    problems = []
    for e in err.errors():
        loc = [p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        key = f"{namespace}:{_dotted(tuple(loc))}" if loc else namespace
        secret = all_secret or (bool(loc) and loc[0] in secret_keys)
        msg = e["msg"].removeprefix("Value error, ")
        head, sep, tail = msg.partition(": ")
        if not loc and sep and head in TOP_LEVEL_KEYS:  # a cross-check names its key first
            key, msg = f"{namespace}:{head}", tail
        if e["type"] == "missing":
            msg = "required key is missing"
        elif e["type"] == "extra_forbidden":
            msg = "unknown key (misspelt?)"
        elif secret and e["type"] != "value_error":
            msg = f"{msg}; found {_kind(e.get('input'))} (a secret: its value is not shown)"
        elif "input" in e and e["type"] not in ("value_error", "model_type"):
            msg = f"{msg}; found {_describe(e['input'])}"
        problems.append((key, _clip(msg, None if secret else e.get("input"))))
    return problems


def from_values(
    values: Mapping[str, Any],
    source: str,
    *,
    secret_keys: Collection[str] = (),
    decrypted: bool = False,
    namespace: str = PROJECT,
) -> StackConfig:
    """Build the model from the namespace's values (keys without the ``summit-platform:``
    prefix). ``source`` names the file or origin for error messages; ``secret_keys`` are the
    keys Pulumi.yaml marks secret (besides :data:`SECRET_KEYS`), whose values no message
    shows; ``decrypted`` says the values come from a running program (see :class:`Secret`);
    ``namespace`` is the config namespace the keys were written in (for messages)."""
    secrets = {*SECRET_KEYS, *secret_keys}
    try:
        return StackConfig.model_validate(dict(values), context={DECRYPTED: decrypted})
    except ValidationError as err:
        raise ConfigError(source, _problems(err, secrets, namespace=namespace)) from None


def secret_problems(key: str, value: Any) -> list[tuple[str, str]]:
    """Every place in ``value`` (the value of a key that must be a secret) holding plain
    text: each must be ``{secure: <ciphertext>}`` (``pulumi config set --secret [--path]``).
    Returns ``(dotted key, message)`` pairs; no message shows any part of a value."""
    out: list[tuple[str, str]] = []

    def walk(where: str, v: Any) -> None:
        if isinstance(v, Mapping) and "secure" in v:
            if set(v) != {"secure"} or not isinstance(v["secure"], str) or not v["secure"]:
                out.append((where, f"expected {{secure: <ciphertext>}}, found {_kind(v)}"))
        elif isinstance(v, Mapping):
            for k, sub in v.items():
                walk(f"{where}.{shown_key(k)}", sub)
        elif isinstance(v, list):
            for i, sub in enumerate(v):
                walk(f"{where}[{i}]", sub)
        else:
            out.append(
                (
                    where,
                    f"expected a Pulumi secret, found {_kind(v)} in plain text (not shown);"
                    f" set it with `pulumi config set --secret --path '{where}' <value>`",
                )
            )

    walk(shown_key(key), value)
    return out


def field_problems(key: str, value: Any) -> list[tuple[str, str]]:
    """Check one top-level value alone against its field of the model (a Pulumi.yaml default
    must be a valid value on its own). Returns ``(path inside the value, message)`` pairs,
    the path ``""``, ``.mode`` or ``[0].name``; ``key`` is the bare camelCase key."""
    name = TOP_LEVEL_KEYS.get(key)
    if name is None:
        return [
            ("", f"not a key of the {PROJECT} config (expected one of {sorted(TOP_LEVEL_KEYS)})")
        ]
    field = StackConfig.model_fields[name]
    # The field's type and constraints, without its alias (a default is validated alone).
    type_: Any = field.annotation
    if field.metadata:
        type_ = Annotated[(type_, *field.metadata)]
    adapter: TypeAdapter[Any] = TypeAdapter(type_)
    try:
        adapter.validate_python(value, context={DECRYPTED: False})
    except ValidationError as err:
        found = _problems(err, (), all_secret=key in SECRET_KEYS)
        rests = [(k.removeprefix(PROJECT).removeprefix(":"), m) for k, m in found]
        return [(r if not r or r.startswith("[") else "." + r, m) for r, m in rests]
    return []


def namespace_values(
    project: str, defaults: Mapping[str, Any], raw: Mapping[str, Any], source: str
) -> dict[str, Any]:
    """Merge Pulumi.yaml defaults with a stack file's keys of the project's namespace.

    Like the CLI, a stack value replaces the default of the same key whole (no deep merge).
    A key without a namespace is the project's (``pulumi config set key`` writes
    ``project:key``)."""
    values = dict(defaults)
    problems = []
    seen: dict[str, str] = {}
    for key, value in raw.items():
        ns, _, bare = key.rpartition(":")
        if ":" in ns or not bare:
            problems.append(
                (shown_key(key), "expected a key of the form <namespace>:<name> (one colon)")
            )
            continue
        if ns in ("", project):
            if bare in seen:
                problems.append(
                    (shown_key(key), f"the same key as {shown_key(seen[bare])}; give it once")
                )
            seen[bare] = key
            values[bare] = value
        elif ns == PROJECT and project != PROJECT:
            problems.append(
                (shown_key(key), f"namespace {ns!r} is not this project's ({shown_key(project)})")
            )
    if problems:
        raise ConfigError(source, problems)
    return values
