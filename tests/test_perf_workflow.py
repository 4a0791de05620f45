"""The perf PR workflow measures API and web side by side and speaks once: the gate job needs
both, runs one `summit perf compare` with both budgets files, and posts one comment. (The
GitHub schema check of every workflow is in tests/test_service_docs.py.)"""

from __future__ import annotations

import yaml
from conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "perf-budgets.yml"


def _runs(job: dict) -> list[str]:
    return [step.get("run", "") for step in job["steps"]]


def test_web_job_beside_api_job_and_one_combined_gate() -> None:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    assert set(jobs) == {"api", "web", "gate"}
    assert "needs" not in jobs["api"] and "needs" not in jobs["web"]  # side by side
    assert jobs["gate"]["needs"] == ["api", "web"] and jobs["gate"]["if"] == "always()"
    web = " ".join(_runs(jobs["web"]))
    assert (
        "npm ci" in web and "summit perf lighthouse" in web and "--budgets budgets/web.yaml" in web
    )
    assert "summit_platform.apps.web.app" in web
    gate = _runs(jobs["gate"])
    compares = [r for r in gate if "summit perf compare" in r]
    assert len(compares) == 1
    assert "--budgets budgets/api.yaml --budgets budgets/web.yaml" in compares[0]
    assert "--markdown perf/comment.md" in compares[0]
    comments = [r for r in gate if "gh pr comment" in r]
    assert len(comments) == 1
    all_steps = [r for job in jobs.values() for r in _runs(job)]
    assert sum("gh pr comment" in r for r in all_steps) == 1  # one comment for API and web
