"""The program honours the pin: `summit traffic pin --offline` then `summit plan` plans the
pinned dials (ga) or weights (route53) and passes every pack; an expired pin is ignored and
reported as advisory; the floor policy keeps refusing any other dial under the floor.

Each test copies the project (program, stack files, packs) into a temporary folder, so the
committed stack files never change."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pulumi_aws as aws
import pytest
import yaml

from summit_platform.automation.cli import main
from summit_platform.automation.plan.analyzer import evaluate_pack
from summit_platform.automation.plan.engine import config_map, run_program
from summit_platform.automation.stack_files import load_stack, read_stack_file
from summit_platform.components.render import spill
from summit_platform.components.render.traffic_pin import REMOVE_HINT, read_pin
from summit_platform.stacks.steering import planned_dials, planned_weights

ROOT = Path(__file__).resolve().parents[1]
E, W = "us-east-1", "us-west-2"
EG = "aws:globalaccelerator/endpointGroup:EndpointGroup"
RECORD = "aws:route53/record:Record"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.stage.yaml", "__main__.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(
        ROOT / "policypacks", tmp_path / "policypacks", ignore=shutil.ignore_patterns("venv")
    )
    return tmp_path


def _pin(project: Path, *shares: str, now: float | None = None) -> None:
    argv = ["traffic", "pin", *shares, "--stack", "prod", "--reason", "INC-7 west db failover"]
    argv += ["--ttl", "30m", "--offline", "-C", str(project)]
    if now is not None:
        argv += ["--now", str(now)]
    assert main(argv) == 0


def _plan(project: Path, capsys) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    rc = main(["plan", "--stack", "prod", "--json", "-", "-C", str(project)])
    return rc, json.loads(capsys.readouterr().out)["stacks"]["prod"]


def _dials(doc: dict[str, Any]) -> dict[str, int]:
    return {
        r["inputs"]["endpointGroupRegion"]: r["inputs"]["trafficDialPercentage"]
        for r in doc["resources"]
        if r["type"] == EG
    }


def test_an_active_pin_is_planned_and_passes_every_pack(project, capsys):
    _pin(project, f"{E}=100", f"{W}=0")
    rc, doc = _plan(project, capsys)
    assert rc == 0
    assert _dials(doc) == {E: 100, W: 0}
    assert doc["summary"]["passed"] and doc["summary"]["mandatory"] == 0
    assert [v for v in doc["violations"] if v["policy"].startswith("traffic-")] == []


def test_an_expired_pin_is_ignored_and_reported_as_advisory(project, capsys):
    _pin(project, f"{E}=100", f"{W}=0", now=time.time() - 2 * 3600)  # expired an hour ago
    rc, doc = _plan(project, capsys)
    assert rc == 0
    configured = {
        r["name"]: r["dial"]
        for r in yaml.safe_load((project / "Pulumi.prod.yaml").read_text())["config"][
            "summit-platform:regions"
        ]
    }
    assert _dials(doc) == configured == {E: 100, W: 100}
    (advisory,) = [v for v in doc["violations"] if v["policy"] == "traffic-pin-expired"]
    assert advisory["enforcement"] == "advisory" and REMOVE_HINT in advisory["message"]
    assert doc["summary"]["passed"] and doc["summary"]["advisory"] >= 1


def test_a_pin_between_the_floor_and_natural_shares_sets_the_spill_dial(project, capsys):
    _pin(project, f"{E}=70", f"{W}=30")
    rc, doc = _plan(project, capsys)
    assert rc == 0 and _dials(doc) == {E: 100, W: 60}  # 0.6 * 50 = 30% for the west


def test_a_dial_under_the_floor_that_the_active_pin_does_not_ask_for_is_refused(project):
    """The program always plans the pin's own dials; a program that planned others (here two
    bare endpoint groups at 100/30) is refused through the Analyzer protocol, pin or not."""
    _pin(project, f"{E}=100", f"{W}=0")
    raw = read_stack_file(project, "prod")
    config = config_map("summit-platform", raw)

    def program() -> None:
        for region, dial in ((E, 100), (W, 30)):
            aws.globalaccelerator.EndpointGroup(
                f"summit-prod-{region}",
                listener_arn="arn:aws:globalaccelerator::111122223333:accelerator/a/listener/l",
                endpoint_group_region=region,
                traffic_dial_percentage=dial,
            )

    plan = run_program(project, "prod", "summit-platform", config, [], program=program)
    res = evaluate_pack(project / "policypacks" / "guardrails", plan, config=config, secret_keys=[])
    (v,) = [v for v in res.violations if v.policy == "traffic-dial-floor"]
    assert v.enforcement == "mandatory" and "us-west-2 would serve 15.0%" in v.message
    assert "The active pin asks for 0, not 30." in v.message


def test_planned_dials_follow_the_pin_only_while_it_is_active():
    cfg = load_stack(ROOT, "prod")
    pin = {
        "shares": {E: 80, W: 20},
        "reason": "maintenance",
        "by": "me",
        "at": "2030-01-01T00:00:00Z",
        "expiresAt": "2030-01-01T00:30:00Z",
    }
    pinned = cfg.model_copy(update={"traffic": cfg.traffic.model_copy(update={"pin": pin})})
    start = read_pin(pin, [E, W], 0).expires_at - 1800  # type: ignore[operator]
    dials, status = planned_dials(pinned, start + 60)
    assert status.state == "active" and dials == {E: 100, W: 40}
    assert planned_weights(dials, pinned) == {E: 80, W: 20}
    dials, status = planned_dials(pinned, start + 1800)  # the second it expires
    assert status.state == "expired" and dials == {E: 100, W: 100}
    assert spill.region_loads({E: 100, W: 40}, {E: 50, W: 50}) == {E: 80.0, W: 20.0}
