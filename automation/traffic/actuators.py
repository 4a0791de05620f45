"""Actuators: make the controller's decision real, keeping config the source of truth.

1. :class:`OfflineConfig` and :class:`AutomationConfig` - the stack config writes: the stack
   file edited in place keeping its formatting (lock, temp file, fsync, rename), or whole
   values set through the Automation API in one ``pulumi config set-all --json`` call and read
   back (a failed write leaves the previous values and says so).
2. :func:`apply_decision` - the normal path: write each region's dial to the stack config
   (``summit-platform:regions[i].dial``), then run ``up`` targeted at the Global Accelerator
   endpoint groups (Route53 records in fallback mode) with the project's policy packs and
   their stack configs (:func:`policy_pack_args`); retries with backoff; its
   :class:`ApplyReport` always says whether config and reality agree.
3. :func:`ga_fast_path` - when the stack is locked or ``up`` fails (never when a policy
   refused): boto3 ``update_endpoint_group`` per region (the GA API lives in us-west-2), the
   endpoint group ARNs from the stack's ``endpointGroupArns`` output
   (:func:`endpoint_groups_from_outputs`) unless given, then poll ``describe_accelerator``
   until ``Status`` is ``DEPLOYED``. Config already holds the same dials, so the next ``up``
   is a no-op.
4. :func:`route53_set_weights` - fallback mode: UPSERT the weighted records' ``Weight``.

Config is written before reality changes: if AWS then fails, config is ahead of reality and the
report says so (``consistent=False``); the next successful ``up`` converges. The Automation API
is reached through the shared layer ``summit_platform.automation.pulumi_ops`` (error mapping, stand-in CLI).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from summit_platform.automation import pulumi_ops, safe_io
from summit_platform.automation.errors import UserError
from summit_platform.automation.stack_files import load_stack, project_defaults, read_stack_file
from summit_platform.components.render import spill
from summit_platform.components.render.redact import redact_text, short
from summit_platform.stacks.config import GA_CONTROL_REGION, PROJECT, StackConfig
from summit_platform.stacks.outputs import ENDPOINT_GROUP_ARNS

# --------------------------------------------------------------------------- stack config writes

TRAFFIC_KEY = f"{PROJECT}:traffic"
REGIONS_KEY = f"{PROJECT}:regions"


def snapshot(traffic: Mapping[str, Any] | None, regions: Any) -> dict[str, Any]:
    """What the audit log records of a stack's config: the pin and each region's dial."""
    dials: dict[str, Any] = {}
    for item in regions if isinstance(regions, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            dials[item["name"]] = item.get("dial", 100)
    pin = (traffic or {}).get("pin") if isinstance(traffic, Mapping) else None
    return {"pin": _plain(pin), "dials": dials}


def _plain(value: Any) -> Any:
    """A round-trip YAML value as plain JSON types (times as the ISO strings they were)."""
    return json.loads(json.dumps(value, default=str))


class OfflineConfig:
    """Edits ``Pulumi.<stack>.yaml`` directly, as ``pulumi config set --path`` would, keeping
    comments, layout and the other keys (:func:`summit_platform.automation.safe_io.update_yaml`: lock, temp
    file, fsync, rename). ``lock=False`` when the caller already holds the file's lock.
    Used by ``--offline`` and when no engine is reachable."""

    via = "stack file"

    def __init__(self, project_dir: Path, stack: str, *, lock: bool = True):
        self.project_dir = Path(project_dir)
        self.stack = stack
        self.path = self.project_dir / f"Pulumi.{stack}.yaml"
        self.lock = lock

    def _edit(self, change: Callable[[Any], None]) -> None:
        def edit(doc: Any) -> None:
            if not isinstance(doc, Mapping) or not isinstance(doc.get("config"), Mapping):
                raise UserError("expected a mapping with a `config:` key", source=str(self.path))
            change(doc["config"])

        safe_io.update_yaml(self.path, edit, lock=self.lock)

    def set_dials(self, dials: Mapping[str, int], order: list[str] | None = None) -> None:
        """Each region's ``dial`` (``order`` is the Automation API's; unused here)."""
        del order

        def change(cfg: Any) -> None:
            for item in cfg[REGIONS_KEY]:
                if item["name"] in dials:
                    item["dial"] = int(dials[item["name"]])

        self._edit(change)

    def set_traffic(
        self, traffic: Mapping[str, Any], dials: Mapping[str, int] | None = None
    ) -> None:
        """Replace ``summit-platform:traffic`` (a stack value replaces the default whole), and
        the regions' dials when given, in one write."""

        def change(cfg: Any) -> None:
            current = cfg.get(TRAFFIC_KEY)
            if current is None:
                cfg[TRAFFIC_KEY] = dict(traffic)
            else:
                for k in list(current):
                    if k not in traffic:
                        del current[k]
                for k, v in traffic.items():
                    if current.get(k) != v:
                        current[k] = v
            new_dials = dict(dials or {})
            for item in cfg[REGIONS_KEY] if new_dials else []:
                if item["name"] in new_dials:
                    item["dial"] = int(new_dials[item["name"]])

        self._edit(change)

    def snapshot(self) -> dict[str, Any]:
        """The pin and the dials the stack file holds now."""
        raw = read_stack_file(self.project_dir, self.stack)
        return snapshot(raw.get(TRAFFIC_KEY), raw.get(REGIONS_KEY))

    def read_bytes(self) -> bytes:
        """The stack file as it is (to undo a change byte for byte)."""
        return safe_io.read_bytes(self.path)

    def restore(self, data: bytes) -> None:
        """Put back what :meth:`read_bytes` returned."""
        safe_io.atomic_write(self.path, data, lock=self.lock)


class AutomationConfig:
    """The same writes through the Automation API: each write sets whole values in one
    ``pulumi config set-all --json`` call and reads them back. A write that fails leaves the
    previous values in place (the CLI writes the stack file once, at the end) and the error
    says what the config holds now."""

    via = "Automation API"

    def __init__(self, stack: Any):
        self.stack = stack

    def read(self, key: str) -> Any:
        """The whole value of ``key`` (objects and lists decoded), ``None`` when unset."""
        value = pulumi_ops.get_config(self.stack, key)
        if value is None:
            return None
        try:
            return json.loads(value.value)
        except json.JSONDecodeError:
            return value.value

    def write(self, values: Mapping[str, Any]) -> None:
        """Set ``values`` (key -> whole value) in one call, then read each back."""
        before = {k: self.read(k) for k in values}
        try:
            pulumi_ops.set_all_config_json(self.stack, values)
        except (pulumi_ops.PulumiCommandFailed, UserError) as err:
            now = {k: self.read(k) for k in values}
            held = "unchanged" if now == before else f"now {json.dumps(now)[:300]}"
            said = " ".join((getattr(err, "stderr_tail", "") or str(err)).split())
            raise pulumi_ops.PulumiCommandFailed(
                f"could not write {', '.join(values)} (the Pulumi CLI said: "
                f"{redact_text(said)[:300]}); the stack config is {held}",
                stack=self.stack.name,
                action="config set-all",
            ) from None
        seen = {k: self.read(k) for k in values}
        if seen != {k: _plain(v) for k, v in values.items()}:
            raise pulumi_ops.PulumiCommandFailed(
                f"wrote {', '.join(values)} but the stack config reads back "
                f"{json.dumps(seen)[:300]}",
                stack=self.stack.name,
                action="config get",
            )

    def _regions_with(self, dials: Mapping[str, int]) -> list[Any]:
        regions = self.read(REGIONS_KEY)
        if not isinstance(regions, list):
            raise UserError("expected a list of regions", key=REGIONS_KEY)
        return [
            {**r, "dial": int(dials[r["name"]])} if r.get("name") in dials else r for r in regions
        ]

    def set_dials(self, dials: Mapping[str, int], order: list[str] | None = None) -> None:
        """Each region's dial: the whole ``regions`` value with the new dials, one call."""
        del order
        self.write({REGIONS_KEY: self._regions_with(dials)})

    def set_traffic(
        self, traffic: Mapping[str, Any], dials: Mapping[str, int] | None = None
    ) -> None:
        """The whole new ``traffic`` value (and the dials, when given) in one call."""
        values: dict[str, Any] = {TRAFFIC_KEY: dict(traffic)}
        if dials:
            values[REGIONS_KEY] = self._regions_with(dials)
        self.write(values)

    def snapshot(self) -> dict[str, Any]:
        """The pin and the dials the stack config holds now (read through the CLI)."""
        return snapshot(self.read(TRAFFIC_KEY), self.read(REGIONS_KEY))


def traffic_value(raw: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The ``traffic`` value of a stack file's ``config`` map ``raw`` as the file would hold
    it after a write: its own value, or Pulumi.yaml's default (a stack value replaces the
    default whole)."""
    value = raw.get(TRAFFIC_KEY, raw.get("traffic", defaults.get("traffic")))
    return _plain(value or {})


def traffic_with_defaults(project_dir: Path, stack: str) -> dict[str, Any]:
    """:func:`traffic_value` of ``Pulumi.<stack>.yaml``."""
    _, defaults = project_defaults(project_dir)
    return traffic_value(read_stack_file(project_dir, stack), defaults)


# --------------------------------------------------------------------------- Automation API


def open_stack(project_dir: Path, stack: str, command: Any = None) -> Any:
    """Select the local project's stack through the shared Automation API layer."""
    return pulumi_ops.open_stack(project_dir, stack, command=command)


def target_urns(stack_name: str, cfg: StackConfig) -> list[str]:
    """The composition's URNs of what a dial change touches (see
    :func:`summit_platform.stacks.traffic.traffic_target_urns`)."""
    # Deferred: the composition imports the components and pulumi_aws (about 0.7 s), which
    # only a dial change through the engine needs.
    from summit_platform.stacks.traffic import traffic_target_urns

    return traffic_target_urns(cfg, stack_name)


_EG_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:globalaccelerator::[0-9]{12}:accelerator/[^/\s]+"
    r"/listener/[^/\s]+/endpoint-group/[^/\s]+$"
)


def endpoint_groups_from_outputs(stack: Any, regions: list[str]) -> dict[str, str]:
    """Region -> endpoint group ARN from the stack output ``endpointGroupArns`` (what the
    program exports), checked: one Global Accelerator endpoint group ARN per region."""
    value = pulumi_ops.outputs(stack).get(ENDPOINT_GROUP_ARNS)
    if not isinstance(value, Mapping):
        raise UserError(
            f"expected a map of region -> endpoint group ARN, found {short(value)}",
            key=f"stack output {ENDPOINT_GROUP_ARNS}",
        )
    out: dict[str, str] = {}
    for region in regions:
        arn = value.get(region)
        if not isinstance(arn, str) or not _EG_ARN.match(arn):
            raise UserError(
                f"expected an endpoint group ARN for {region}, found {short(arn)}",
                key=f"stack output {ENDPOINT_GROUP_ARNS}",
            )
        out[region] = arn
    return out


@contextlib.contextmanager
def policy_pack_args(project_dir: Path, stack: str) -> Iterator[tuple[list[Path], list[Path]]]:
    """The project's policy packs and their configs for ``stack``, as ``pulumi up`` takes them
    (``--policy-pack DIR --policy-pack-config FILE``, paired by position).

    The packs are the plan runner's (every ``policypacks/*`` with a PulumiPolicy.yaml), each
    with its ``config/<stack>.json``. The CLI wants a config for every pack or for none, so a
    pack without one gets an empty config (``{}``: every policy at its defaults), written to a
    temporary folder that lives as long as the ``with`` block."""
    # The analyzer module loads grpc and Pulumi's protobufs (~0.6 s); only `up` needs packs.
    from summit_platform.automation.plan.analyzer import discover_packs

    packs = discover_packs(Path(project_dir))
    with tempfile.TemporaryDirectory(prefix="summit-pack-config-") as tmp:
        configs = []
        for pack in packs:
            cfg = pack / "config" / f"{stack}.json"
            if not cfg.is_file():
                cfg = Path(tmp) / f"{pack.name}.json"
                cfg.write_text("{}\n", encoding="utf-8")
            configs.append(cfg)
        yield packs, configs


@dataclass
class ApplyReport:
    """What an apply did; ``consistent`` is False whenever config and reality may disagree."""

    path: str
    dials: dict[str, int]
    config_written: bool = False
    applied: bool = False
    consistent: bool = False
    attempts: int = 0
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "dials": self.dials,
            "configWritten": self.config_written,
            "applied": self.applied,
            "consistent": self.consistent,
            "attempts": self.attempts,
            "messages": self.messages,
        }


# --------------------------------------------------------------------------- boto3 fast path


def accelerator_arn_of(endpoint_group_arn: str) -> str:
    """``arn:...:accelerator/<id>/listener/<id>/endpoint-group/<id>`` -> the accelerator ARN."""
    head, sep, _ = endpoint_group_arn.partition("/listener/")
    if not sep:
        raise UserError(
            f"expected an endpoint group ARN, found {endpoint_group_arn!r}", key="endpointGroupArn"
        )
    return head


def discover_endpoint_groups(client: Any, accelerator_arn: str) -> dict[str, str]:
    """Region -> endpoint group ARN for every listener of the accelerator."""
    out: dict[str, str] = {}
    for page in client.get_paginator("list_listeners").paginate(AcceleratorArn=accelerator_arn):
        for listener in page["Listeners"]:
            pages = client.get_paginator("list_endpoint_groups").paginate(
                ListenerArn=listener["ListenerArn"]
            )
            for eg_page in pages:
                for eg in eg_page["EndpointGroups"]:
                    out.setdefault(eg["EndpointGroupRegion"], eg["EndpointGroupArn"])
    return out


def wait_deployed(
    client: Any,
    accelerator_arn: str,
    *,
    timeout_s: float = 300,
    poll_s: float = 5,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Poll DescribeAccelerator until ``Status`` is ``DEPLOYED``; False on timeout."""
    deadline = clock() + timeout_s
    while True:
        status = client.describe_accelerator(AcceleratorArn=accelerator_arn)["Accelerator"][
            "Status"
        ]
        if status == "DEPLOYED":
            return True
        if clock() >= deadline:
            return False
        sleep(poll_s)


def ga_fast_path(
    client: Any,
    endpoint_groups: Mapping[str, str],
    dials: Mapping[str, int],
    *,
    timeout_s: float = 300,
    poll_s: float = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, float]:
    """Set each region's TrafficDialPercentage and wait for DEPLOYED.

    Returns the dials GA reported back. Raises ``TimeoutError`` when the accelerator is
    still IN_PROGRESS after ``timeout_s``."""
    applied: dict[str, float] = {}
    accelerators = set()
    for region in sorted(dials):
        arn = endpoint_groups[region]
        resp = client.update_endpoint_group(
            EndpointGroupArn=arn, TrafficDialPercentage=float(dials[region])
        )
        applied[region] = float(resp["EndpointGroup"]["TrafficDialPercentage"])
        accelerators.add(accelerator_arn_of(arn))
    for acc in sorted(accelerators):
        if not wait_deployed(client, acc, timeout_s=timeout_s, poll_s=poll_s, sleep=sleep):
            raise TimeoutError(f"{acc} not DEPLOYED after {timeout_s:g}s")
    return applied


def ga_client(session: Any = None) -> Any:
    """A Global Accelerator client in its control region (us-west-2)."""
    import boto3  # deferred: boto3 costs about 0.35 s to import; only the fast path uses it

    return (session or boto3).client("globalaccelerator", region_name=GA_CONTROL_REGION)


# --------------------------------------------------------------------------- Route53


def route53_set_weights(
    client: Any, zone_id: str, name: str, shares: Mapping[str, int]
) -> dict[str, int]:
    """UPSERT the ``Weight`` of the weighted records named ``name`` whose SetIdentifier is a
    region, keeping the rest of each record. Returns region -> weight written."""
    fqdn = name.rstrip(".") + "."
    records = client.list_resource_record_sets(
        HostedZoneId=zone_id, StartRecordName=fqdn, MaxItems="100"
    )["ResourceRecordSets"]
    changes, written = [], {}
    for rec in records:
        if rec["Name"] != fqdn or rec.get("SetIdentifier") not in shares:
            continue
        region = rec["SetIdentifier"]
        if "Weight" not in rec:  # latency records: a Weight would change their routing policy
            raise UserError(
                f"record {fqdn} {region} is not weighted (the stack routes by latency unless"
                " traffic.controller.enabled); refusing to change it",
                key="traffic.controller.enabled",
            )
        new = dict(rec)
        new["Weight"] = int(shares[region])
        changes.append({"Action": "UPSERT", "ResourceRecordSet": new})
        written[region] = int(shares[region])
    missing = sorted(set(shares) - set(written))
    if missing:
        raise UserError(
            f"no weighted record {fqdn} with SetIdentifier {missing} in zone {zone_id}",
            key="traffic.dnsName",
        )
    client.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Comment": "summit traffic", "Changes": changes},
    )
    return written


# --------------------------------------------------------------------------- orchestration


def _retry(fn: Callable[[], Any], attempts: int, base_s: float, sleep: Callable[[float], None]):
    """Call ``fn`` with exponential backoff; returns (result, tries); re-raises the last error.

    ConcurrentUpdateError is not retried: a locked stack is the fast path's job."""
    last: Exception | None = None
    for i in range(attempts):
        try:
            return fn(), i + 1
        except Exception as err:
            last = err
            locked = type(err).__name__ in ("ConcurrentUpdateError", "StackLocked")
            if locked or i == attempts - 1:
                break
            sleep(base_s * 2**i)
    assert last is not None
    raise last


@dataclass(frozen=True)
class FastPath:
    """What the fast path may use when ``up`` cannot run: a Global Accelerator client and the
    endpoint groups (given, or found from ``accelerator_arn``, else read from the stack's
    ``endpointGroupArns`` output), or a Route53 client in route53 mode."""

    ga: Any = None
    route53: Any = None
    endpoint_groups: Mapping[str, str] | None = None
    accelerator_arn: str | None = None


def _apply_with_up(
    stack: Any,
    stack_name: str,
    cfg: StackConfig,
    report: ApplyReport,
    retry: Callable[[Callable[[], Any]], tuple[Any, int]],
    packs: tuple[list[Path], list[Path]],
    on_output: Callable[[str], None] | None,
) -> bool:
    """``up`` targeted at what a dial change touches, with the project's policy packs; True
    when it succeeded. A policy violation raises :class:`pulumi_ops.PolicyViolations`: the
    engine refused the change, so nothing may go around it."""
    try:
        targets = target_urns(stack_name, cfg)
        _, report.attempts = retry(
            lambda: pulumi_ops.up(
                stack,
                targets=targets,
                policy_packs=packs[0],
                policy_pack_configs=packs[1],
                on_output=on_output,
            )
        )
    except pulumi_ops.PolicyViolations:
        raise
    except Exception as err:
        report.messages.append(f"up failed ({type(err).__name__}): {str(err)[:300]}")
        return False
    report.applied = report.consistent = True
    report.messages.append(
        f"up targeted at {len(targets)} resources with {len(packs[0])} policy packs"
    )
    return True


def _endpoint_groups(fast: FastPath, stack: Any, regions: list[str]) -> Mapping[str, str]:
    if fast.endpoint_groups:
        return fast.endpoint_groups
    if fast.accelerator_arn:
        return discover_endpoint_groups(fast.ga, fast.accelerator_arn)
    if stack is None:
        raise RuntimeError("no endpoint group ARNs: no stack outputs and no --accelerator-arn")
    return endpoint_groups_from_outputs(stack, regions)


def _fast_path(
    cfg: StackConfig,
    report: ApplyReport,
    fast: FastPath,
    stack: Any,
    shares: Mapping[str, int] | None,
    retry: Callable[[Callable[[], Any]], tuple[Any, int]],
    sleep: Callable[[float], None],
) -> int:
    """Change AWS directly; returns the tries. Raises when it cannot or when AWS refuses."""
    if cfg.traffic.mode == "route53":
        route53 = fast.route53
        if route53 is None:
            raise RuntimeError("no Route53 client for the fast path")
        # The weights the program plans for these dials (one meaning of a dial in both modes).
        weights = spill.route53_weights(
            report.dials, {r.name: r.natural_share for r in cfg.regions}
        )
        zone, name = cfg.traffic.dns_zone_id or "", cfg.traffic.dns_name or ""
        _, tries = retry(lambda: route53_set_weights(route53, zone, name, weights))
        return tries
    if fast.ga is None:
        raise RuntimeError("no Global Accelerator client for the fast path")
    groups = _endpoint_groups(fast, stack, cfg.region_names)
    _, tries = retry(lambda: ga_fast_path(fast.ga, groups, report.dials, sleep=sleep))
    return tries


def apply_decision(
    project_dir: Path,
    stack_name: str,
    dials: Mapping[str, int],
    *,
    shares: Mapping[str, int] | None = None,
    stack: Any = None,
    fast: FastPath | None = None,
    write: Callable[[], None] | None = None,
    attempts: int = 3,
    backoff_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    on_output: Callable[[str], None] | None = None,
) -> ApplyReport:
    """Write the dials to config and make them real; never silently leave a disagreement.

    Config first (``write``, default: the dials through the Automation API when ``stack`` is
    open, else straight into the stack file), then ``up`` targeted at the endpoint groups
    (records in route53 mode) with the project's policy packs and their stack configs. On a
    locked stack or a failed ``up`` it falls back to the boto3 fast path (``fast``); the
    endpoint group ARNs come from the stack's outputs unless given. A policy violation is
    final: the fast path never goes around the packs."""
    cfg = load_stack(project_dir, stack_name)
    order = cfg.region_names
    fast = fast or FastPath()
    report = ApplyReport(path="up", dials={r: int(dials[r]) for r in order})
    try:
        if write is not None:
            write()
        elif stack is not None:
            AutomationConfig(stack).set_dials(report.dials, order)
        else:
            OfflineConfig(project_dir, stack_name).set_dials(report.dials)
        report.config_written = True
    except Exception as err:
        report.messages.append(f"could not write dials to config: {err}")
        return report

    retry = functools.partial(_retry, attempts=attempts, base_s=backoff_s, sleep=sleep)
    if stack is not None:
        try:
            with policy_pack_args(project_dir, stack_name) as packs:
                if _apply_with_up(stack, stack_name, cfg, report, retry, packs, on_output):
                    return report
        except pulumi_ops.PolicyViolations as err:
            report.messages.append(
                f"NOT APPLIED: the policy packs refused the dials {report.dials} ({err}); "
                "config now says these dials but AWS was not changed"
            )
            return report

    report.path = "fast-path"
    try:
        tries = _fast_path(cfg, report, fast, stack, shares, retry, sleep)
    except Exception as err:
        report.messages.append(
            f"NOT APPLIED: config now says dials {report.dials} but AWS was not changed "
            f"({type(err).__name__}: {str(err)[:300]}); run `pulumi up` or retry"
        )
        return report
    report.attempts += tries
    report.applied = True
    report.consistent = True
    report.messages.append("fast path applied; config holds the same values (next up: no-op)")
    return report
