"""Reports of a plan: a rich tree for people, JSON for machines, Markdown for a PR comment."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from summit_platform.automation.plan.engine import STACK_TYPE, RecordedResource
from summit_platform.automation.plan.runner import StackResult

JSON_VERSION = 1
LEVEL_ORDER = ("mandatory", "remediate", "advisory", "disabled")


def region_of(r: RecordedResource, by_urn: dict[str, RecordedResource]) -> str:
    """The region a resource lives in: its own region input, its provider's region (or the
    region in a Kubernetes provider's name), else its parent's; ``global`` otherwise."""
    seen = 0
    cur: RecordedResource | None = r
    while cur is not None and seen < 64:
        seen += 1
        if cur.is_provider:
            for part in [*cur.name.split("-", 1), ""][1:]:
                if part.count("-") == 2:
                    return part
        for key in ("endpointGroupRegion", "region"):
            v = cur.inputs.get(key)
            if isinstance(v, str) and v.count("-") == 2:
                return v
        if cur.provider:
            p = by_urn.get(cur.provider.rsplit("::", 1)[0])
            if p is not None:
                v = p.inputs.get("region")
                if isinstance(v, str) and v:
                    return v
                for part in [*p.name.split("-", 1), ""][1:]:
                    if part.count("-") == 2:
                        return part
        cur = by_urn.get(cur.parent) if cur.parent else None
    return "global"


def _short_type(t: str) -> str:
    return t.split(":")[-1] if t.count(":") >= 2 else t


def summary(result: StackResult) -> dict[str, Any]:
    res = [r for r in result.plan.resources if r.type != STACK_TYPE]
    levels = Counter(v.enforcement for v in result.violations)
    return {
        "resources": len(res),
        "components": sum(1 for r in res if not r.custom),
        "providers": sum(1 for r in res if r.is_provider),
        "packs": len(result.packs),
        "mandatory": levels.get("mandatory", 0),
        "advisory": levels.get("advisory", 0),
        "passed": levels.get("mandatory", 0) == 0,
    }


def to_json(results: Sequence[StackResult]) -> dict[str, Any]:
    out: dict[str, Any] = {"version": JSON_VERSION, "stacks": {}}
    for res in results:
        by_urn = res.plan.by_urn()
        out["stacks"][res.plan.stack] = {
            "project": res.plan.project,
            "stack": res.plan.stack,
            "source": res.inputs.source,
            "summary": summary(res),
            "outputs": res.plan.report_outputs(),
            "resources": [
                {**r.to_json(), "region": region_of(r, by_urn)} for r in res.plan.resources
            ],
            "packs": [
                {
                    "name": p.pack,
                    "version": p.version,
                    "path": p.path,
                    "policies": p.policies,
                    "analyzed": p.analyzed,
                }
                for p in res.packs
            ],
            "violations": [v.to_json() for v in res.violations],
        }
        if res.provider_check is not None:
            out["stacks"][res.plan.stack]["providerCheck"] = res.provider_check.summary()
    return out


def _tree(result: StackResult) -> Tree:
    plan = result.plan
    by_urn = plan.by_urn()
    kids: dict[str | None, list[RecordedResource]] = defaultdict(list)
    for r in plan.resources:
        kids[r.parent].append(r)
    root = Tree(f"[bold]{plan.project}[/] / [bold cyan]{plan.stack}[/]")

    def add(node: Tree, parent_urn: str) -> None:
        children = kids.get(parent_urn, [])
        leaves: dict[str, Counter[str]] = defaultdict(Counter)
        for c in children:
            if c.custom:
                leaves[c.type][region_of(c, by_urn)] += 1
        for typ, regions in sorted(leaves.items()):
            per_region = ", ".join(f"{k}: {v}" for k, v in sorted(regions.items()))
            node.add(f"{_short_type(typ)} x{sum(regions.values())}  [dim]{typ} ({per_region})[/]")
        for c in children:
            if not c.custom:
                sub = node.add(f"[bold]{_short_type(c.type)}[/] {c.name}  [dim]{c.type}[/]")
                add(sub, c.urn)

    add(root, plan.root_urn)
    orphans = [r for r in plan.resources if r.parent is None and r.type != STACK_TYPE]
    if orphans:
        prov = root.add("[dim]default providers[/]")
        for r in orphans:
            prov.add(f"{r.type} {r.name}")
    return root


def print_human(results: Sequence[StackResult], console: Console) -> None:
    for res in results:
        console.print(_tree(res))
        s = summary(res)
        if res.violations:
            table = Table(title=f"Policy results - {res.plan.stack}", show_lines=False)
            for col in ("level", "pack/policy", "resource", "message"):
                table.add_column(col, overflow="fold")
            for level in LEVEL_ORDER:
                for v in (x for x in res.violations if x.enforcement == level):
                    style = "red" if level == "mandatory" else "yellow"
                    table.add_row(
                        f"[{style}]{level}[/]",
                        f"{v.pack}/{v.policy}",
                        v.urn.rsplit("::", 1)[-1] if v.urn else "(stack)",
                        escape(_message(v.message, v.description)),
                    )
            console.print(table)
        if res.provider_check is not None:
            console.print(escape(provider_check_line(res)))
        packs = ", ".join(f"{p.pack}@{p.version}" for p in res.packs) or "no policy packs"
        verdict = "[green]passed[/]" if s["passed"] else "[red]BLOCKED[/]"
        console.print(
            f"{res.plan.stack}: {s['resources']} resources ({s['components']} components,"
            f" {s['providers']} providers); {packs}; {s['mandatory']} mandatory,"
            f" {s['advisory']} advisory violations - {verdict}\n"
        )


def provider_check_line(res: StackResult) -> str:
    """One line: what the provider check covered, what it did not, what it skipped."""
    pc = res.provider_check
    if pc is None:
        return f"{res.plan.stack}: provider check not run"
    s = pc.summary()
    unchecked = ", ".join(f"{t} x{n}" for t, n in s["unchecked"].items()) or "none"
    return (
        f"provider check (Kubernetes {s['kubernetesVersion']} schema and API rules, vendored"
        f" CRDs, botocore {s['botocore']} models): {s['checked']} resources checked,"
        f" {s['problems']} problems; unchecked types: {unchecked}; skipped"
        f" {s['unknownValuesSkipped']} unknown and {s['secretValuesSkipped']} secret values"
    )


def _provider_check_markdown(res: StackResult) -> list[str]:
    pc = res.provider_check
    if pc is None:
        return []
    s = pc.summary()
    lines = [
        f"Provider check (Kubernetes {s['kubernetesVersion']}, botocore {s['botocore']}):"
        f" **{s['checked']}** resources checked, **{s['problems']}** problems,"
        f" {s['unknownValuesSkipped']} unknown and {s['secretValuesSkipped']} secret values"
        " skipped.",
        "",
    ]
    if s["unchecked"]:
        lines += ["| unchecked type | count |", "|---|---:|"]
        lines += [f"| `{t}` | {n} |" for t, n in s["unchecked"].items()]
        lines.append("")
    return lines


def _message(message: str, description: str) -> str:
    """Packs prefix each message with the policy's description; show it once."""
    if description and message.startswith(description):
        rest = message[len(description) :].strip()
        return rest or description
    return message


def to_markdown(results: Sequence[StackResult]) -> str:
    lines = ["## summit plan (embedded lane)", ""]
    blocked = [r.plan.stack for r in results if r.mandatory]
    if blocked:
        lines.append(f"**Blocked** by mandatory policy violations in: {', '.join(blocked)}.")
    else:
        lines.append("No mandatory policy violations.")
    lines.append("")
    for res in results:
        s = summary(res)
        lines += [
            f"### `{res.plan.stack}`: {s['resources']} resources,"
            f" {s['mandatory']} mandatory / {s['advisory']} advisory",
            "",
            "| type | count | regions |",
            "|---|---:|---|",
        ]
        by_urn = res.plan.by_urn()
        per_type: dict[str, Counter[str]] = defaultdict(Counter)
        for r in res.plan.resources:
            if r.type != STACK_TYPE:
                per_type[r.type][region_of(r, by_urn)] += 1
        for typ, regions in sorted(per_type.items()):
            regs = ", ".join(f"{k} {v}" for k, v in sorted(regions.items()))
            lines.append(f"| `{typ}` | {sum(regions.values())} | {regs} |")
        lines.append("")
        lines += _provider_check_markdown(res)
        if res.violations:
            lines += ["| level | policy | resource | message |", "|---|---|---|---|"]
            for level in LEVEL_ORDER:
                for v in (x for x in res.violations if x.enforcement == level):
                    msg = _message(v.message, v.description).replace("|", "\\|").replace("\n", " ")
                    where = f"`{v.urn.rsplit('::', 1)[-1]}`" if v.urn else "(stack)"
                    lines.append(f"| {level} | `{v.pack}/{v.policy}` | {where} | {msg} |")
            lines.append("")
    lines.append(
        "_Planned in-process under Pulumi's mock engine. Provider check: Kubernetes schemas and"
        " API-server rules, CRDs, AWS API models and documented rules; no cloud diff, no"
        " account-level limits; computed values are synthesised._"
    )
    return "\n".join(lines) + "\n"
