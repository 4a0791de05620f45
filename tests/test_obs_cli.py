"""``summit rules render``: files for every region and service that pass ``promtool check``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from obs_helpers import ROOT, promtool

from summit_platform.automation.cli import main
from summit_platform.components.render import prometheus_rules as pr

SERVICES = ("gateway", "web", "intelgraph")


@pytest.mark.prometheus
def test_render_prod_writes_rule_files_that_promtool_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        ["rules", "render", "--stack", "prod", "--out", str(out), "-C", str(ROOT), "--json", "-"]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    paths = {f["path"] for f in summary["files"]}
    for region in ("us-east-1", "us-west-2"):
        for svc in SERVICES:
            assert f"{region}/{svc}.rules.yml" in paths
            assert f"{region}/dashboards/summit-{svc}-red.json" in paths
            assert f"{region}/dashboards/summit-{svc}-use.json" in paths
        assert f"{region}/dashboards/summit-overview-{region}.json" in paths

    rule_files = sorted(out.glob("*/*.rules.yml"))
    assert len(rule_files) == 6
    checked = promtool("check", "rules", *map(str, rule_files))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("SUCCESS") == 6

    for svc in SERVICES:
        doc = yaml.safe_load((out / "us-east-1" / f"{svc}.rules.yml").read_text())
        groups = {g["name"] for g in doc["groups"]}
        assert {f"summit-red-{svc}", f"summit-steering-{svc}", f"summit-slo-alerts-{svc}"} <= groups
        rules = [r for g in doc["groups"] for r in g["rules"]]
        assert {r["alert"] for r in rules if "alert" in r} == {pr.ALERT_BURN}
        assert set(pr.STEERING_SERIES) <= {r.get("record") for r in rules}
        assert "slo:sli_error:ratio_rate5m" in {r.get("record") for r in rules}
    board = json.loads((out / "us-west-2" / "dashboards" / "summit-web-red.json").read_text())
    assert board["uid"] == "summit-web-red"


def test_render_check_flag_runs_promtool(tmp_path: Path) -> None:
    promtool("--version")  # fails in CI / skips locally when promtool is missing
    code = main(["rules", "render", "--stack", "dev", "--out", str(tmp_path), "-C", str(ROOT)])
    assert code == 0
    code = main(
        ["rules", "render", "--stack", "dev", "--out", str(tmp_path), "-C", str(ROOT), "--check"]
    )
    assert code == 0
    assert sorted(p.name for p in tmp_path.glob("us-east-1/*.rules.yml")) == [
        "gateway.rules.yml",
        "intelgraph.rules.yml",
        "web.rules.yml",
    ]


def test_unknown_stack_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rules", "render", "--stack", "nope", "--out", str(tmp_path), "-C", str(ROOT)])
    assert code == 2
    err = capsys.readouterr().err
    assert "Pulumi.nope.yaml" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_bad_observability_key_is_reported_with_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    stack["config"]["summit-platform:observability"] = {"regionLabel": "re-gion"}
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack))
    code = main(["rules", "render", "--stack", "dev", "-C", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "Pulumi.dev.yaml" in err and "observability.regionLabel" in err
    assert not (tmp_path / "rules").exists()
