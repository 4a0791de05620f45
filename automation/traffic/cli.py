"""``summit traffic``: compute, run, apply, pin, unpin and simulate adaptive regional weights.

Every command reads its inputs, calls the pure controller (:mod:`automation.traffic.controller`)
and then acts. Bad input raises :class:`UserError` (exit 2) before anything changes.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from automation import options
from automation.errors import CheckFailed, UserError
from automation.options import (
    Cwd,
    Duration,
    JsonOut,
    OptionalStack,
    Stack,
    duration_option,
)
from automation.stack_files import load_stack
from automation.traffic import actuators, files, haproxy, leadership, loop, sources
from automation.traffic import pin as pinmod
from automation.traffic.controller import Policy, dials_for_shares, evaluate, initial_state
from automation.traffic.direct import DirectActuator
from automation.traffic.drill import command as drill_command
from automation.traffic.regional_source import RegionalPrometheusSource
from automation.traffic.steerable import refuse_unsteerable
from automation.traffic.telemetry import ControllerMetrics
from stacks.config import StackConfig

app = options.new_app(
    "traffic", "Adaptive regional traffic: SLO-aware weights, manual pin, simulator."
)

DEFAULT_AUDIT = ".summit/traffic-audit.jsonl"
AuditLog = Annotated[
    Path | None,
    typer.Option("--audit-log", help=f"Audit log, JSON lines (default: {DEFAULT_AUDIT} in -C)."),
]
Offline = Annotated[
    bool, typer.Option("--offline", help="Write Pulumi.<stack>.yaml directly (no engine).")
]
AcceleratorArn = Annotated[
    str | None,
    typer.Option("--accelerator-arn", help="Enables the boto3 fast path when `up` cannot run."),
]
StatePath = Annotated[
    Path | None, typer.Option("--state", help="Controller state file, kept between runs.")
]


def _table(decision: dict[str, Any], title: str, *, stderr: bool = False) -> None:
    table = Table(title=title)
    for col in ("region", "share %", "dial", "route53", "score", "reason"):
        table.add_column(col)
    for r in decision["regions"]:
        table.add_row(
            r["region"],
            str(r["weight"]),
            str(r["dial"]),
            str(r["route53Weight"]),
            "-" if r["score"] is None else f"{r['score']:.0f}",
            r["reason"],
        )
    console = Console(stderr=stderr)
    console.print(table)
    console.print(f"{decision['action']}: {decision['reason']}")


def _report(doc: dict[str, Any], line: str, json_out: str | None) -> None:
    """A command's result: JSON to --json, and one line for people unless stdout is taken."""
    options.write_json(json_out, doc, indent=None)
    if not options.to_stdout(json_out):
        typer.echo(line)


def _policy_for(cwd: Path, stack: str | None, regions: list[str]) -> Policy:
    if stack:
        project_dir = options.project(cwd)
        cfg = load_stack(project_dir, stack)
        return files.policy_from_config(cfg, str(project_dir / f"Pulumi.{stack}.yaml"))
    if not 1 <= len(regions) <= 2:
        raise UserError(f"expected one or two regions, found {regions}", key="regions")
    return Policy(natural={r: 100.0 / len(regions) for r in regions})


@app.command()
def compute(
    metrics: Annotated[
        Path, typer.Argument(help="Metrics file (metrics.json, documented in docs/traffic.md).")
    ],
    state: StatePath = None,
    stack: OptionalStack = None,
    cwd: Cwd = Path("."),
    now: Annotated[float | None, typer.Option("--now", help="Evaluation time (unix s).")] = None,
    json_out: JsonOut = None,
) -> None:
    """One evaluation: metrics + saved state -> weights; the state is saved for the next call.
    --json writes the weights file (weights.json)."""
    options.check_output(json_out, "--json")
    t = time.time() if now is None else now
    samples = files.read_metrics(metrics, t)
    policy = _policy_for(cwd, stack, sorted(samples))
    unknown = sorted(set(samples) - set(policy.natural))
    if unknown:
        raise UserError(
            f"regions {unknown} are not in the stack ({policy.regions})",
            source=str(metrics),
            key="regions",
        )
    previous = files.read_state(state) or initial_state(policy)
    new_state, decision = evaluate(previous, samples, policy, now=t)
    if state is not None:
        files.write_json_atomic(state, new_state.to_dict())
    d = decision.to_dict()
    options.write_json(json_out, d["regions"], indent=None)
    if not options.to_stdout(json_out):
        _table(d, f"traffic decision @ {files.iso(t)}")


@app.command()
def simulate(
    scenario: Annotated[str, typer.Option("--scenario", help="Scenario name.")] = "induced-latency",
    region: Annotated[str, typer.Option("--region", help="Region the fault hits.")] = "us-west-2",
    latency: Annotated[
        Duration, duration_option("--latency", "Latency added to each request in the fault.")
    ] = Duration.of("300ms"),
    interval: Annotated[
        Duration, duration_option("--interval", "Controller interval.")
    ] = Duration.of("5s"),
    apply_latency: Annotated[
        Duration, duration_option("--apply-latency", "Decision -> dials in effect.")
    ] = Duration.of("30s"),
    seed: Annotated[int, typer.Option("--seed", help="Random number generator seed.")] = 7,
    json_out: JsonOut = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a PNG plot here.")] = None,
    cwd: Cwd = Path("."),
) -> None:
    """Drive the real controller over simulated time and report steering figures. The
    simulator reads no project file; -C is accepted like everywhere."""
    # numpy (and matplotlib for --plot) load only for the simulator.
    from automation.traffic import simulator as sim

    if scenario not in sim.SCENARIOS:
        raise UserError(
            f"expected one of {list(sim.SCENARIOS)}, found {scenario!r}", key="--scenario"
        )
    if region not in (sim.EAST, sim.WEST):
        raise UserError(f"expected {sim.EAST} or {sim.WEST}, found {region!r}", key="--region")
    options.check_output(json_out, "--json")
    cfg = sim.SimConfig(
        interval_s=interval.seconds, apply_latency_s=apply_latency.seconds, seed=seed
    )
    result = sim.run(sim.scenario(scenario, region=region, ms=latency.seconds * 1000), cfg)
    if plot is not None:
        sim.plot(result, str(plot))
    options.write_json(json_out, result.figures, indent=None)
    if options.to_stdout(json_out):
        return
    table = Table(title=f"simulate {scenario}: {result.scenario.description}")
    table.add_column("figure")
    table.add_column("value")
    for k, v in result.figures.items():
        if k not in ("scenario", "description"):
            table.add_row(k, json.dumps(v))
    Console().print(table)


def _write_traffic(project_dir: Path, stack: str, traffic: dict[str, Any], offline: bool) -> str:
    if offline:
        actuators.OfflineConfig(project_dir, stack).set_traffic(traffic)
        return "stack file"
    handle = actuators.open_stack(project_dir, stack)
    actuators.AutomationConfig(handle).set_traffic(traffic)
    return "Automation API"


@app.command(name="pin")
def pin_cmd(
    shares: Annotated[list[str], typer.Argument(help="REGION=PERCENT for every region.")],
    stack: Stack,
    reason: Annotated[str, typer.Option("--reason", help="Why (required).")] = "",
    ttl: Annotated[Duration, duration_option("--ttl", "Expiry, at most 60m.")] = Duration.of("60m"),
    offline: Offline = False,
    audit_log: AuditLog = None,
    cwd: Cwd = Path("."),
    now: Annotated[float | None, typer.Option("--now", hidden=True)] = None,
    json_out: JsonOut = None,
) -> None:
    """Pin the shares (percent of traffic) with a reason until the TTL expires."""
    if not reason.strip():
        raise UserError("a reason is required (--reason TEXT)", key="--reason")
    ttl_s = pinmod.check_ttl(ttl.seconds, ttl.text)
    options.check_output(json_out, "--json")
    project_dir = options.project(cwd)
    cfg = load_stack(project_dir, stack)
    refuse_unsteerable(cfg, str(project_dir / f"Pulumi.{stack}.yaml"))
    parsed = pinmod.parse_shares(shares, cfg.region_names)
    t = time.time() if now is None else now
    by = pinmod.who()
    value = pinmod.build_pin(parsed, reason, ttl_s, t, by)
    traffic = actuators.traffic_with_defaults(project_dir, stack)
    traffic["pin"] = value
    via = _write_traffic(project_dir, stack, traffic, offline)
    pinmod.audit(
        options.in_project(project_dir, audit_log, DEFAULT_AUDIT),
        {
            "action": "pin",
            "stack": stack,
            "who": by,
            "when": value["at"],
            "why": value["reason"],
            "what": value["shares"],
            "expiresAt": value["expiresAt"],
            "via": via,
        },
    )
    doc = {"pinned": value, "stack": stack, "via": via}
    shown = ", ".join(f"{r}={p}%" for r, p in value["shares"].items())
    _report(doc, f"pinned {stack} to {shown} until {value['expiresAt']} (via {via})", json_out)


@app.command()
def unpin(
    stack: Stack,
    reason: Annotated[str, typer.Option("--reason", help="Why.")] = "manual unpin",
    offline: Offline = False,
    audit_log: AuditLog = None,
    cwd: Cwd = Path("."),
    json_out: JsonOut = None,
) -> None:
    """Remove the pin; the controller resumes at its next evaluation."""
    options.check_output(json_out, "--json")
    project_dir = options.project(cwd)
    load_stack(project_dir, stack)
    traffic = actuators.traffic_with_defaults(project_dir, stack)
    old = traffic.pop("pin", None)
    via = _write_traffic(project_dir, stack, traffic, offline)
    pinmod.audit(
        options.in_project(project_dir, audit_log, DEFAULT_AUDIT),
        {
            "action": "unpin",
            "stack": stack,
            "who": pinmod.who(),
            "when": files.iso(time.time()),
            "why": reason,
            "what": (old or {}).get("shares"),
            "via": via,
        },
    )
    doc = {"unpinned": old is not None, "stack": stack, "via": via}
    line = f"unpinned {stack} (via {via})" if old else f"{stack} had no pin (via {via})"
    _report(doc, line, json_out)


def _fast_path_clients(cfg: StackConfig, accelerator_arn: str | None) -> tuple[Any, Any, Any]:
    if cfg.traffic.mode == "route53":
        # boto3 (~0.5 s to import) is needed only for the Route53 fast path.
        import boto3

        return None, boto3.client("route53"), None
    if not accelerator_arn:
        return None, None, None
    ga = actuators.ga_client()
    return ga, None, actuators.discover_endpoint_groups(ga, accelerator_arn)


def _apply_dials(
    project_dir: Path,
    stack: str,
    cfg: StackConfig,
    dials: dict[str, int],
    shares: dict[str, int],
    accelerator_arn: str | None,
) -> Any:
    """Config first, then reality: targeted `up`, else the boto3 fast path."""
    handle = actuators.open_stack(project_dir, stack)
    ga, r53, groups = _fast_path_clients(cfg, accelerator_arn)
    return actuators.apply_decision(
        project_dir,
        stack,
        dials,
        shares=shares,
        stack=handle,
        ga=ga,
        route53=r53,
        endpoint_groups=groups,
    )


@app.command()
def apply(
    stack: Stack,
    weights: Annotated[
        Path,
        typer.Option("--weights", help="Weights file (weights.json, as compute --json writes)."),
    ],
    accelerator_arn: AcceleratorArn = None,
    offline: Annotated[bool, typer.Option("--offline", help="Only write the stack file.")] = False,
    cwd: Cwd = Path("."),
    json_out: JsonOut = None,
) -> None:
    """Write the weights' dials to config and apply them (targeted `up`, else fast path)."""
    options.check_output(json_out, "--json")
    project_dir = options.project(cwd)
    cfg = load_stack(project_dir, stack)
    refuse_unsteerable(cfg, str(project_dir / f"Pulumi.{stack}.yaml"))
    shares = files.read_weights(weights, cfg.region_names)
    policy = files.policy_from_config(cfg, str(project_dir / f"Pulumi.{stack}.yaml"))
    dials = dials_for_shares(shares, policy.natural, 0)
    if offline:
        actuators.OfflineConfig(project_dir, stack).set_dials(dials)
        doc = {"path": "offline", "dials": dials, "configWritten": True, "applied": False}
        _report(doc, f"wrote dials {dials} to Pulumi.{stack}.yaml (not applied)", json_out)
        return
    report = _apply_dials(project_dir, stack, cfg, dials, shares, accelerator_arn)
    _report(report.to_dict(), f"applied dials {dials} via {report.path}", json_out)
    if not report.consistent:
        raise CheckFailed("; ".join(report.messages))


def _apply_haproxy(project_dir: Path, stack: str, dials: dict[str, int], sock: Path) -> dict:
    """The HAProxy actuator (``--haproxy-socket``): config first, then server weights."""
    admin = haproxy.HAProxyAdmin(sock)
    return haproxy.apply_decision(project_dir, stack, dials, admin=admin).to_dict()


@dataclass(frozen=True)
class _Actuation:
    """How the loop makes a decision real: not at all (a dry run), HAProxy weights (the
    drill lab), straight on the stack's targets (in-cluster, ``--targets``), or the stack's
    traffic path (targeted up, else the fast path). ``guard`` is asked immediately before a
    write whether this controller still leads."""

    dry_run: bool
    accelerator_arn: str | None
    haproxy_socket: Path | None
    direct: DirectActuator | None = None
    guard: Callable[[], bool] | None = None


def _source(cfg: StackConfig, source: str, prometheus_url: str | None) -> Any:
    if source == "prometheus":
        url = prometheus_url or cfg.traffic.prometheus_url
        if not url and cfg.traffic.controller.regions:  # one Prometheus per region
            urls = {r: c.prometheus_url for r, c in cfg.traffic.controller.regions.items()}
            return RegionalPrometheusSource(urls, cfg.traffic.queries)
        if not url:
            raise UserError(
                "no Prometheus URL: set summit-platform:traffic.prometheusUrl or --prometheus-url",
                key="--prometheus-url",
            )
        return sources.PrometheusSource(url, cfg.traffic.queries)
    if source == "cloudwatch":
        albs: dict[str, str] = {r.name: r.endpoint_arn for r in cfg.regions if r.endpoint_arn}
        return sources.CloudWatchSource(albs)
    raise UserError(f"expected prometheus or cloudwatch, found {source!r}", key="--source")


@contextmanager
def _log(target: str) -> Any:
    """The decision log: stdout for ``-``, else the file, appended line by line."""
    if target == options.STDOUT:
        yield sys.stdout
        return
    options.check_output(target, "--json")
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a", encoding="utf-8") as fh:
        yield fh


def _line(out: IO[str], doc: dict[str, Any]) -> None:
    out.write(json.dumps(doc) + "\n")
    out.flush()


LeaseTable = Annotated[
    str | None,
    typer.Option(
        "--lease-table",
        metavar="NAME",
        help="Elect one leader among controllers through this DynamoDB table (its state lives "
        "there too); without it the loop runs alone.",
    ),
]
DynamoDBEndpoint = Annotated[
    str | None,
    typer.Option("--dynamodb-endpoint", metavar="URL", help="DynamoDB endpoint (local runs)."),
]
CreateLeaseTable = Annotated[
    bool, typer.Option("--create-lease-table", help="Create the lease table when it is missing.")
]
Holder = Annotated[
    str | None,
    typer.Option("--holder", metavar="ID", help="This controller's id (default host-pid)."),
]
Targets = Annotated[
    Path | None,
    typer.Option(
        "--targets",
        metavar="PATH",
        help="Apply straight through the AWS API to the endpoint groups or records in this "
        "file (the in-cluster controller's targets.json): no stack config write, no `up`.",
    ),
]
MetricsPort = Annotated[
    int | None,
    typer.Option("--metrics-port", metavar="PORT", help="Serve /metrics and /healthz here."),
]


@app.command()
def run(
    stack: Stack,
    source: Annotated[str, typer.Option("--source", help="prometheus or cloudwatch.")] = (
        "prometheus"
    ),
    interval: Annotated[
        Duration, duration_option("--interval", "Evaluation interval.")
    ] = Duration.of("5s"),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Decide and log, never apply.")] = (
        False
    ),
    prometheus_url: Annotated[
        str | None, typer.Option("--prometheus-url", help="Overrides traffic.prometheusUrl.")
    ] = None,
    state: StatePath = None,
    max_iterations: Annotated[
        int | None, typer.Option("--max-iterations", help="Stop after N evaluations.")
    ] = None,
    accelerator_arn: AcceleratorArn = None,
    haproxy_socket: Annotated[
        Path | None,
        typer.Option(
            "--haproxy-socket",
            metavar="PATH",
            help="Apply as HAProxy server weights through this admin socket (one server per "
            "region in backend `regions`) instead of Global Accelerator; the drill lab uses it.",
        ),
    ] = None,
    lease_table: LeaseTable = None,
    dynamodb_endpoint: DynamoDBEndpoint = None,
    create_lease_table: CreateLeaseTable = False,
    holder: Holder = None,
    targets: Targets = None,
    metrics_port: MetricsPort = None,
    cwd: Cwd = Path("."),
    json_out: Annotated[
        str,
        typer.Option(
            "--json", metavar="PATH|-", help="Decision log, JSON lines, to PATH ('-' for stdout)."
        ),
    ] = options.STDOUT,
) -> None:
    """The control loop: a JSON-lines decision log, fail-static, clean stop on SIGTERM. With
    --lease-table, controllers elect one leader: only it applies, and every line says who
    wrote it (holder) and whether it led (leader)."""
    project_dir = options.project(cwd)
    cfg = load_stack(project_dir, stack)
    if not dry_run and haproxy_socket is None:
        refuse_unsteerable(cfg, str(project_dir / f"Pulumi.{stack}.yaml"))
    src = _source(cfg, source, prometheus_url)
    telemetry = _telemetry(metrics_port, interval.seconds)
    natural: dict[str, float] = {r.name: r.natural_share for r in cfg.regions}
    direct = DirectActuator.from_file(targets, natural) if targets is not None else None
    ha = leadership.coordinator(
        cfg,
        stack,
        lease_table=lease_table,
        endpoint=dynamodb_endpoint,
        create=create_lease_table,
        holder=holder,
        state_path=state,
    )
    stopping = loop.Stopping()
    signal.signal(signal.SIGTERM, stopping.stop)  # finish the current turn, then exit 0
    signal.signal(signal.SIGINT, stopping.stop)
    act = _Actuation(dry_run, accelerator_arn, haproxy_socket, direct, ha.may_write)
    telemetry.holder = ha.holder
    if metrics_port is not None:
        telemetry.serve(metrics_port)
    evaluate_once = functools.partial(_evaluate_once, project_dir, stack, src)
    turns = loop.Loop(evaluate_once, act, ha, telemetry, state)
    try:
        with _log(json_out) as out, ha:
            n = turns.run(lambda doc: _line(out, doc), interval.seconds, max_iterations, stopping)
            _line(out, {"ts": files.iso(time.time()), "action": "stopped", "evaluations": n})
    finally:
        telemetry.close()


def _telemetry(port: int | None, interval_s: float) -> ControllerMetrics:
    """The loop's metrics (served only with --metrics-port); the pod's region (its AWS_REGION)
    labels its leader gauge, "local" anywhere else."""
    if port is not None and not 0 <= port <= 65535:
        raise UserError(f"expected a port 0-65535, found {port}", key="--metrics-port")
    return ControllerMetrics("", os.environ.get("AWS_REGION", "local"), interval_s)


def _evaluate_once(
    project_dir: Path,
    stack: str,
    src: Any,
    ctl_state: Any,
    started: float,
    act: _Actuation,
) -> tuple[Any, dict[str, Any]]:
    """One turn of the loop: read config and metrics, decide, apply (unless a dry run)."""
    cfg = load_stack(project_dir, stack)  # a pin or unpin lands without a restart
    policy = files.policy_from_config(cfg, str(project_dir / f"Pulumi.{stack}.yaml"))
    ctl_state = ctl_state or initial_state(policy)
    try:
        samples = src.fetch(policy.regions, started)
        error = None
    except Exception as err:  # a source outage is fail-static, not a crash
        samples, error = {}, f"{type(err).__name__}: {err}"
    ctl_state, decision = evaluate(ctl_state, samples, policy, now=started)
    line: dict[str, Any] = {"ts": files.iso(started), **decision.to_dict()}
    if error:
        line["sourceError"] = error
    current = {r.name: r.dial for r in cfg.regions}
    if decision.dials == current and act.direct is None:  # direct: reality, not config, decides
        return ctl_state, line
    if act.guard is not None and not act.guard():
        line["apply"] = {"path": "not-leader", "dials": decision.dials, "inEffect": False}
        return ctl_state, line
    if act.dry_run:
        line["apply"] = {"path": "dry-run", "dials": decision.dials}
    elif act.direct is not None:
        line["apply"] = act.direct.apply(decision.dials, guard=act.guard)
    elif act.haproxy_socket is not None:
        line["apply"] = _apply_haproxy(project_dir, stack, decision.dials, act.haproxy_socket)
    else:
        report = _apply_dials(
            project_dir, stack, cfg, decision.dials, decision.shares, act.accelerator_arn
        )
        line["apply"] = report.to_dict()
    return ctl_state, line


@app.command()
def drill(
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            help="induced-latency, error-burst, recovery, metrics-outage or pin "
            "(docs/traffic.md, Game day).",
        ),
    ] = "induced-latency",
    induce: Annotated[
        str | None,
        typer.Option(
            "--induce",
            help="The fault instead of the scenario's: REGION:latency=300ms, REGION:errors=5% "
            "or both (latency=300ms,errors=2%).",
        ),
    ] = None,
    json_out: JsonOut = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Folder for the PNG timeline, the evidence and the lab's logs.",
        ),
    ] = None,
    stack: Annotated[
        str,
        typer.Option(
            "-s", "--stack", metavar="NAME", help="Stack whose rules and thresholds the lab uses."
        ),
    ] = "drill",
    cwd: Cwd = Path("."),
    timeout: Annotated[
        Duration, duration_option("--timeout", "Hard limit for the whole run.")
    ] = Duration.of("15m"),
) -> None:
    """Game day on loopback: two regions behind HAProxy, Prometheus, Alertmanager, Locust and
    the controller, all real processes; induce a fault and measure the steer end to end.

    Every process is stopped when the command ends, however it ends. Exit 1 when a check fails.
    """
    options.check_output(json_out, "--json")
    report = drill_command.drill(
        project_dir=cwd,
        stack=stack,
        scenario=scenario,
        induce=induce,
        json_out=json_out,
        out=out,
        timeout=timeout.text,
    )
    if json_out != options.STDOUT:
        drill_command.summary_table(report)


def register(root: typer.Typer) -> None:
    """Attach ``summit traffic`` to the root app."""
    root.add_typer(app, name="traffic")
