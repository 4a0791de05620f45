"""`summit finops estimate`: breakdowns whose totals are the sum of their lines, diffs against a
base, and a PR comment that speaks up only when cost rises."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from summit_platform.automation.cli import main
from summit_platform.automation.finops import estimate as est_mod
from summit_platform.automation.finops.cost import CostLine, Estimate

ROOT = Path(__file__).resolve().parents[1]


def line(name: str, hourly: str, component: str = "c") -> CostLine:
    return CostLine(
        f"urn:{name}", "kubernetes:apps/v1:Deployment", name, Decimal(hourly), "b", component
    )


def test_prod_markdown_total_equals_the_sum_of_its_lines(capsys):
    assert main(["finops", "estimate", "--stack", "prod", "-C", str(ROOT), "--markdown", "-"]) == 0
    md = capsys.readouterr().out
    rows = re.findall(r"^\| `[^`]+` \| [A-Za-z]+ \| \$([0-9,.]+) \|", md, flags=re.M)
    total = re.search(r"^\| \*\*total\*\* \| \| \*\*\$([0-9,.]+)\*\* \|", md, flags=re.M)
    assert rows and total
    assert sum(Decimal(r.replace(",", "")) for r in rows) == Decimal(
        total.group(1).replace(",", "")
    )
    assert "### Cost estimate for `prod`" in md


def test_json_has_total_resources_and_unpriced(tmp_path):
    out = tmp_path / "prod.json"
    assert main(["finops", "estimate", "--stack", "prod", "-C", str(ROOT), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert {"total_hourly", "resources", "unpriced"} <= set(doc)
    assert all({"urn", "type", "hourly"} <= set(r) for r in doc["resources"])
    assert doc["total_hourly"] > 0


def test_base_diff_is_quiet_without_a_rise_and_loud_with_one(tmp_path, capsys):
    base = tmp_path / "base.json"
    assert (
        main(["finops", "estimate", "--stack", "prod", "-C", str(ROOT), "--json", str(base)]) == 0
    )
    assert (
        main(
            [
                "finops",
                "estimate",
                "--stack",
                "prod",
                "-C",
                str(ROOT),
                "--markdown",
                "-",
                "--base",
                str(base),
            ]
        )
        == 0
    )
    quiet = capsys.readouterr().out
    assert quiet.startswith("Cost estimate for `prod`:") and "no increase" in quiet
    assert quiet.count("\n") == 1
    doc = json.loads(base.read_text())
    priciest = max(doc["resources"], key=lambda r: r["hourly"])
    doc["resources"].remove(priciest)  # main lacked the priciest resource: it is new here
    base.write_text(json.dumps(doc))
    assert (
        main(
            [
                "finops",
                "estimate",
                "--stack",
                "prod",
                "-C",
                str(ROOT),
                "--markdown",
                "-",
                "--base",
                str(base),
            ]
        )
        == 0
    )
    loud = capsys.readouterr().out
    assert loud.startswith("### :money_with_wings: Cost rises by $")


def test_bad_base_file_is_a_usage_error_naming_the_key(tmp_path, capsys):
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"resources": [{"urn": "u", "hourly": "cheap"}]}))
    assert (
        main(
            [
                "finops",
                "estimate",
                "--stack",
                "prod",
                "-C",
                str(ROOT),
                "--json",
                "-",
                "--base",
                str(base),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert str(base) in err and "resources[0]" in err


def test_unknown_stack_is_a_usage_error(capsys):
    assert main(["finops", "estimate", "--stack", "nope", "-C", str(ROOT)]) == 2
    assert "Pulumi.nope.yaml" in capsys.readouterr().err


def test_diff_added_removed_changed():
    head = Estimate((line("a", "0.5"), line("b", "0.2")), stack="s")
    base = {
        "resources": [
            {"urn": "urn:b", "hourly": 0.1},
            {"urn": "urn:gone", "hourly": 0.3, "name": "gone"},
        ]
    }
    deltas = {d.name: d.change for d in est_mod.diff(head, base)}
    assert deltas == {"a": Decimal("0.5"), "b": Decimal("0.1"), "gone": Decimal("-0.3")}
    md = est_mod.to_markdown(head, est_mod.diff(head, base))
    assert "Cost rises by $0.3000/h" in md


def test_budget_crossing():
    assert est_mod.crossed_budget(Decimal("1"), 500) is True  # $730/month
    assert est_mod.crossed_budget(Decimal("0.5"), 500) is False
    assert (
        est_mod.crossed_budget(Decimal("1"), 500, base_hourly=Decimal("0.9")) is False
    )  # was over
    assert est_mod.crossed_budget(Decimal("1"), None) is False


@settings(max_examples=100, deadline=None)
@given(st.lists(st.decimals(min_value=0, max_value=50, places=4), max_size=30))
def test_markdown_total_is_the_sum_of_displayed_lines(values):
    est = Estimate(
        tuple(line(f"r{i}", str(v), f"c{i % 4}") for i, v in enumerate(values)), stack="s"
    )
    md = est_mod.to_markdown(est)
    rows = re.findall(r"^\| `r\d+` \| [A-Za-z]+ \| \$([0-9,.]+) \|", md, flags=re.M)
    comps = re.findall(r"^\| `c\d` \| \$([0-9,.]+) \|", md, flags=re.M)
    total = Decimal(re.search(r"\*\*\$([0-9,.]+)\*\*", md).group(1).replace(",", ""))
    assert sum((Decimal(r.replace(",", "")) for r in rows), Decimal(0)) == total
    assert sum((Decimal(r.replace(",", "")) for r in comps), Decimal(0)) == total
