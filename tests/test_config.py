"""The typed stack config: what loads, and how a bad stack file is reported."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from summit_platform.automation.stack_files import load_stack
from summit_platform.stacks.config import ConfigError, parse_cpu_millis, parse_memory_bytes

ROOT = Path(__file__).resolve().parents[1]


def _project(tmp_path: Path, stack_doc: dict) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump(stack_doc))
    return tmp_path


def _prod() -> dict:
    return yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())


def test_committed_stacks_load_with_their_shapes():
    dev, stage, prod = (load_stack(ROOT, s) for s in ("dev", "stage", "prod"))
    assert dev.region_names == ["us-east-1"]
    for cfg in (stage, prod):
        assert cfg.region_names == ["us-east-1", "us-west-2"]
        assert [r.natural_share for r in cfg.regions] == [50, 50]
    assert prod.traffic.floor_percent == 20  # from Pulumi.yaml's default
    assert prod.traffic.health_check.path == "/healthz"
    assert {s.name for s in prod.services} == {"gateway", "web", "intelgraph"}
    assert prod.tags.as_aws_tags()["cost-center"] == "cc-1001"


@pytest.mark.parametrize(
    ("mutate", "key", "words"),
    [
        (
            lambda c: c["summit-platform:regions"][1].__setitem__("naturalShare", "half"),
            "summit-platform:regions[1].naturalShare",
            "found 'half'",
        ),
        (
            lambda c: c.pop("summit-platform:tags"),
            "summit-platform:tags",
            "required key is missing",
        ),
        (
            lambda c: c["summit-platform:tags"].__setitem__("costCentre", "x"),
            "summit-platform:tags.costCentre",
            "unknown key",
        ),
        (
            lambda c: c["summit-platform:regions"][0].__setitem__("dial", 140),
            "summit-platform:regions[0].dial",
            "less than or equal to 100",
        ),
        (
            lambda c: c["summit-platform:services"][0]["resources"].__setitem__(
                "cpuRequest", "lots"
            ),
            "summit-platform:services[0].resources.cpuRequest",
            "CPU quantity",
        ),
    ],
    ids=["wrong-type", "missing", "misspelt", "out-of-range", "bad-quantity"],
)
def test_bad_stack_file_names_file_and_dotted_key(tmp_path, mutate, key, words):
    doc = _prod()
    mutate(doc["config"])
    project = _project(tmp_path, doc)
    with pytest.raises(ConfigError) as err:
        load_stack(project, "bad")
    text = str(err.value)
    assert str(project / "Pulumi.bad.yaml") in text
    assert key in text
    assert words in text


def test_shares_must_add_up(tmp_path):
    doc = _prod()
    doc["config"]["summit-platform:regions"][0]["naturalShare"] = 70
    with pytest.raises(ConfigError, match="naturalShare must add up to 100, found 120"):
        load_stack(_project(tmp_path, doc), "bad")


def test_yaml_syntax_error_names_line(tmp_path):
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.bad.yaml").write_text("config:\n  summit-platform:environment: [prod\n")
    with pytest.raises(ConfigError, match=r"Pulumi.bad.yaml: line \d+ column \d+: not valid YAML"):
        load_stack(tmp_path, "bad")


@pytest.mark.parametrize("case", ["wrong-type", "missing", "misspelt"])
def test_summit_plan_exits_2_and_changes_nothing(tmp_path, case):
    shutil.copytree(ROOT / "policypacks", tmp_path / "policypacks")
    for f in ("__main__.py",):
        shutil.copy(ROOT / f, tmp_path / f)
    doc = _prod()
    cfg = doc["config"]
    if case == "wrong-type":
        cfg["summit-platform:regions"][0]["dial"] = "full"
        key = "summit-platform:regions[0].dial"
    elif case == "missing":
        del cfg["summit-platform:environment"]
        key = "summit-platform:environment"
    else:
        cfg["summit-platform:trafic"] = {"mode": "ga"}
        key = "summit-platform:trafic"
    project = _project(tmp_path, doc)
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "summit_platform.automation.cli",
            "plan",
            "--stack",
            "bad",
            "-C",
            str(project),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Pulumi.bad.yaml" in proc.stderr and key in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()
    after = {p: p.read_bytes() for p in project.rglob("*") if p.is_file() and p != out}
    assert after == before


def test_quantities():
    assert parse_cpu_millis("250m") == 250
    assert parse_cpu_millis("1") == 1000
    assert parse_cpu_millis("0.5") == 500
    assert parse_memory_bytes("512Mi") == 512 * 1024**2
    assert parse_memory_bytes("1G") == 10**9
    with pytest.raises(ValueError, match="memory quantity"):
        parse_memory_bytes("12 parsecs")
