"""TrafficController: the adaptive traffic controller (``summit traffic run``) in one region's
cluster, with the AWS identity it steers with.

Children (the Kubernetes ones in the region's namespace, through the region's Kubernetes
provider; the IAM ones through its AWS provider, both given in ``opts.providers``):

- ``<name>-role``, ``<name>-policy``: an IAM role for the ServiceAccount (IRSA: the
  cluster's OIDC provider, only this ServiceAccount) and its inline policy (it lives and dies
  with the role; no managed policy to attach elsewhere), which allows only the lease table's items and either Describe/UpdateEndpointGroup on this stack's
  endpoint groups (ga) or UPSERTs of this stack's weighted records (route53);
- ``<name>-config``: a ConfigMap holding the stack config the controller runs with (regions,
  SLO thresholds, holds, steps, floor, pin, Prometheus URL per region, lease settings) as a
  one-stack project, plus ``targets.json`` (what it steers);
- ``<name>-sa``, ``<name>-deployment`` (pods annotated with the config's checksum, so a
  ``pulumi up`` that changes a threshold rolls them), ``<name>-metrics`` (headless Service),
  ``<name>-servicemonitor``, ``<name>-pdb``, ``<name>-network-policy``;
- with monitoring: ``<name>-rules`` (the "no leader acts" alert) and ``<name>-dashboard``
  (the traffic dashboard), in the Prometheus/Grafana namespace.

Both regions run one; a DynamoDB lease (:class:`~summit_platform.components.lease_table.LeaseTable`) lets
exactly one act. Every body comes from :mod:`summit_platform.components.render.traffic_controller` and the
rule and dashboard builders.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pydantic import Field

from summit_platform.components.args import ComponentArgs, StrInput
from summit_platform.components.render import dashboards as dash
from summit_platform.components.render import prometheus_rules as pr
from summit_platform.components.render import traffic_controller as tc

TOKEN = "summit:traffic:TrafficController"


class TrafficControllerArgs(ComponentArgs):
    """Inputs of :class:`TrafficController`. Give it the region's AWS and Kubernetes providers
    through ``ResourceOptions(providers=[...])``."""

    stack: str
    """Stack name: the controller runs ``summit traffic run --stack <stack>``."""
    project: str = "summit-platform"
    """Project name (the config namespace of the rendered stack file)."""
    region: str
    """Region whose cluster runs this controller (part of its lease holder id)."""
    namespace: str
    """Namespace of the controller's objects."""
    labels: dict[str, str]
    """Cost-allocation labels (team, service, env, cost-center) for every object."""
    tags: dict[str, str]
    """Cost-allocation tags for the IAM role and policy."""
    image: str
    """Image with the `summit` CLI installed, without a tag."""
    version: str
    """Image tag."""
    replicas: Annotated[int, Field(ge=1, le=5)] = 2
    """Pods in this region."""
    interval: str = "5s"
    """Evaluation interval (a duration)."""
    metrics_port: Annotated[int, Field(ge=1024, le=65535)] = 9108
    """Port of /metrics and /healthz."""
    resources: dict[str, dict[str, str]]
    """Container requests and limits (``{"requests": {...}, "limits": {...}}``)."""
    lease_table_name: str
    """The lease table (``--lease-table``)."""
    lease_table_arn: StrInput
    """Its ARN, the only DynamoDB resource the policy names."""
    mode: Literal["ga", "route53"]
    """What the controller steers: endpoint group dials, or weighted Route53 records."""
    endpoint_group_arns: dict[str, StrInput] = Field(default_factory=dict)
    """ga: region -> endpoint group ARN of this stack."""
    dns_zone_id: str | None = None
    """route53: the hosted zone."""
    dns_name: str | None = None
    """route53: the record name (its weighted records' set identifiers are the regions)."""
    oidc_provider_arn: str
    """IAM OIDC provider of the region's cluster."""
    oidc_issuer: str
    """Its issuer (``oidc.eks.<region>.amazonaws.com/id/<id>``), the trust policy's key prefix."""
    config_values: dict[str, Any]
    """The stack config the controller reads (camelCase keys of the namespace; no secrets)."""
    monitoring: bool = True
    """Create the alert rule and the dashboard."""
    prometheus_namespace: str = "monitoring"
    """Namespace of Prometheus (allowed to scrape) and of the rule and dashboard."""
    rule_selector_labels: dict[str, str] = Field(
        default_factory=lambda: {"release": "kube-prometheus-stack"}
    )
    """Labels the Prometheus ``ruleSelector``/``serviceMonitorSelector`` match."""
    dashboard_label: str = "grafana_dashboard"
    """Label the Grafana sidecar watches."""
    alert: pr.ControllerAlert = Field(default_factory=pr.ControllerAlert)
    """Thresholds and silence of the "no leader acts" alert."""

    def pod_spec(self) -> tc.PodSpec:
        """The manifests' input."""
        return tc.PodSpec(
            stack=self.stack,
            region=self.region,
            namespace=self.namespace,
            labels=dict(self.labels),
            image=self.image,
            version=self.version,
            replicas=self.replicas,
            interval=self.interval,
            metrics_port=self.metrics_port,
            lease_table=self.lease_table_name,
            resources=self.resources,
            prometheus_namespace=self.prometheus_namespace,
            monitor_labels=dict(self.rule_selector_labels),
        )


class TrafficController(pulumi.ComponentResource):
    """The controller's Deployment, identity, config, scraping and alert in one region."""

    role: aws.iam.Role
    policy: aws.iam.RolePolicy
    objects: dict[str, pulumi.CustomResource]
    role_arn: pulumi.Output[str]
    config_checksum: pulumi.Output[str]

    def __init__(
        self, name: str, args: TrafficControllerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TOKEN, name, None, opts)
        self.role, self.policy = self._iam(name, args)
        self.role_arn = self.role.arn
        files = tc.config_files(args.project, args.stack, args.config_values)
        regions = list(args.endpoint_group_arns)
        targets = pulumi.Output.all(*args.endpoint_group_arns.values()).apply(
            lambda arns: tc.targets_document(
                args.mode, dict(zip(regions, arns, strict=True)), args.dns_zone_id, args.dns_name
            )
        )
        self.config_checksum = targets.apply(lambda t: tc.checksum({**files, tc.TARGETS_FILE: t}))
        self.objects = self._kubernetes(name, args, {**files, tc.TARGETS_FILE: targets})
        if args.monitoring:
            self.objects.update(self._monitoring(name, args))
        self.register_outputs({"role_arn": self.role_arn, "config_checksum": self.config_checksum})

    def _iam(
        self, name: str, args: TrafficControllerArgs
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        """The IRSA role and its least-privilege inline policy."""
        child = pulumi.ResourceOptions(parent=self)
        spec = args.pod_spec()
        role = aws.iam.Role(
            f"{name}-role",
            # A readable, stable name: the role is what an operator looks up in CloudTrail.
            name=f"summit-{args.stack}-traffic-{args.region}"[:64],
            description=f"summit traffic controller in {args.region} ({args.stack})",
            assume_role_policy=json.dumps(
                tc.trust_policy(args.oidc_provider_arn, args.oidc_issuer, spec.namespace, tc.APP)
            ),
            tags=args.tags,
            opts=child,
        )
        arns = pulumi.Output.all(
            table=args.lease_table_arn, groups=pulumi.Output.all(*args.endpoint_group_arns.values())
        )
        document = arns.apply(
            lambda a: json.dumps(
                tc.permissions_policy(
                    args.mode, a["table"], list(a["groups"]), args.dns_zone_id, args.dns_name
                ),
                sort_keys=True,
            )
        )
        policy = aws.iam.RolePolicy(
            f"{name}-policy",
            name="summit-traffic-controller",
            role=role.name,
            policy=document,
            opts=child,
        )
        return role, policy

    def _kubernetes(
        self, name: str, args: TrafficControllerArgs, files: dict[str, Any]
    ) -> dict[str, pulumi.CustomResource]:
        """The config, identity, workload and its scraping, in dependency order."""
        spec = args.pod_spec()
        child = pulumi.ResourceOptions(parent=self)
        config = k8s.core.v1.ConfigMap(
            f"{name}-config", metadata=tc.service_manifest(spec)["metadata"], data=files, opts=child
        )
        sa_body = tc.service_account_manifest(spec, self.role_arn)
        sa = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=sa_body["metadata"],
            automount_service_account_token=False,
            opts=child,
        )
        body = tc.deployment_manifest(spec, "")
        template = body["spec"]["template"]
        template["metadata"]["annotations"][tc.CHECKSUM_ANNOTATION] = self.config_checksum
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=body["metadata"],
            spec=body["spec"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config, sa]),
        )
        svc_body = tc.service_manifest(spec)
        service = k8s.core.v1.Service(
            f"{name}-metrics", metadata=svc_body["metadata"], spec=svc_body["spec"], opts=child
        )
        monitor = tc.service_monitor_manifest(spec)
        objects: dict[str, pulumi.CustomResource] = {
            "config": config,
            "sa": sa,
            "deployment": deployment,
            "metrics": service,
            "servicemonitor": k8s.apiextensions.CustomResource(
                f"{name}-servicemonitor",
                api_version=monitor["apiVersion"],
                kind=monitor["kind"],
                metadata=monitor["metadata"],
                spec=monitor["spec"],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[service]),
            ),
        }
        pdb, policy = tc.pdb_manifest(spec), tc.network_policy_manifest(spec)
        objects["pdb"] = k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb", metadata=pdb["metadata"], spec=pdb["spec"], opts=child
        )
        objects["network-policy"] = k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy", metadata=policy["metadata"], spec=policy["spec"], opts=child
        )
        return objects

    def _monitoring(
        self, name: str, args: TrafficControllerArgs
    ) -> dict[str, pulumi.CustomResource]:
        """The "no leader acts" PrometheusRule and the traffic dashboard ConfigMap."""
        child = pulumi.ResourceOptions(parent=self)
        labels = {**args.labels, "app.kubernetes.io/part-of": "summit-platform"}
        board = dash.traffic_dashboard()
        return {
            "rules": k8s.apiextensions.CustomResource(
                f"{name}-rules",
                api_version="monitoring.coreos.com/v1",
                kind="PrometheusRule",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=tc.APP,
                    namespace=args.prometheus_namespace,
                    labels={
                        **labels,
                        **args.rule_selector_labels,
                        "app.kubernetes.io/name": tc.APP,
                    },
                ),
                spec={"groups": [pr.controller_alert_group(args.alert)]},
                opts=child,
            ),
            "dashboard": k8s.core.v1.ConfigMap(
                f"{name}-dashboard",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"{tc.APP}-dashboard",
                    namespace=args.prometheus_namespace,
                    labels={**labels, args.dashboard_label: "1"},
                ),
                data={f"{board['uid']}.json": json.dumps(board, indent=1)},
                opts=child,
            ),
        }
