"""MonitoringRules: one region's recording rules, SLO alerts and Grafana dashboards.

Per service, a ``monitoring.coreos.com/v1`` PrometheusRule (RED, USE, steering, SLI, SLO
metadata and burn-rate alert groups) labelled so the kube-prometheus-stack Prometheus selects
it, and a ConfigMap holding the service's RED and USE dashboards labelled for the Grafana
sidecar; plus one overview dashboard for the region. The rule groups and dashboards come from
the pure builders in :mod:`summit_platform.components.render`; this file only turns them into resources.

The composition maps the stack config onto the builders' inputs
(:func:`summit_platform.stacks.observability.region_services`); ``summit rules render`` uses the same mapping,
so the rules a stack deploys and the files the CLI writes are the same.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s
from pydantic import Field

from summit_platform.components.args import ComponentArgs
from summit_platform.components.render import dashboards as dash
from summit_platform.components.render import prometheus_rules as pr

TOKEN = "summit:observability:MonitoringRules"
RULE_API_VERSION = "monitoring.coreos.com/v1"
RULE_KIND = "PrometheusRule"


class MonitoringRulesArgs(ComponentArgs):
    """Inputs of :class:`MonitoringRules`."""

    region: str
    """Region whose cluster receives the objects (also a static label on USE series)."""
    services: list[pr.ServiceRules]
    """One entry per service: its SLOs and the exporters' metric contract."""
    namespace: str = "monitoring"
    """Namespace of the PrometheusRules and dashboard ConfigMaps."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Cost-allocation labels (team, service, env, cost-center) put on every object."""
    rule_selector_labels: dict[str, str] = Field(
        default_factory=lambda: {"release": "kube-prometheus-stack"}
    )
    """Labels the Prometheus ``ruleSelector`` matches."""
    dashboard_label: str = "grafana_dashboard"
    """Label the Grafana sidecar watches (value ``"1"``)."""
    per_service: bool = True
    """Emit each service's PrometheusRule and dashboards. False when every service's rules
    come from its :class:`summit_platform.components.service.ServiceComponent` (only the overview stays)."""
    overview: bool = True
    """Emit the region overview dashboard. False inside a ServiceComponent: one overview per
    region, owned by the platform's per-region instance."""
    service_label_prefix: str = ""
    """The stack's service label prefix (a preview's ``pr-<N>-``): the overview's uid and
    steering panels carry it, so two stacks' overviews stay apart in one Grafana."""


def rule_object_name(service: str) -> str:
    """metadata.name of a service's PrometheusRule."""
    return f"summit-{service}"


def dashboard_object_name(service: str) -> str:
    """metadata.name of a service's dashboard ConfigMap."""
    return f"summit-{service}-dashboards"


class MonitoringRules(pulumi.ComponentResource):
    """A region's PrometheusRules and dashboard ConfigMaps, one set per service."""

    rules: dict[str, k8s.apiextensions.CustomResource]
    dashboards: dict[str, k8s.core.v1.ConfigMap]
    overview: k8s.core.v1.ConfigMap | None
    rule_names: pulumi.Output[list[str]]
    dashboard_uids: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: MonitoringRulesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TOKEN, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        common = {**args.labels, "app.kubernetes.io/part-of": "summit-platform"}
        self.rules = {}
        self.dashboards = {}
        uids: list[str] = []
        for spec in args.services if args.per_service else []:
            svc = spec.service
            self.rules[svc] = k8s.apiextensions.CustomResource(
                f"{name}-{svc}-rules",
                api_version=RULE_API_VERSION,
                kind=RULE_KIND,
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=rule_object_name(svc),
                    namespace=args.namespace,
                    labels={
                        **common,
                        **args.rule_selector_labels,
                        "app.kubernetes.io/name": svc,
                    },
                ),
                spec={"groups": pr.service_rule_groups(spec)},
                opts=child,
            )
            boards = dash.service_dashboards(svc)
            uids += [b["uid"] for b in boards.values()]
            self.dashboards[svc] = k8s.core.v1.ConfigMap(
                f"{name}-{svc}-dashboards",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=dashboard_object_name(svc),
                    namespace=args.namespace,
                    labels={**common, args.dashboard_label: "1", "app.kubernetes.io/name": svc},
                ),
                data={file: json.dumps(board, indent=1) for file, board in boards.items()},
                opts=child,
            )
        self.overview = None
        if args.overview:
            overview = dash.overview_dashboard(
                args.region, [s.service for s in args.services], args.service_label_prefix
            )
            uids.append(overview["uid"])
            self.overview = k8s.core.v1.ConfigMap(
                f"{name}-overview-dashboard",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name="summit-overview-dashboard",
                    namespace=args.namespace,
                    labels={**common, args.dashboard_label: "1"},
                ),
                data={f"{overview['uid']}.json": json.dumps(overview, indent=1)},
                opts=child,
            )
        self.rule_names = pulumi.Output.from_input(
            [rule_object_name(s.service) for s in args.services] if args.per_service else []
        )
        self.dashboard_uids = pulumi.Output.from_input(uids)
        self.register_outputs(
            {
                "rules": self.rules,
                "dashboards": self.dashboards,
                "overview": self.overview,
                "rule_names": self.rule_names,
                "dashboard_uids": self.dashboard_uids,
            }
        )
