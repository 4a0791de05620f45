"""`summit plan` with the provider check, end to end: a small Pulumi program in a temporary
project uses every covered AWS type and the usual Kubernetes kinds. As written it plans with
exit 0; each error the issue lists, switched on alone through its stack config, blocks the plan
with a provider-check violation naming the resource and the property; all of them at once make
the CLI exit 1 and name each one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from summit_platform.automation.plan.runner import plan_stack
from summit_platform.automation.stack_files import load_stack
from summit_platform.stacks.config import ConfigError, from_values

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = '''
"""A program with one resource of each type the provider check covers."""
import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

cfg = pulumi.Config()
broken = set((cfg.get("break") or "").split(","))


def pick(name, good, bad):
    return bad if name in broken or "all" in broken else good


acc = aws.globalaccelerator.Accelerator("acc", name="demo", ip_address_type="IPV4", enabled=True)
listener = aws.globalaccelerator.Listener(
    "listener", accelerator_arn=acc.arn, protocol=pick("listener-protocol", "TCP", "HTTP"),
    port_ranges=[{"from_port": 443, "to_port": 443}],
)
aws.globalaccelerator.EndpointGroup(
    "group", listener_arn=listener.arn, endpoint_group_region="us-east-1",
    health_check_interval_seconds=pick("interval", 10, 5),
    threshold_count=pick("threshold", 3, 11),
    traffic_dial_percentage=pick("dial", 100, 150),
    health_check_protocol="HTTPS", health_check_path="/healthz", health_check_port=443,
)
zone = aws.route53.Zone("zone", name="example.com")
aws.route53.Record(
    "record", zone_id=zone.zone_id, name="app.example.com",
    type=pick("record-type", "A", "A2"), ttl=pick("ttl", 60, -1), records=["192.0.2.10"],
)
aws.route53.HealthCheck("health", type="HTTPS", fqdn="app.example.com", port=443,
                        resource_path="/healthz", request_interval=10, failure_threshold=3)
aws.ec2.Instance("vm", ami="ami-0abc", instance_type=pick("instance-type", "m5.large", "m5.huge"))
aws.s3.Bucket("logs", bucket=pick("bucket", "demo-logs-123", "Demo_Logs"))
aws.lb.TargetGroup("tg", name="demo-web", port=8080, protocol="HTTP", target_type="ip", vpc_id="vpc-1")
aws.dynamodb.Table("table", name="demo-sessions", billing_mode="PAY_PER_REQUEST", hash_key="id",
                   attributes=[{"name": "id", "type": "S"}])
aws.iam.Role("role", assume_role_policy=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}))

labels = {"app.kubernetes.io/name": "web"}
container = {
    "name": "web",
    "image": "ghcr.io/demo/web:1.0.0",
    "imagePullPolicy": pick("pull-policy", "IfNotPresent", "Sometimes"),
    "ports": [{"name": "http", "containerPort": pick("container-port", 8080, 70000)}],
    pick("unknown-field", "terminationMessagePath", "terminationMessagePth"): "/dev/termination-log",
    "resources": {
        "limits": {"cpu": "1", "memory": pick("quantity", "512Mi", "512 MB")},
    },
}
k8s.apps.v1.Deployment(
    "web",
    metadata={"name": pick("object-name", "web", "Web_App"), "namespace": "demo", "labels": labels},
    spec={"selector": {"matchLabels": labels},
          "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}},
)
k8s.core.v1.Service(
    "web-svc", metadata={"name": "web", "namespace": "demo"},
    spec={"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
)
'''

BREAKS = [
    # (switch, resource name, property)
    ("interval", "group", "healthCheckIntervalSeconds"),
    ("threshold", "group", "thresholdCount"),
    ("dial", "group", "trafficDialPercentage"),
    ("listener-protocol", "listener", "protocol"),
    ("record-type", "record", "type"),
    ("ttl", "record", "ttl"),
    ("instance-type", "vm", "instanceType"),
    ("bucket", "logs", "bucket"),
    ("pull-policy", "web", "spec.template.spec.containers[0].imagePullPolicy"),
    ("container-port", "web", "spec.template.spec.containers[0].ports[0].containerPort"),
    ("unknown-field", "web", "spec.template.spec.containers[0].terminationMessagePth"),
    ("quantity", "web", "spec.template.spec.containers[0].resources.limits.memory"),
    ("object-name", "web", "metadata.name"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("provider-demo")
    (root / "Pulumi.yaml").write_text("name: provider-demo\nruntime: python\n")
    (root / "Pulumi.dev.yaml").write_text("config:\n  provider-demo:break: ''\n")
    (root / "__main__.py").write_text(textwrap.dedent(PROGRAM))
    return root


def summit(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "300"}  # wide enough that no table cell folds
    return subprocess.run(
        [sys.executable, "-m", "summit_platform.automation.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )


def test_the_valid_program_plans_clean(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    proc = summit("plan", "-C", str(project), "--stack", "dev", "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pc = json.loads(out.read_text())["stacks"]["dev"]["providerCheck"]
    assert pc["problems"] == 0
    assert set(pc["checkedTypes"]) == {
        "aws:globalaccelerator/accelerator:Accelerator",
        "aws:globalaccelerator/listener:Listener",
        "aws:globalaccelerator/endpointGroup:EndpointGroup",
        "aws:route53/zone:Zone",
        "aws:route53/record:Record",
        "aws:route53/healthCheck:HealthCheck",
        "aws:ec2/instance:Instance",
        "aws:s3/bucket:Bucket",
        "aws:lb/targetGroup:TargetGroup",
        "aws:dynamodb/table:Table",
        "aws:iam/role:Role",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:Service",
    }
    assert set(pc["unchecked"]) == {"pulumi:providers:aws", "pulumi:providers:kubernetes"}
    text = " ".join(proc.stdout.split())  # the table wraps at the terminal's width
    assert "13 resources checked, 0 problems" in text
    assert "unchecked types: pulumi:providers:aws x1, pulumi:providers:kubernetes x1" in text


@pytest.mark.parametrize(("switch", "resource", "prop"), BREAKS)
def test_each_error_alone_blocks_the_plan(
    project: Path, switch: str, resource: str, prop: str
) -> None:
    result = plan_stack(project, "dev", overrides={"break": switch})
    blocking = result.mandatory
    assert blocking, switch
    assert {v.pack for v in blocking} == {"provider-check"}
    assert all(v.urn.endswith(f"::{resource}") for v in blocking), [v.message for v in blocking]
    assert any(f"{resource} (" in v.message and f"): {prop} = " in v.message for v in blocking), [
        v.message for v in blocking
    ]


def test_all_errors_at_once_exit_1_and_name_each(project: Path, tmp_path: Path) -> None:
    (project / "Pulumi.broken.yaml").write_text("config:\n  provider-demo:break: all\n")
    out, md = tmp_path / "plan.json", tmp_path / "plan.md"
    try:
        proc = summit(
            "plan",
            "-C",
            str(project),
            "--stack",
            "broken",
            "--json",
            str(out),
            "--markdown",
            str(md),
        )
    finally:
        (project / "Pulumi.broken.yaml").unlink()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    stack = json.loads(out.read_text())["stacks"]["broken"]
    messages = [v["message"] for v in stack["violations"] if v["pack"] == "provider-check"]
    for _, resource, prop in BREAKS:
        assert any(m.startswith(f"{resource} (") and f"): {prop} = " in m for m in messages), (
            resource,
            prop,
        )
    assert all(v["enforcement"] == "mandatory" for v in stack["violations"])
    assert stack["providerCheck"]["problems"] == len(messages)
    assert "provider-check/aws-api-model" in " ".join(proc.stdout.split())
    assert "mandatory policy violation" in proc.stderr
    # Messages are printed as text, not as rich markup (the quantity rule quotes a regex).
    assert "([eEinumkKMGTP]*[-+]?[0-9]*)" in proc.stdout
    assert "`provider-check/kubernetes-schema`" in md.read_text()


def test_an_unknown_value_is_skipped_and_counted(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: unknown-demo\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    (tmp_path / "__main__.py").write_text(
        textwrap.dedent("""
        import pulumi
        import pulumi_aws as aws
        other = pulumi.StackReference("acme/network/prod")
        aws.globalaccelerator.EndpointGroup(
            "group", listener_arn="arn:aws:globalaccelerator::1:accelerator/a/listener/b",
            health_check_interval_seconds=other.get_output("interval"),
            threshold_count=3,
        )
        aws.s3.Bucket("secret", bucket=pulumi.Output.secret("Not_A_Valid_Name"))
    """)
    )
    result = plan_stack(tmp_path, "dev")
    assert result.mandatory == []
    summary = result.provider_check.summary()
    assert summary["unknownValuesSkipped"] >= 1 and summary["secretValuesSkipped"] == 1
    assert summary["checked"] == 2


@pytest.mark.parametrize(
    ("value", "words"),
    [("'1.19'", "expected a Kubernetes version 1.25 to"), ("1.30", "as a quoted string")],
)
def test_a_bad_cluster_version_exits_2_naming_file_and_key(
    project: Path, value: str, words: str
) -> None:
    (project / "Pulumi.old.yaml").write_text(
        f"config:\n  provider-demo:kubernetesVersion: {value}\n"
    )
    try:
        proc = summit("plan", "-C", str(project), "--stack", "old")
    finally:
        (project / "Pulumi.old.yaml").unlink()
    assert proc.returncode == 2
    assert (
        "Pulumi.old.yaml: provider-demo:kubernetesVersion: " in proc.stderr and words in proc.stderr
    )
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("value", ["latest", "1", "v1.35-eks"])
def test_the_config_model_refuses_a_malformed_cluster_version(value: str) -> None:
    good = load_stack(ROOT, "dev").model_dump(by_alias=True, mode="json")
    assert good["kubernetesVersion"] == "1.35"
    with pytest.raises(
        ConfigError, match=r"Pulumi\.dev\.yaml: summit-platform:kubernetesVersion: .*'1\.35'"
    ):
        from_values({**good, "kubernetesVersion": value}, "Pulumi.dev.yaml")
