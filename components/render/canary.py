"""Pure builders for progressive delivery: canary steps, Prometheus gate queries, the Argo
Rollouts ``AnalysisTemplate`` and ``Rollout`` specs, and the region's feature-flag ConfigMap.

Plain values in, plain dicts out: no Pulumi, no I/O. The :class:`~summit_platform.components.canary_rollout.
CanaryRollout` component wraps these in resources, and ``summit gate`` reuses the same PromQL so
that the in-cluster canary analysis and the CLI gate judge a region the same way.

No traffic (NaN or an empty vector) is never a pass. In the canary analysis it is
*inconclusive*: both ``successCondition`` and ``failureCondition`` are false, so after
``inconclusiveLimit`` such measurements Argo Rollouts pauses the rollout for a human instead of
promoting a release nobody has exercised or aborting one nobody has seen fail.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from summit_platform.components.render import analysis_cadence as cadence_model
from summit_platform.components.render import replica_split as split
from summit_platform.components.render.durations import DurationError, go_duration

ROLLOUTS_API = "argoproj.io/v1alpha1"
HISTOGRAM = "http_server_request_duration_seconds"
"""The observability contract's request histogram (labels: service, region, code)."""
POD_HASH_LABEL = "rollouts_pod_template_hash"
"""Series label carrying the pod's ``rollouts-pod-template-hash`` (scrape relabelling)."""
FLAGS_CHECKSUM_ANNOTATION = "summit.io/flags-checksum"
APP_LABEL = "app.kubernetes.io/name"

# -- Canary defaults: the one source for the config model, the components and these builders --

DEFAULT_PROGRESS_DEADLINE_SECONDS = 600
"""Seconds a rollout may go without progress before it aborts."""
DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS = 30
"""Seconds an aborted canary's pods stay up (to read their logs) before they scale down.
Argo applies it with traffic routing; a replica-split canary rolls back to stable at once."""
DEFAULT_MAX_SURGE: int | str = "25%"
"""Pods a step may run above the desired count (rounded up): new pods start before old ones
stop, and Argo may use one extra pod to get closer to a weight (Argo's own default)."""
DEFAULT_MAX_UNAVAILABLE: int | str = 0
"""Pods a step may run below the desired count (rounded down). 0 keeps full serving capacity
through every step; Argo's default, 25 %, lets a step remove stable pods before the canary's
are ready."""
DEFAULT_WEIGHT_TOLERANCE_PERCENT = 5.0
"""How far (percentage points) the canary's share of pods may be from a ``setWeight`` step
at the best replica count the autoscaler may run, without traffic routing."""


def default_steps() -> list[dict[str, Any]]:
    """The default canary ladder, a fresh list on every call: setWeight 10, pause 5m,
    setWeight 50, pause 10m, setWeight 100 (15 minutes of pauses)."""
    return [
        {"setWeight": 10},
        {"pause": {"duration": "5m"}},
        {"setWeight": 50},
        {"pause": {"duration": "10m"}},
        {"setWeight": 100},
    ]


_FLAG = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,62}")  # fullmatch: `$` lets "x\n" through


class StepError(ValueError):
    """A canary step list that Argo Rollouts would reject or that makes no sense.

    ``index`` is the position of the offending step (None for the list as a whole)."""

    def __init__(self, message: str, index: int | None = None):
        self.index = index
        where = f"steps[{index}]: " if index is not None else "steps: "
        super().__init__(where + message)


def build_steps(steps: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validate a canary step list and return it in Argo's shape.

        Each step is exactly one of ``{"setWeight": int}`` or ``{"pause": {"duration": d}}``
        (``{"pause": {}}`` pauses until promoted by hand). Weights are whole percents in 0..100
        and strictly rising (a canary never steps back; an abort is how weight goes down); at least
        one ``setWeight`` is required. Durations are Go durations with a unit
    (:func:`~summit_platform.components.render.durations.go_duration`), never a bare number."""
    if not steps:
        raise StepError("expected at least one step, found none")
    out: list[dict[str, Any]] = []
    last = -1
    weights = 0
    for i, step in enumerate(steps):
        if not isinstance(step, Mapping) or len(step) != 1:
            raise StepError(f"expected exactly one of setWeight or pause, found {_short(step)}", i)
        ((kind, value),) = step.items()
        if kind == "setWeight":
            if isinstance(value, bool) or not isinstance(value, int):
                raise StepError(f"setWeight: expected a whole percent, found {_short(value)}", i)
            if not 0 <= value <= 100:
                raise StepError(f"setWeight: expected 0..100, found {_short(value)}", i)
            if value <= last:
                raise StepError(f"setWeight: weights must rise, found {value} after {last}", i)
            last = value
            weights += 1
            out.append({"setWeight": value})
        elif kind == "pause":
            if value is None or value == {}:
                out.append({"pause": {}})
                continue
            if not isinstance(value, Mapping) or set(value) != {"duration"}:
                raise StepError(f"pause: expected {{duration: '5m'}}, found {_short(value)}", i)
            duration = value["duration"]
            try:
                go_duration(duration)
            except DurationError as err:
                raise StepError(f"pause.duration: {err}", i) from None
            out.append({"pause": {"duration": duration.strip()}})
        else:
            raise StepError(f"unknown step kind {_short(kind)} (expected setWeight or pause)", i)
    if not weights:
        raise StepError("expected at least one setWeight step")
    return out


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, default=str)
    except ValueError:  # an int too long to print (more than 4300 digits)
        return "a number of more than 4300 digits"
    return text if len(text) <= 60 else text[:57] + "..."


# -- PromQL shared by the canary analysis and `summit gate` ----------------------------------


def selector(labels: Mapping[str, str]) -> str:
    """``{k="v",...}`` with values escaped for PromQL (sorted, so queries are stable)."""
    parts = [f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())]
    return "{" + ",".join(parts) + "}"


def _escape(value: str) -> str:
    # Argo templates ({{args.x}}) pass through untouched; only quotes and backslashes matter.
    return value.replace("\\", "\\\\").replace('"', '\\"')


def quantile_query(labels: Mapping[str, str], window: str, quantile: float = 0.95) -> str:
    """Latency quantile in seconds over ``window``. Empty when there is no series, NaN when the
    series exist but saw no request in the window."""
    sel = selector(labels)
    return (
        f"histogram_quantile({quantile:g}, sum by (le) (rate({HISTOGRAM}_bucket{sel}[{window}])))"
    )


def error_ratio_query(labels: Mapping[str, str], window: str) -> str:
    """5xx share of requests over ``window``.

    The numerator falls back to ``vector(0)``: a healthy service may have no 5xx series at all,
    which must read as 0 errors, not as no data. The denominator does not, so no traffic stays
    empty (no series) or NaN (0/0) and is reported as no data."""
    errors = selector({**labels, "code": "__5xx__"}).replace('code="__5xx__"', 'code=~"5.."')
    total = selector(labels)
    return (
        f"(sum(rate({HISTOGRAM}_count{errors}[{window}])) or vector(0))"
        f" / sum(rate({HISTOGRAM}_count{total}[{window}]))"
    )


# -- AnalysisTemplate -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AnalysisSettings:
    """How the canary is judged."""

    p95_ms: float = 1500
    """Latency gate: the canary's p95 must stay below this (milliseconds)."""
    error_ratio: float = 0.01
    """Error gate: the canary's 5xx share must stay below this (0..1)."""
    interval: str = "1m"
    """Longest time between measurements; the interval used is derived from the steps
    (:mod:`summit_platform.components.render.analysis_cadence`) and never longer."""
    failure_limit: int = 1
    """Failed measurements tolerated; one more aborts the rollout."""
    inconclusive_limit: int = 2
    """No-data measurements tolerated; one more pauses the rollout for a human."""
    window: str = "2m"
    """Range of the ``rate()`` in each query (at least two scrape intervals)."""
    prometheus_address: str = "http://kube-prometheus-stack-prometheus.monitoring:9090"
    """Prometheus the Argo Rollouts controller queries, in-cluster."""
    hash_label: str = POD_HASH_LABEL
    """Series label that holds the pod-template hash."""


DEFAULT_ANALYSIS = AnalysisSettings()
"""The default gates and cadence of the canary analysis (the config model's defaults)."""


def _conditions(threshold: float) -> tuple[str, str]:
    # Both conditions demand a real number, so an empty vector or NaN (no traffic) matches
    # neither and the measurement is Inconclusive - never a silent pass.
    has_value = "len(result) > 0 && !isNaN(result[0])"
    return (
        f"{has_value} && result[0] < {threshold:g}",
        f"{has_value} && result[0] >= {threshold:g}",
    )


TEMPLATE_ARGS = ("count", "initial-delay", "failure-limit", "inconclusive-limit")
"""Template args that tune a run: the background analysis takes their defaults (the derived
cadence and the configured limits), the inline promotion check overrides them."""


def analysis_cadence(
    settings: AnalysisSettings,
    steps: Sequence[Mapping[str, Any]],
    starting_step: int | None,
    progress_deadline_seconds: int,
) -> cadence_model.Cadence:
    """The background analysis' cadence for ``steps`` (see :mod:`~summit_platform.components.render.
    analysis_cadence`): interval at most ``settings.interval`` and the rate window, count
    covering every pause up to full promotion."""
    return cadence_model.derive_cadence(
        steps,
        starting_step=starting_step,
        max_interval=settings.interval,
        window=settings.window,
        progress_deadline_seconds=progress_deadline_seconds,
    )


def analysis_template_spec(
    settings: AnalysisSettings, cadence: cadence_model.Cadence
) -> dict[str, Any]:
    """The ``spec`` of an AnalysisTemplate gating p95 latency and error ratio of the canary's
    pods (its pod-template hash), for the service and region passed as args.

    ``count``, ``initialDelay``, ``failureLimit`` and ``inconclusiveLimit`` are template args
    whose defaults are the background run's (``cadence`` and ``settings``); the inline
    promotion check (:func:`promotion_check_step`) passes one measurement with no failure and
    no missing data allowed."""
    go_duration(settings.interval)
    go_duration(settings.window)
    scope = {
        "service": "{{args.service}}",
        "region": "{{args.region}}",
        settings.hash_label: "{{args.canary-hash}}",
    }
    p95_ok, p95_bad = _conditions(settings.p95_ms / 1000.0)
    err_ok, err_bad = _conditions(settings.error_ratio)
    common = {
        "interval": cadence.interval,
        "initialDelay": "{{args.initial-delay}}",
        "count": "{{args.count}}",
        "failureLimit": "{{args.failure-limit}}",
        "inconclusiveLimit": "{{args.inconclusive-limit}}",
    }
    defaults = {
        "count": str(cadence.count),
        "initial-delay": cadence.initial_delay,
        "failure-limit": str(settings.failure_limit),
        "inconclusive-limit": str(settings.inconclusive_limit),
    }
    return {
        "args": [
            {"name": "service"},
            {"name": "region"},
            {"name": "canary-hash"},
            *({"name": k, "value": defaults[k]} for k in TEMPLATE_ARGS),
        ],
        "metrics": [
            {
                "name": "p95-latency",
                **common,
                "successCondition": p95_ok,
                "failureCondition": p95_bad,
                "provider": {
                    "prometheus": {
                        "address": settings.prometheus_address,
                        "query": quantile_query(scope, settings.window),
                    }
                },
            },
            {
                "name": "error-ratio",
                **common,
                "successCondition": err_ok,
                "failureCondition": err_bad,
                "provider": {
                    "prometheus": {
                        "address": settings.prometheus_address,
                        "query": error_ratio_query(scope, settings.window),
                    }
                },
            },
        ],
    }


# -- Flags ------------------------------------------------------------------------------------


def region_flags(
    defaults: Mapping[str, bool], overrides: Mapping[str, Mapping[str, bool]], region: str
) -> dict[str, bool]:
    """The effective flag set of one region.

    Every region gets the same keys (the union of defaults and every region's overrides); a
    flag only named in another region's overrides is off here, so code never sees a missing
    key in one region and a present one in another."""
    names = set(defaults)
    for flags in overrides.values():
        names.update(flags)
    for name in names:
        if not _FLAG.fullmatch(name):
            raise ValueError(
                f"flag name {name!r}: expected a letter then letters, digits, '_', '.' or '-'"
            )
    own = overrides.get(region, {})
    return {n: bool(own.get(n, defaults.get(n, False))) for n in sorted(names)}


def flags_configmap_data(flags: Mapping[str, bool]) -> dict[str, str]:
    """ConfigMap ``data``: one key per flag (``"true"``/``"false"``, mounted as files) plus
    ``flags.json`` for apps that read them at once."""
    data = {name: "true" if on else "false" for name, on in sorted(flags.items())}
    data["flags.json"] = json.dumps(dict(sorted(flags.items())), sort_keys=True)
    return data


def checksum(data: Mapping[str, str]) -> str:
    """sha256 of the ConfigMap data, independent of key order: the pod template carries it so
    a flag change rolls the pods (through the canary, like any other change)."""
    return hashlib.sha256(json.dumps(dict(data), sort_keys=True).encode()).hexdigest()


# -- Rollout ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RolloutSpecArgs:
    """Plain inputs of :func:`rollout_spec`."""

    service: str
    """Service name: Rollout, Services and selector all use it."""
    region: str
    """Region the Rollout runs in (passed to the analysis)."""
    image: str
    """Image repository without tag."""
    version: str
    """Image tag to run."""
    port: int
    """Container port named ``http``."""
    replicas: int | None
    """Desired replicas; None when a HorizontalPodAutoscaler owns the count (``spec.replicas``
    is then left out, see :func:`rollout_spec`)."""
    steps: list[dict[str, Any]]
    """Validated canary steps (:func:`build_steps`)."""
    labels: dict[str, str]
    """Labels for the pod template (cost labels plus the app label)."""
    stable_service: str
    """Name of the stable Service."""
    canary_service: str
    """Name of the canary Service."""
    analysis_template: str
    """Name of the AnalysisTemplate run in the background."""
    flags_configmap: str
    """Name of the flags ConfigMap mounted at ``/etc/summit/flags``."""
    flags_checksum: str
    """Checksum of the flags data; a change restarts the pods."""
    resources: dict[str, dict[str, str]] = field(default_factory=dict)
    """Container ``resources`` (requests/limits)."""
    progress_deadline_seconds: int = DEFAULT_PROGRESS_DEADLINE_SECONDS
    """Seconds without progress before the rollout is aborted."""
    abort_scale_down_delay_seconds: int = DEFAULT_ABORT_SCALE_DOWN_DELAY_SECONDS
    """Seconds the aborted canary's pods stay up (to read their logs), then scale down."""
    analysis_starting_step: int | None = None
    """Step index from which background analysis runs; None: the step after the first
    weight above 0 (:func:`~summit_platform.components.render.analysis_cadence.default_starting_step`)."""
    max_surge: int | str = DEFAULT_MAX_SURGE
    """Pods (or percent of the desired pods, rounded up) a step may run above the count."""
    max_unavailable: int | str = DEFAULT_MAX_UNAVAILABLE
    """Pods (or percent, rounded down) a step may run below the count."""
    traffic_routing: str = "none"
    """``none`` (replica ratio), ``alb`` or ``nginx``."""
    ingress: str | None = None
    """Ingress that ALB/NGINX routing splits (defaults to the service name)."""
    health_path: str = "/healthz"
    """Readiness probe path."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra container environment (OTEL/Prometheus wiring of ServiceComponent), sorted."""
    pod_annotations: dict[str, str] = field(default_factory=dict)
    """Extra pod-template annotations (the flags checksum always wins)."""
    service_account: str | None = None
    """Pod service account (default: the namespace's ``default``)."""
    runtime_class: str | None = None
    """Pod ``runtimeClassName`` (e.g. ``gvisor``), if any."""
    metric_service: str | None = None
    """The ``service`` label value of the pods' series when the scrape rewrites it (None:
    ``service``); the analysis queries by it."""


def _analysis_args(a: RolloutSpecArgs) -> list[dict[str, Any]]:
    """The analysis' scope: this service, this region, the newest pods' template hash."""
    return [
        {"name": "service", "value": a.metric_service or a.service},
        {"name": "region", "value": a.region},
        {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
    ]


def promotion_check_step(a: RolloutSpecArgs) -> dict[str, Any]:
    """The inline analysis step before full promotion: one measurement, right away, that must
    pass (a failure aborts, missing data pauses for a person)."""
    strict = {"count": "1", "initial-delay": "0s", "failure-limit": "0", "inconclusive-limit": "0"}
    return {
        "analysis": {
            "templates": [{"templateName": a.analysis_template}],
            "args": [*_analysis_args(a), *({"name": k, "value": strict[k]} for k in strict)],
        }
    }


def canary_steps(a: RolloutSpecArgs) -> list[dict[str, Any]]:
    """The configured steps with the inline promotion check after the last pause the canary
    serves in (:func:`~summit_platform.components.render.analysis_cadence.promotion_check_index`)."""
    steps = [dict(s) for s in a.steps]
    at = cadence_model.promotion_check_index(steps)
    if at is not None:
        steps.insert(at, promotion_check_step(a))
    return steps


def starting_step(a: RolloutSpecArgs) -> int:
    """The background analysis' starting step: the given one when it is valid, else the
    step after the first weight above 0. Inserting the promotion check after it keeps it."""
    if a.analysis_starting_step is None:
        return cadence_model.default_starting_step(a.steps)
    problem = cadence_model.starting_step_problem(a.steps, a.analysis_starting_step)
    if problem:
        raise StepError(f"analysis starting step: {problem}")
    return a.analysis_starting_step


def canary_strategy(a: RolloutSpecArgs) -> dict[str, Any]:
    """``strategy.canary``: steps with the promotion check, the background analysis scoped to
    the new pods from the first serving step, surge limits, abort scale-down, canary/stable
    anti-affinity and the traffic routing, if any."""
    split.check_surge(
        split.int_or_percent(a.max_surge, "maxSurge"),
        split.int_or_percent(a.max_unavailable, "maxUnavailable"),
    )
    canary: dict[str, Any] = {
        "stableService": a.stable_service,
        "canaryService": a.canary_service,
        "steps": canary_steps(a),
        "maxSurge": a.max_surge,
        "maxUnavailable": a.max_unavailable,
        "abortScaleDownDelaySeconds": a.abort_scale_down_delay_seconds,
        # Keep canary and stable pods on different nodes, so one bad node cannot fail both and
        # the analysis compares the release, not the hardware.
        "antiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 100}},
        "analysis": {
            "templates": [{"templateName": a.analysis_template}],
            "startingStep": starting_step(a),
            "args": _analysis_args(a),
        },
    }
    ingress = a.ingress or a.service
    if a.traffic_routing == "alb":
        # No rootService: Argo then edits the Ingress rule that points at the stable Service,
        # which is the backend the service's Ingress uses.
        canary["trafficRouting"] = {"alb": {"ingress": ingress, "servicePort": a.port}}
    elif a.traffic_routing == "nginx":
        canary["trafficRouting"] = {"nginx": {"stableIngress": ingress}}
    elif a.traffic_routing != "none":
        raise ValueError(
            f"traffic routing: expected none, alb or nginx, found {a.traffic_routing!r}"
        )
    return canary


def rollout_container(a: RolloutSpecArgs) -> dict[str, Any]:
    """The service's container: image, ``http`` port, region and extra environment, readiness
    probe, the flags volume and resources."""
    container: dict[str, Any] = {
        "name": a.service,
        "image": f"{a.image}:{a.version}",
        "ports": [{"name": "http", "containerPort": a.port, "protocol": "TCP"}],
        "env": [
            {"name": "SUMMIT_REGION", "value": a.region},
            *({"name": k, "value": v} for k, v in sorted(a.env.items()) if k != "SUMMIT_REGION"),
        ],
        "readinessProbe": {
            "httpGet": {"path": a.health_path, "port": "http"},
            "periodSeconds": 5,
        },
        "volumeMounts": [{"name": "flags", "mountPath": "/etc/summit/flags", "readOnly": True}],
    }
    if a.resources:
        container["resources"] = a.resources
    return container


def rollout_pod_spec(a: RolloutSpecArgs) -> dict[str, Any]:
    """The pod template's ``spec``: identity, the container, the flags volume and a preference
    to spread the service's pods over nodes."""
    pod: dict[str, Any] = {}
    if a.service_account:
        pod["serviceAccountName"] = a.service_account
    if a.runtime_class:
        pod["runtimeClassName"] = a.runtime_class
    return {
        **pod,
        "containers": [rollout_container(a)],
        "volumes": [{"name": "flags", "configMap": {"name": a.flags_configmap}}],
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 50,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {APP_LABEL: a.service}},
                        },
                    }
                ]
            }
        },
    }


def rollout_spec(a: RolloutSpecArgs) -> dict[str, Any]:
    """The ``spec`` of an Argo Rollout with a canary strategy, background analysis scoped to
    the new pods, canary/stable anti-affinity, surge limits, abort scale-down and a progress
    deadline.

    With ``replicas`` None (a HorizontalPodAutoscaler targets the Rollout) ``spec.replicas``
    is left out rather than set and ignored: the autoscaler owns the count through the
    ``scale`` subresource, and every apply that carries the field resets the count it chose
    (Kubernetes' guidance for autoscaled workloads is to leave it out, kubernetes/website
    #29739). Pulumi's ``ignore_changes`` does not help here: the Kubernetes provider applies
    server-side and still sends the value it created the object with (pulumi/pulumi-kubernetes
    #1879, #2491)."""
    selector_labels = {APP_LABEL: a.service}
    canary = canary_strategy(a)
    replicas = {} if a.replicas is None else {"replicas": a.replicas}
    return {
        **replicas,
        "revisionHistoryLimit": 3,
        "progressDeadlineSeconds": a.progress_deadline_seconds,
        "progressDeadlineAbort": True,
        "selector": {"matchLabels": selector_labels},
        "template": {
            "metadata": {
                "labels": {**a.labels, **selector_labels},
                "annotations": {**a.pod_annotations, FLAGS_CHECKSUM_ANNOTATION: a.flags_checksum},
            },
            "spec": rollout_pod_spec(a),
        },
        "strategy": {"canary": canary},
    }


def total_pause_seconds(steps: Sequence[Mapping[str, Any]]) -> float:
    """Sum of the timed pauses: the least time a rollout through these steps takes."""
    total = 0.0
    for s in steps:
        pause = s.get("pause")
        if isinstance(pause, Mapping) and "duration" in pause:
            total += go_duration(pause["duration"])
    return total
