"""``summit deploy``'s reports: JSON for machines, Markdown for the workflow summary, the dry
run's lines for people. Every one lists exactly the services and regions that change, from ->
to, and after a run which version each region runs."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from summit_platform.automation.delivery.deploy import DeployReport, forward_steps


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_json(report: DeployReport) -> dict[str, Any]:
    """The run (or the dry run) as one JSON document."""
    plan = report.plan
    steps = (
        [{"step": s.kind, "region": s.region} for s in forward_steps(plan)]
        if report.dry_run
        else [
            {
                "step": r.step.kind,
                "region": r.step.region,
                "ok": r.ok,
                "message": r.message,
                "detail": r.detail,
            }
            for r in report.results
        ]
    )
    return {
        "stack": plan.stack,
        "releases": plan.releases,
        "dryRun": report.dry_run,
        "ok": report.ok,
        "summary": report.summary,
        "rollbackAll": plan.rollback_all,
        "regions": [
            {
                "region": r.region,
                "status": report.region_status(r.region),
                "changes": [
                    {"service": e.service, "from": e.effective_previous, "to": e.new}
                    for e in r.edits
                ],
                "edits": [asdict(e) for e in r.edits],
                "targets": r.targets,
            }
            for r in plan.regions
        ],
        "unchanged": [asdict(u) for u in plan.unchanged],
        "final": report.final_versions(),
        "outcomes": [asdict(o) for o in report.outcomes()],
        "notes": plan.notes,
        "steps": steps,
    }


def to_markdown(report: DeployReport) -> str:
    """A workflow summary: the changes, where each region is left, and every step."""
    plan = report.plan
    head = "Deploy plan" if report.dry_run else "Deploy"
    lines = [f"## {head} {plan.what} to `{plan.stack}`", "", _cell(report.summary), ""]
    lines += ["| region | service | from -> to | status |", "|---|---|---|---|"]
    for r in plan.regions:
        status = report.region_status(r.region)
        for e in r.edits:
            lines.append(
                f"| {r.region} | {e.service} | {e.effective_previous} -> {e.new} | {status} |"
            )
    for u in plan.unchanged:
        lines.append(f"| {u.region} | {u.service} | {u.version} (no change) | not deployed |")
    if not report.dry_run:
        lines += ["", "After the run:", "", "| region | service | runs | note |"]
        lines.append("|---|---|---|---|")
        for o in report.outcomes():
            runs = o.after or "**unknown**"
            lines.append(f"| {o.region} | {o.service} | {runs} | {_cell(o.note)} |")
    if plan.notes:
        lines += ["", *(f"- {_cell(n)}" for n in plan.notes)]
    lines += ["", "| # | step | region | result |", "|---|---|---|---|"]
    if report.dry_run:
        for i, s in enumerate(forward_steps(plan), 1):
            lines.append(f"| {i} | {s.kind} | {s.region} | planned |")
    else:
        for i, res in enumerate(report.results, 1):
            mark = "ok" if res.ok else "**FAILED**"
            lines.append(
                f"| {i} | {res.step.kind} | {res.step.region} | {mark} {_cell(res.message)} |"
            )
    return "\n".join(lines) + "\n"


def plan_lines(report: DeployReport) -> list[str]:
    """The dry run for people: the changes (service, region, from -> to, the key), then every
    forward step, numbered."""
    plan = report.plan
    out = []
    for r in plan.regions:
        for e in r.edits:
            out.append(
                f"  {r.region:<10} {e.service:<12} {e.effective_previous} -> {e.new}  {e.path}"
            )
    for u in plan.unchanged:
        out.append(f"  {u.region:<10} {u.service:<12} already {u.version}: not deployed")
    out += [f"  note: {n}" for n in plan.notes]
    by_region = {r.region: r for r in plan.regions}
    for i, step in enumerate(forward_steps(plan), 1):
        region = by_region[step.region]
        extra = ""
        if step.kind == "set-version":
            extra = "; ".join(
                f"{e.service} {e.effective_previous} -> {e.new}" for e in region.edits
            )
        elif step.kind == "up":
            extra = f"--target x{len(region.targets)}"
        elif step.kind == "wait-healthy":
            extra = ", ".join(region.rollouts)
        out.append(f"{i:>2}. {step.kind:<13} {step.region}  {extra}")
    return out
