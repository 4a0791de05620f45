"""``summit traffic``: compute, run, apply, pin, unpin and simulate adaptive regional weights.

Every command reads its inputs, calls the pure controller (:mod:`automation.traffic.controller`)
and then acts. Bad input raises :class:`UserError` (exit 2) before anything changes.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from automation.errors import CheckFailed, UserError
from automation.traffic import files
from automation.traffic import pin as pinmod
from automation.traffic.controller import Policy, evaluate, initial_state

app = typer.Typer(
    name="traffic",
    help="Adaptive regional traffic: SLO-aware weights, manual pin, simulator.",
    no_args_is_help=True,
)

ProjectDir = Annotated[Path, typer.Option("--project-dir", help="Pulumi project folder.")]
DEFAULT_AUDIT = Path(".summit/traffic-audit.jsonl")


def _emit(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, sort_keys=False) + "\n")
    sys.stdout.flush()


def _table(decision: dict[str, Any], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

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
    console = Console()
    console.print(table)
    console.print(f"{decision['action']}: {decision['reason']}")


def _seconds(text: str, key: str) -> float:
    """``"5s"``, ``"1m"`` or a bare number of seconds."""
    text = text.strip()
    if text and text[-1].isdigit():
        try:
            return float(text)
        except ValueError:
            pass
    return pinmod.parse_duration(text, key=key)


def _policy_for(project_dir: Path | None, stack: str | None, regions: list[str]) -> Policy:
    if stack:
        from stacks.config import load_stack

        pdir = project_dir or Path.cwd()
        cfg = load_stack(pdir, stack)
        return files.policy_from_config(cfg, str(pdir / f"Pulumi.{stack}.yaml"))
    if not 1 <= len(regions) <= 2:
        raise UserError(f"expected one or two regions, found {regions}", key="regions")
    return Policy(natural={r: 100.0 / len(regions) for r in regions})


@app.command()
def compute(
    metrics: Annotated[Path, typer.Argument(help="metrics.json (the seed's shape).")],
    state: Annotated[Path | None, typer.Option(help="State file kept between calls.")] = None,
    stack: Annotated[str | None, typer.Option(help="Read policy/pin from this stack.")] = None,
    project_dir: ProjectDir = Path("."),
    now: Annotated[float | None, typer.Option(help="Evaluation time (unix s).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print weights.json.")] = False,
) -> None:
    """One evaluation: metrics + saved state -> weights; the state is saved for the next call."""
    t = time.time() if now is None else now
    samples = files.read_metrics(metrics, t)
    policy = _policy_for(project_dir, stack, sorted(samples))
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
    if as_json:
        _emit(d["regions"])
    else:
        _table(d, f"traffic decision @ {files.iso(t)}")


@app.command()
def simulate(
    scenario: Annotated[str, typer.Option(help="Scenario name.")] = "induced-latency",
    region: Annotated[str, typer.Option(help="Region the fault hits.")] = "us-west-2",
    ms: Annotated[float, typer.Option(help="Injected latency (ms).")] = 300.0,
    interval: Annotated[str, typer.Option(help="Controller interval.")] = "5s",
    apply_latency: Annotated[str, typer.Option(help="Decision -> dials in effect.")] = "30s",
    seed: Annotated[int, typer.Option(help="RNG seed.")] = 7,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG plot here.")] = None,
) -> None:
    """Drive the real controller over simulated time and report steering figures."""
    from automation.traffic import simulator as sim

    if scenario not in sim.SCENARIOS:
        raise UserError(
            f"expected one of {list(sim.SCENARIOS)}, found {scenario!r}", key="--scenario"
        )
    if region not in (sim.EAST, sim.WEST):
        raise UserError(f"expected {sim.EAST} or {sim.WEST}, found {region!r}", key="--region")
    cfg = sim.SimConfig(
        interval_s=_seconds(interval, "--interval"),
        apply_latency_s=_seconds(apply_latency, "--apply-latency"),
        seed=seed,
    )
    result = sim.run(sim.scenario(scenario, region=region, ms=ms), cfg)
    if plot is not None:
        sim.plot(result, str(plot))
    if as_json:
        _emit(result.figures)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"simulate {scenario}: {result.scenario.description}")
    table.add_column("figure")
    table.add_column("value")
    for k, v in result.figures.items():
        if k not in ("scenario", "description"):
            table.add_row(k, json.dumps(v))
    Console().print(table)


def _resolve_pin(values: list[str], stack: str, project_dir: Path):
    from stacks.config import load_stack

    cfg = load_stack(project_dir, stack)
    return cfg, pinmod.parse_shares(values, cfg.region_names)


def _write_traffic(project_dir: Path, stack: str, traffic: dict[str, Any], offline: bool) -> str:
    from automation.traffic import actuators

    if offline:
        actuators.OfflineConfig(project_dir, stack).set_traffic(traffic)
        return "stack file"
    handle = actuators.open_stack(project_dir, stack)
    actuators.AutomationConfig(handle).set_traffic(traffic)
    return "Automation API"


@app.command(name="pin")
def pin_cmd(
    shares: Annotated[list[str], typer.Argument(help="REGION=PERCENT for every region.")],
    stack: Annotated[str, typer.Option(help="Stack name.")],
    reason: Annotated[str, typer.Option(help="Why (required).")] = "",
    ttl: Annotated[str, typer.Option(help="Expiry, at most 60m.")] = "60m",
    offline: Annotated[bool, typer.Option(help="Write Pulumi.<stack>.yaml directly.")] = False,
    audit_log: Annotated[Path, typer.Option(help="Audit log (JSON lines).")] = DEFAULT_AUDIT,
    project_dir: ProjectDir = Path("."),
    now: Annotated[float | None, typer.Option(hidden=True)] = None,
) -> None:
    """Pin the shares (percent of traffic) with a reason until the TTL expires."""
    from automation.traffic.actuators import traffic_with_defaults

    if not reason.strip():
        raise UserError("a reason is required (--reason TEXT)", key="--reason")
    ttl_s = pinmod.parse_ttl(ttl)
    _cfg, parsed = _resolve_pin(shares, stack, project_dir)
    t = time.time() if now is None else now
    by = pinmod.who()
    value = pinmod.build_pin(parsed, reason, ttl_s, t, by)
    traffic = traffic_with_defaults(project_dir, stack)
    traffic["pin"] = value
    via = _write_traffic(project_dir, stack, traffic, offline)
    pinmod.audit(
        audit_log,
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
    _emit({"pinned": value, "stack": stack, "via": via})


@app.command()
def unpin(
    stack: Annotated[str, typer.Option(help="Stack name.")],
    reason: Annotated[str, typer.Option(help="Why.")] = "manual unpin",
    offline: Annotated[bool, typer.Option(help="Write Pulumi.<stack>.yaml directly.")] = False,
    audit_log: Annotated[Path, typer.Option(help="Audit log (JSON lines).")] = DEFAULT_AUDIT,
    project_dir: ProjectDir = Path("."),
) -> None:
    """Remove the pin; the controller resumes at its next evaluation."""
    from automation.traffic.actuators import traffic_with_defaults
    from stacks.config import load_stack

    load_stack(project_dir, stack)
    traffic = traffic_with_defaults(project_dir, stack)
    old = traffic.pop("pin", None)
    via = _write_traffic(project_dir, stack, traffic, offline)
    pinmod.audit(
        audit_log,
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
    _emit({"unpinned": old is not None, "stack": stack, "via": via})


def _fast_path_clients(cfg: Any, accelerator_arn: str | None):
    from automation.traffic import actuators

    if cfg.traffic.mode == "route53":
        import boto3

        return None, boto3.client("route53"), None
    if not accelerator_arn:
        return None, None, None
    ga = actuators.ga_client()
    return ga, None, actuators.discover_endpoint_groups(ga, accelerator_arn)


@app.command()
def apply(
    stack: Annotated[str, typer.Option(help="Stack name.")],
    weights: Annotated[Path, typer.Option(help="weights.json (seed shape).")],
    accelerator_arn: Annotated[
        str | None, typer.Option(help="Enables the boto3 fast path when `up` cannot run.")
    ] = None,
    offline: Annotated[bool, typer.Option(help="Only write the stack file.")] = False,
    project_dir: ProjectDir = Path("."),
) -> None:
    """Write the weights' dials to config and apply them (targeted `up`, else fast path)."""
    from automation.traffic import actuators
    from automation.traffic.controller import dials_for_shares
    from stacks.config import load_stack

    cfg = load_stack(project_dir, stack)
    shares = files.read_weights(weights, cfg.region_names)
    policy = files.policy_from_config(cfg, str(project_dir / f"Pulumi.{stack}.yaml"))
    dials = dials_for_shares(shares, policy.natural, 0)
    if offline:
        actuators.OfflineConfig(project_dir, stack).set_dials(dials)
        _emit({"path": "offline", "dials": dials, "configWritten": True, "applied": False})
        return
    handle = actuators.open_stack(project_dir, stack)
    ga, r53, groups = _fast_path_clients(cfg, accelerator_arn)
    report = actuators.apply_decision(
        project_dir,
        stack,
        dials,
        shares=shares,
        stack=handle,
        ga=ga,
        route53=r53,
        endpoint_groups=groups,
    )
    _emit(report.to_dict())
    if not report.consistent:
        raise CheckFailed("; ".join(report.messages))


def _apply_haproxy(project_dir: Path, stack: str, dials: dict[str, int], sock: Path) -> dict:
    """The HAProxy actuator (``--haproxy-socket``): config first, then server weights."""
    from automation.traffic import haproxy

    admin = haproxy.HAProxyAdmin(sock)
    return haproxy.apply_decision(project_dir, stack, dials, admin=admin).to_dict()


@app.command()
def run(
    stack: Annotated[str, typer.Option(help="Stack name.")],
    source: Annotated[str, typer.Option(help="prometheus | cloudwatch")] = "prometheus",
    interval: Annotated[str, typer.Option(help="Evaluation interval.")] = "5s",
    dry_run: Annotated[bool, typer.Option(help="Decide and log, never apply.")] = False,
    prometheus_url: Annotated[
        str | None, typer.Option(help="Overrides traffic.prometheusUrl.")
    ] = None,
    state: Annotated[Path | None, typer.Option(help="State file (survives restarts).")] = None,
    max_iterations: Annotated[int | None, typer.Option(help="Stop after N (tests).")] = None,
    accelerator_arn: Annotated[str | None, typer.Option(help="Fast-path accelerator.")] = None,
    haproxy_socket: Annotated[
        Path | None,
        typer.Option(
            help="Apply as HAProxy server weights through this admin socket (one server per "
            "region in backend `regions`) instead of Global Accelerator; the drill lab uses it."
        ),
    ] = None,
    project_dir: ProjectDir = Path("."),
) -> None:
    """The control loop: a JSON-lines decision log, fail-static, clean stop on SIGTERM."""
    from automation.traffic import sources
    from stacks.config import load_stack

    period = _seconds(interval, "--interval")
    if period <= 0:
        raise UserError("expected a positive interval", key="--interval")
    cfg = load_stack(project_dir, stack)
    if source == "prometheus":
        url = prometheus_url or cfg.traffic.prometheus_url
        if not url:
            raise UserError(
                "no Prometheus URL: set summit-platform:traffic.prometheusUrl or --prometheus-url",
                key="--prometheus-url",
            )
        src: Any = sources.PrometheusSource(url, cfg.traffic.queries)
    elif source == "cloudwatch":
        albs: dict[str, str] = {r.name: r.endpoint_arn for r in cfg.regions if r.endpoint_arn}
        src = sources.CloudWatchSource(albs)
    else:
        raise UserError(f"expected prometheus or cloudwatch, found {source!r}", key="--source")

    stopping = {"flag": False}

    def stop(signum, _frame):  # finish the current evaluation, then exit 0
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ctl_state = files.read_state(state)
    n = 0
    while not stopping["flag"]:
        started = time.time()
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
        if decision.dials != current and not dry_run and haproxy_socket is not None:
            line["apply"] = _apply_haproxy(project_dir, stack, decision.dials, haproxy_socket)
        elif decision.dials != current and not dry_run:
            from automation.traffic import actuators

            handle = actuators.open_stack(project_dir, stack)
            ga, r53, groups = _fast_path_clients(cfg, accelerator_arn)
            report = actuators.apply_decision(
                project_dir,
                stack,
                decision.dials,
                shares=decision.shares,
                stack=handle,
                ga=ga,
                route53=r53,
                endpoint_groups=groups,
            )
            line["apply"] = report.to_dict()
        elif decision.dials != current:
            line["apply"] = {"path": "dry-run", "dials": decision.dials}
        _emit(line)
        if state is not None:
            files.write_json_atomic(state, ctl_state.to_dict())
        n += 1
        if max_iterations is not None and n >= max_iterations:
            break
        deadline = started + period
        while not stopping["flag"] and time.time() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.time())))
    _emit({"ts": files.iso(time.time()), "action": "stopped", "evaluations": n})


@app.command()
def drill(
    scenario: Annotated[
        str,
        typer.Option(
            help="induced-latency, error-burst, recovery, metrics-outage or pin "
            "(docs/traffic.md, Game day)."
        ),
    ] = "induced-latency",
    induce: Annotated[
        str | None,
        typer.Option(
            help="The fault instead of the scenario's: REGION:latency=300ms, REGION:errors=5% "
            "or both (latency=300ms,errors=2%)."
        ),
    ] = None,
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write the evidence JSON to PATH, or - for stdout.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the PNG timeline, the evidence and the lab's logs."),
    ] = None,
    stack: Annotated[
        str, typer.Option("-s", "--stack", help="Stack whose rules and thresholds the lab uses.")
    ] = "drill",
    cwd: Annotated[Path, typer.Option("-C", "--cwd", help="Pulumi project folder.")] = Path("."),
    timeout: Annotated[str, typer.Option(help="Hard limit for the whole run (e.g. 15m).")] = "15m",
) -> None:
    """Game day on loopback: two regions behind HAProxy, Prometheus, Alertmanager, Locust and
    the controller, all real processes; induce a fault and measure the steer end to end.

    Every process is stopped when the command ends, however it ends. Exit 1 when a check fails.
    """
    from automation.traffic.drill import command

    report = command.drill(
        project_dir=cwd,
        stack=stack,
        scenario=scenario,
        induce=induce,
        json_out=json_out,
        out=out,
        timeout=timeout,
    )
    if json_out != "-":
        command.summary_table(report)
