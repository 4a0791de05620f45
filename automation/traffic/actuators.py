"""Actuators: make the controller's decision real, keeping config the source of truth.

1. :class:`AutomationActuator` - the normal path: write each region's dial to the stack config
   (``summit-platform:regions[i].dial``) through the Automation API and run ``up`` targeted at
   the Global Accelerator endpoint groups (and Route53 records in fallback mode).
2. :func:`ga_fast_path` - when the stack is locked or ``up`` fails: boto3
   ``update_endpoint_group`` per changed region (the GA API lives in us-west-2), then poll
   ``describe_accelerator`` until ``Status`` is ``DEPLOYED``. The caller writes the same dials
   to config first, so the next ``up`` is a no-op.
3. :func:`route53_set_weights` - fallback mode: UPSERT the weighted records' ``Weight``.
4. :func:`apply_decision` - the orchestration, with retries and backoff; its
   :class:`ApplyReport` always says whether config and reality agree.

Config is written before reality changes: if AWS then fails, config is ahead of reality and the
report says so (``consistent=False``); the next successful ``up`` converges. The Automation API
is reached through the shared layer ``automation.pulumi_ops`` (error mapping, stand-in CLI).
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from automation import pulumi_ops
from automation.errors import UserError
from automation.stack_files import load_stack, project_defaults, read_stack_file
from components.render import spill
from stacks.config import GA_CONTROL_REGION, PROJECT, StackConfig
from stacks.outputs import ENDPOINT_GROUP_ARNS

# --------------------------------------------------------------------------- stack config writes


def _round_trip_yaml() -> YAML:
    y = YAML()  # round-trip mode keeps comments, key order and flow styles
    y.preserve_quotes = True
    y.width = 4096
    return y


class OfflineConfig:
    """Edits ``Pulumi.<stack>.yaml`` directly, as ``pulumi config set --path`` would, keeping
    comments and the other keys. Used by ``--offline`` and when no engine is reachable."""

    def __init__(self, project_dir: Path, stack: str):
        self.project_dir = Path(project_dir)
        self.stack = stack
        self.path = self.project_dir / f"Pulumi.{stack}.yaml"

    def _edit(self, change: Callable[[Any], None]) -> None:
        y = _round_trip_yaml()
        doc = y.load(self.path.read_text())
        change(doc["config"])
        tmp = self.path.with_suffix(".yaml.tmp")
        with tmp.open("w") as fh:
            y.dump(doc, fh)
        tmp.replace(self.path)

    def set_dials(self, dials: Mapping[str, int]) -> None:
        def change(cfg: Any) -> None:
            regions = cfg[f"{PROJECT}:regions"]
            for item in regions:
                if item["name"] in dials:
                    item["dial"] = int(dials[item["name"]])

        self._edit(change)

    def set_traffic(self, traffic: Mapping[str, Any]) -> None:
        """Replace ``summit-platform:traffic`` (a stack value replaces the default whole)."""

        def change(cfg: Any) -> None:
            key = f"{PROJECT}:traffic"
            current = cfg.get(key)
            if current is None:
                cfg[key] = dict(traffic)
                return
            for k in list(current):
                if k not in traffic:
                    del current[k]
            for k, v in traffic.items():
                current[k] = v

        self._edit(change)


class AutomationConfig:
    """The same writes through the Automation API (``pulumi config set-all --path``)."""

    def __init__(self, stack: Any):
        self.stack = stack

    def set_dials(self, dials: Mapping[str, int], order: list[str]) -> None:
        values = {
            f"{PROJECT}:regions[{i}].dial": str(int(dials[r]))
            for i, r in enumerate(order)
            if r in dials
        }
        pulumi_ops.set_all_config(self.stack, values, path=True)

    def set_traffic(self, traffic: Mapping[str, Any]) -> None:
        # Setting the whole object as JSON would store a string; --path writes the leaves.
        with contextlib.suppress(Exception):  # not in the stack file yet
            pulumi_ops.remove_config(self.stack, f"{PROJECT}:traffic", path=True)
        leaves = dict(_leaves(f"{PROJECT}:traffic", traffic))
        values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in leaves.items()}
        pulumi_ops.set_all_config(self.stack, values, path=True)


def _leaves(prefix: str, value: Any):
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            seg = f'["{k}"]' if not str(k).isidentifier() else f".{k}"
            yield from _leaves(f"{prefix}{seg}", v)
    else:
        yield prefix, value


def traffic_with_defaults(project_dir: Path, stack: str) -> dict[str, Any]:
    """The stack's ``traffic`` value as the stack file would hold it after a write: the stack
    file's own value, or Pulumi.yaml's default (a stack value replaces the default whole)."""
    _, defaults = project_defaults(project_dir)
    raw = read_stack_file(project_dir, stack)
    value = raw.get(f"{PROJECT}:traffic", raw.get("traffic", defaults.get("traffic")))
    return json.loads(json.dumps(value or {}))


# --------------------------------------------------------------------------- Automation API


def open_stack(project_dir: Path, stack: str, command: Any = None) -> Any:
    """Select the local project's stack through the shared Automation API layer."""
    return pulumi_ops.open_stack(project_dir, stack, command=command)


def target_urns(stack_name: str, cfg: StackConfig) -> list[str]:
    """The composition's URNs of what a dial change touches (see
    :func:`stacks.traffic.traffic_target_urns`)."""
    # Deferred: the composition imports the components and pulumi_aws (about 0.7 s), which
    # only a dial change through the engine needs.
    from stacks.traffic import traffic_target_urns

    return traffic_target_urns(cfg, stack_name)


def endpoint_groups_from_outputs(stack: Any) -> dict[str, str]:
    """Region -> endpoint group ARN from the stack output ``endpointGroupArns``."""
    value = pulumi_ops.outputs(stack).get(ENDPOINT_GROUP_ARNS) or {}
    return {str(k): str(v) for k, v in dict(value).items()}


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


def _write_dials(
    project_dir: Path, stack_name: str, stack: Any, dials: Mapping[str, int], order: list[str]
) -> None:
    """The dials into the stack config: through the Automation API when a stack is open,
    else straight into ``Pulumi.<stack>.yaml``."""
    if stack is not None:
        AutomationConfig(stack).set_dials(dials, order)
    else:
        OfflineConfig(project_dir, stack_name).set_dials(dials)


def _apply_with_up(
    stack: Any,
    stack_name: str,
    cfg: StackConfig,
    report: ApplyReport,
    retry: Callable[[Callable[[], Any]], tuple[Any, int]],
    on_output: Callable[[str], None] | None,
) -> bool:
    """``up`` targeted at what a dial change touches; True when it succeeded."""
    try:
        targets = target_urns(stack_name, cfg)
        _, report.attempts = retry(
            lambda: pulumi_ops.up(stack, targets=targets, on_output=on_output)
        )
    except Exception as err:
        report.messages.append(f"up failed ({type(err).__name__}): {str(err)[:300]}")
        return False
    report.applied = report.consistent = True
    report.messages.append(f"up targeted at {len(targets)} resources")
    return True


def _fast_path(
    cfg: StackConfig,
    report: ApplyReport,
    clients: tuple[Any, Any],
    shares: Mapping[str, int] | None,
    endpoint_groups: Mapping[str, str] | None,
    retry: Callable[[Callable[[], Any]], tuple[Any, int]],
    sleep: Callable[[float], None],
) -> int:
    """Change AWS directly (``clients`` is the GA and the Route53 client); returns the tries.
    Raises when it cannot or when AWS refuses."""
    ga, route53 = clients
    if cfg.traffic.mode == "route53":
        if route53 is None:
            raise RuntimeError("no Route53 client for the fast path")
        # The weights the program plans for these dials (one meaning of a dial in both modes).
        weights = spill.route53_weights(
            report.dials, {r.name: r.natural_share for r in cfg.regions}
        )
        zone, name = cfg.traffic.dns_zone_id or "", cfg.traffic.dns_name or ""
        _, tries = retry(lambda: route53_set_weights(route53, zone, name, weights))
        return tries
    if ga is None or not endpoint_groups:
        raise RuntimeError("no Global Accelerator client/endpoint groups for the fast path")
    groups = endpoint_groups
    _, tries = retry(lambda: ga_fast_path(ga, groups, report.dials, sleep=sleep))
    return tries


def apply_decision(
    project_dir: Path,
    stack_name: str,
    dials: Mapping[str, int],
    *,
    shares: Mapping[str, int] | None = None,
    stack: Any = None,
    ga: Any = None,
    route53: Any = None,
    endpoint_groups: Mapping[str, str] | None = None,
    attempts: int = 3,
    backoff_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    on_output: Callable[[str], None] | None = None,
) -> ApplyReport:
    """Write the dials to config and make them real; never silently leave a disagreement.

    Tries ``up`` targeted at the endpoint groups (records in route53 mode). On a locked stack
    or a failed ``up`` it falls back to boto3 (when ``ga``/``route53`` clients are given)."""
    cfg = load_stack(project_dir, stack_name)
    order = cfg.region_names
    report = ApplyReport(path="up", dials={r: int(dials[r]) for r in order})
    try:
        _write_dials(project_dir, stack_name, stack, report.dials, order)
        report.config_written = True
    except Exception as err:
        report.messages.append(f"could not write dials to config: {err}")
        return report

    retry = functools.partial(_retry, attempts=attempts, base_s=backoff_s, sleep=sleep)
    if stack is not None:
        if _apply_with_up(stack, stack_name, cfg, report, retry, on_output):
            return report
        if cfg.traffic.mode == "ga" and ga is not None and not endpoint_groups:
            try:
                endpoint_groups = endpoint_groups_from_outputs(stack)
            except Exception as err:
                report.messages.append(f"no endpoint group ARNs from outputs: {err}")

    report.path = "fast-path"
    try:
        tries = _fast_path(cfg, report, (ga, route53), shares, endpoint_groups, retry, sleep)
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
