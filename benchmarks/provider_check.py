"""Benchmark: the provider check's share of `summit plan`'s wall time.

`summit plan` records the program, runs the provider check over the recorded graph, then
evaluates the policy packs. This times the three stages on the 2,000-resource program of
``plan_overhead.py`` (Global Accelerator groups and S3 buckets: the AWS path) and on a
2,000-resource Kubernetes program (Deployments, Services, ConfigMaps, HorizontalPodAutoscalers:
the schema path), and prints the check's share of the total. Goal: at most 20 %.

Each figure is the median of ``--repeat`` runs; the check's first run in a process also loads
the schemas and models, so the cold figure (first run) is printed too.

Run on demand: ``.venv/bin/python benchmarks/provider_check.py [--resources N] [--repeat R]``.
Exits 0 whatever the figures (a benchmark reports, it does not gate).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from plan_overhead import synthetic_program  # noqa: E402 - a sibling script, not a package

LABELS = {"app.kubernetes.io/name": "bench"}


def kubernetes_program(n: int) -> None:
    """N Kubernetes resources: per service a Deployment, a Service, a ConfigMap and an HPA."""
    import pulumi_kubernetes as k8s

    for i in range(n // 4):
        name = f"svc-{i}"
        labels = {**LABELS, "app.kubernetes.io/instance": name}
        meta = {"name": name, "namespace": "bench", "labels": labels}
        container = {
            "name": "app",
            "image": "ghcr.io/bench/app:1.0.0",
            "ports": [{"name": "http", "containerPort": 8080}],
            "resources": {
                "requests": {"cpu": "100m", "memory": "128Mi"},
                "limits": {"memory": "256Mi"},
            },
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
        }
        k8s.apps.v1.Deployment(
            f"{name}-deploy",
            metadata=meta,
            spec={
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        )
        k8s.core.v1.Service(
            f"{name}-svc",
            metadata=meta,
            spec={
                "selector": labels,
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        )
        k8s.core.v1.ConfigMap(f"{name}-config", metadata=meta, data={"app.json": "{}"})
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=meta,
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": 2,
                "maxReplicas": 6,
            },
        )


def one_plan(program: Callable[[], None]) -> tuple[float, float, float, int, int]:
    """Record, check, evaluate the project's packs: (record s, check s, packs s, resources,
    problems)."""
    from summit_platform.automation.plan.analyzer import discover_packs, evaluate_pack
    from summit_platform.automation.plan.engine import run_program
    from summit_platform.automation.plan.provider_check import check_plan

    t0 = time.perf_counter()
    plan = run_program(ROOT, "bench", "bench", {}, [], program=program)
    t1 = time.perf_counter()
    checked = check_plan(plan, "1.35")
    t2 = time.perf_counter()
    for pack in discover_packs(ROOT):
        evaluate_pack(pack, plan, config={}, secret_keys=[])
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2, sum(checked.checked.values()), len(checked.problems)


def report(label: str, runs: list[tuple[float, float, float, int, int]]) -> None:
    record = statistics.median(r[0] for r in runs)
    check = statistics.median(r[1] for r in runs)
    packs = statistics.median(r[2] for r in runs)
    total = record + check + packs
    _, cold, *_ = runs[0]
    checked, problems = runs[-1][3], runs[-1][4]
    print(f"{label}: {checked} resources checked, {problems} problems")
    print(f"  record (mock engine)        : {record:7.2f} s")
    print(
        f"  provider check              : {check:7.2f} s  ({1000 * check / checked:5.2f} ms/resource; first run {cold:.2f} s)"
    )
    print(f"  policy packs (Analyzer gRPC): {packs:7.2f} s")
    print(f"  check's share of the plan   : {100 * check / total:6.1f} %  (goal <= 20 %)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resources", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    n = a.resources
    aws_runs = [one_plan(lambda: synthetic_program(n)) for _ in range(a.repeat)]
    report(f"AWS program ({n} resources, plan_overhead.py)", aws_runs)
    k8s_runs = [one_plan(lambda: kubernetes_program(n)) for _ in range(a.repeat)]
    report(f"Kubernetes program ({n} resources)", k8s_runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
