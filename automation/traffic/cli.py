"""``summit traffic``: compute, run, apply, pin, unpin and simulate adaptive regional weights.

Every command reads its inputs, calls the pure controller (:mod:`summit_platform.automation.traffic.controller`)
and then acts. Bad input raises :class:`UserError` (exit 2) before anything changes.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import time
import urllib.parse
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from summit_platform.automation import options
from summit_platform.automation.errors import CheckFailed, UserError
from summit_platform.automation.options import (
    Cwd,
    Duration,
    JsonOut,
    OptionalStack,
    Stack,
    duration_option,
)
from summit_platform.automation.stack_files import load_stack
from summit_platform.automation.traffic import (
    actuators,
    changes,
    files,
    haproxy,
    leadership,
    loop,
    sources,
)
from summit_platform.automation.traffic import pin as pinmod
from summit_platform.automation.traffic.controller import (
    Policy,
    State,
    dials_for_shares,
    evaluate,
    initial_state,
    safe_state,
)
from summit_platform.automation.traffic.direct import DirectActuator
from summit_platform.automation.traffic.drill import command as drill_command
from summit_platform.automation.traffic.regional_source import RegionalPrometheusSource
from summit_platform.automation.traffic.steerable import refuse_unsteerable
from summit_platform.automation.traffic.telemetry import ControllerMetrics
from summit_platform.components.render.durations import format_duration
from summit_platform.components.render.redact import redact_text, redact_url
from summit_platform.components.render.spill import below_floor
from summit_platform.stacks.config import ConfigError, StackConfig

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
    --json writes the weights file (weights.json). A state file that does not validate is an
    error (remove it to start from the natural shares): it is never trusted."""
    options.check_output(json_out, "--json")
    pinmod.check_now(now)
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
    d = decision.to_dict()
    if state is not None:
        files.write_state(state, new_state)
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
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=2**32 - 1, help="Random number generator seed.")
    ] = 7,
    json_out: JsonOut = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a PNG plot here.")] = None,
    cwd: Cwd = Path("."),
) -> None:
    """Drive the real controller over simulated time and report steering figures. The
    simulator reads no project file; -C is accepted like everywhere."""
    # numpy (and matplotlib for --plot) load only for the simulator.
    from summit_platform.automation.traffic import simulator as sim

    if scenario not in sim.SCENARIOS:
        raise UserError(
            f"expected one of {list(sim.SCENARIOS)}, found {scenario!r}", key="--scenario"
        )
    if region not in (sim.EAST, sim.WEST):
        raise UserError(f"expected {sim.EAST} or {sim.WEST}, found {region!r}", key="--region")
    options.check_output(json_out, "--json")
    _check_sim_durations(interval, latency, apply_latency)
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


SIM_LIMITS = {
    "--interval": (1.0, 300.0),
    "--latency": (0.001, 60.0),
    "--apply-latency": (0.001, 600.0),
}
"""The simulator steps one second at a time over 30-60 minute scenarios: an interval under a
second or not a whole number of seconds would be reported but not simulated, one over five
minutes leaves nothing to measure."""


def _check_sim_durations(interval: Duration, latency: Duration, apply_latency: Duration) -> None:
    for flag, value in (
        ("--interval", interval),
        ("--latency", latency),
        ("--apply-latency", apply_latency),
    ):
        low, high = SIM_LIMITS[flag]
        if not low <= value.seconds <= high:
            raise UserError(
                f"expected {format_duration(low)} to {format_duration(high)}, found {value.text!r}",
                key=flag,
            )
    if interval.seconds != int(interval.seconds):
        raise UserError(
            f"expected whole seconds (the simulator steps 1 s), found {interval.text!r}",
            key="--interval",
        )


Reason = Annotated[str, typer.Option("--reason", help="Why (required).")]
Now = Annotated[float | None, typer.Option("--now", hidden=True)]


def _steerable(cfg: StackConfig, project_dir: Path, stack: str, *, applying: bool = True) -> None:
    """A stack with ``traffic.mode: none`` (a preview) has no global entry point to steer; a
    latency-routed one (route53 without the controller) has no weights to steer."""
    source = str(project_dir / f"Pulumi.{stack}.yaml")
    if cfg.traffic.mode == "none":
        raise UserError(
            "this stack has no global entry point to steer (traffic.mode is none)",
            source=source,
            key="summit-platform:traffic.mode",
        )
    if applying:
        refuse_unsteerable(cfg, source)


def _target(cwd: Path, stack: str, offline: bool, audit_log: Path | None) -> changes.Target:
    project_dir = options.project(cwd)
    log = options.in_project(project_dir, audit_log, DEFAULT_AUDIT)
    return changes.Target(project_dir, stack, offline, log)


@app.command(name="pin")
def pin_cmd(
    shares: Annotated[list[str], typer.Argument(help="REGION=PERCENT for every region.")],
    stack: Stack,
    reason: Reason = "",
    ttl: Annotated[Duration, duration_option("--ttl", "Expiry, 1m to 60m.")] = Duration.of("60m"),
    offline: Offline = False,
    audit_log: AuditLog = None,
    cwd: Cwd = Path("."),
    now: Now = None,
    json_out: JsonOut = None,
) -> None:
    """Pin the shares (percent of traffic) with a reason until the TTL expires. The audit log
    gets the intent before the stack config changes and the result after."""
    if not reason.strip():
        raise UserError("a reason is required (--reason TEXT)", key="--reason")
    ttl_s = pinmod.check_ttl(ttl.seconds, ttl.text)
    pinmod.check_now(now)
    options.check_output(json_out, "--json")
    target = _target(cwd, stack, offline, audit_log)
    cfg = load_stack(target.project_dir, stack)
    _steerable(cfg, target.project_dir, stack)
    parsed = pinmod.parse_shares(shares, cfg.region_names)
    by = pinmod.who()
    value = pinmod.build_pin(parsed, reason, ttl_s, time.time() if now is None else now, by)
    entry = {"action": "pin", "stack": stack, "who": by, "why": value["reason"]}
    entry |= {"what": value["shares"], "expiresAt": value["expiresAt"]}
    done = changes.change_traffic(
        target, lambda _: entry, lambda traffic: {**traffic, "pin": value}
    )
    via = _via(offline)
    doc = {"pinned": value, "stack": stack, "via": via, "audit": done["id"] if done else None}
    shown = ", ".join(f"{r}={p}%" for r, p in value["shares"].items())
    _report(doc, f"pinned {stack} to {shown} until {value['expiresAt']} (via {via})", json_out)


def _via(offline: bool) -> str:
    return actuators.OfflineConfig.via if offline else actuators.AutomationConfig.via


@app.command()
def unpin(
    stack: Stack,
    reason: Annotated[str, typer.Option("--reason", help="Why.")] = "manual unpin",
    offline: Offline = False,
    audit_log: AuditLog = None,
    cwd: Cwd = Path("."),
    json_out: JsonOut = None,
) -> None:
    """Remove the pin; the controller resumes at its next evaluation. With no pin it is an
    error (exit 2) that changes nothing: no write, no audit entry. A pin the config model
    refuses can be removed: the config is checked as it will be without it."""
    options.check_output(json_out, "--json")
    target = _target(cwd, stack, offline, audit_log)
    removed: dict[str, Any] = {}

    def update(traffic: dict[str, Any]) -> dict[str, Any] | None:
        if traffic.get("pin") is None:
            return None
        removed["pin"] = traffic.pop("pin")
        return traffic

    entry = {"action": "unpin", "stack": stack, "who": pinmod.who(), "why": reason}

    def describe(traffic: dict[str, Any]) -> dict[str, Any]:
        pin = traffic.get("pin")
        return {**entry, "what": pin.get("shares") if isinstance(pin, dict) else pin}

    done = changes.change_traffic(target, describe, update)
    old = removed.get("pin")
    doc = {"unpinned": old is not None, "stack": stack, "via": _via(offline)}
    doc["audit"] = done["id"] if done else None
    if old is None:
        raise UserError(
            "nothing is pinned (no pin to remove); nothing changed",
            source=f"Pulumi.{stack}.yaml",
            key="traffic.pin",
        )
    _report(doc, f"unpinned {stack} (was {_shown(old)}; via {_via(offline)})", json_out)


def _shown(pin: Any) -> str:
    shares = pin.get("shares") if isinstance(pin, dict) else None
    if not isinstance(shares, dict):
        return "a pin"
    return ", ".join(f"{r}={p}%" for r, p in shares.items())


def _fast(cfg: StackConfig, accelerator_arn: str | None) -> actuators.FastPath:
    """The fast path's clients: Route53 in route53 mode, else Global Accelerator with the
    endpoint groups of ``--accelerator-arn``, or (no flag) the stack's ``endpointGroupArns``."""
    if cfg.traffic.mode == "route53":
        # boto3 (~0.5 s to import) is needed only for the Route53 fast path.
        import boto3

        return actuators.FastPath(route53=boto3.client("route53"))
    return actuators.FastPath(ga=actuators.ga_client(), accelerator_arn=accelerator_arn)


def _apply_dials(
    project_dir: Path,
    stack: str,
    cfg: StackConfig,
    dials: dict[str, int],
    shares: dict[str, int],
    accelerator_arn: str | None,
) -> Any:
    """Config first, then reality: targeted `up` with the packs, else the boto3 fast path."""
    handle = actuators.open_stack(project_dir, stack)
    return actuators.apply_decision(
        project_dir,
        stack,
        dials,
        shares=shares,
        stack=handle,
        fast=_fast(cfg, accelerator_arn),
    )


def _apply_plan(
    cfg: StackConfig, shares: dict[str, int], reason: str, ttl: Duration | None, now: float
) -> tuple[dict[str, int], dict[str, Any] | None]:
    """The dials for ``shares``, and the pin when the apply is one (``--ttl``). Shares below
    the floor are refused unless the apply is a pin: a reason and a TTL."""
    policy = files.policy_from_config(cfg)
    if ttl is not None:
        if not reason.strip():
            raise UserError("a pin needs a reason (--reason TEXT with --ttl)", key="--reason")
        ttl_s = pinmod.check_ttl(ttl.seconds, ttl.text)
        pin = pinmod.build_pin(shares, reason, ttl_s, now, pinmod.who())
        return dials_for_shares(shares, policy.natural, 0), pin
    dials = dials_for_shares(shares, policy.natural, policy.floor)
    low = below_floor(dials, policy.natural, policy.floor)
    if low:
        served = ", ".join(f"{r} {load:.0f}%" for r, load in sorted(low.items()))
        raise UserError(
            f"these weights serve {served}, below the floor of {policy.floor}%"
            " (traffic.floorPercent); to go below it, make the apply a pin:"
            " --reason TEXT --ttl DURATION (at most 60m)",
            key="--weights",
        )
    return dials, None


@app.command()
def apply(
    stack: Stack,
    weights: Annotated[
        Path,
        typer.Option("--weights", help="Weights file (weights.json, as compute --json writes)."),
    ],
    reason: Annotated[
        str, typer.Option("--reason", help="Why (recorded in the audit log; required with --ttl).")
    ] = "",
    ttl: Annotated[
        Duration | None,
        duration_option("--ttl", "Make the apply a pin (1m to 60m): the only way below the floor."),
    ] = None,
    accelerator_arn: AcceleratorArn = None,
    offline: Annotated[bool, typer.Option("--offline", help="Only write the stack file.")] = False,
    audit_log: AuditLog = None,
    cwd: Cwd = Path("."),
    now: Now = None,
    json_out: JsonOut = None,
) -> None:
    """Write the weights' dials to config and apply them (targeted `up` with the project's
    policy packs, else the fast path with the stack's endpoint group ARNs). Audited. Weights
    below the floor need --reason and --ttl: the apply is then also a pin."""
    options.check_output(json_out, "--json")
    pinmod.check_now(now)
    target = _target(cwd, stack, offline, audit_log)
    cfg = load_stack(target.project_dir, stack)
    _steerable(cfg, target.project_dir, stack)
    shares = files.read_weights(weights, cfg.region_names)
    t = time.time() if now is None else now
    dials, pin = _apply_plan(cfg, shares, reason, ttl, t)
    entry: dict[str, Any] = {"action": "apply", "stack": stack, "who": pinmod.who()}
    entry |= {"why": reason.strip() or None, "what": shares, "dials": dials}
    if pin is not None:
        entry |= {"pin": pin, "expiresAt": pin["expiresAt"]}
    if offline:
        done = changes.apply_offline(target, entry, dials, pin)
        doc = {"path": "offline", "dials": dials, "configWritten": True, "applied": False}
        doc |= {"pinned": pin, "audit": done["id"]}
        _report(doc, f"wrote dials {dials} to Pulumi.{stack}.yaml (not applied)", json_out)
        return
    fast = _fast(cfg, accelerator_arn)
    done, report = changes.apply_online(target, entry, dials, shares, pin, fast)
    doc = {**report.to_dict(), "pinned": pin, "audit": done["id"]}
    _report(doc, f"applied dials {dials} via {report.path}", json_out)
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


def _source(cfg: StackConfig, source: str, prometheus_url: str | None, stack_file: Path) -> Any:
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
        if not _http_url(url):
            raise UserError(
                f"expected an http(s) URL, found {redact_url(url)!r}",
                key="--prometheus-url"
                if prometheus_url
                else "summit-platform:traffic.prometheusUrl",
            )
        try:
            return sources.PrometheusSource(url, cfg.traffic.queries)
        except ValueError as err:
            raise UserError(
                str(err), source=str(stack_file), key="summit-platform:traffic.queries"
            ) from None
    if source == "cloudwatch":
        albs: dict[str, str] = {r.name: r.endpoint_arn for r in cfg.regions if r.endpoint_arn}
        return sources.CloudWatchSource(albs)
    raise UserError(f"expected prometheus or cloudwatch, found {source!r}", key="--source")


def _http_url(url: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(url.strip())
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # "[::1" and ports out of range
        return False


def _start_state(path: Path | None, cfg: StackConfig) -> tuple[State | None, str | None]:
    """The saved state, or, when the file does not validate, the safe state (the shares the
    configured dials apply now, held) and why: the loop never trusts a bad file, nor dies of
    one."""
    try:
        return files.read_state(path), None
    except UserError as err:
        applied = files.applied_shares(cfg)
        policy = files.policy_from_config(cfg)
        shown = ", ".join(f"{r}={p}%" for r, p in sorted(applied.items()))
        why = (
            f"state file rejected ({err}); starting from a safe state: the applied shares"
            f" {shown}, held until the recovery hold lets weight return"
        )
        return safe_state(policy, applied), why


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
    """The control loop: a JSON-lines decision log, fail-static, clean stop on SIGTERM. A
    stack config that stops validating (a bad edit) holds the weights until it is fixed; a
    state file that does not validate is replaced by a safe state, and the log says so. With
    --lease-table, controllers elect one leader: only it applies, and every line says who
    wrote it (holder) and whether it led (leader)."""
    project_dir = options.project(cwd)
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    cfg = load_stack(project_dir, stack)
    _steerable(cfg, project_dir, stack, applying=not dry_run and haproxy_socket is None)
    if max_iterations is not None and max_iterations < 1:
        raise UserError(f"expected 1 or more, found {max_iterations}", key="--max-iterations")
    src = _source(cfg, source, prometheus_url, stack_file)
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
    act = _Actuation(dry_run, accelerator_arn, haproxy_socket, direct, ha.may_write)
    telemetry.holder = ha.holder
    ctl_state, rejected = _start_state(state, cfg)
    turns = loop.Loop(
        functools.partial(_evaluate_once, project_dir, stack, src), act, ha, telemetry, state
    )
    _run_until_stopped(
        turns, metrics_port, json_out, rejected, interval.seconds, max_iterations, ctl_state
    )


def _run_until_stopped(
    turns: loop.Loop,
    metrics_port: int | None,
    json_out: str,
    rejected: str | None,
    interval_s: float,
    max_iterations: int | None,
    ctl_state: State | None,
) -> None:
    """Turn the loop until SIGTERM/SIGINT or ``max_iterations``, logging each decision; the
    caller's signal handlers come back afterwards."""
    ha, telemetry = turns.ha, turns.telemetry
    stopping = loop.Stopping()
    previous = (
        signal.signal(signal.SIGTERM, stopping.stop),
        signal.signal(signal.SIGINT, stopping.stop),
    )
    try:
        if metrics_port is not None:
            telemetry.serve(metrics_port)
        with _log(json_out) as out, ha:
            if rejected:
                typer.echo(f"summit: warning: {rejected}", err=True)
                _line(
                    out,
                    {"ts": files.iso(time.time()), "action": "state-rejected", "reason": rejected},
                )
            write = functools.partial(_line, out)
            n = turns.run(write, interval_s, max_iterations, stopping, ctl_state)
            _line(out, {"ts": files.iso(time.time()), "action": "stopped", "evaluations": n})
    finally:  # an in-process caller (tests, the drill) gets its own handlers back
        telemetry.close()
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


def _telemetry(port: int | None, interval_s: float) -> ControllerMetrics:
    """The loop's metrics (served only with --metrics-port); the pod's region (its AWS_REGION)
    labels its leader gauge, "local" anywhere else."""
    if port is not None and not 0 <= port <= 65535:
        raise UserError(f"expected a port 0-65535, found {port}", key="--metrics-port")
    return ControllerMetrics("", os.environ.get("AWS_REGION", "local"), interval_s)


def _config_hold(started: float, err: Exception) -> dict[str, Any]:
    """The log line of an evaluation whose stack config does not validate: nothing decided,
    nothing applied, the weights held until the config is fixed."""
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    return {
        "ts": files.iso(started),
        "at": started,
        "action": "hold",
        "changed": False,
        "failStatic": True,
        "reason": f"stack config not usable, holding the applied weights: {first}",
        "configError": str(err),
    }


def _evaluate_once(
    project_dir: Path,
    stack: str,
    src: Any,
    ctl_state: State | None,
    started: float,
    act: _Actuation,
) -> tuple[State | None, dict[str, Any]]:
    """One turn of the loop: read config and metrics, decide, apply (unless a dry run)."""
    try:
        cfg = load_stack(project_dir, stack)  # a pin or unpin lands without a restart
    except (ConfigError, UserError) as err:
        return ctl_state, _config_hold(started, err)
    policy = files.policy_from_config(cfg)
    ctl_state = ctl_state or initial_state(policy)
    try:
        samples = src.fetch(policy.regions, started)
        error = None
    except Exception as err:  # a source outage is fail-static, not a crash
        samples, error = {}, f"{type(err).__name__}: {redact_text(str(err))}"
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
    line["apply"] = _actuate(project_dir, stack, cfg, decision, act)
    return ctl_state, line


def _actuate(
    project_dir: Path, stack: str, cfg: StackConfig, decision: Any, act: _Actuation
) -> dict[str, Any]:
    """Make a decision real; a failure is logged (``error``), never the end of the loop."""
    try:
        if act.dry_run:
            return {"path": "dry-run", "dials": decision.dials}
        if act.direct is not None:
            return act.direct.apply(decision.dials, guard=act.guard)
        if act.haproxy_socket is not None:
            return _apply_haproxy(project_dir, stack, decision.dials, act.haproxy_socket)
        report = _apply_dials(
            project_dir, stack, cfg, decision.dials, decision.shares, act.accelerator_arn
        )
        return report.to_dict()
    except Exception as err:  # the loop must outlive one failed apply; the log says why
        return {
            "path": "error",
            "dials": decision.dials,
            "consistent": False,
            "error": f"{type(err).__name__}: {redact_text(str(err))[:300]}",
        }


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
