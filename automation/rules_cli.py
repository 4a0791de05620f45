"""``summit rules render``: a stack's rule groups as plain Prometheus rule files, and its
dashboards as JSON, exactly as the MonitoringRules component deploys them.

Layout under ``--out`` (one folder per region, because USE series carry the region as a
static label)::

    <out>/<region>/<service>.rules.yml        # `groups:` file for promtool / a plain Prometheus
    <out>/<region>/dashboards/<uid>.json      # RED and USE per service, overview per region

``--check`` runs ``promtool check rules`` on every file written (exit 1 when it fails).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from summit_platform.automation import options
from summit_platform.automation.errors import CheckFailed, UserError
from summit_platform.automation.options import Cwd, JsonOut, OutDir, Stack
from summit_platform.automation.stack_files import load_stack
from summit_platform.components.render import dashboards as dash
from summit_platform.components.render import prometheus_rules as pr

app = options.new_app("rules", "Prometheus rules and Grafana dashboards of a stack.")


def render_stack(project_dir: Path, stack: str) -> dict[str, dict[str, Any]]:
    """Pure-ish: load the stack and build ``{relative path: document}`` for every file.

    Rule files map to ``{"groups": [...]}``, dashboards to their JSON model."""
    # The composition module imports the Pulumi SDK (~1 s); only this command needs it.
    from summit_platform.stacks.observability import region_services

    cfg = load_stack(project_dir, stack)
    files: dict[str, dict[str, Any]] = {}
    for region in cfg.region_names:
        specs = region_services(cfg, region)
        for spec in specs:
            files[f"{region}/{spec.service}.rules.yml"] = pr.rule_file(pr.service_rule_groups(spec))
            for name, board in dash.service_dashboards(spec.service).items():
                files[f"{region}/dashboards/{name}"] = board
        if specs:
            prefix = cfg.observability.service_label_prefix
            overview = dash.overview_dashboard(region, [s.service for s in specs], prefix)
            files[f"{region}/dashboards/{overview['uid']}.json"] = overview
    return files


def _summary(path: str, doc: dict[str, Any]) -> dict[str, Any]:
    if path.endswith(".rules.yml"):
        rules = [r for g in doc["groups"] for r in g["rules"]]
        return {
            "path": path,
            "kind": "rules",
            "groups": [g["name"] for g in doc["groups"]],
            "records": sum(1 for r in rules if "record" in r),
            "alerts": sum(1 for r in rules if "alert" in r),
        }
    return {"path": path, "kind": "dashboard", "uid": doc["uid"], "panels": len(doc["panels"])}


@app.command("render")
def render(
    stack: Stack,
    out: OutDir = None,
    cwd: Cwd = Path("."),
    json_out: JsonOut = None,
    check: Annotated[
        bool, typer.Option("--check", help="Run `promtool check rules` on the rule files.")
    ] = False,
) -> None:
    """Write a stack's rule groups (plain Prometheus rule files) and dashboards (JSON) into
    --out (default: rules/<stack> in the project folder)."""
    options.check_output(json_out, "--json")
    project_dir = options.project(cwd)
    files = render_stack(project_dir, stack)
    if not files:
        raise UserError(
            "no services configured, nothing to render",
            source=f"Pulumi.{stack}.yaml",
            key="summit-platform:services",
        )
    promtool = shutil.which("promtool") if check else None
    if check and promtool is None:
        raise UserError("--check needs promtool on PATH (Debian package: prometheus)")
    target = out if out is not None else project_dir / "rules" / stack
    written = _write_files(target, files)
    summary = [_summary(rel, doc) for rel, doc in sorted(files.items())]
    failures = _promtool_check(promtool, written) if promtool else []
    _print_table(summary, f"summit rules render --stack {stack} -> {target}", json_out)
    options.write_json(json_out, {"out": str(target), "files": summary}, indent=1)
    if failures:
        raise CheckFailed("promtool check rules failed:\n" + "\n".join(failures))


def _write_files(target: Path, files: dict[str, dict[str, Any]]) -> list[Path]:
    written = []
    for rel, doc in sorted(files.items()):
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".rules.yml"):
            path.write_text(pr.to_yaml(doc))
        else:
            path.write_text(json.dumps(doc, indent=1) + "\n")
        written.append(path)
    return written


def _promtool_check(promtool: str, written: list[Path]) -> list[str]:
    failures = []
    for path in written:
        if path.name.endswith(".rules.yml"):
            res = subprocess.run(
                [promtool, "check", "rules", str(path)],
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            if res.returncode != 0:
                failures.append(f"{path}: {(res.stdout + res.stderr).strip()}")
    return failures


def _print_table(summary: list[dict[str, Any]], title: str, json_out: str | None) -> None:
    table = Table(title=title)
    for col in ("file", "groups / uid", "records", "alerts / panels"):
        table.add_column(col)
    for s in summary:
        if s["kind"] == "rules":
            table.add_row(s["path"], str(len(s["groups"])), str(s["records"]), str(s["alerts"]))
        else:
            table.add_row(s["path"], s["uid"], "", str(s["panels"]))
    Console(stderr=options.to_stdout(json_out)).print(table)


def register(root: typer.Typer) -> None:
    """Attach ``summit rules`` to the root app."""
    root.add_typer(app, name="rules")
