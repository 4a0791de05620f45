"""The typed stack configuration: one pydantic model for the project's config namespace.

Data flows one way: a stack file (or ``pulumi.Config``) -> :class:`StackConfig` -> the
composition in :mod:`stacks.platform`. The same validation serves the Pulumi program (through
``pulumi.Config``, :mod:`stacks.pulumi_config`) and the ``summit`` CLI (straight from the YAML
files), so both see the same defaults and the same errors. Every error names the stack file and the dotted key
(``summit-platform:regions[1].naturalShare``), what was expected and what was found.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.render import canary
from components.render.analysis_cadence import starting_step_problem
from components.render.durations import go_duration, parse_duration
from components.render.quantities import parse_cpu_millis, parse_memory_bytes
from components.render.replica_split import check_surge, int_or_percent

PROJECT = "summit-platform"
"""The Pulumi project name, which is also the config namespace (``summit-platform:<key>``)."""

DEFAULT_KUBERNETES_VERSION = "1.35"
"""The cluster version `summit plan` checks Kubernetes objects against when a stack names none:
a minor version inside both upstream's and EKS's standard support at the time of writing."""

SUPPORTED_REGIONS = ("us-east-1", "us-west-2")
GA_CONTROL_REGION = "us-west-2"
"""The Global Accelerator API is served only from us-west-2."""

_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{12}:.+$")
_METRIC = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_K8S_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?$")


class ConfigError(Exception):
    """A stack file or config value that does not fit the model.

    ``problems`` holds ``(dotted_key, message)`` pairs; ``str()`` gives one line per problem,
    each naming the file and the key, which is what the CLI prints before exiting 2.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {key}: {msg}" for key, msg in problems]
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
    """

    secure: str | None = None
    plaintext: str | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _one_of(self) -> Secret:
        if (self.secure is None) == (self.plaintext is None):
            raise ValueError("expected a Pulumi secret (`pulumi config set --secret ...`)")
        return self


class StackRefEndpoint(_Model):
    """The regional endpoint read from another stack's output through a StackReference."""

    stack: str = Field(description="Fully qualified stack name, e.g. acme/network/prod.")
    output: str = Field(description="Name of the output holding the ALB ARN.")


class KubernetesTarget(_Model):
    """The region's cluster: a kubeconfig context name, or a kubeconfig kept as a secret in
    ``summit-platform:kubeconfigs`` under the region's name."""

    context: str | None = None
    namespace: str = "platform"

    @field_validator("namespace")
    @classmethod
    def _dns(cls, v: str) -> str:
        if not _DNS1123.match(v):
            raise ValueError(f"expected a DNS-1123 label, found {v!r}")
        return v


class RegionConfig(_Model):
    """One serving region."""

    name: Literal["us-east-1", "us-west-2"]
    endpoint_arn: str | None = Field(default=None, description="ARN of the regional ALB.")
    endpoint_stack_ref: StackRefEndpoint | None = None
    natural_share: Annotated[float, Field(gt=0, le=100)] = Field(
        description="Share of global clients whose nearest region this is, in percent."
    )
    dial: Annotated[int, Field(ge=0, le=100)] = 100
    kubernetes: KubernetesTarget = KubernetesTarget()

    @field_validator("endpoint_arn")
    @classmethod
    def _arn(cls, v: str | None) -> str | None:
        if v is not None and not _ARN.match(v):
            raise ValueError(f"expected an ARN (arn:aws:elasticloadbalancing:...), found {v!r}")
        return v

    @model_validator(mode="after")
    def _endpoint(self) -> RegionConfig:
        if (self.endpoint_arn is None) == (self.endpoint_stack_ref is None):
            raise ValueError("give exactly one of endpointArn or endpointStackRef")
        return self


class HealthCheckConfig(_Model):
    """Endpoint-group health check (Global Accelerator) and Route53 health check settings."""

    path: str = "/healthz"
    port: Annotated[int, Field(ge=1, le=65535)] = 443
    protocol: Literal["HTTP", "HTTPS", "TCP"] = "HTTPS"
    interval_seconds: Literal[10, 30] = 10
    threshold_count: Annotated[int, Field(ge=1, le=10)] = 3


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
        if not _URL.match(v):
            raise ValueError(f"expected an http(s) URL, found {v!r}")
        return v

    @field_validator("oidc_provider_arn")
    @classmethod
    def _oidc(cls, v: str) -> str:
        if not _OIDC_ARN.match(v):
            raise ValueError(
                "expected an IAM OIDC provider ARN"
                f" (arn:aws:iam::<account>:oidc-provider/oidc.eks...), found {v!r}"
            )
        return v

    @property
    def oidc_issuer(self) -> str:
        """The issuer host and path (``oidc.eks.<region>.amazonaws.com/id/<id>``), the prefix
        of the IRSA trust policy's condition keys."""
        m = _OIDC_ARN.match(self.oidc_provider_arn)
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
        if v is not None and not _TABLE.match(v):
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

    mode: Literal["ga", "route53"] = "ga"
    floor_percent: Annotated[float, Field(ge=0, le=50)] = 20
    listener_port: Annotated[int, Field(ge=1, le=65535)] = 443
    client_ip_preservation: bool = True
    flow_logs_bucket: str | None = None
    health_check: HealthCheckConfig = HealthCheckConfig()
    dns_zone_id: str | None = Field(default=None, description="Route53 zone (route53 mode).")
    dns_name: str | None = Field(default=None, description="Record name (route53 mode).")
    dns_ttl: Annotated[int, Field(ge=1, le=60)] = 60
    pin: dict[str, Any] | None = Field(
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

    team: str
    service: str
    env: str
    cost_center: str

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
    team: str
    image: str
    version: str = "v1.0.0"
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    replicas: Replicas = Replicas()
    resources: Resources = Resources()
    slo: ServiceSlo = ServiceSlo()
    deliver: bool = Field(default=True, description="Deliver through a canary Rollout.")
    region_versions: dict[str, str] = Field(
        default_factory=dict, description="Per-region image version (serial deploys)."
    )

    @field_validator("name")
    @classmethod
    def _dns(cls, v: str) -> str:
        if not _DNS1123.match(v):
            raise ValueError(f"expected a DNS-1123 name (lowercase, digits, '-'), found {v!r}")
        return v


class ObservabilityConfig(_Model):
    """Where rules and dashboards go and how the input histogram is labelled."""

    enabled: bool = True
    namespace: str = "monitoring"
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
        if not _METRIC.match(v):
            raise ValueError(f"expected a Prometheus metric name, found {v!r}")
        return v

    @field_validator("service_label", "region_label", "code_label")
    @classmethod
    def _label(cls, v: str) -> str:
        if not _LABEL.match(v) or v.startswith("__"):
            raise ValueError(f"expected a Prometheus label name, found {v!r}")
        return v


_ANALYSIS = canary.DEFAULT_ANALYSIS


class RolloutConfig(_Model):
    """Canary delivery settings shared by every delivered service.

    The defaults are :mod:`components.render.canary`'s, shared with the components and the
    renderer. The analysis' interval and count are derived from the steps
    (:mod:`components.render.analysis_cadence`), so no pause goes unanalysed."""

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
                    f" found {region!r}"
                )
        canary.region_flags(self.defaults, self.region_overrides, SUPPORTED_REGIONS[0])
        return self


class FinopsConfig(_Model):
    """FinOps settings read by the cost model and the preview tooling."""

    preview_cost_cap_hourly: Annotated[float, Field(gt=0)] = 1.5
    monthly_budget: Annotated[float, Field(gt=0)] | None = None
    preview_ttl_hours: Annotated[float, Field(gt=0)] = 24


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
    kubernetes_version: str = Field(
        default=DEFAULT_KUBERNETES_VERSION,
        description="Kubernetes version of the clusters (MAJOR.MINOR), for the plan's schema checks.",
    )

    @field_validator("kubernetes_version", mode="before")
    @classmethod
    def _k8s_version(cls, v: Any) -> Any:
        # pulumi.Config hands every value over as a string that stacks.pulumi_config decodes,
        # so "1.35" arrives as a number; `summit plan` reads the stack file itself and asks for
        # a quoted version there (an unquoted 1.30 is the number 1.3).
        if isinstance(v, int | float) and not isinstance(v, bool):
            v = str(v)
        if isinstance(v, str) and not _K8S_VERSION.match(v.strip()):
            raise ValueError(f"expected a Kubernetes version like '1.35', found {v!r}")
        return v

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
        for region, kc in self.kubeconfigs.items():
            if region not in names:
                raise ValueError(f"kubeconfigs: {region!r} is not one of the regions {names}")
            del kc
        svc = [s.name for s in self.services]
        if len(set(svc)) != len(svc):
            raise ValueError(f"services: each name once, found {svc}")
        return self

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


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _problems(err: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for e in err.errors():
        loc = [p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        key = f"{PROJECT}:{_dotted(tuple(loc))}" if loc else PROJECT
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            msg = "required key is missing"
        elif e["type"] == "extra_forbidden":
            msg = "unknown key (misspelt?)"
        elif "input" in e and e["type"] not in ("value_error", "model_type"):
            msg = f"{msg}; found {_describe(e['input'])}"
        problems.append((key, msg))
    return problems


def from_values(values: Mapping[str, Any], source: str) -> StackConfig:
    """Build the model from the namespace's values (keys without the ``summit-platform:``
    prefix). ``source`` names the file or origin for error messages."""
    try:
        return StackConfig.model_validate(dict(values))
    except ValidationError as err:
        raise ConfigError(source, _problems(err)) from None


def namespace_values(
    project: str, defaults: Mapping[str, Any], raw: Mapping[str, Any], source: str
) -> dict[str, Any]:
    """Merge Pulumi.yaml defaults with a stack file's keys of the project's namespace.

    Like the CLI, a stack value replaces the default of the same key whole (no deep merge).
    A key without a namespace is the project's (``pulumi config set key`` writes
    ``project:key``)."""
    values = dict(defaults)
    problems = []
    for key, value in raw.items():
        ns, _, bare = key.rpartition(":")
        if ns in ("", project):
            values[bare] = value
        elif ns == PROJECT and project != PROJECT:
            problems.append((key, f"namespace {ns!r} is not this project's ({project!r})"))
    if problems:
        raise ConfigError(source, problems)
    return values
