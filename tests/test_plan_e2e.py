"""`summit plan` end to end: the JSON contract, and policy packs the project has never seen,
evaluated in their own process through the Analyzer protocol."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def summit(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "summit_platform.automation.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def write_pack(root: Path, name: str, level: str, body: str) -> Path:
    pack = root / name
    pack.mkdir()
    (pack / "PulumiPolicy.yaml").write_text("runtime: python\nversion: 2.3.4\n")
    policy = (
        'ResourceValidationPolicy(name="no-west", description="No us-west-2 endpoint group.",'
        " validate=check)"
    )
    source = "\n".join(
        [
            "from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy",
            "",
            "def check(args, report_violation):",
            textwrap.indent(textwrap.dedent(body).strip(), "    "),
            "",
            f'PolicyPack(name="{name}", enforcement_level=EnforcementLevel.{level.upper()},'
            f" policies=[{policy}])",
            "",
        ]
    )
    (pack / "__main__.py").write_text(source)
    return pack


WEST_BODY = """
if args.resource_type == "aws:globalaccelerator/endpointGroup:EndpointGroup" and args.props["endpointGroupRegion"] == "us-west-2":
    report_violation("west is closed today")
"""


def test_plan_all_json_contract(tmp_path):
    out = tmp_path / "out.json"
    md = tmp_path / "plan.md"
    proc = summit("plan", "--stack", "all", "--json", str(out), "--markdown", str(md))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    doc = json.loads(out.read_text())
    assert set(doc["stacks"]) == {"dev", "stage", "prod"}
    prod = doc["stacks"]["prod"]
    for r in prod["resources"]:
        assert {"urn", "type", "name", "parent", "inputs"} <= set(r)
    by_type: dict[str, list[dict]] = {}
    for r in prod["resources"]:
        by_type.setdefault(r["type"], []).append(r)
    (comp,) = by_type["summit:traffic:GlobalTraffic"]
    (acc,) = by_type["aws:globalaccelerator/accelerator:Accelerator"]
    (lst,) = by_type["aws:globalaccelerator/listener:Listener"]
    groups = by_type["aws:globalaccelerator/endpointGroup:EndpointGroup"]
    assert sorted(g["inputs"]["endpointGroupRegion"] for g in groups) == ["us-east-1", "us-west-2"]
    assert all(r["parent"] == comp["urn"] for r in (acc, lst, *groups))
    assert lst["inputs"]["portRanges"] == [{"fromPort": 443, "toPort": 443}]
    assert set(acc["inputs"]["tags"]) == {"team", "service", "env", "cost-center"}
    assert all(g["inputs"]["trafficDialPercentage"] == 100 for g in groups)
    assert prod["violations"] == [] or all(
        v["enforcement"] != "mandatory" for v in prod["violations"]
    )
    assert {p["name"] for p in prod["packs"]} >= {"summit-guardrails"}
    assert "## summit plan" in md.read_text()
    for name, stack in doc["stacks"].items():
        # The provider check passed every committed stack: it checked every custom resource
        # but the providers, and reports those as unchecked rather than as checked.
        pc = stack["providerCheck"]
        custom = [r for r in stack["resources"] if r["custom"]]
        assert pc["problems"] == 0 and pc["kubernetesVersion"] == "1.35", name
        assert pc["checked"] + sum(pc["unchecked"].values()) == len(custom), name
        assert set(pc["unchecked"]) == {"pulumi:providers:aws", "pulumi:providers:kubernetes"}
        assert "kubernetes:argoproj.io/v1alpha1:Rollout" in pc["checkedTypes"], name
        assert "aws:globalaccelerator/endpointGroup:EndpointGroup" in pc["checkedTypes"], name
        assert not [v for v in stack["violations"] if v["pack"] == "provider-check"], name
    assert "provider check (Kubernetes 1.35" in " ".join(proc.stdout.split())
    assert "| `pulumi:providers:aws` | 2 |" in md.read_text()


def test_unseen_mandatory_pack_blocks_with_policy_urn_and_message(tmp_path):
    pack = write_pack(tmp_path, "never-seen", "mandatory", WEST_BODY)
    out = tmp_path / "out.json"
    proc = summit("plan", "--stack", "prod", "--policy-pack", str(pack), "--json", str(out))
    assert proc.returncode == 1, proc.stderr + proc.stdout
    assert "no-west" in proc.stdout and "west is closed today" in proc.stdout
    (v,) = json.loads(out.read_text())["stacks"]["prod"]["violations"]
    assert (
        v["pack"] == "never-seen" and v["policy"] == "no-west" and v["enforcement"] == "mandatory"
    )
    assert v["urn"] == (
        "urn:pulumi:prod::summit-platform::summit:traffic:GlobalTraffic$"
        "aws:globalaccelerator/endpointGroup:EndpointGroup::summit-prod-us-west-2"
    )
    assert "west is closed today" in v["message"]
    assert "1 mandatory policy violation(s) in prod" in proc.stderr


def test_unseen_advisory_pack_reports_and_passes(tmp_path):
    pack = write_pack(tmp_path, "never-seen-advice", "advisory", WEST_BODY)
    out = tmp_path / "out.json"
    proc = summit("plan", "--stack", "prod", "--policy-pack", str(pack), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    (v,) = json.loads(out.read_text())["stacks"]["prod"]["violations"]
    assert v["enforcement"] == "advisory" and v["policy"] == "no-west"


def test_pack_config_file_changes_the_level(tmp_path):
    pack = write_pack(tmp_path, "configurable", "advisory", WEST_BODY)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"no-west": "mandatory"}))
    proc = summit(
        "plan", "--stack", "prod", "--policy-pack", str(pack), "--policy-pack-config", str(cfg)
    )
    assert proc.returncode == 1
    cfg.write_text(json.dumps({"no-west": {"enforcementLevel": "sometimes"}}))
    proc = summit(
        "plan", "--stack", "prod", "--policy-pack", str(pack), "--policy-pack-config", str(cfg)
    )
    assert (
        proc.returncode == 2
        and "no-west.enforcementLevel" in proc.stderr
        and str(cfg) in proc.stderr
    )


def test_guardrails_config_is_validated_against_the_schema(tmp_path):
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({"traffic-dial-floor": {"floorPercent": 80}}))
    pack = ROOT / "policypacks" / "guardrails"
    proc = summit(
        "plan", "--stack", "prod", "--policy-pack", str(pack), "--policy-pack-config", str(cfg)
    )
    assert proc.returncode == 2
    assert "traffic-dial-floor.floorPercent" in proc.stderr and "50" in proc.stderr


@pytest.mark.parametrize(
    ("main", "words"),
    [
        ("raise RuntimeError('boom at import')", "boom at import"),
        ("print('hello')", "printed 'hello' instead of a port"),
    ],
)
def test_broken_pack_exits_2(tmp_path, main, words):
    pack = tmp_path / "broken"
    pack.mkdir()
    (pack / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (pack / "__main__.py").write_text(main + "\n")
    proc = summit("plan", "--stack", "dev", "--policy-pack", str(pack))
    assert proc.returncode == 2
    assert "policy pack failed to start" in proc.stderr and words in proc.stderr
    assert "Traceback (most recent call last)" not in proc.stderr.split("failed to start")[0]


def test_bad_flags_exit_2(tmp_path):
    assert summit("plan", "--stack", "qa").returncode == 2
    proc = summit("plan", "--stack", "dev", "--policy-pack", str(tmp_path))
    assert proc.returncode == 2 and "no PulumiPolicy.yaml" in proc.stderr
    assert summit("plan", "--stack", "dev", "--no-such-flag").returncode == 2
    assert summit("plan", "--stack", "dev", "-C", str(tmp_path)).returncode == 2


def test_the_same_program_gives_the_same_file(tmp_path):
    """Two separate runs write byte-identical JSON (dependency lists arrive in the order the
    SDK's Outputs resolved; the recorder sorts them)."""
    files = []
    for i in range(2):
        out = tmp_path / f"run{i}.json"
        proc = summit("plan", "--stack", "prod", "--json", str(out), "-q")
        assert proc.returncode == 0, proc.stderr
        files.append(out.read_bytes())
    assert files[0] == files[1]
    doc = json.loads(files[0])
    deps = [r["dependencies"] for r in doc["stacks"]["prod"]["resources"]]
    assert any(len(d) > 1 for d in deps)
    assert all(d == sorted(d) for d in deps)
