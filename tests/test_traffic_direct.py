"""The in-cluster actuator (--targets) and the per-region metric source, and `summit traffic
run`'s new flags refusing bad input with exit 2 before anything starts.

Global Accelerator calls are checked by botocore's Stubber against the real service model
(moto has no Global Accelerator); Route53 runs on moto; the regional source queries two real
HTTP servers on loopback, one per region."""

from __future__ import annotations

import copy
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import fuzz
import pytest
import yaml
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from summit_platform.automation.errors import UserError
from summit_platform.automation.traffic import actuators
from summit_platform.automation.traffic.direct import DirectActuator, read_targets
from summit_platform.automation.traffic.regional_source import RegionalPrometheusSource
from summit_platform.automation.traffic.sources import SourceError
from summit_platform.components.render import spill

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "aws"
E, W = "us-east-1", "us-west-2"
ACC = "arn:aws:globalaccelerator::123456789012:accelerator/1234abcd-abcd-1234-abcd-1234abcdefgh"
EG = {
    E: f"{ACC}/listener/6789vxyz/endpoint-group/east0001",
    W: f"{ACC}/listener/6789vxyz/endpoint-group/west0002",
}
NATURAL = {E: 50.0, W: 50.0}


def _describe(region: str, dial: float) -> dict[str, Any]:
    doc = json.loads(
        (
            FIXTURES / "awscli-example_globalaccelerator_describe-endpoint-group.output.json"
        ).read_text()
    )
    group = copy.deepcopy(doc)
    group["EndpointGroup"].update(
        TrafficDialPercentage=dial, EndpointGroupRegion=region, EndpointGroupArn=EG[region]
    )
    return group


def _update(region: str, dial: float) -> dict[str, Any]:
    doc = json.loads(
        (
            FIXTURES / "awscli-example_globalaccelerator_update-endpoint-group.output.json"
        ).read_text()
    )
    doc["EndpointGroup"].update(
        TrafficDialPercentage=dial, EndpointGroupRegion=region, EndpointGroupArn=EG[region]
    )
    return doc


def _ga_actuator(client: Any) -> DirectActuator:
    return DirectActuator({"mode": "ga", "endpointGroups": EG}, NATURAL, ga=client)


def test_ga_reads_back_and_writes_only_the_dial_that_differs():
    client = actuators.ga_client()
    with Stubber(client) as stub:
        stub.add_response(
            "describe_endpoint_group", _describe(E, 100.0), {"EndpointGroupArn": EG[E]}
        )
        stub.add_response(
            "describe_endpoint_group", _describe(W, 100.0), {"EndpointGroupArn": EG[W]}
        )
        stub.add_response(
            "update_endpoint_group",
            _update(W, 40.0),
            {"EndpointGroupArn": EG[W], "TrafficDialPercentage": 40.0},
        )
        report = _ga_actuator(client).apply({E: 100, W: 40}, guard=lambda: True)
        stub.assert_no_pending_responses()
    assert report == {
        "path": "direct",
        "dials": {E: 100, W: 40},
        "changed": {W: {"from": 100.0, "to": 40}},
        "inEffect": True,
    }


def test_ga_writes_nothing_once_the_lease_is_lost():
    client = actuators.ga_client()
    with Stubber(client) as stub:  # an update would find no stubbed response and fail loudly
        stub.add_response(
            "describe_endpoint_group", _describe(E, 100.0), {"EndpointGroupArn": EG[E]}
        )
        stub.add_response(
            "describe_endpoint_group", _describe(W, 100.0), {"EndpointGroupArn": EG[W]}
        )
        report = _ga_actuator(client).apply({E: 100, W: 40}, guard=lambda: False)
        stub.assert_no_pending_responses()
    assert report["inEffect"] is False and "lease was lost" in report["error"]


def test_an_aws_error_is_reported_not_raised():
    client = actuators.ga_client()
    with Stubber(client) as stub:
        stub.add_client_error("describe_endpoint_group", "AccessDeniedException", "not allowed")
        report = _ga_actuator(client).apply({E: 100, W: 40})
    assert report["inEffect"] is False and "AccessDeniedException" in report["error"]


def _zone(r53: Any, weighted: bool = True) -> str:
    zone = r53.create_hosted_zone(Name="summit.example.", CallerReference="t")["HostedZone"]["Id"]
    changes = []
    for r in (E, W):
        rec: dict[str, Any] = {
            "Name": "api.summit.example.",
            "Type": "CNAME",
            "SetIdentifier": r,
            "TTL": 30,
            "ResourceRecords": [{"Value": f"alb.{r}.example"}],
        }
        rec.update({"Weight": 50} if weighted else {"Region": r})
        changes.append({"Action": "CREATE", "ResourceRecordSet": rec})
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    return zone


def _records(r53: Any, zone: str) -> dict[str, dict[str, Any]]:
    recs = r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return {r["SetIdentifier"]: r for r in recs if "SetIdentifier" in r}


@mock_aws
def test_route53_weights_are_the_dials_loads_and_the_rest_of_the_record_stays():
    r53 = boto3.client("route53", region_name=E)
    zone = _zone(r53)
    targets = {"mode": "route53", "zoneId": zone, "recordName": "api.summit.example"}
    actuator = DirectActuator(targets, NATURAL, route53=r53)
    report = actuator.apply({E: 100, W: 40})
    assert report["inEffect"] and report["weights"] == {E: 80, W: 20}
    assert report["changed"] == {E: {"from": 50, "to": 80}, W: {"from": 50, "to": 20}}
    records = _records(r53, zone)
    assert {r: rec["Weight"] for r, rec in records.items()} == spill.route53_weights(
        {E: 100, W: 40}, NATURAL
    )
    assert records[W]["TTL"] == 30 and records[W]["ResourceRecords"] == [
        {"Value": "alb.us-west-2.example"}
    ]
    again = actuator.apply({E: 100, W: 40})
    assert again["inEffect"] and again["changed"] == {}  # nothing differs: nothing written


@mock_aws
def test_route53_refuses_records_that_are_not_weighted():
    r53 = boto3.client("route53", region_name=E)
    zone = _zone(r53, weighted=False)
    before = _records(r53, zone)
    targets = {"mode": "route53", "zoneId": zone, "recordName": "api.summit.example"}
    report = DirectActuator(targets, NATURAL, route53=r53).apply({E: 100, W: 40})
    assert report["inEffect"] is False and "not weighted" in report["error"]
    assert _records(r53, zone) == before


@mock_aws
def test_the_route53_fast_path_writes_the_weights_the_program_plans(tmp_path):
    """`traffic apply` in route53 mode (controller on): the fast path writes the dials' loads,
    the same weights the program's weighted records carry, so the next `up` changes nothing."""
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    r53 = boto3.client("route53", region_name=E)
    zone = _zone(r53)
    path = tmp_path / "Pulumi.prod.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["summit-platform:traffic"].update(
        mode="route53", dnsZoneId=zone, dnsName="api.summit.example"
    )
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    report = actuators.apply_decision(
        tmp_path,
        "prod",
        {E: 100, W: 60},
        shares={E: 70, W: 30},
        fast=actuators.FastPath(route53=r53),
    )
    assert report.applied and report.path == "fast-path"
    assert {r: rec["Weight"] for r, rec in _records(r53, zone).items()} == {E: 70, W: 30}


# --- targets.json -------------------------------------------------------------------------------


def test_read_targets_accepts_what_the_stack_renders(tmp_path):
    path = tmp_path / "targets.json"
    path.write_text(json.dumps({"mode": "ga", "endpointGroups": EG}))
    assert read_targets(path)["endpointGroups"] == EG
    path.write_text(json.dumps({"mode": "route53", "zoneId": "Z1", "recordName": "api.example"}))
    assert read_targets(path)["zoneId"] == "Z1"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[]", "mode"),
        ('{"mode": "gax"}', "mode"),
        ('{"mode": "ga", "endpointGroups": {}}', "endpointGroups"),
        ('{"mode": "ga", "endpointGroups": {"us-east-1": "nope"}}', "endpointGroups"),
        ('{"mode": "route53", "zoneId": "", "recordName": "a"}', "zoneId"),
        ('{"mode": "route53", "zoneId": "Z", "recordName": 7}', "recordName"),
        ('{"mode": "ga", "mode": "route53"}', None),
        ('{"mode": "ga", "endpointGroups": {"us-east-1": NaN}}', None),
        ('{"mode": "ga"', None),
    ],
)
def test_read_targets_refuses_what_is_not_a_targets_file(tmp_path, text, key):
    path = tmp_path / "targets.json"
    path.write_text(text)
    with pytest.raises(UserError) as err:
        read_targets(path)
    assert str(path) in str(err.value) and (key is None or key in str(err.value))


# --- the per-region source ---------------------------------------------------------------------


class _Prom(BaseHTTPRequestHandler):
    """A Prometheus that knows one region: p95 from the server's ``p95`` attribute."""

    def do_GET(self) -> None:
        region, p95 = self.server.region, self.server.p95  # type: ignore[attr-defined]
        # A freshness query (timestamp(...)) answers with the sample's own time.
        value = "1700000000" if "timestamp" in self.path else p95 if "p95" in self.path else "0.001"
        result = [{"metric": {"region": region}, "value": [1700000000, value]}]
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *a: Any) -> None:
        pass


@pytest.fixture()
def two_proms():
    servers = []
    for region, p95 in ((E, "0.4"), (W, "1.9")):
        s = ThreadingHTTPServer(("127.0.0.1", 0), _Prom)
        s.region, s.p95 = region, p95  # type: ignore[attr-defined]
        threading.Thread(target=s.serve_forever, daemon=True).start()
        servers.append(s)
    yield {s.region: f"http://127.0.0.1:{s.server_address[1]}" for s in servers}  # type: ignore[attr-defined]
    for s in servers:
        s.shutdown()


def test_each_region_is_read_from_its_own_prometheus(two_proms):
    samples = RegionalPrometheusSource(two_proms).fetch([E, W], 1700000000)
    assert samples[E].p95_seconds == 0.4 and samples[W].p95_seconds == 1.9
    assert samples[W].ts == 1700000000


def test_a_region_that_cannot_be_read_fails_the_fetch_naming_it(two_proms):
    urls = {**two_proms, W: "http://127.0.0.1:9"}
    with pytest.raises(SourceError, match=r"^us-west-2: Prometheus at http://127.0.0.1:9"):
        RegionalPrometheusSource(urls).fetch([E, W])
    with pytest.raises(SourceError, match="us-west-2: no prometheusUrl"):
        RegionalPrometheusSource({E: two_proms[E]}).fetch([E, W])


# --- bad input to `summit traffic run` ----------------------------------------------------------


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


RUN = ["traffic", "run", "--stack", "prod", "--dry-run", "--max-iterations", "1"]


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        (["--create-lease-table"], "--create-lease-table"),
        (["--dynamodb-endpoint", "http://127.0.0.1:9"], "--dynamodb-endpoint"),
        (["--lease-table", "t", "--state", "s.json"], "--state"),
        (["--lease-table", "bad name!"], "--lease-table"),
        (["--lease-table", "tbl", "--dynamodb-endpoint", "ftp://x"], "--dynamodb-endpoint"),
        (["--lease-table", "tbl", "--holder", " "], "--holder"),
        (["--metrics-port", "70000"], "--metrics-port"),
        (["--targets", "missing.json"], "missing.json"),
    ],
)
def test_run_refuses_bad_flags_with_exit_2_and_changes_nothing(project, extra, names):
    outcome = fuzz.run("traffic run", [*RUN, *extra, "-C", str(project)], watch=[project])
    fuzz.assert_clean(outcome, allowed=(2,), names=names)
    assert outcome.code == 2


@pytest.mark.fuzz
@given(text=st.text(max_size=200))
@fuzz.surface_settings()
def test_any_targets_file_is_a_clean_exit(tmp_path_factory, text):
    project = tmp_path_factory.mktemp("targets")
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, project / name)
    (project / "targets.json").write_text(text)
    argv = [*RUN, "--targets", str(project / "targets.json"), "-C", str(project)]
    argv += ["--prometheus-url", "http://127.0.0.1:9"]
    outcome = fuzz.run("traffic run --targets", argv, watch=[project / "Pulumi.prod.yaml"])
    # A file that reads as targets starts a (dry) run: 0; anything else: 2, naming the file.
    fuzz.assert_clean(outcome, allowed=(0, 2), names="targets.json")
