"""The adaptive-traffic workflow is the manual override and audit path: dispatched by a person
with stack, shares, reason and TTL, the Pulumi CLI from the official action, AWS credentials
through OIDC, and `summit traffic pin|unpin|apply`. Its pin and unpin steps are run here for
real (bash, the project's `summit`, the recording Pulumi CLI stand-in behind the Automation
API); the GitHub schema check of every workflow is tests/test_service_docs.py's."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from summit_platform.automation.stack_files import load_stack
from tests.support.pulumi_standin import PulumiStandin

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "adaptive-traffic.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def _steps(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (job,) = workflow["jobs"].values()
    return {s.get("name") or s["uses"]: s for s in job["steps"]}


def test_a_person_dispatches_it_with_stack_shares_reason_and_ttl(workflow):
    on = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as True
    assert set(on) == {"workflow_dispatch"}  # no schedule: the controller runs in-cluster
    inputs = on["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"action", "stack", "shares", "reason", "ttl"}
    assert inputs["action"]["options"] == ["pin", "unpin", "apply"]
    assert inputs["stack"]["options"] == ["stage", "prod"]
    assert workflow["permissions"] == {"contents": "write", "id-token": "write"}
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_the_cli_and_credentials_come_from_the_official_actions(workflow):
    steps = _steps(workflow)
    uses = {s["uses"].split("@")[0]: s for s in steps.values() if "uses" in s}
    assert "pulumi/actions" in uses
    aws = uses["aws-actions/configure-aws-credentials"]["with"]
    assert aws["role-to-assume"].startswith("${{ vars.")
    assert "aws-access-key-id" not in aws and "aws-secret-access-key" not in aws
    scripts = "\n".join(s.get("run", "") for s in steps.values())
    for command in ("summit traffic pin", "summit traffic unpin", "summit traffic apply"):
        assert command in scripts
    assert "--offline" not in scripts  # through the Automation API, as the stack is deployed


def _run_step(
    step: dict[str, Any], project: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    script = step["run"]
    full_env = {**os.environ, **env}
    for key, value in (step.get("env") or {}).items():
        if isinstance(value, str) and "${{" not in value:
            full_env[key] = value
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=project,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture()
def project(tmp_path: Path):
    for name in ("Pulumi.yaml", "Pulumi.stage.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (tmp_path / "out").mkdir()
    (tmp_path / "audit").mkdir()
    standin = PulumiStandin(tmp_path / "pulumi")
    standin.add_stack("stage")
    return tmp_path, standin


def test_the_pin_and_unpin_steps_run_and_leave_an_audit_trail(workflow, project):
    path, standin = project
    steps = _steps(workflow)
    job_env = next(iter(workflow["jobs"].values()))["env"]
    env = {
        "STACK": "stage",
        "AUDIT_LOG": job_env["AUDIT_LOG"],
        "GITHUB_ACTOR": "octocat",
        "SUMMIT_PULUMI_ROOT": str(standin.root),
        "SHARES": "us-east-1=100 us-west-2=0",
        "REASON": "INC-42 west database failover",
        "TTL": "30m",
    }
    pinned = _run_step(steps["Pin"], path, env)
    assert pinned.returncode == 0, pinned.stderr
    assert standin.calls("config set-all")  # through the Automation API
    pin = load_stack(path, "stage").traffic.pin
    assert pin is not None and pin.shares == {"us-east-1": 100, "us-west-2": 0}
    assert pin.by == "octocat (github-actions)" and pin.reason == "INC-42 west database failover"
    assert json.loads((path / "out" / "pin.json").read_text())["pinned"]["shares"] == pin.shares
    unpinned = _run_step(steps["Unpin"], path, {**env, "REASON": "INC-42 resolved"})
    assert unpinned.returncode == 0, unpinned.stderr
    assert load_stack(path, "stage").traffic.pin is None
    audit = [json.loads(x) for x in (path / env["AUDIT_LOG"]).read_text().splitlines()]
    intents = [a for a in audit if a["phase"] == "intent"]
    assert [(a["action"], a["who"], a["why"]) for a in intents] == [
        ("pin", "octocat (github-actions)", "INC-42 west database failover"),
        ("unpin", "octocat (github-actions)", "INC-42 resolved"),
    ]
    # each intent has its result, which succeeded
    results = {a["id"]: a["ok"] for a in audit if a["phase"] == "result"}
    assert [results.get(a["id"]) for a in intents] == [True, True]


def test_the_apply_step_turns_the_shares_into_a_weights_file(workflow, tmp_path):
    """The step's first line (its shares -> weights.json) run alone; `summit traffic apply`
    itself is tested in tests/test_traffic_cli.py and tests/test_traffic_actuators.py."""
    step = _steps(workflow)[
        "Apply the shares now (targeted up with the packs; the fast path if the stack is locked)"
    ]
    line = next(x for x in step["run"].splitlines() if "weights.json" in x and "python" in x)
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    done = subprocess.run(
        ["bash", "-c", line], cwd=tmp_path, env={**os.environ, "SHARES": "us-east-1=70 us-west-2=30"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "weights.json").read_text()) == [
        {"region": "us-east-1", "weight": 70},
        {"region": "us-west-2", "weight": 30},
    ]
    assert shlex.split(step["run"].splitlines()[-1])[:3] == [".venv/bin/summit", "traffic", "apply"]
