"""CanaryRollout: one service delivered through an Argo Rollouts canary in one region.

Children (all in the region's namespace, through the Kubernetes provider given in ``opts``):
the flags ``ConfigMap`` (``<name>-flags``), the ``stable`` and ``canary`` Services, the
``AnalysisTemplate`` gating p95 latency and error ratio of the canary's pods (``<name>-analysis``)
and the ``Rollout`` itself (``<name>-rollout``). Every manifest body comes from the pure
builders in :mod:`summit_platform.components.render.canary`.

The platform creates it through :class:`~summit_platform.components.service.ServiceComponent` (its ``-canary``
child); the composition's :func:`summit_platform.stacks.delivery.region_target_urns` gives the URNs of those
resources without running the program, for ``summit deploy``'s targeted ``up``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field, ValidationInfo, field_validator, model_validator

from summit_platform.components.args import ComponentArgs
from summit_platform.components.render import analysis_cadence, replica_split
from summit_platform.components.render import canary as render

TOKEN = "summit:delivery:CanaryRollout"
ROLLOUT_TYPE = "kubernetes:argoproj.io/v1alpha1:Rollout"
ANALYSIS_TEMPLATE_TYPE = "kubernetes:argoproj.io/v1alpha1:AnalysisTemplate"
SERVICE_TYPE = "kubernetes:core/v1:Service"
CONFIGMAP_TYPE = "kubernetes:core/v1:ConfigMap"

CHILDREN = (
    (CONFIGMAP_TYPE, "flags"),
    (SERVICE_TYPE, "stable"),
    (SERVICE_TYPE, "canary"),
    (ANALYSIS_TEMPLATE_TYPE, "analysis"),
    (ROLLOUT_TYPE, "rollout"),
)
"""(type, role) of every child, in registration order; child names are ``<name>-<role>``."""


class CanaryRolloutArgs(ComponentArgs):
    """Inputs of :class:`CanaryRollout`. Give it the region's Kubernetes provider through
    ``ResourceOptions(provider=...)``."""

    service: str
    """Kubernetes name of the service (Rollout, Services, ConfigMap prefix)."""
    region: str
    """Region this instance runs in: scopes flags and the analysis queries."""
    namespace: str
    """Namespace of the region's workloads."""
    image: str
    """Image repository without a tag."""
    version: str
    """Image tag to run in this region."""
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    """Container and Service port."""
    replicas: Annotated[int, Field(ge=0)] | None = 2
    """Desired replicas; None when a HorizontalPodAutoscaler scales the Rollout: then
    ``spec.replicas`` is left out, so an update never resets the autoscaled count."""
    resources: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Container requests/limits."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Cost-allocation labels (team, service, env, cost-center) for every object."""
    steps: list[dict[str, Any]] = Field(default_factory=render.default_steps)
    """Canary steps (default: the 10/50/100 ladder), validated by the delivery builder."""
    analysis: render.AnalysisSettings = render.DEFAULT_ANALYSIS
    """Gates and cadence of the background analysis."""
    flags: dict[str, bool] = Field(default_factory=dict)
    """The region's effective feature flags."""
    progress_deadline_seconds: Annotated[int, Field(ge=60)] = (
        render.DEFAULT_PROGRESS_DEADLINE_SECONDS
    )
    """Seconds without progress before the rollout aborts."""
    abort_scale_down_delay_seconds: Annotated[int, Field(ge=0)] = (
        render.DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS
    )
    """Seconds an aborted canary's pods stay up before scale-down."""
    analysis_starting_step: Annotated[int, Field(ge=0)] | None = None
    """Step index from which the background analysis runs; None: the step after the first
    weight above 0, when the canary starts to serve."""
    max_surge: int | str = render.DEFAULT_MAX_SURGE
    """Pods, or percent of the desired pods, a step may run above the desired count."""
    max_unavailable: int | str = render.DEFAULT_MAX_UNAVAILABLE
    """Pods, or percent of the desired pods, a step may run below the desired count."""
    traffic_routing: Literal["none", "alb", "nginx"] = "none"
    """``none`` (replica ratio), ``alb`` or ``nginx``."""
    ingress: str | None = None
    """Ingress split by ALB/NGINX routing (default: the service name)."""
    env: dict[str, str] = Field(default_factory=dict)
    """Extra container environment (ServiceComponent's OTEL/Prometheus wiring)."""
    pod_annotations: dict[str, str] = Field(default_factory=dict)
    """Extra pod-template annotations."""
    service_account: str | None = None
    """Pod service account name (default: the namespace's ``default``)."""
    runtime_class: str | None = None
    """Pod ``runtimeClassName``, if any."""
    metric_service: str | None = None
    """The ``service`` label value of the pods' series, when a ServiceMonitor rewrites it
    (None: ``service``): the analysis queries by it."""

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return render.build_steps(v)

    @field_validator("max_surge", "max_unavailable", mode="before")
    @classmethod
    def _int_or_percent(cls, v: Any, info: ValidationInfo) -> int | str:
        return replica_split.int_or_percent(v, str(info.field_name))

    @model_validator(mode="after")
    def _cross(self) -> CanaryRolloutArgs:
        if self.analysis_starting_step is not None:
            problem = analysis_cadence.starting_step_problem(
                self.steps, self.analysis_starting_step
            )
            if problem:
                raise ValueError(f"analysis_starting_step: {problem}")
        replica_split.check_surge(self.max_surge, self.max_unavailable)
        return self


class CanaryRollout(pulumi.ComponentResource):
    """A Rollout with stable/canary Services, a Prometheus AnalysisTemplate and region flags."""

    flags: k8s.core.v1.ConfigMap
    stable_service: k8s.core.v1.Service
    canary_service: k8s.core.v1.Service
    analysis_template: k8s.apiextensions.CustomResource
    rollout: k8s.apiextensions.CustomResource
    rollout_name: pulumi.Output[str]
    flags_checksum: pulumi.Output[str]

    def __init__(
        self, name: str, args: CanaryRolloutArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TOKEN, name, None, opts)
        self._args = args
        self._labels = {**args.labels, render.APP_LABEL: args.service}
        child = pulumi.ResourceOptions(parent=self)
        data = render.flags_configmap_data(args.flags)
        digest = render.checksum(data)
        cadence = render.analysis_cadence(
            args.analysis, args.steps, args.analysis_starting_step, args.progress_deadline_seconds
        )
        self.flags = k8s.core.v1.ConfigMap(
            f"{name}-flags", metadata=self._meta(f"{args.service}-flags"), data=data, opts=child
        )
        self.stable_service = self._service(name, "stable", child)
        self.canary_service = self._service(name, "canary", child)
        self.analysis_template = k8s.apiextensions.CustomResource(
            f"{name}-analysis",
            api_version=render.ROLLOUTS_API,
            kind="AnalysisTemplate",
            metadata=self._meta(f"{args.service}-slo"),
            spec=render.analysis_template_spec(args.analysis, cadence),
            opts=child,
        )
        self.rollout = k8s.apiextensions.CustomResource(
            f"{name}-rollout",
            api_version=render.ROLLOUTS_API,
            kind="Rollout",
            metadata=self._meta(args.service),
            spec=render.rollout_spec(self._rollout_spec_args(digest, cadence.starting_step)),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[
                    self.flags,
                    self.stable_service,
                    self.canary_service,
                    self.analysis_template,
                ],
            ),
        )
        self.rollout_name = pulumi.Output.from_input(args.service)
        self.flags_checksum = pulumi.Output.from_input(digest)
        self.register_outputs(
            {"rollout_name": self.rollout_name, "flags_checksum": self.flags_checksum}
        )

    def _meta(self, k8s_name: str) -> Any:  # the SDK types metadata as ObjectMetaArgsDict
        return {"name": k8s_name, "namespace": self._args.namespace, "labels": self._labels}

    def _service(self, name: str, role: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.Service:
        """The ``stable`` or ``canary`` Service; Argo Rollouts adds the pod-template hash to
        its selector at runtime."""
        a = self._args
        spec: Any = {
            "type": "ClusterIP",
            "selector": {render.APP_LABEL: a.service},
            "ports": [{"name": "http", "port": a.port, "targetPort": "http", "protocol": "TCP"}],
        }
        return k8s.core.v1.Service(
            f"{name}-{role}", metadata=self._meta(f"{a.service}-{role}"), spec=spec, opts=opts
        )

    def _rollout_spec_args(self, flags_checksum: str, starting_step: int) -> render.RolloutSpecArgs:
        """The renderer's input: the args, the children's names, the flags checksum and the
        analysis' starting step."""
        a = self._args
        return render.RolloutSpecArgs(
            service=a.service,
            region=a.region,
            image=a.image,
            version=a.version,
            port=a.port,
            replicas=a.replicas,
            steps=list(a.steps),
            labels=self._labels,
            stable_service=f"{a.service}-stable",
            canary_service=f"{a.service}-canary",
            analysis_template=f"{a.service}-slo",
            flags_configmap=f"{a.service}-flags",
            flags_checksum=flags_checksum,
            resources=a.resources,
            progress_deadline_seconds=a.progress_deadline_seconds,
            abort_scale_down_delay_seconds=a.abort_scale_down_delay_seconds,
            analysis_starting_step=starting_step,
            max_surge=a.max_surge,
            max_unavailable=a.max_unavailable,
            traffic_routing=a.traffic_routing,
            ingress=a.ingress,
            env=dict(a.env),
            pod_annotations=dict(a.pod_annotations),
            service_account=a.service_account,
            runtime_class=a.runtime_class,
            metric_service=a.metric_service,
        )


def component_name(service: str, region: str) -> str:
    """Pulumi name of a service's ServiceComponent in a region (unique across regions), which
    was also the name of its CanaryRollout before ServiceComponent existed (the legacy alias)."""
    return f"{service}-{region}"
