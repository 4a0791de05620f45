"""Actuators: GA calls checked by botocore's Stubber against the real service model, Route53
with moto, offline config writes, and the apply orchestration's honesty about disagreement."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import boto3
import botocore.session
import pytest
import yaml
from botocore.stub import Stubber
from moto import mock_aws

from summit_platform.automation.errors import UserError
from summit_platform.automation.stack_files import load_stack
from summit_platform.automation.traffic import actuators

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "aws"
ACC = "arn:aws:globalaccelerator::123456789012:accelerator/1234abcd-abcd-1234-abcd-1234abcdefgh"
EG = {
    "us-east-1": f"{ACC}/listener/6789vxyz/endpoint-group/east0001",
    "us-west-2": f"{ACC}/listener/6789vxyz/endpoint-group/west0002",
}


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_installed_botocore_model_matches_the_pinned_fixture():
    pinned = _fixture("botocore_globalaccelerator_2018-08-08_service-2.json")
    loaded = botocore.session.get_session().get_service_model("globalaccelerator")
    for op in ("UpdateEndpointGroup", "DescribeAccelerator", "ListListeners", "ListEndpointGroups"):
        want = pinned["shapes"][pinned["operations"][op]["input"]["shape"]]
        got = loaded.operation_model(op).input_shape
        assert sorted(got.members) == sorted(want["members"])
        assert sorted(got.required_members) == sorted(want.get("required", []))
    assert pinned["shapes"]["AcceleratorStatus"]["enum"] == ["DEPLOYED", "IN_PROGRESS"]
    assert pinned["metadata"]["endpointPrefix"] == "globalaccelerator"


def _update_response(region: str, dial: float) -> dict:
    resp = copy.deepcopy(
        _fixture("awscli-example_globalaccelerator_update-endpoint-group.output.json")
    )
    resp["EndpointGroup"]["TrafficDialPercentage"] = dial
    resp["EndpointGroup"]["EndpointGroupRegion"] = region
    resp["EndpointGroup"]["EndpointGroupArn"] = EG[region]
    return resp


def _accelerator(status: str) -> dict:
    return {"Accelerator": {"AcceleratorArn": ACC, "Name": "summit", "Status": status}}


def test_fast_path_updates_dials_and_waits_for_deployed():
    client = actuators.ga_client()
    sleeps: list[float] = []
    with Stubber(client) as stub:
        for region, dial in (("us-east-1", 100.0), ("us-west-2", 40.0)):
            stub.add_response(
                "update_endpoint_group",
                _update_response(region, dial),
                {"EndpointGroupArn": EG[region], "TrafficDialPercentage": dial},
            )
        stub.add_response(
            "describe_accelerator", _accelerator("IN_PROGRESS"), {"AcceleratorArn": ACC}
        )
        stub.add_response(
            "describe_accelerator", _accelerator("IN_PROGRESS"), {"AcceleratorArn": ACC}
        )
        stub.add_response("describe_accelerator", _accelerator("DEPLOYED"), {"AcceleratorArn": ACC})
        applied = actuators.ga_fast_path(
            client, EG, {"us-east-1": 100, "us-west-2": 40}, sleep=sleeps.append, poll_s=5
        )
        stub.assert_no_pending_responses()
    assert applied == {"us-east-1": 100.0, "us-west-2": 40.0}
    assert sleeps == [5, 5]
    assert client.meta.region_name == "us-west-2"


def test_stubber_rejects_a_dial_of_the_wrong_type():
    # Stubber validates params against the service model: a str dial is refused.
    client = actuators.ga_client()
    with Stubber(client) as stub:
        stub.add_response("update_endpoint_group", _update_response("us-east-1", 50.0))
        with pytest.raises(Exception, match="TrafficDialPercentage"):
            client.update_endpoint_group(
                EndpointGroupArn=EG["us-east-1"], TrafficDialPercentage="50"
            )


def test_fast_path_times_out_when_never_deployed():
    client = actuators.ga_client()
    clock = iter(range(0, 10_000, 100))
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_response("describe_accelerator", _accelerator("IN_PROGRESS"))
        ok = actuators.wait_deployed(
            client, ACC, timeout_s=150, sleep=lambda s: None, clock=lambda: next(clock)
        )
        assert not ok


def test_discover_endpoint_groups_with_the_cli_example_output():
    client = actuators.ga_client()
    groups = _fixture("awscli-example_globalaccelerator_list-endpoint-groups.output.json")
    listener = "arn:aws:globalaccelerator::123456789012:accelerator/1234abcd/listener/0123vxyz"
    with Stubber(client) as stub:
        stub.add_response(
            "list_listeners",
            {"Listeners": [{"ListenerArn": listener, "Protocol": "TCP"}]},
            {"AcceleratorArn": ACC},
        )
        stub.add_response("list_endpoint_groups", groups, {"ListenerArn": listener})
        found = actuators.discover_endpoint_groups(client, ACC)
    assert set(found) == {g["EndpointGroupRegion"] for g in groups["EndpointGroups"]}


def test_accelerator_arn_of_endpoint_group():
    assert actuators.accelerator_arn_of(EG["us-west-2"]) == ACC


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.stage.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def test_offline_dials_keep_comments_and_other_keys(project: Path):
    before = (project / "Pulumi.prod.yaml").read_text()
    actuators.OfflineConfig(project, "prod").set_dials({"us-east-1": 100, "us-west-2": 40})
    after = (project / "Pulumi.prod.yaml").read_text()
    assert after.splitlines()[0] == before.splitlines()[0]  # the comment survives
    cfg = load_stack(project, "prod")
    assert [r.dial for r in cfg.regions] == [100, 40]
    assert (
        yaml.safe_load(after)["config"]["summit-platform:tags"]
        == yaml.safe_load(before)["config"]["summit-platform:tags"]
    )


@pytest.fixture()
def standin(tmp_path: Path):
    from tests.support.pulumi_standin import PulumiStandin

    s = PulumiStandin(tmp_path / "pulumi")
    s.add_stack("prod")
    return s


def _stub_fast_path(stub: Stubber) -> None:
    for region, dial in (("us-east-1", 100.0), ("us-west-2", 40.0)):
        stub.add_response(
            "update_endpoint_group",
            _update_response(region, dial),
            {"EndpointGroupArn": EG[region], "TrafficDialPercentage": dial},
        )
    stub.add_response("describe_accelerator", _accelerator("DEPLOYED"), {"AcceleratorArn": ACC})


def test_up_targets_the_endpoint_groups_and_config_holds_the_dials(project, standin):
    stack = actuators.open_stack(project, "prod", command=standin.command)
    report = actuators.apply_decision(
        project, "prod", {"us-east-1": 100, "us-west-2": 40}, stack=stack, sleep=lambda s: None
    )
    assert report.path == "up" and report.applied and report.consistent
    (up,) = standin.calls("up")
    targets = up.flags("--target")
    assert targets == actuators.target_urns("prod", load_stack(project, "prod"))
    groups = [u for u in targets if "globalaccelerator/endpointGroup" in u]
    assert [u.rsplit("::", 1)[1] for u in groups] == [
        "summit-prod-us-east-1",
        "summit-prod-us-west-2",
    ]
    # prod runs the controllers: the targeted up also carries their config (a pin) and rolls them.
    assert sorted(u.rsplit("::", 1)[1] for u in targets if u not in groups) == [
        f"traffic-controller-{r}-{role}"
        for r in ("us-east-1", "us-west-2")
        for role in ("config", "deployment")
    ]
    assert [r.dial for r in load_stack(project, "prod").regions] == [100, 40]


def test_locked_stack_falls_back_to_fast_path_and_config_matches(project, standin):
    standin.lock("prod")
    stack = actuators.open_stack(project, "prod", command=standin.command)
    client = actuators.ga_client()
    with Stubber(client) as stub:
        _stub_fast_path(stub)
        report = actuators.apply_decision(
            project,
            "prod",
            {"us-east-1": 100, "us-west-2": 40},
            stack=stack,
            fast=actuators.FastPath(ga=client, endpoint_groups=EG),
            sleep=lambda s: None,
        )
        stub.assert_no_pending_responses()
    assert len(standin.calls("up")) == 1  # a locked stack is not retried: fast path at once
    assert report.path == "fast-path" and report.applied and report.consistent
    assert any("StackLocked" in m or "Concurrent" in m for m in report.messages)
    # config (written through the CLI, as `pulumi config set --path`) matches reality
    assert [r.dial for r in load_stack(project, "prod").regions] == [100, 40]


def test_failed_fast_path_says_config_and_reality_disagree(project, standin):
    standin.lock("prod")
    stack = actuators.open_stack(project, "prod", command=standin.command)
    client = actuators.ga_client()
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_client_error(
                "update_endpoint_group", "ThrottlingException", http_status_code=400
            )
        report = actuators.apply_decision(
            project,
            "prod",
            {"us-east-1": 100, "us-west-2": 40},
            stack=stack,
            fast=actuators.FastPath(ga=client, endpoint_groups=EG),
            sleep=lambda s: None,
        )
    assert report.config_written and not report.applied and not report.consistent
    assert "NOT APPLIED" in report.messages[-1]


@mock_aws
def test_route53_weights_upsert_keeps_records():
    r53 = boto3.client("route53", region_name="us-east-1")
    zone = r53.create_hosted_zone(Name="summit.example.", CallerReference="t")["HostedZone"]["Id"]
    changes = [
        {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": "api.summit.example.",
                "Type": "CNAME",
                "SetIdentifier": region,
                "Weight": 50,
                "TTL": 60,
                "ResourceRecords": [{"Value": f"alb.{region}.example"}],
            },
        }
        for region in ("us-east-1", "us-west-2")
    ]
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    written = actuators.route53_set_weights(
        r53, zone, "api.summit.example", {"us-east-1": 80, "us-west-2": 20}
    )
    assert written == {"us-east-1": 80, "us-west-2": 20}
    recs = r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    weights = {r["SetIdentifier"]: r["Weight"] for r in recs if "SetIdentifier" in r}
    assert weights == {"us-east-1": 80, "us-west-2": 20}
    values = {
        r["SetIdentifier"]: r["ResourceRecords"][0]["Value"] for r in recs if "SetIdentifier" in r
    }
    assert values["us-west-2"] == "alb.us-west-2.example"


@mock_aws
def test_route53_weights_refuse_latency_records_and_change_nothing():
    """A stack without the controller routes by latency: writing a Weight onto those records
    would turn them into something the program never planned."""
    r53 = boto3.client("route53", region_name="us-east-1")
    zone = r53.create_hosted_zone(Name="summit.example.", CallerReference="t")["HostedZone"]["Id"]
    changes = [
        {
            "Action": "CREATE",
            "ResourceRecordSet": {
                "Name": "api.summit.example.",
                "Type": "CNAME",
                "SetIdentifier": region,
                "Region": region,
                "TTL": 60,
                "ResourceRecords": [{"Value": f"alb.{region}.example"}],
            },
        }
        for region in ("us-east-1", "us-west-2")
    ]
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
    before = r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    with pytest.raises(UserError, match="not weighted"):
        actuators.route53_set_weights(
            r53, zone, "api.summit.example", {"us-east-1": 80, "us-west-2": 20}
        )
    assert r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"] == before
