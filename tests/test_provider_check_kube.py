"""The Kubernetes half of the provider check: every built-in kind against the strict OpenAPI
schema of the cluster version, custom resources against their vendored CRDs, and every API
server rule in ``kube_rules.RULES`` with a valid case and a failing one (a test below proves
each rule has a failing case here)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from mutate import DELETE, mutate

from summit_platform.automation.plan.provider_check import kubernetes as k
from summit_platform.automation.plan.provider_check.kube_rules import RULES
from summit_platform.automation.plan.provider_check.model import SECRET_VALUE, UNKNOWN_VALUE

VERSION = "1.35"
LABELS = {"app.kubernetes.io/name": "web"}
CONTAINER = {
    "name": "web",
    "image": "ghcr.io/summit/web:1.0.0",
    "imagePullPolicy": "IfNotPresent",
    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
    "env": [{"name": "MODE", "value": "prod"}],
    "resources": {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    },
    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
    "readinessProbe": {"tcpSocket": {"port": 8080}},
    "volumeMounts": [{"name": "config", "mountPath": "/etc/web"}],
}
POD_SPEC = {
    "containers": [CONTAINER],
    "volumes": [{"name": "config", "configMap": {"name": "web"}}],
    "serviceAccountName": "web",
    "tolerations": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}],
}
TEMPLATE = {"metadata": {"labels": LABELS}, "spec": POD_SPEC}


def meta(name: str = "web") -> dict[str, Any]:
    return {"name": name, "namespace": "platform", "labels": {"team": "platform", **LABELS}}


VALID: dict[str, dict[str, Any]] = {
    "kubernetes:apps/v1:Deployment": {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(),
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": LABELS},
            "template": TEMPLATE,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
            },
        },
    },
    "kubernetes:apps/v1:StatefulSet": {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta(),
        "spec": {"serviceName": "web", "selector": {"matchLabels": LABELS}, "template": TEMPLATE},
    },
    "kubernetes:apps/v1:DaemonSet": {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta(),
        "spec": {"selector": {"matchLabels": LABELS}, "template": TEMPLATE},
    },
    "kubernetes:apps/v1:ReplicaSet": {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta(),
        "spec": {"selector": {"matchLabels": LABELS}, "template": TEMPLATE},
    },
    "kubernetes:batch/v1:Job": {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(),
        "spec": {"template": {"spec": {**POD_SPEC, "restartPolicy": "Never"}}},
    },
    "kubernetes:batch/v1:CronJob": {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta(),
        "spec": {
            "schedule": "*/5 * * * *",
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {
                "spec": {"template": {"spec": {**POD_SPEC, "restartPolicy": "OnFailure"}}}
            },
        },
    },
    "kubernetes:core/v1:Pod": {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta(),
        "spec": POD_SPEC,
    },
    "kubernetes:core/v1:Service": {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(),
        "spec": {
            "selector": LABELS,
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "targetPort": 9090},
            ],
            "sessionAffinity": "None",
        },
    },
    "kubernetes:core/v1:ConfigMap": {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(),
        "data": {"web.json": "{}"},
        "binaryData": {"logo.png": "iVBORw0KGgo="},
    },
    "kubernetes:core/v1:Secret": {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(),
        "type": "Opaque",
        "data": {"token": "c2VjcmV0"},
        "stringData": {"user": "web"},
    },
    "kubernetes:core/v1:ServiceAccount": {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta(),
    },
    "kubernetes:core/v1:Namespace": {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "platform"},
    },
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 6,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
            "behavior": {
                "scaleDown": {
                    "stabilizationWindowSeconds": 300,
                    "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
                }
            },
        },
    },
    "kubernetes:policy/v1:PodDisruptionBudget": {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(),
        "spec": {"selector": {"matchLabels": LABELS}, "maxUnavailable": 1},
    },
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(),
        "spec": {
            "podSelector": {"matchLabels": LABELS},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "ingress"}
                            }
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": 8080, "endPort": 8090}],
                }
            ],
            "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}],
        },
    },
}
DEPLOY = "kubernetes:apps/v1:Deployment"
C0 = "spec.template.spec.containers[0]"


def problems(type_: str, manifest: dict[str, Any], name: str = "web", version: str = VERSION):
    assert k.checkable(type_)
    return k.check(type_, manifest, version, name)


@pytest.mark.parametrize("type_", sorted(VALID))
def test_valid_objects_of_every_kind_pass(type_: str) -> None:
    assert [p.message("web", type_) for p in problems(type_, VALID[type_])] == []


# (rule id, type, path, bad value, the problem's path). One row per rule at least; some
# rules have several rows, one per way they break.
CASES: list[tuple[str, str, str, Any, str]] = [
    # metadata
    ("meta.name.dns-subdomain", DEPLOY, "metadata.name", "Web_App", "metadata.name"),
    ("meta.name.dns-subdomain", DEPLOY, "metadata.name", "a" * 254, "metadata.name"),
    ("meta.name.dns-1035", "kubernetes:core/v1:Service", "metadata.name", "1web", "metadata.name"),
    (
        "meta.name.dns-label",
        "kubernetes:core/v1:Namespace",
        "metadata.name",
        "team.a",
        "metadata.name",
    ),
    (
        "meta.name.dns-label",
        "kubernetes:apps/v1:StatefulSet",
        "metadata.name",
        "web.v1",
        "metadata.name",
    ),
    ("meta.namespace", DEPLOY, "metadata.namespace", "Platform", "metadata.namespace"),
    ("meta.labels.key", DEPLOY, "metadata.labels", {"-team": "a"}, "metadata.labels.-team"),
    ("meta.labels.value", DEPLOY, "metadata.labels", {"team": "a b"}, "metadata.labels.team"),
    ("meta.labels.value", DEPLOY, "metadata.labels", {"team": "x" * 64}, "metadata.labels.team"),
    (
        "meta.annotations.key",
        DEPLOY,
        "metadata.annotations",
        {"a/b/c": "x"},
        "metadata.annotations.a/b/c",
    ),
    (
        "meta.annotations.size",
        DEPLOY,
        "metadata.annotations",
        {"big": "x" * 262144},
        "metadata.annotations",
    ),
    # label selectors
    (
        "selector.operator",
        DEPLOY,
        "spec.selector",
        {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]},
        "spec.selector.matchExpressions[0].operator",
    ),
    (
        "selector.values",
        DEPLOY,
        "spec.selector",
        {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
        "spec.selector.matchExpressions[0].values",
    ),
    (
        "selector.values",
        DEPLOY,
        "spec.selector",
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["b"]}]},
        "spec.selector.matchExpressions[0].values",
    ),
    (
        "selector.key",
        DEPLOY,
        "spec.selector",
        {"matchLabels": {"a/b/c": "x"}},
        "spec.selector.matchLabels.a/b/c",
    ),
    (
        "selector.value",
        DEPLOY,
        "spec.selector",
        {"matchLabels": {"app": "not valid"}},
        "spec.selector.matchLabels.app",
    ),
    # containers
    ("pod.container.name", DEPLOY, f"{C0}.name", "Web", f"{C0}.name"),
    (
        "pod.container.name-unique",
        DEPLOY,
        "spec.template.spec.initContainers",
        [{"name": "web", "image": "busybox"}],
        f"{C0}.name",
    ),
    ("pod.container.image", DEPLOY, f"{C0}.image", DELETE, f"{C0}.image"),
    ("pod.container.image", DEPLOY, f"{C0}.image", "", f"{C0}.image"),
    (
        "pod.container.image-pull-policy",
        DEPLOY,
        f"{C0}.imagePullPolicy",
        "Sometimes",
        f"{C0}.imagePullPolicy",
    ),
    (
        "pod.container.image-pull-policy",
        DEPLOY,
        f"{C0}.imagePullPolicy",
        "always",
        f"{C0}.imagePullPolicy",
    ),
    (
        "pod.container.termination-message-policy",
        DEPLOY,
        f"{C0}.terminationMessagePolicy",
        "ReadFile",
        f"{C0}.terminationMessagePolicy",
    ),
    (
        "pod.port.number",
        DEPLOY,
        f"{C0}.ports[0].containerPort",
        70000,
        f"{C0}.ports[0].containerPort",
    ),
    ("pod.port.number", DEPLOY, f"{C0}.ports[0].containerPort", 0, f"{C0}.ports[0].containerPort"),
    ("pod.port.host-port", DEPLOY, f"{C0}.ports[0].hostPort", 65536, f"{C0}.ports[0].hostPort"),
    ("pod.port.protocol", DEPLOY, f"{C0}.ports[0].protocol", "HTTP", f"{C0}.ports[0].protocol"),
    ("pod.port.name", DEPLOY, f"{C0}.ports[0].name", "http_port", f"{C0}.ports[0].name"),
    ("pod.port.name", DEPLOY, f"{C0}.ports[0].name", "metrics-endpoint", f"{C0}.ports[0].name"),
    (
        "pod.port.name-unique",
        DEPLOY,
        f"{C0}.ports",
        [{"name": "http", "containerPort": 80}, {"name": "http", "containerPort": 81}],
        f"{C0}.ports[1].name",
    ),
    ("pod.env.name", DEPLOY, f"{C0}.env[0].name", "A=B", f"{C0}.env[0].name"),
    (
        "pod.env.value-and-value-from",
        DEPLOY,
        f"{C0}.env[0].valueFrom",
        {"fieldRef": {"fieldPath": "metadata.name"}},
        f"{C0}.env[0].valueFrom",
    ),
    (
        "pod.env.value-from-one-source",
        DEPLOY,
        f"{C0}.env",
        [
            {
                "name": "A",
                "valueFrom": {
                    "fieldRef": {"fieldPath": "metadata.name"},
                    "secretKeyRef": {"name": "s", "key": "k"},
                },
            }
        ],
        f"{C0}.env[0].valueFrom",
    ),
    ("pod.resources.name", DEPLOY, f"{C0}.resources.limits.gpu", 1, f"{C0}.resources.limits.gpu"),
    (
        "pod.resources.quantity",
        DEPLOY,
        f"{C0}.resources.limits.memory",
        "1.5 GB",
        f"{C0}.resources.limits.memory",
    ),
    (
        "pod.resources.quantity",
        DEPLOY,
        f"{C0}.resources.requests.memory",
        "512K",
        f"{C0}.resources.requests.memory",
    ),
    (
        "pod.resources.non-negative",
        DEPLOY,
        f"{C0}.resources.requests.cpu",
        "-1",
        f"{C0}.resources.requests.cpu",
    ),
    (
        "pod.resources.requests-within-limits",
        DEPLOY,
        f"{C0}.resources.requests.cpu",
        "1500m",
        f"{C0}.resources.requests.cpu",
    ),
    (
        "pod.probe.handler",
        DEPLOY,
        f"{C0}.livenessProbe",
        {"periodSeconds": 10},
        f"{C0}.livenessProbe",
    ),
    (
        "pod.probe.handler",
        DEPLOY,
        f"{C0}.livenessProbe",
        {"tcpSocket": {"port": 80}, "exec": {"command": ["true"]}},
        f"{C0}.livenessProbe",
    ),
    (
        "pod.probe.non-negative",
        DEPLOY,
        f"{C0}.readinessProbe.periodSeconds",
        -1,
        f"{C0}.readinessProbe.periodSeconds",
    ),
    (
        "pod.probe.success-threshold",
        DEPLOY,
        f"{C0}.livenessProbe.successThreshold",
        3,
        f"{C0}.livenessProbe.successThreshold",
    ),
    (
        "pod.probe.port",
        DEPLOY,
        f"{C0}.readinessProbe.tcpSocket.port",
        0,
        f"{C0}.readinessProbe.tcpSocket.port",
    ),
    (
        "pod.probe.port",
        DEPLOY,
        f"{C0}.livenessProbe.httpGet.port",
        "health_port",
        f"{C0}.livenessProbe.httpGet.port",
    ),
    (
        "pod.probe.scheme",
        DEPLOY,
        f"{C0}.livenessProbe.httpGet.scheme",
        "TCP",
        f"{C0}.livenessProbe.httpGet.scheme",
    ),
    (
        "pod.volume-mount.volume",
        DEPLOY,
        f"{C0}.volumeMounts[0].name",
        "configs",
        f"{C0}.volumeMounts[0].name",
    ),
    (
        "pod.volume-mount.path-unique",
        DEPLOY,
        f"{C0}.volumeMounts",
        [{"name": "config", "mountPath": "/a"}, {"name": "config", "mountPath": "/a"}],
        f"{C0}.volumeMounts[1].mountPath",
    ),
    (
        "pod.volume.name",
        DEPLOY,
        "spec.template.spec.volumes",
        [{"name": "Config", "emptyDir": {}}],
        "spec.template.spec.volumes[0].name",
    ),
    (
        "pod.volume.name-unique",
        DEPLOY,
        "spec.template.spec.volumes",
        [{"name": "config", "emptyDir": {}}, {"name": "config", "emptyDir": {}}],
        "spec.template.spec.volumes[1].name",
    ),
    (
        "pod.volume.source",
        DEPLOY,
        "spec.template.spec.volumes",
        [{"name": "config"}],
        "spec.template.spec.volumes[0]",
    ),
    (
        "pod.volume.source",
        DEPLOY,
        "spec.template.spec.volumes",
        [{"name": "config", "emptyDir": {}, "configMap": {"name": "x"}}],
        "spec.template.spec.volumes[0]",
    ),
    (
        "pod.restart-policy",
        "kubernetes:core/v1:Pod",
        "spec.restartPolicy",
        "Sometimes",
        "spec.restartPolicy",
    ),
    (
        "pod.dns-policy",
        DEPLOY,
        "spec.template.spec.dnsPolicy",
        "ClusterLast",
        "spec.template.spec.dnsPolicy",
    ),
    (
        "pod.service-account-name",
        DEPLOY,
        "spec.template.spec.serviceAccountName",
        "Web_SA",
        "spec.template.spec.serviceAccountName",
    ),
    (
        "pod.node-selector",
        DEPLOY,
        "spec.template.spec.nodeSelector",
        {"disk": "fast ssd"},
        "spec.template.spec.nodeSelector.disk",
    ),
    (
        "pod.toleration.operator",
        DEPLOY,
        "spec.template.spec.tolerations",
        [{"key": "a", "operator": "In"}],
        "spec.template.spec.tolerations[0].operator",
    ),
    (
        "pod.toleration.operator",
        DEPLOY,
        "spec.template.spec.tolerations",
        [{"key": "a", "operator": "Exists", "value": "b"}],
        "spec.template.spec.tolerations[0].value",
    ),
    (
        "pod.toleration.operator",
        DEPLOY,
        "spec.template.spec.tolerations",
        [{"operator": "Equal", "value": "b"}],
        "spec.template.spec.tolerations[0].operator",
    ),
    (
        "pod.toleration.effect",
        DEPLOY,
        "spec.template.spec.tolerations",
        [{"key": "a", "operator": "Exists", "effect": "Never"}],
        "spec.template.spec.tolerations[0].effect",
    ),
    (
        "pod.toleration.effect",
        DEPLOY,
        "spec.template.spec.tolerations",
        [{"key": "a", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 60}],
        "spec.template.spec.tolerations[0].effect",
    ),
    # workloads
    (
        "workload.restart-policy-always",
        DEPLOY,
        "spec.template.spec.restartPolicy",
        "OnFailure",
        "spec.template.spec.restartPolicy",
    ),
    (
        "workload.restart-policy-always",
        "kubernetes:apps/v1:StatefulSet",
        "spec.template.spec.restartPolicy",
        "Never",
        "spec.template.spec.restartPolicy",
    ),
    ("workload.selector-empty", DEPLOY, "spec.selector", {}, "spec.selector"),
    (
        "workload.selector-matches-template",
        DEPLOY,
        "spec.selector",
        {"matchLabels": {"app.kubernetes.io/name": "api"}},
        "spec.template.metadata.labels",
    ),
    (
        "workload.selector-matches-template",
        "kubernetes:apps/v1:DaemonSet",
        "spec.selector",
        {"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
        "spec.template.metadata.labels",
    ),
    ("workload.non-negative", DEPLOY, "spec.revisionHistoryLimit", -1, "spec.revisionHistoryLimit"),
    (
        "workload.non-negative",
        "kubernetes:apps/v1:ReplicaSet",
        "spec.replicas",
        -2,
        "spec.replicas",
    ),
    (
        "deployment.progress-deadline",
        DEPLOY,
        "spec.minReadySeconds",
        600,
        "spec.progressDeadlineSeconds",
    ),
    (
        "deployment.strategy-type",
        DEPLOY,
        "spec.strategy",
        {"type": "BlueGreen"},
        "spec.strategy.type",
    ),
    ("deployment.strategy-type", DEPLOY, "spec.strategy.type", "Recreate", "spec.strategy.type"),
    (
        "deployment.rolling-update.int-or-percent",
        DEPLOY,
        "spec.strategy.rollingUpdate.maxSurge",
        "150%",
        "spec.strategy.rollingUpdate.maxSurge",
    ),
    (
        "deployment.rolling-update.int-or-percent",
        DEPLOY,
        "spec.strategy.rollingUpdate.maxSurge",
        "two",
        "spec.strategy.rollingUpdate.maxSurge",
    ),
    (
        "deployment.rolling-update-both-zero",
        DEPLOY,
        "spec.strategy.rollingUpdate.maxSurge",
        0,
        "spec.strategy.rollingUpdate.maxUnavailable",
    ),
    (
        "statefulset.policies",
        "kubernetes:apps/v1:StatefulSet",
        "spec.podManagementPolicy",
        "Random",
        "spec.podManagementPolicy",
    ),
    (
        "statefulset.policies",
        "kubernetes:apps/v1:StatefulSet",
        "spec.updateStrategy",
        {"type": "Recreate"},
        "spec.updateStrategy.type",
    ),
    (
        "job.restart-policy",
        "kubernetes:batch/v1:Job",
        "spec.template.spec.restartPolicy",
        DELETE,
        "spec.template.spec.restartPolicy",
    ),
    (
        "job.restart-policy",
        "kubernetes:batch/v1:CronJob",
        "spec.jobTemplate.spec.template.spec.restartPolicy",
        "Always",
        "spec.jobTemplate.spec.template.spec.restartPolicy",
    ),
    (
        "cronjob.name-length",
        "kubernetes:batch/v1:CronJob",
        "metadata.name",
        "n" * 53,
        "metadata.name",
    ),
    (
        "cronjob.concurrency-policy",
        "kubernetes:batch/v1:CronJob",
        "spec.concurrencyPolicy",
        "Queue",
        "spec.concurrencyPolicy",
    ),
    # Service
    ("service.type", "kubernetes:core/v1:Service", "spec.type", "Internal", "spec.type"),
    ("service.ports-required", "kubernetes:core/v1:Service", "spec.ports", DELETE, "spec.ports"),
    (
        "service.port.number",
        "kubernetes:core/v1:Service",
        "spec.ports[0].port",
        0,
        "spec.ports[0].port",
    ),
    (
        "service.port.protocol",
        "kubernetes:core/v1:Service",
        "spec.ports[0].protocol",
        "HTTP",
        "spec.ports[0].protocol",
    ),
    (
        "service.port.name",
        "kubernetes:core/v1:Service",
        "spec.ports[1].name",
        DELETE,
        "spec.ports[1].name",
    ),
    (
        "service.port.name",
        "kubernetes:core/v1:Service",
        "spec.ports[1].name",
        "http",
        "spec.ports[1].name",
    ),
    (
        "service.port.name",
        "kubernetes:core/v1:Service",
        "spec.ports[1].name",
        "Metrics",
        "spec.ports[1].name",
    ),
    (
        "service.port.target-port",
        "kubernetes:core/v1:Service",
        "spec.ports[0].targetPort",
        70000,
        "spec.ports[0].targetPort",
    ),
    (
        "service.port.target-port",
        "kubernetes:core/v1:Service",
        "spec.ports[0].targetPort",
        "web_http",
        "spec.ports[0].targetPort",
    ),
    (
        "service.port.node-port",
        "kubernetes:core/v1:Service",
        "spec.ports[0].nodePort",
        30080,
        "spec.ports[0].nodePort",
    ),
    (
        "service.port.duplicate",
        "kubernetes:core/v1:Service",
        "spec.ports[1].port",
        80,
        "spec.ports[1]",
    ),
    (
        "service.session-affinity",
        "kubernetes:core/v1:Service",
        "spec.sessionAffinity",
        "Cookie",
        "spec.sessionAffinity",
    ),
    (
        "service.traffic-policy",
        "kubernetes:core/v1:Service",
        "spec.internalTrafficPolicy",
        "Nearest",
        "spec.internalTrafficPolicy",
    ),
    (
        "service.traffic-policy",
        "kubernetes:core/v1:Service",
        "spec.externalTrafficPolicy",
        "Local",
        "spec.externalTrafficPolicy",
    ),
    (
        "service.external-name",
        "kubernetes:core/v1:Service",
        "spec.type",
        "ExternalName",
        "spec.externalName",
    ),
    (
        "service.cluster-ip",
        "kubernetes:core/v1:Service",
        "spec.clusterIP",
        "10.0.0.300",
        "spec.clusterIP",
    ),
    (
        "service.selector",
        "kubernetes:core/v1:Service",
        "spec.selector",
        {"app": "web server"},
        "spec.selector.app",
    ),
    # ConfigMap, Secret
    (
        "config.key",
        "kubernetes:core/v1:ConfigMap",
        "data",
        {"conf/web.json": "{}"},
        "data.conf/web.json",
    ),
    (
        "config.duplicate-key",
        "kubernetes:core/v1:ConfigMap",
        "data",
        {"logo.png": "x"},
        "binaryData.logo.png",
    ),
    (
        "config.size",
        "kubernetes:core/v1:ConfigMap",
        "data",
        {"big": "x" * (1024 * 1024 + 1)},
        "data",
    ),
    ("config.base64", "kubernetes:core/v1:Secret", "data", {"token": "not base64!"}, "data.token"),
    (
        "config.base64",
        "kubernetes:core/v1:ConfigMap",
        "binaryData",
        {"logo.png": "%%%"},
        "binaryData.logo.png",
    ),
    # HorizontalPodAutoscaler
    (
        "hpa.min-replicas",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "spec.minReplicas",
        0,
        "spec.minReplicas",
    ),
    (
        "hpa.max-replicas",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "spec.maxReplicas",
        1,
        "spec.maxReplicas",
    ),
    (
        "hpa.scale-target-ref",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "spec.scaleTargetRef.name",
        "web/v2",
        "spec.scaleTargetRef.name",
    ),
    (
        "hpa.metric-source",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "spec.metrics[0].type",
        "Pods",
        "spec.metrics[0].type",
    ),
    (
        "hpa.metric-source",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "spec.metrics[0].type",
        "Cpu",
        "spec.metrics[0].type",
    ),
    (
        "hpa.metric-target",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "spec.metrics[0].resource.target.averageUtilization",
        0,
        "spec.metrics[0].resource.target.averageUtilization",
    ),
    (
        "hpa.metric-target",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "spec.metrics[0].resource.target.type",
        "Percent",
        "spec.metrics[0].resource.target.type",
    ),
    (
        "hpa.metric-target",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "spec.metrics[0].resource.target.averageValue",
        "500m",
        "spec.metrics[0].resource.target.averageValue",
    ),
    (
        "hpa.behavior",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "spec.behavior.scaleDown.stabilizationWindowSeconds",
        7200,
        "spec.behavior.scaleDown.stabilizationWindowSeconds",
    ),
    (
        "hpa.behavior",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "spec.behavior.scaleDown.policies[0].periodSeconds",
        3600,
        "spec.behavior.scaleDown.policies[0].periodSeconds",
    ),
    (
        "hpa.behavior",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "spec.behavior.scaleDown.selectPolicy",
        "Avg",
        "spec.behavior.scaleDown.selectPolicy",
    ),
    # PodDisruptionBudget
    ("pdb.min-and-max", "kubernetes:policy/v1:PodDisruptionBudget", "spec.minAvailable", 1, "spec"),
    (
        "pdb.int-or-percent",
        "kubernetes:policy/v1:PodDisruptionBudget",
        "spec.maxUnavailable",
        "120%",
        "spec.maxUnavailable",
    ),
    (
        "pdb.int-or-percent",
        "kubernetes:policy/v1:PodDisruptionBudget",
        "spec.maxUnavailable",
        -1,
        "spec.maxUnavailable",
    ),
    (
        "pdb.unhealthy-pod-eviction-policy",
        "kubernetes:policy/v1:PodDisruptionBudget",
        "spec.unhealthyPodEvictionPolicy",
        "Never",
        "spec.unhealthyPodEvictionPolicy",
    ),
    # NetworkPolicy
    (
        "netpol.policy-types",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "spec.policyTypes",
        ["Ingress", "Both"],
        "spec.policyTypes[1]",
    ),
    (
        "netpol.policy-types",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "spec.policyTypes",
        ["Ingress", "Ingress"],
        "spec.policyTypes",
    ),
    (
        "netpol.port",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "spec.ingress[0].ports[0].protocol",
        "ICMP",
        "spec.ingress[0].ports[0].protocol",
    ),
    (
        "netpol.port",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "spec.ingress[0].ports[0].endPort",
        8000,
        "spec.ingress[0].ports[0].endPort",
    ),
    (
        "netpol.port",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "spec.ingress[0].ports[0].port",
        0,
        "spec.ingress[0].ports[0].port",
    ),
    (
        "netpol.peer",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "spec.ingress[0].from",
        [{}],
        "spec.ingress[0].from[0]",
    ),
    (
        "netpol.peer",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "spec.egress[0].to[0].podSelector",
        {},
        "spec.egress[0].to[0]",
    ),
    (
        "netpol.ip-block",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "spec.egress[0].to[0].ipBlock.cidr",
        "10.0.0.0/33",
        "spec.egress[0].to[0].ipBlock.cidr",
    ),
    (
        "netpol.ip-block",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "spec.egress[0].to[0].ipBlock.except",
        ["192.168.0.0/16"],
        "spec.egress[0].to[0].ipBlock.except[0]",
    ),
]


@pytest.mark.parametrize(("rule_id", "type_", "path", "value", "where"), CASES)
def test_each_api_server_rule_fails_its_case(
    rule_id: str, type_: str, path: str, value: Any, where: str
) -> None:
    found = problems(type_, mutate(VALID[type_], path, value))
    hits = [p for p in found if p.rule_id == rule_id]
    assert hits, [p.message("web", type_) for p in found]
    assert any(p.path == where for p in hits), [p.path for p in hits]
    assert all(p.family == "kubernetes-validation" for p in hits)
    assert all(f"Kubernetes {VERSION} API server" in p.source for p in hits)
    assert all(re.search(r"\.go [A-Za-z]", p.source) for p in hits)


def test_every_rule_has_a_failing_case_and_cites_its_source() -> None:
    tested = {c[0] for c in CASES} | {"meta.name.autoname"}  # autoname: its own test below
    assert set(RULES) - tested == set()
    assert tested - set(RULES) == set()
    for r in RULES.values():
        assert re.search(r"\.go\b", r.cite) and re.search(r"[A-Za-z]+\w*", r.cite), r.cite


def test_an_unnamed_object_is_checked_by_the_name_pulumi_would_give_it() -> None:
    unnamed = mutate(VALID[DEPLOY], "metadata.name", DELETE)
    assert problems(DEPLOY, unnamed, name="web-api") == []
    (p,) = problems(DEPLOY, unnamed, name="Web_API")
    assert p.rule_id == "meta.name.autoname" and p.value == "Web_API-00000000"
    assert "AssignNameIfAutonamable" in p.source
    named_by_server = mutate(unnamed, "metadata.generateName", "web-")
    assert problems(DEPLOY, named_by_server, name="Web_API") == []


# --- the schema ------------------------------------------------------------------------------


def test_unknown_fields_are_rejected_as_server_side_apply_does() -> None:
    bad = mutate(VALID[DEPLOY], f"{C0}.resource", {"limits": {"cpu": "1"}})
    (p,) = problems(DEPLOY, bad)
    assert (p.family, p.path, p.rule_id) == (
        "kubernetes-schema",
        f"{C0}.resource",
        "kubernetes-schema.unknown-field",
    )
    assert "Kubernetes 1.35 OpenAPI schema" in p.source
    typo = mutate(VALID["kubernetes:core/v1:Service"], "spec.ports[0].protocl", "TCP")
    assert [p.path for p in problems("kubernetes:core/v1:Service", typo)] == [
        "spec.ports[0].protocl"
    ]


def test_schema_types_required_fields_and_int32() -> None:
    wrong_type = mutate(VALID[DEPLOY], "spec.replicas", "3")
    assert [(p.path, p.rule_id) for p in problems(DEPLOY, wrong_type)] == [
        ("spec.replicas", "kubernetes-schema.type")
    ]
    missing = mutate(VALID[DEPLOY], f"{C0}.ports[0].containerPort", DELETE)
    assert (
        "spec.template.spec.containers[0].ports[0].containerPort",
        "kubernetes-schema.required",
    ) in {(p.path, p.rule_id) for p in problems(DEPLOY, missing)}
    overflow = mutate(VALID[DEPLOY], "spec.replicas", 2**31)
    assert "kubernetes-schema.format" in {p.rule_id for p in problems(DEPLOY, overflow)}


def test_a_kind_the_version_does_not_serve_is_a_problem() -> None:
    old = {
        **VALID["kubernetes:autoscaling/v2:HorizontalPodAutoscaler"],
        "apiVersion": "autoscaling/v2beta2",
    }
    (p,) = problems("kubernetes:autoscaling/v2beta2:HorizontalPodAutoscaler", old)
    assert p.rule_id == "kubernetes-schema.not-served" and "1.35" in p.rule
    # autoscaling/v2beta2 was served up to 1.25: the same object passes against 1.25.
    assert (
        problems("kubernetes:autoscaling/v2beta2:HorizontalPodAutoscaler", old, version="1.25")
        == []
    )


def test_environment_names_follow_the_cluster_version() -> None:
    relaxed = mutate(VALID[DEPLOY], f"{C0}.env[0].name", "1ST-PORT:x")
    assert problems(DEPLOY, relaxed, version="1.35") == []
    assert [p.rule_id for p in problems(DEPLOY, relaxed, version="1.31")] == ["pod.env.name"]


def test_unknown_and_secret_values_are_skipped_never_failed() -> None:
    for opaque in (UNKNOWN_VALUE, SECRET_VALUE):
        for path in (
            "spec.replicas",
            f"{C0}.image",
            f"{C0}.ports[0].containerPort",
            "spec.selector",
            "spec.template.metadata.labels",
            "metadata",
            f"{C0}.resources.limits.cpu",
            "spec.template.spec.volumes",
        ):
            assert problems(DEPLOY, mutate(VALID[DEPLOY], path, opaque)) == [], path
    svc = mutate(VALID["kubernetes:core/v1:Service"], "spec.ports[0].targetPort", UNKNOWN_VALUE)
    assert problems("kubernetes:core/v1:Service", svc) == []


def test_types_that_are_not_objects_of_a_schema_are_not_checkable() -> None:
    for t in (
        "kubernetes:helm.sh/v3:Release",
        "kubernetes:yaml/v2:ConfigGroup",
        "kubernetes:core/v1:ConfigMapPatch",
        "kubernetes:core/v1:ConfigMapList",
        "kubernetes:cert-manager.io/v1:Certificate",
        "aws:s3/bucket:Bucket",
    ):
        assert not k.checkable(t), t
    assert k.checkable("kubernetes:argoproj.io/v1alpha1:Rollout")
    assert k.checkable("kubernetes:storage.k8s.io/v1:StorageClass")


@pytest.mark.parametrize(
    ("value", "expected"), [("1.35", "1.35"), ("v1.30.4", "1.30"), ("1.25", "1.25")]
)
def test_cluster_versions_resolve_to_a_bundled_schema(value: str, expected: str) -> None:
    assert k.resolve_version(value) == expected


@pytest.mark.parametrize("value", ["1.19", "2.0", "latest", "", 1.3, None, "1.35.x"])
def test_other_cluster_versions_are_refused_with_the_supported_range(value: Any) -> None:
    with pytest.raises(ValueError, match=r"expected a Kubernetes version 1\.25 to 1\.\d+"):
        k.resolve_version(value)


# --- custom resources -----------------------------------------------------------------------

ROLLOUT = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": meta(),
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": LABELS},
        "template": TEMPLATE,
        "strategy": {"canary": {"steps": [{"setWeight": 10}, {"pause": {"duration": "5m"}}]}},
    },
}
RULE = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PrometheusRule",
    "metadata": meta("web-rules"),
    "spec": {"groups": [{"name": "web", "rules": [{"record": "job:up:sum", "expr": "sum(up)"}]}]},
}
MONITOR = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "ServiceMonitor",
    "metadata": meta(),
    "spec": {
        "selector": {"matchLabels": LABELS},
        "endpoints": [{"port": "http", "interval": "30s"}],
    },
}
ANALYSIS = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "AnalysisTemplate",
    "metadata": meta(),
    "spec": {
        "metrics": [
            {"name": "p95", "provider": {"prometheus": {"query": "up", "address": "http://p:9090"}}}
        ]
    },
}


@pytest.mark.parametrize(
    ("manifest", "path", "value", "where"),
    [
        (
            ROLLOUT,
            "spec.strategy.canary.steps[0].setWeigth",
            10,
            "spec.strategy.canary.steps[0].setWeigth",
        ),
        (ROLLOUT, "spec.replicas", "two", "spec.replicas"),
        (RULE, "spec.groups[0].rules[0].exp", "up", "spec.groups[0].rules[0].exp"),
        (RULE, "spec.groups[0].name", DELETE, "spec.groups[0].name"),
        (MONITOR, "spec.endpoints[0].scheme", "tcp", "spec.endpoints[0].scheme"),
        (
            ANALYSIS,
            "spec.metrics[0].provider.prometheus.adress",
            "x",
            "spec.metrics[0].provider.prometheus.adress",
        ),
        (ANALYSIS, "spec.metrics[0].interval", 5, "spec.metrics[0].interval"),
    ],
)
def test_custom_resources_against_their_crds(
    manifest: dict[str, Any], path: str, value: Any, where: str
) -> None:
    type_ = f"kubernetes:{manifest['apiVersion']}:{manifest['kind']}"
    assert problems(type_, manifest) == []
    found = problems(type_, mutate(manifest, path, value))
    assert [p.path for p in found] == [where], [p.message("x", type_) for p in found]
    assert found[0].family == "crd-schema" and re.search(r"v\d+\.\d+\.\d+ CRD", found[0].source)


def test_custom_resource_metadata_and_versions() -> None:
    bad_name = mutate(ROLLOUT, "metadata.name", "Web")
    assert [p.rule_id for p in problems("kubernetes:argoproj.io/v1alpha1:Rollout", bad_name)] == [
        "meta.name.dns-subdomain"
    ]
    v2 = {**ROLLOUT, "apiVersion": "argoproj.io/v1alpha2"}
    (p,) = problems("kubernetes:argoproj.io/v1alpha2:Rollout", v2)
    assert p.rule_id == "crd-schema.not-served"


def test_the_crd_index_matches_the_vendored_files() -> None:
    files = {p.relative_to(k.CRD_DIR).as_posix() for p in k.CRD_DIR.rglob("*.yaml")}
    assert set(k.CRDS.values()) == files
    for (group, kind), file in k.CRDS.items():
        doc = yaml.safe_load((k.CRD_DIR / file).read_text())
        assert (doc["spec"]["group"], doc["spec"]["names"]["kind"]) == (group, kind)
        assert "(version unknown)" not in k.crd_label(file)
    provenance = (k.CRD_DIR / "PROVENANCE.md").read_text()
    for folder in {f.split("/")[0] for f in files}:
        assert f"`{folder}/`" in provenance
