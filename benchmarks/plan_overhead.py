"""Benchmark: what the embedded lane costs on top of the SDK, and what the Analyzer protocol
costs on top of calling the validators in-process.

1. Plan a synthetic program of N resources (default 2,000: components, GA endpoint groups,
   tagged accelerators and buckets) with ``run_program`` (the recording monitor), against the
   baseline "bare": the same program under the SDK's stock ``MockMonitor`` and the same mocks.
   Goal: ratio <= 1.3.
2. Evaluate the guardrails pack over that graph through the Analyzer protocol (its own
   process, gRPC), against the baseline "in-process": the same policy functions called directly
   on the same properties, deserialised as the pack does. Goal: ratio <= 2.

Run on demand: ``.venv/bin/python benchmarks/plan_overhead.py [--resources N] [--repeat R]``.
Prints medians and ratios; exits 0 whatever the figures (a benchmark reports, it does not gate).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "policypacks" / "guardrails"))

TAGS = {"team": "bench", "service": "bench", "env": "bench", "cost-center": "cc-0"}


def synthetic_program(n: int) -> None:
    """N resources: one component per 50, each with an accelerator, a listener and endpoint
    groups, the rest tagged buckets. Every resource is registered through the SDK."""
    import pulumi
    import pulumi_aws as aws

    class Group(pulumi.ComponentResource):
        def __init__(self, name: str, size: int) -> None:
            super().__init__("bench:index:Group", name, None, None)
            child = pulumi.ResourceOptions(parent=self)
            acc = aws.globalaccelerator.Accelerator(
                f"{name}-acc", ip_address_type="IPV4", enabled=True, tags=TAGS, opts=child
            )
            lst = aws.globalaccelerator.Listener(
                f"{name}-lst",
                accelerator_arn=acc.arn,
                protocol="TCP",
                port_ranges=[
                    aws.globalaccelerator.ListenerPortRangeArgs(from_port=443, to_port=443)
                ],
                opts=child,
            )
            for i in range(size - 3):
                if i % 2 == 0:
                    aws.globalaccelerator.EndpointGroup(
                        f"{name}-eg-{i}",
                        listener_arn=lst.arn,
                        endpoint_group_region="us-east-1" if i % 4 == 0 else "us-west-2",
                        traffic_dial_percentage=100,
                        health_check_path="/healthz",
                        health_check_protocol="HTTPS",
                        health_check_interval_seconds=10,
                        threshold_count=3,
                        opts=child,
                    )
                else:
                    aws.s3.Bucket(f"{name}-bucket-{i}", tags=TAGS, opts=child)
            self.register_outputs({})

    per = 50
    for g in range(n // per):
        Group(f"g{g}", per)


def run_bare(n: int) -> float:
    """The same program under the SDK's stock MockMonitor and the same mocks."""
    import pulumi
    from pulumi.runtime import mocks as pm
    from pulumi.runtime import settings as ps
    from pulumi.runtime.stack import run_in_stack

    from summit_platform.automation.plan.engine import _Mocks

    def body() -> float:
        mocks = _Mocks("bench", "bench")
        monitor = pm.MockMonitor(mocks)  # type: ignore[arg-type]
        from google.protobuf import empty_pb2

        features = set(monitor.GetDeploymentInfo(empty_pb2.Empty()).supportedFeatures)
        ps.configure(
            pm.MockSettings(
                monitor=monitor,
                monitor_features=features,
                engine=pm.MockEngine(None),
                project="bench",
                stack="bench",
                dry_run=True,
                organization="o",
                callbacks=None,
            )
        )
        ps.ROOT.set(None)
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        t = time.perf_counter()
        loop.run_until_complete(run_in_stack(lambda: synthetic_program(n)))
        elapsed = time.perf_counter() - t
        loop.close()
        assert len(monitor.resources) >= n - 1, len(monitor.resources)
        return elapsed

    del pulumi
    return contextvars.copy_context().run(body)


def run_recorded(n: int):
    from summit_platform.automation.plan.engine import run_program

    t = time.perf_counter()
    plan = run_program(ROOT, "bench", "bench", {}, [], program=lambda: synthetic_program(n))
    return time.perf_counter() - t, plan


def in_process_policies(plan) -> float:
    """The guardrails' validators called directly, on properties deserialised as the pack
    deserialises them (protobuf -> dict -> proxies)."""
    import summit_guardrails as g
    from google.protobuf import json_format
    from pulumi_policy import ResourceValidationArgs, StackValidationArgs
    from pulumi_policy.deserialize import deserialize_properties
    from pulumi_policy.policy import PolicyResource, _NotApplicableError
    from pulumi_policy.proxy import unknown_checking_proxy

    defaults = {
        p.name: {k: v["default"] for k, v in (p.config_schema.properties or {}).items()}
        for p in g.POLICIES
    }
    t = time.perf_counter()
    found = 0

    def report(msg, urn=None):
        nonlocal found
        found += 1

    for r in plan.resources:
        props = unknown_checking_proxy(
            deserialize_properties(json_format.MessageToDict(r.wire_inputs))
        )
        for p in g.POLICIES:
            if hasattr(p, "validate") and p.name != "traffic-dial-floor":
                args = ResourceValidationArgs(
                    r.type, props, r.urn, r.name, None, None, defaults[p.name], {}
                )
                with contextlib.suppress(_NotApplicableError):
                    p.validate(args, report)
    resources = [
        PolicyResource(
            r.type,
            unknown_checking_proxy(
                deserialize_properties(json_format.MessageToDict(r.wire_outputs))
            ),
            r.urn,
            r.name,
            None,
            None,
            None,
            [],
            {},
        )
        for r in plan.resources
    ]
    g.traffic_dial_floor.validate(
        StackValidationArgs(resources, defaults["traffic-dial-floor"], {}), report
    )
    return time.perf_counter() - t


def servicer_in_process(plan) -> float:
    """The pack's own Analyzer servicer (the pulumi_policy SDK code the pack process runs),
    called in this process: the same per-policy deserialisation, no process, no gRPC."""
    import summit_guardrails as g
    from pulumi.runtime.proto import analyzer_pb2 as pb
    from pulumi_policy import EnforcementLevel
    from pulumi_policy.policy import _PolicyAnalyzerServicer

    from summit_platform.automation.plan.engine import for_analyzer

    servicer = _PolicyAnalyzerServicer("bench", "0.0.1", g.POLICIES, EnforcementLevel.MANDATORY)
    cfg = pb.ConfigureAnalyzerRequest()
    for p in g.POLICIES:
        pc = pb.PolicyConfig(enforcementLevel=pb.MANDATORY)
        pc.properties.update(
            {k: v["default"] for k, v in (p.config_schema.properties or {}).items()}
        )
        cfg.policyConfig[p.name].CopyFrom(pc)
    servicer.Configure(cfg, None)
    t = time.perf_counter()
    for r in plan.resources:
        servicer.Analyze(
            pb.AnalyzeRequest(
                type=r.type, properties=for_analyzer(r.wire_inputs), urn=r.urn, name=r.name
            ),
            None,
        )
    stack = pb.AnalyzeStackRequest()
    for r in plan.resources:
        stack.resources.append(
            pb.AnalyzerResource(
                type=r.type, properties=for_analyzer(r.wire_outputs), urn=r.urn, name=r.name
            )
        )
    servicer.AnalyzeStack(stack, None)
    return time.perf_counter() - t


def protocol_policies(plan) -> tuple[float, float]:
    from summit_platform.automation.plan.analyzer import evaluate_pack

    t = time.perf_counter()
    res = evaluate_pack(ROOT / "policypacks" / "guardrails", plan, config={}, secret_keys=[])
    total = time.perf_counter() - t
    assert res.analyzed == len(plan.resources)
    return total, 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resources", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    n = a.resources
    with tempfile.TemporaryDirectory():
        run_bare(200)  # warm imports
        bare = [run_bare(n) for _ in range(a.repeat)]
        rec_runs = [run_recorded(n) for _ in range(a.repeat)]
    rec = [t for t, _ in rec_runs]
    plan = rec_runs[-1][1]
    count = len(plan.resources)
    b, r = statistics.median(bare), statistics.median(rec)
    print(f"plan: {count} resources recorded")
    print(f"  baseline bare SDK MockMonitor : {b:7.2f} s  ({1000 * b / count:5.2f} ms/resource)")
    print(f"  summit plan recording engine  : {r:7.2f} s  ({1000 * r / count:5.2f} ms/resource)")
    print(f"  ratio vs bare                 : {r / b:7.2f}x  (goal <= 1.3x)")
    inproc = statistics.median(in_process_policies(plan) for _ in range(a.repeat))
    servicer = statistics.median(servicer_in_process(plan) for _ in range(a.repeat))
    proto = statistics.median(protocol_policies(plan)[0] for _ in range(a.repeat))
    print(f"policies: guardrails pack over {count} resources")
    print(
        f"  baseline in-process validators: {inproc:7.2f} s  ({1000 * inproc / count:5.2f} ms/resource)"
    )
    print(
        f"  Analyzer protocol (own process): {proto:7.2f} s  ({1000 * proto / count:5.2f} ms/resource)"
    )
    print(
        f"  pack's Analyzer servicer in-process: {servicer:7.2f} s  ({1000 * servicer / count:5.2f} ms/resource)"
    )
    print(f"  ratio vs in-process validators: {proto / inproc:7.2f}x  (goal <= 2x)")
    print(f"  ratio vs in-process servicer  : {proto / servicer:7.2f}x  (the process + gRPC alone)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
