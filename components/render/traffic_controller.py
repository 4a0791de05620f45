"""Pure builders for the in-cluster traffic controller: its Kubernetes manifests, IAM policy
documents, the config files it reads, the lease table's schema and the names of the metrics
it exports.

Plain values in, plain dicts out (no Pulumi): :class:`summit_platform.components.traffic_controller.
TrafficController` turns them into resources, ``summit traffic run`` creates the lease table
with the same schema (``--create-lease-table``) and exports the metrics named here, and the
dashboard and alert builders read the same names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from summit_platform.components.render.canary import APP_LABEL

APP = "summit-traffic-controller"
"""Name of every Kubernetes object of the controller (and its ``app.kubernetes.io/name``)."""
CONFIG_DIR = "/etc/summit-traffic"
"""Where the pod mounts its ConfigMap: a project folder holding only its stack config."""
TARGETS_FILE = "targets.json"
"""What the controller steers (endpoint group ARNs or the Route53 records), in CONFIG_DIR."""
CHECKSUM_ANNOTATION = "summit.io/config-checksum"
"""Pod annotation that changes with the config, so an update rolls the pods."""
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
"""The ServiceAccount annotation EKS's pod identity webhook reads (IRSA)."""

# --- the lease table ---------------------------------------------------------------------------

LEASE_HASH_KEY = "pk"
"""The table's only key attribute (a string): ``lease#<stack>`` and ``state#<stack>``."""
LEASE_BILLING_MODE = "PAY_PER_REQUEST"
"""On demand: a few reads and writes a second, never worth provisioned capacity."""


def lease_table_name(environment: str, configured: str | None = None) -> str:
    """The lease table's name: the configured one, else ``summit-<environment>-traffic-lease``."""
    return configured or f"summit-{environment}-traffic-lease"


def lease_region(mode: str, regions: list[str], configured: str | None = None) -> str:
    """Where the lease table lives: the region of the API the controller steers through.

    Global Accelerator's API is served only from us-west-2 and Route53's control plane from
    us-east-1: when that region is out, no controller can steer anyway, so a table there adds
    no failure of its own. (A DynamoDB global table would not do: its conditional writes are
    not consistent across regions, and two regions could both hold the lease.)"""
    if configured:
        return configured
    wanted = "us-west-2" if mode == "ga" else "us-east-1"
    return wanted if mode == "ga" or wanted in regions else regions[0]


# --- metrics -----------------------------------------------------------------------------------

METRIC_SHARE = "summit_traffic_share_percent"
"""Gauge, label ``region``: the share of traffic the controller's last decision gives it."""
METRIC_DIAL = "summit_traffic_dial_percent"
"""Gauge, label ``region``: the dial of that decision."""
METRIC_BREACHING = "summit_traffic_breaching"
"""Gauge, label ``region``: 1 while the last evaluation saw the region over an SLO threshold."""
METRIC_DECISIONS = "summit_traffic_decisions_total"
"""Counter, label ``action``: steady, steer, hold, pinned, standby (a follower's turn)."""
METRIC_LEADER = "summit_traffic_leader"
"""Gauge, labels ``holder`` and ``region``: 1 while this controller holds the lease."""
METRIC_FENCING_TOKEN = "summit_traffic_fencing_token"
"""Gauge: the lease's fencing token as this controller last saw it."""
METRIC_LAST_APPLY = "summit_traffic_last_apply_timestamp_seconds"
"""Gauge: when a leader last made its decision real (applied it, or found it in effect),
read from the lease table, so every region's controller exports the same value."""
METRIC_LAST_EVALUATION = "summit_traffic_last_evaluation_timestamp_seconds"
"""Gauge: when this controller last finished a turn (its liveness)."""
METRIC_SOURCE_ERRORS = "summit_traffic_source_errors_total"
"""Counter, label ``holder``: evaluations whose metrics source could not be read (the
controller held the weights: fail-static)."""
METRICS = (
    METRIC_SHARE,
    METRIC_DIAL,
    METRIC_BREACHING,
    METRIC_DECISIONS,
    METRIC_LEADER,
    METRIC_FENCING_TOKEN,
    METRIC_LAST_APPLY,
    METRIC_LAST_EVALUATION,
    METRIC_SOURCE_ERRORS,
)
ALERT_NOT_ACTING = "TrafficControllerNotActing"


# --- the controller's own config ---------------------------------------------------------------


def config_files(project: str, stack: str, values: Mapping[str, Any]) -> dict[str, str]:
    """The ConfigMap's files: ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` holding ``values``
    (the stack config the controller needs, camelCase, no secrets), so ``summit traffic run
    -C CONFIG_DIR --stack <stack>`` reads and validates them like any stack file."""
    project_file = {"name": project, "runtime": "python"}
    stack_file = {"config": {f"{project}:{k}": v for k, v in sorted(values.items())}}
    return {
        "Pulumi.yaml": yaml.safe_dump(project_file, sort_keys=True),
        f"Pulumi.{stack}.yaml": yaml.safe_dump(stack_file, sort_keys=True),
    }


def targets_document(
    mode: str,
    endpoint_groups: Mapping[str, str] | None = None,
    zone_id: str | None = None,
    record_name: str | None = None,
) -> str:
    """``targets.json``: region -> endpoint group ARN (ga), or the zone and record name whose
    weighted records (set identifier = region) the controller changes (route53)."""
    if mode == "ga":
        doc: dict[str, Any] = {
            "mode": "ga",
            "endpointGroups": dict(sorted((endpoint_groups or {}).items())),
        }
    else:
        doc = {"mode": "route53", "zoneId": zone_id, "recordName": record_name}
    return json.dumps(doc, sort_keys=True)


def checksum(files: Mapping[str, str]) -> str:
    """sha256 over the files (names and contents, in name order)."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return h.hexdigest()


# --- IAM ---------------------------------------------------------------------------------------


def trust_policy(
    oidc_provider_arn: str, issuer: str, namespace: str, service_account: str
) -> dict[str, Any]:
    """IRSA: only the controller's ServiceAccount, through the cluster's OIDC provider, for STS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{issuer}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }


GA_ACTIONS = ["globalaccelerator:DescribeEndpointGroup", "globalaccelerator:UpdateEndpointGroup"]
"""Read back and set an endpoint group's dial: all the ga-mode controller does to AWS."""
ROUTE53_READ = ["route53:ListResourceRecordSets"]
ROUTE53_WRITE = ["route53:ChangeResourceRecordSets"]
LEASE_ACTIONS = [
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
]
"""Item actions on the lease table (TransactWriteItems is authorised per item action)."""


def _fqdn(name: str) -> str:
    """A record name as Route53's condition key compares it: lower case, no trailing dot."""
    return name.rstrip(".").lower()


def permissions_policy(
    mode: str,
    table_arn: str,
    endpoint_group_arns: list[str] | None = None,
    zone_id: str | None = None,
    record_name: str | None = None,
) -> dict[str, Any]:
    """Least privilege: the lease table's items, and either this stack's endpoint groups (ga)
    or UPSERTs of this stack's CNAME records in its zone (route53, narrowed with Route53's
    ``ChangeResourceRecordSets*`` condition keys)."""
    statements: list[dict[str, Any]] = [
        {"Sid": "LeaseTable", "Effect": "Allow", "Action": LEASE_ACTIONS, "Resource": [table_arn]}
    ]
    if mode == "ga":
        statements.append(
            {
                "Sid": "SteerEndpointGroups",
                "Effect": "Allow",
                "Action": GA_ACTIONS,
                "Resource": sorted(endpoint_group_arns or []),
            }
        )
        return {"Version": "2012-10-17", "Statement": statements}
    zone = f"arn:aws:route53:::hostedzone/{zone_id}"
    statements += [
        {"Sid": "ReadRecords", "Effect": "Allow", "Action": ROUTE53_READ, "Resource": [zone]},
        {
            "Sid": "SteerRecords",
            "Effect": "Allow",
            "Action": ROUTE53_WRITE,
            "Resource": [zone],
            "Condition": {
                "ForAllValues:StringEquals": {
                    "route53:ChangeResourceRecordSetsNormalizedRecordNames": [
                        _fqdn(record_name or "")
                    ],
                    "route53:ChangeResourceRecordSetsRecordTypes": ["CNAME"],
                    "route53:ChangeResourceRecordSetsActions": ["UPSERT"],
                }
            },
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}


# --- Kubernetes --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PodSpec:
    """What the controller's manifests are built from."""

    stack: str
    region: str
    namespace: str
    labels: dict[str, str]
    image: str
    version: str
    replicas: int = 2
    interval: str = "5s"
    metrics_port: int = 9108
    lease_table: str = ""
    resources: dict[str, dict[str, str]] = field(default_factory=dict)
    prometheus_namespace: str = "monitoring"
    monitor_labels: dict[str, str] = field(default_factory=dict)


def _meta(s: PodSpec, name: str = APP, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": s.namespace,
        "labels": {**s.labels, APP_LABEL: APP, **(extra or {})},
    }


def _selector() -> dict[str, str]:
    return {APP_LABEL: APP}


def run_args(s: PodSpec) -> list[str]:
    """``summit traffic run`` as the pod runs it: its config folder, the lease table, its
    holder id (region and pod name), the targets it steers, the metrics port."""
    return [
        "traffic",
        "run",
        "--stack",
        s.stack,
        "-C",
        CONFIG_DIR,
        "--source",
        "prometheus",
        "--interval",
        s.interval,
        "--lease-table",
        s.lease_table,
        "--holder",
        "$(SUMMIT_HOLDER)",
        "--targets",
        f"{CONFIG_DIR}/{TARGETS_FILE}",
        "--metrics-port",
        str(s.metrics_port),
    ]


def _container(s: PodSpec) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/healthz", "port": "metrics"}, "periodSeconds": 10}
    return {
        "name": "controller",
        "image": f"{s.image}:{s.version}",
        "command": ["summit"],
        "args": run_args(s),
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "SUMMIT_HOLDER", "value": f"{s.region}/$(POD_NAME)"},
            {"name": "AWS_REGION", "value": s.region},
            {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"},
        ],
        "ports": [{"name": "metrics", "containerPort": s.metrics_port, "protocol": "TCP"}],
        "resources": s.resources,
        "readinessProbe": {**probe, "failureThreshold": 3},
        # A loop stuck for a minute is restarted (the lease then passes to another pod).
        "livenessProbe": {**probe, "initialDelaySeconds": 30, "failureThreshold": 6},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def deployment_manifest(s: PodSpec, config_checksum: str) -> dict[str, Any]:
    """The Deployment: ``replicas`` pods of ``summit traffic run``; the config checksum in the
    pod template rolls them when the stack config changes."""
    pod = {
        "metadata": {
            "labels": {**s.labels, APP_LABEL: APP},
            "annotations": {CHECKSUM_ANNOTATION: config_checksum},
        },
        "spec": {
            "serviceAccountName": APP,
            # IRSA mounts its own projected token; the controller never calls the API server.
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 30,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": _selector()},
                }
            ],
            "containers": [_container(s)],
            "volumes": [
                {"name": "config", "configMap": {"name": APP}},
                {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
            ],
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(s),
        "spec": {"replicas": s.replicas, "selector": {"matchLabels": _selector()}, "template": pod},
    }


def service_account_manifest(s: PodSpec, role_arn: Any) -> dict[str, Any]:
    """The pods' identity, bound to the IAM role (``role_arn`` may be a Pulumi Output)."""
    meta = _meta(s)
    meta["annotations"] = {ROLE_ANNOTATION: role_arn}
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta,
        "automountServiceAccountToken": False,
    }


def service_manifest(s: PodSpec) -> dict[str, Any]:
    """A headless Service over the pods' metrics port, the one the ServiceMonitor scrapes."""
    port = {"name": "metrics", "port": s.metrics_port, "targetPort": "metrics", "protocol": "TCP"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(s),
        "spec": {"clusterIP": "None", "selector": _selector(), "ports": [port]},
    }


def service_monitor_manifest(s: PodSpec) -> dict[str, Any]:
    """Prometheus scrapes every controller pod (leader or not) every 15 s."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _meta(s, extra=s.monitor_labels),
        "spec": {
            "selector": {"matchLabels": _selector()},
            "namespaceSelector": {"matchNames": [s.namespace]},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s"}],
        },
    }


def pdb_manifest(s: PodSpec) -> dict[str, Any]:
    """Keep one pod per region through voluntary disruptions (drains); with one replica,
    allow it to go (minAvailable 1 would block every drain)."""
    spec: dict[str, Any] = {"selector": {"matchLabels": _selector()}}
    if s.replicas > 1:
        spec["minAvailable"] = 1
    else:
        spec["maxUnavailable"] = 1
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(s),
        "spec": spec,
    }


def network_policy_manifest(s: PodSpec) -> dict[str, Any]:
    """Only Prometheus reaches the pods, and only their metrics port."""
    source = {
        "namespaceSelector": {
            "matchLabels": {"kubernetes.io/metadata.name": s.prometheus_namespace}
        },
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(s),
        "spec": {
            "podSelector": {"matchLabels": _selector()},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [source], "ports": [{"protocol": "TCP", "port": s.metrics_port}]}],
        },
    }
