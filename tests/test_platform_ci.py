"""The platform's own CI workflow (.github/workflows/ci.yml) runs every step of `.ci/run` (make
targets, aggregates such as `lint` expanded through the Makefile), in the same order, on every
pull request and on main. The GitHub schema check of every workflow is in test_service_docs.py.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from conftest import ROOT

MAKE = re.compile(r"(?:^|&&|;)\s*make\s+([^\n;&|]+)", re.M)


def make_targets(text: str) -> list[str]:
    """Targets of every ``make`` call in a shell text, in order (variables dropped)."""
    out: list[str] = []
    for args in MAKE.findall(text):
        out += [a for a in args.split() if "=" not in a and not a.startswith("-")]
    return out


def aggregates(makefile: str) -> dict[str, list[str]]:
    """Targets whose rule has prerequisites but no recipe: ``lint: style types layers``."""
    lines = makefile.splitlines()
    out: dict[str, list[str]] = {}
    for i, line in enumerate(lines):
        m = re.match(r"^([a-z][\w-]*):(?!=)\s*(.*)$", line)
        has_recipe = i + 1 < len(lines) and lines[i + 1].startswith("\t")
        if m and m.group(2).strip() and not has_recipe:
            out[m.group(1)] = m.group(2).split()
    return out


def expand(targets: list[str], agg: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for t in targets:
        for leaf in expand(agg[t], agg) if t in agg else [t]:
            if leaf not in out:
                out.append(leaf)
    return out


def workflow_targets(doc: dict[str, Any]) -> list[str]:
    steps = [s for job in doc["jobs"].values() for s in job.get("steps", [])]
    return make_targets("\n".join(str(s.get("run", "")) for s in steps))


def missing_steps(ci_run: str, makefile: str, workflow: dict[str, Any]) -> list[str]:
    """`.ci/run`'s steps the workflow does not run, or runs out of order."""
    agg = aggregates(makefile)
    want = [t for t in expand(make_targets(ci_run), agg) if t != "setup"] or ["(none)"]
    have = expand(workflow_targets(workflow), agg)
    missing = [t for t in want if t not in have]
    if missing:
        return missing
    order = [have.index(t) for t in want]
    return [] if order == sorted(order) else [f"order: expected {want}, found {have}"]


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def test_the_ci_workflow_runs_every_step_of_ci_run_in_order() -> None:
    ci_run = (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert make_targets(ci_run) == ["setup", "tools", "lint", "test"]
    assert expand(["lint"], aggregates(makefile)) == ["style", "types", "layers"]
    doc = load("ci.yml")
    assert missing_steps(ci_run, makefile, doc) == []
    assert workflow_targets(doc)[0] == "setup"
    job = doc["jobs"]["platform"]
    assert job["env"]["CI"] == "true"  # a missing tool fails instead of skipping


def test_it_runs_on_every_pull_request_and_on_main() -> None:
    # PyYAML reads the key `on` as True.
    triggers = load("ci.yml")[True]
    assert "pull_request" in triggers and not (triggers["pull_request"] or {}).get("paths")
    assert triggers["push"]["branches"] == ["main"]


def test_the_check_reports_a_step_left_out_or_reordered() -> None:
    ci_run = (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    doc = load("ci.yml")
    steps = doc["jobs"]["platform"]["steps"]
    without_types = [s for s in steps if s.get("run") != "make types"]
    assert len(without_types) == len(steps) - 1
    doc_missing = {**doc, "jobs": {"platform": {**doc["jobs"]["platform"], "steps": without_types}}}
    assert missing_steps(ci_run, makefile, doc_missing) == ["types"]
    test_first = sorted(steps, key=lambda s: "make test" not in str(s.get("run", "")))
    doc_order = {**doc, "jobs": {"platform": {**doc["jobs"]["platform"], "steps": test_first}}}
    assert missing_steps(ci_run, makefile, doc_order)[0].startswith("order:")
