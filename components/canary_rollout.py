"""CanaryRollout: one service delivered through an Argo Rollouts canary in one region.

Children (all in the region's namespace, through the region's Kubernetes provider):
the flags ``ConfigMap`` (``<name>-flags``), the ``stable`` and ``canary`` Services, the
``AnalysisTemplate`` gating p95 latency and error ratio of the canary's pods (``<name>-analysis``)
and the ``Rollout`` itself (``<name>-rollout``). Every manifest body comes from the pure
builders in :mod:`components.render.canary`.

:func:`deliver_region` is what the composition calls once per region: one CanaryRollout per
service with ``deliver: true``. :func:`region_target_urns` gives the URNs of those resources
without running the program, for ``summit deploy``'s targeted ``up``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_kubernetes as k8s

from components.render import canary as render

if TYPE_CHECKING:
    from stacks.config import ServiceConfig, StackConfig

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


@dataclass(frozen=True, kw_only=True)
class CanaryRolloutArgs:
    """Inputs of :class:`CanaryRollout`."""

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
    port: int = 8080
    """Container and Service port."""
    replicas: int = 2
    """Desired replicas."""
    resources: dict[str, dict[str, str]] = field(default_factory=dict)
    """Container requests/limits."""
    labels: dict[str, str] = field(default_factory=dict)
    """Cost-allocation labels (team, service, env, cost-center) for every object."""
    steps: list[dict[str, Any]] = field(default_factory=list)
    """Canary steps; validated again here (empty means the default 10/50/100 ladder)."""
    analysis: render.AnalysisSettings = field(default_factory=render.AnalysisSettings)
    """Gates and cadence of the background analysis."""
    flags: dict[str, bool] = field(default_factory=dict)
    """The region's effective feature flags."""
    progress_deadline_seconds: int = 600
    """Seconds without progress before the rollout aborts."""
    abort_scale_down_delay_seconds: int = 30
    """Seconds an aborted canary's pods stay up before scale-down."""
    analysis_starting_step: int = 1
    """Step index from which the background analysis runs."""
    traffic_routing: str = "none"
    """``none``, ``alb`` or ``nginx``."""
    ingress: str | None = None
    """Ingress split by ALB/NGINX routing (default: the service name)."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra container environment (ServiceComponent's OTEL/Prometheus wiring)."""
    pod_annotations: dict[str, str] = field(default_factory=dict)
    """Extra pod-template annotations."""
    service_account: str | None = None
    """Pod service account name (default: the namespace's ``default``)."""
    runtime_class: str | None = None
    """Pod ``runtimeClassName``, if any."""


DEFAULT_STEPS: list[dict[str, Any]] = [
    {"setWeight": 10},
    {"pause": {"duration": "5m"}},
    {"setWeight": 50},
    {"pause": {"duration": "10m"}},
    {"setWeight": 100},
]


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
        child = pulumi.ResourceOptions(parent=self)
        steps = render.build_steps(args.steps or DEFAULT_STEPS)
        labels = {**args.labels, render.APP_LABEL: args.service}

        def meta(k8s_name: str) -> Any:  # the SDK types metadata as ObjectMetaArgsDict
            return {"name": k8s_name, "namespace": args.namespace, "labels": labels}

        data = render.flags_configmap_data(args.flags)
        digest = render.checksum(data)
        flags_name = f"{args.service}-flags"
        self.flags = k8s.core.v1.ConfigMap(
            f"{name}-flags", metadata=meta(flags_name), data=data, opts=child
        )

        def service(role: str) -> k8s.core.v1.Service:
            # Argo Rollouts adds the pod-template hash to these selectors at runtime.
            spec: Any = {
                "type": "ClusterIP",
                "selector": {render.APP_LABEL: args.service},
                "ports": [
                    {"name": "http", "port": args.port, "targetPort": "http", "protocol": "TCP"}
                ],
            }
            return k8s.core.v1.Service(
                f"{name}-{role}", metadata=meta(f"{args.service}-{role}"), spec=spec, opts=child
            )

        self.stable_service = service("stable")
        self.canary_service = service("canary")

        template_name = f"{args.service}-slo"
        self.analysis_template = k8s.apiextensions.CustomResource(
            f"{name}-analysis",
            api_version=render.ROLLOUTS_API,
            kind="AnalysisTemplate",
            metadata=meta(template_name),
            spec=render.analysis_template_spec(args.analysis),
            opts=child,
        )
        spec = render.rollout_spec(
            render.RolloutSpecArgs(
                service=args.service,
                region=args.region,
                image=args.image,
                version=args.version,
                port=args.port,
                replicas=args.replicas,
                steps=steps,
                labels=labels,
                stable_service=f"{args.service}-stable",
                canary_service=f"{args.service}-canary",
                analysis_template=template_name,
                flags_configmap=flags_name,
                flags_checksum=digest,
                resources=args.resources,
                progress_deadline_seconds=args.progress_deadline_seconds,
                abort_scale_down_delay_seconds=args.abort_scale_down_delay_seconds,
                analysis_starting_step=args.analysis_starting_step,
                traffic_routing=args.traffic_routing,
                ingress=args.ingress,
                env=dict(args.env),
                pod_annotations=dict(args.pod_annotations),
                service_account=args.service_account,
                runtime_class=args.runtime_class,
            )
        )
        self.rollout = k8s.apiextensions.CustomResource(
            f"{name}-rollout",
            api_version=render.ROLLOUTS_API,
            kind="Rollout",
            metadata=meta(args.service),
            spec=spec,
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


def component_name(service: str, region: str) -> str:
    """Pulumi name of a service's CanaryRollout in a region (unique across regions)."""
    return f"{service}-{region}"


def service_version(svc: ServiceConfig, region: str) -> str:
    """The image version a region runs: its ``regionVersions`` entry, else ``version``."""
    return svc.region_versions.get(region, svc.version)


def rollout_args(cfg: StackConfig, svc: ServiceConfig, region: str) -> CanaryRolloutArgs:
    """Map the typed stack config onto the component's args for one service and region."""
    r = cfg.rollout
    res = svc.resources
    return CanaryRolloutArgs(
        service=svc.name,
        region=region,
        namespace=cfg.region(region).kubernetes.namespace,
        image=svc.image,
        version=service_version(svc, region),
        port=svc.port,
        replicas=svc.replicas.min,
        resources={
            "requests": {"cpu": res.cpu_request, "memory": res.memory_request},
            "limits": {"cpu": res.cpu_limit, "memory": res.memory_limit},
        },
        steps=list(r.steps),
        analysis=render.AnalysisSettings(
            p95_ms=r.p95_ms,
            error_ratio=r.error_ratio,
            interval=r.analysis_interval,
            count=r.analysis_count,
            failure_limit=r.failure_limit,
            inconclusive_limit=r.inconclusive_limit,
            window=r.analysis_window,
            prometheus_address=r.prometheus_address,
        ),
        flags=render.region_flags(cfg.flags.defaults, cfg.flags.region_overrides, region),
        progress_deadline_seconds=r.progress_deadline_seconds,
        abort_scale_down_delay_seconds=r.abort_scale_down_delay_seconds,
        analysis_starting_step=r.analysis_starting_step,
        traffic_routing=r.traffic_routing,
        ingress=r.ingress,
    )


def deliver_region(
    cfg: StackConfig,
    region: str,
    provider: pulumi.ProviderResource,
    labels: dict[str, str],
) -> dict[str, CanaryRollout]:
    """One CanaryRollout per delivered service in ``region`` (called by the composition)."""
    out = {}
    for svc in cfg.services:
        if not svc.deliver:
            continue
        args = rollout_args(cfg, svc, region)
        args = CanaryRolloutArgs(**{**args.__dict__, "labels": dict(labels)})
        out[svc.name] = CanaryRollout(
            component_name(svc.name, region),
            args,
            opts=pulumi.ResourceOptions(provider=provider),
        )
    return out


def region_target_urns(cfg: StackConfig, stack: str, project: str, region: str) -> list[str]:
    """URNs of every delivered workload in ``region`` (components and children), as the
    engine builds them: what ``up --target`` needs to touch that region and nothing else.

    The platform now composes each service as a ``summit:platform:Service`` with this
    CanaryRollout under it, so the URNs come from :mod:`components.service`."""
    from components.service import region_target_urns as service_target_urns

    return service_target_urns(cfg, stack, project, region)
