"""The in-cluster actuator: change what the stack created, straight through the AWS API.

The controller's pod has no Pulumi CLI and no project checkout (only its config), and its IAM
role allows nothing but reading and setting this stack's endpoint group dials (ga) or UPSERTing
this stack's weighted records (route53). ``targets.json`` (rendered by the stack into the
pod's ConfigMap) names them. Each turn the actuator reads what is in effect and writes only the
regions that differ, checking the lease again immediately before each write; a ``pulumi up``
that reset a dial is corrected at the next turn. Route53 weights are
:func:`summit_platform.components.render.spill.route53_weights` of the dials, as the program plans them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from summit_platform.automation import safe_io
from summit_platform.automation.errors import UserError
from summit_platform.components.render import spill
from summit_platform.stacks.config import GA_CONTROL_REGION


def read_targets(path: Path) -> dict[str, Any]:
    """``targets.json``: ``{"mode": "ga", "endpointGroups": {region: arn}}`` or
    ``{"mode": "route53", "zoneId": ..., "recordName": ...}``."""
    doc = safe_io.load_json(path)
    src = str(path)
    if not isinstance(doc, dict) or doc.get("mode") not in ("ga", "route53"):
        raise UserError('expected {"mode": "ga" | "route53", ...}', source=src, key="mode")
    if doc["mode"] == "ga":
        groups = doc.get("endpointGroups")
        if (
            not isinstance(groups, dict)
            or not groups
            or not all(isinstance(v, str) and v.startswith("arn:") for v in groups.values())
        ):
            raise UserError(
                "expected {region: endpoint group ARN}", source=src, key="endpointGroups"
            )
        return doc
    for key in ("zoneId", "recordName"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise UserError("expected a non-empty string", source=src, key=key)
    return doc


Guard = Callable[[], bool]


class DirectActuator:
    """Make a decision's dials real on the targets; never raises for an AWS error (the loop
    logs it and retries at its next turn)."""

    def __init__(
        self,
        targets: Mapping[str, Any],
        natural: Mapping[str, float],
        *,
        ga: Any = None,
        route53: Any = None,
    ):
        self.targets = dict(targets)
        self.natural = dict(natural)
        self.ga = ga
        self.route53 = route53

    @classmethod
    def from_file(cls, path: Path, natural: Mapping[str, float]) -> DirectActuator:
        """Clients for the targets' mode (boto3 imports only here: the loop without
        ``--targets`` never needs it)."""
        import boto3  # deferred: about 0.35 s to import, only the in-cluster path uses it

        targets = read_targets(path)
        if targets["mode"] == "ga":
            return cls(
                targets,
                natural,
                ga=boto3.client("globalaccelerator", region_name=GA_CONTROL_REGION),
            )
        return cls(targets, natural, route53=boto3.client("route53"))

    def apply(self, dials: Mapping[str, int], guard: Guard | None = None) -> dict[str, Any]:
        """Write what differs; ``inEffect`` says whether reality now matches the dials."""
        report: dict[str, Any] = {"path": "direct", "dials": dict(dials), "changed": {}}
        try:
            if self.targets["mode"] == "ga":
                self._ga(dials, report, guard)
            else:
                self._route53(dials, report, guard)
        except _Fenced:
            report.update(inEffect=False, error="the lease was lost before a write: stopped")
            return report
        except Exception as err:  # AWS refused or is unreachable: next turn retries
            report.update(inEffect=False, error=f"{type(err).__name__}: {str(err)[:300]}")
            return report
        report["inEffect"] = True
        return report

    def _ga(self, dials: Mapping[str, int], report: dict[str, Any], guard: Guard | None) -> None:
        groups = self.targets["endpointGroups"]
        for region in sorted(dials):
            arn = groups[region]
            group = self.ga.describe_endpoint_group(EndpointGroupArn=arn)["EndpointGroup"]
            current = float(group.get("TrafficDialPercentage", 100.0))
            if current == float(dials[region]):
                continue
            _check(guard)
            self.ga.update_endpoint_group(
                EndpointGroupArn=arn, TrafficDialPercentage=float(dials[region])
            )
            report["changed"][region] = {"from": current, "to": dials[region]}

    def _route53(
        self, dials: Mapping[str, int], report: dict[str, Any], guard: Guard | None
    ) -> None:
        weights = spill.route53_weights(dials, self.natural)
        report["weights"] = weights
        zone = self.targets["zoneId"]
        fqdn = self.targets["recordName"].rstrip(".") + "."
        listed = self.route53.list_resource_record_sets(
            HostedZoneId=zone, StartRecordName=fqdn, MaxItems="100"
        )["ResourceRecordSets"]
        records = {
            r["SetIdentifier"]: r for r in listed if r["Name"] == fqdn and "SetIdentifier" in r
        }
        missing = sorted(set(weights) - set(records))
        if missing:
            raise LookupError(f"no record {fqdn} with set identifier {missing} in zone {zone}")
        changes = []
        for region, weight in sorted(weights.items()):
            rec = records[region]
            if "Weight" not in rec:
                raise LookupError(f"record {fqdn} {region} is not weighted")
            if int(rec["Weight"]) != weight:
                changes.append({"Action": "UPSERT", "ResourceRecordSet": {**rec, "Weight": weight}})
                report["changed"][region] = {"from": int(rec["Weight"]), "to": weight}
        if changes:
            _check(guard)
            self.route53.change_resource_record_sets(
                HostedZoneId=zone,
                ChangeBatch={"Comment": "summit traffic controller", "Changes": changes},
            )


class _Fenced(Exception):
    """The lease was lost between the decision and a write."""


def _check(guard: Guard | None) -> None:
    if guard is not None and not guard():
        raise _Fenced
