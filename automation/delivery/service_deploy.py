"""``summit deploy`` on a service project (``summit service new``): the same serial, gated,
region-by-region run as the platform's, over the service's own config.

A service's program runs one ServiceComponent per entry of ``<service>:clusters`` and takes
its image tag from the one key ``<service>:version``. So a deploy:

- sets ``<service>:version`` in ``Pulumi.<stack>.yaml`` (one key, formatting kept), then,
  region by region in the order of ``clusters`` (or ``--regions``), runs ``up --target`` on
  that region's CanaryRollout and its children, waits for the Rollout, runs the health gate;
- targets come from the program itself: it is planned in the embedded lane with the new
  version (which also proves the program runs with it before anything changes), and each
  region's targets are the CanaryRollout whose resources live in that region, with all its
  descendants (:func:`region_plans`);
- a failure restores the key and rolls back **every** region already deployed, latest first
  (``--rollback-all`` is implied): with one version key for all regions, a region left on the
  new version would disagree with the file the workflow commits;
- the health gate reads the stack's own series (``metricService``, the service's name unless a
  preview renamed it) with the service's ``slo.latencyThresholdMs`` and the canary analysis'
  error ratio, from ``--prometheus`` (a service has no Prometheus key of its own);
- ``--dry-run`` reads, plans in the embedded lane and prints; it writes nothing, calls no
  Pulumi CLI and touches no cluster.

The decisions (:func:`check_release`, :func:`region_plans`, :func:`plan_service_deploy`) are
pure; :mod:`summit_platform.automation.delivery.deploy` runs the plan and writes the reports, unchanged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from summit_platform.automation.delivery import deploy as d
from summit_platform.automation.errors import UserError
from summit_platform.components.render.canary import DEFAULT_ANALYSIS
from summit_platform.stacks.delivery import CANARY_TOKEN

ROLLOUT_TYPE = "kubernetes:argoproj.io/v1alpha1:Rollout"
KUBE_CONTEXT_OUTPUT = "kubeContext-{region}"
"""The stack output the service's program exports with each region's kube context."""
ROLLBACK_NOTE = (
    "a service has one version key for all its regions: a failure restores it and rolls back"
    " every region already deployed (--rollback-all is implied)"
)


def check_release(
    project: str, specs: Sequence[str] | None, version: str | None, all_services: bool
) -> str:
    """The version to deploy. ``--service`` must name the project itself (a service project
    deploys one service: itself), as ``NAME --version V`` or ``NAME=V``; ``--all-services``
    means the same. Anything else is exit 2 naming the flag."""
    releases = d.parse_releases(specs, version, all_services, [project])
    return releases[project]


def _subtrees(resources: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Each CanaryRollout's URN -> its descendants, in plan order."""
    children: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in resources:
        if r.get("parent"):
            children[str(r["parent"])].append(r)
    out: dict[str, list[Mapping[str, Any]]] = {}
    for canary in (r for r in resources if r.get("type") == CANARY_TOKEN):
        found, todo = [], list(children[str(canary["urn"])])
        while todo:
            r = todo.pop(0)
            found.append(r)
            todo += children[str(r["urn"])]
        out[str(canary["urn"])] = found
    return out


def region_plans(
    resources: Sequence[Mapping[str, Any]], source: str
) -> dict[str, tuple[list[str], list[str], str]]:
    """region -> (targets, Rollout names, namespace) from the planned program: each
    CanaryRollout with all its descendants, placed in the one region its resources live in
    (their Kubernetes provider's). A canary whose resources span regions is a program this
    command cannot deploy region by region: exit 2 naming it."""
    out: dict[str, tuple[list[str], list[str], str]] = {}
    for urn, below in _subtrees(resources).items():
        regions = {str(r.get("region")) for r in below if r.get("custom")}
        if len(regions) != 1:
            raise UserError(
                f"CanaryRollout {urn} has resources in {sorted(regions) or 'no region'}:"
                " expected one region per canary (one ServiceComponent per cluster)",
                source=source,
            )
        (region,) = regions
        rollouts = [r for r in below if r.get("type") == ROLLOUT_TYPE]
        meta = [(r.get("inputs") or {}).get("metadata") or {} for r in rollouts]
        targets, names, namespace = out.get(region, ([], [], ""))
        if not namespace and meta:
            namespace = str(meta[0].get("namespace") or "")
        targets = [*targets, urn, *(str(r["urn"]) for r in below)]
        names = names + [str(m.get("name")) for m in meta if m.get("name")]
        out[region] = (targets, names, namespace)
    return out


def _edit(project: str, region: str, version: str, current: tuple[str | None, str]) -> d.ConfigEdit:
    previous, effective = current
    return d.ConfigEdit(
        service=project,
        index=0,
        region=region,
        path=f"{project}:version",
        new=version,
        previous=previous,
        effective_previous=effective,
        map_existed=False,
    )


def plan_service_deploy(
    *,
    project: str,
    stack: str,
    version: str,
    current: tuple[str | None, str],
    order: Sequence[str],
    regions: Mapping[str, tuple[list[str], list[str], str]],
    contexts: Mapping[str, str],
    gate_window: str = "10m",
    source: str = "",
    interrupted: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> d.DeployPlan:
    """The ordered plan. ``current`` is (the stack file's ``version`` or None when only
    Pulumi.yaml's default applies, the version the stack runs). Nothing changes when the
    stack already runs ``version``, unless an interrupted run set it and never gated it in a
    region (``interrupted``, from the audit log): that region is deployed again, its previous
    version the one from before that run."""
    d.check_version(version, "--version")
    planned, unchanged, notes = [], [], [ROLLBACK_NOTE]
    for region in order:
        if region not in regions:
            raise UserError(
                f"the program plans no CanaryRollout in {region}", source=source, key="--regions"
            )
        left = (interrupted or {}).get((project, region))
        if left is not None and left.get("new") == current[1]:
            before = (left.get("previous"), str(left.get("effective_previous") or current[1]))
            notes.append(
                f"{project} {region}: an interrupted deploy set {left.get('new')} and"
                f" never gated it; deploying {version}"
            )
        elif current[1] == version:
            unchanged.append(d.Unchanged(project, region, version))
            continue
        else:
            before = current
        targets, rollouts, namespace = regions[region]
        planned.append(
            d.RegionPlan(
                region=region,
                edits=[_edit(project, region, version, before)],
                targets=targets,
                rollouts=rollouts,
                namespace=namespace,
                context=contexts.get(region),
            )
        )
    return d.DeployPlan(
        stack=stack,
        project=project,
        releases={project: version},
        gate_window=gate_window,
        regions=planned,
        unchanged=unchanged,
        services_key=f"{project}:version",
        rollback_all=True,
        notes=notes if planned else [],
    )


def gate_defaults(values: Mapping[str, Any]) -> dict[str, float]:
    """The gate's SLOs when no ``--slo`` is given: p95 under ``slo.latencyThresholdMs`` (what
    the service's alerts and canary analysis use) and the canary analysis' error ratio."""
    slo = values.get("slo") if isinstance(values.get("slo"), Mapping) else {}
    p95 = slo.get("latencyThresholdMs", 500) if isinstance(slo, Mapping) else 500
    return {"p95_ms": float(p95), "error_ratio": DEFAULT_ANALYSIS.error_ratio}


def metric_service(project: str, values: Mapping[str, Any]) -> str:
    """The ``service`` label on the stack's series (a preview's differs from stage's)."""
    label = values.get("metricService")
    return label if isinstance(label, str) and label else project
