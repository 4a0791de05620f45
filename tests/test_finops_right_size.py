"""Right-size hints reach the PR comment: a preview is planned (`summit previews up --offline`,
the real FinOps pack with its preview config over the Analyzer protocol) from a copy of the
project whose stage file gives the gateway far more than it was observed to use and web a CPU
limit ten times its request. The comment lists each hint as advisory with the value to set,
names nothing that is right-sized, and the preview still passes (hints never block)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from summit_platform.automation.cli import main

PACK_CONFIG = ROOT / "policypacks" / "finops" / "config" / "preview.json"


def test_the_preview_config_turns_right_size_hints_on() -> None:
    cfg = json.loads(PACK_CONFIG.read_text())["right-size-hints"]
    assert cfg["enforcementLevel"] == "advisory"
    assert cfg["usageFile"] == "usage/observed.json"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the platform project with over-provisioned stage services and the observed
    usage the nightly job would have left in the pack's folder."""
    root = tmp_path_factory.mktemp("rightsize")
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(
        ROOT / "policypacks", root / "policypacks", ignore=shutil.ignore_patterns("usage")
    )
    stage = yaml.safe_load((ROOT / "Pulumi.stage.yaml").read_text())
    services = {s["name"]: s for s in stage["config"]["summit-platform:services"]}
    services["gateway"]["resources"] = {
        "cpuRequest": "900m",
        "memoryRequest": "1Gi",
        "cpuLimit": "1",
        "memoryLimit": "1Gi",
    }
    services["web"]["resources"] = {
        "cpuRequest": "100m",
        "memoryRequest": "256Mi",
        "cpuLimit": "1",
        "memoryLimit": "512Mi",
    }
    (root / "Pulumi.stage.yaml").write_text(yaml.safe_dump(stage, sort_keys=False))
    usage = root / "policypacks" / "finops" / "usage"
    usage.mkdir()
    observed = {
        "gateway": {"cpuMillis": 40, "memoryMiB": 90},  # asks for 900m and 1Gi
        "intelgraph": {"cpuMillis": 200, "memoryMiB": 200},  # asks for 250m and 256Mi: fine
    }
    (usage / "observed.json").write_text(json.dumps({"resources": observed}))
    return root


def test_over_provisioned_containers_get_hints_with_values_in_the_comment(
    project: Path, tmp_path: Path
) -> None:
    md = tmp_path / "comment.md"
    argv = ["previews", "up", "--pr", "42", "--from", "stage", "--offline", "-C", str(project)]
    code = main([*argv, "--markdown", str(md)])
    assert code == 0  # advisory: the preview goes ahead
    comment = md.read_text()
    rows = [line for line in comment.splitlines() if line.startswith("| right-size-hints |")]
    assert rows and all("| advisory |" in row for row in rows), comment
    hints = "\n".join(rows)
    assert "requests 900m CPU per pod but uses 40m; suggested request: 50m." in hints
    assert "requests 1024Mi memory per pod but uses 90Mi; suggested request: 112Mi." in hints
    assert (
        "cpu limit/request ratio is 10.0 (> 4); suggested: request 250m (limit / 4)"
        " or limit 400m (request x 4)." in hints
    )
    assert "gateway" in hints and "web" in hints and "intelgraph" not in hints
    assert len(rows) == 3
