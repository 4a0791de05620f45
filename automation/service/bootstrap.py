"""``summit service new`` and ``summit service upgrade`` without the CLI around them.

The decisions are plain functions (:func:`name_problems`, :func:`next_steps`); the rest renders
with Copier, copies the policy packs, plans (embedded lane) or previews (cloud lane).

Policy packs: a generated service carries a copy of the platform's ``policypacks/`` (finops,
guardrails, with their per-stack configs), so ``summit plan -C <service> --stack stage`` and the
service's CI evaluate exactly the packs the platform evaluates, with no path back into this
repository. ``summit service upgrade`` refreshes that copy with the template.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from automation.errors import CheckFailed, UserError
from automation.service import template_repo

PLATFORM_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = PLATFORM_ROOT / "templates" / "service"
DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", re.ASCII)
"""A DNS-1123 label; always used with ``fullmatch`` (``$`` would accept a trailing newline)."""
STAGE = "stage"
ANSWERS = ".copier-answers.yml"


@dataclass
class Report:
    """What a command did, for the human summary and ``--json``."""

    service: str
    path: Path
    actions: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0
    plan: dict[str, Any] | None = None
    diff: str = ""


# --- pure decisions --------------------------------------------------------------------------


def name_problems(name: str, existing: set[str]) -> list[str]:
    """Why ``name`` cannot be a new service (empty: it can). DNS-1123 label, at most 63
    characters, and not a service or folder that already exists."""
    problems = []
    if len(name) > 63:
        problems.append(f"expected at most 63 characters, found {len(name)}")
    if not DNS1123.fullmatch(name):
        problems.append(
            "expected a DNS-1123 label (lowercase letters, digits and '-', starting and ending"
            f" with a letter or digit), found {_shown(name)}"
        )
    if name in existing:
        problems.append(f"a service named {name!r} already exists")
    return problems


def _shown(name: str) -> str:
    """A name as a message shows it: quoted with escapes (a newline shows as ``\\n``), cut
    after 80 characters."""
    return repr(name) if len(name) <= 80 else repr(name[:80]) + "..."


def next_steps(name: str, path: Path, offline: bool, in_git: bool) -> list[str]:
    """What the owner does after ``new``, in order."""
    rel = path
    steps = []
    if in_git:
        steps.append(f"git add {rel} && git commit -m 'Add {name} from the service template'")
    steps += [
        f"cd {rel} && pip install -r requirements.txt -r requirements-dev.txt && python -m pytest -q",
        f"summit plan -C {rel} --stack stage   # policy packs, no cloud",
        "push a branch: CI runs tests, the contract test, the plan, perf budgets and gitleaks",
    ]
    if offline:
        packs = " ".join(f"--policy-pack policypacks/{p}" for p in ("finops", "guardrails"))
        steps.append(
            f"cloud lane (Pulumi CLI and backend login): cd {rel} && pulumi stack init stage"
            f" && pulumi preview --stack stage {packs}, then pulumi up --stack stage"
        )
    else:
        steps.append(f"pulumi up --stack stage -C {rel}   # after review of the preview above")
    return steps


# --- helpers ---------------------------------------------------------------------------------


def platform_service_names(root: Path = PLATFORM_ROOT) -> set[str]:
    """Services the platform stacks already run (any stack file), best effort."""
    names: set[str] = set()
    for path in root.glob("Pulumi.*.yaml"):
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        for s in (doc.get("config") or {}).get("summit-platform:services") or []:
            if isinstance(s, dict) and isinstance(s.get("name"), str):
                names.add(s["name"])
    return names


def _inside_git(path: Path) -> bool:
    run = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"],
        cwd=path,
        capture_output=True,
        text=True,
        check=False,
    )
    return run.returncode == 0 and run.stdout.strip() == "true"


def copy_policy_packs(dest: Path, root: Path = PLATFORM_ROOT) -> list[str]:
    """Copy the platform's packs into ``dest/policypacks`` (replacing an older copy)."""
    src = root / "policypacks"
    out = dest / "policypacks"
    if out.exists():
        shutil.rmtree(out)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".venv")
    names = []
    for pack in sorted(p.parent for p in src.glob("*/PulumiPolicy.yaml")):
        shutil.copytree(pack, out / pack.name, ignore=ignore)
        names.append(pack.name)
    return names


def _git_commit_all(path: Path, message: str) -> None:
    env = {k: v for k, v in template_repo._FIXED.items() if "DATE" not in k}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", message]):
        subprocess.run(
            ["git", *args], cwd=path, env={**os.environ, **env}, check=True, capture_output=True
        )


def _copier() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # Deferred: copier (and its Jinja/pydantic stack) loads only for service new/upgrade,
        # and warns on import about its own dependencies, which users cannot act on.
        import copier
    return copier


# --- new -------------------------------------------------------------------------------------


def _check_new(name: str, into: Path, team: str, platform_root: Path) -> None:
    """Every check of ``new`` that needs no write: the folder, the name, the team."""
    if into.exists() and not into.is_dir():
        raise UserError("expected a directory for --into", source=str(into))
    existing = platform_service_names(platform_root)
    if into.is_dir():
        existing |= {p.name for p in into.iterdir()}
    problems = name_problems(name, existing)
    if problems:
        raise UserError("; ".join(problems), source=str(into / name), key="name")
    if not team or not DNS1123.fullmatch(team):
        raise UserError(f"expected a DNS-1123 label, found {_shown(team)}", key="--team")


@contextlib.contextmanager
def _undo_on_failure(dest: Path, into: Path) -> Iterator[None]:
    """Remove what ``new`` created (the service folder, and ``--into`` when ``new`` created
    it) if anything in the block fails: bad input, a crash or Ctrl-C leave nothing behind. A
    mandatory policy violation is raised after the block: those files stay for fixing."""
    created = next((p for p in [*reversed(into.parents), into] if not p.exists()), None)
    try:
        yield
    except BaseException:
        shutil.rmtree(created or dest, ignore_errors=True)
        raise


def new_service(
    name: str,
    *,
    into: Path,
    team: str = "platform",
    offline: bool = False,
    template_dir: Path = TEMPLATE_DIR,
    platform_root: Path = PLATFORM_ROOT,
    repo_path: Path | None = None,
    extra_data: dict[str, Any] | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> Report:
    """Validate, render, copy the packs, then plan (offline) or create the stage stack and
    preview it with the packs (cloud lane). Bad input raises UserError before anything is
    written; any failure after the first write removes what was written; a mandatory
    violation raises CheckFailed after (the files stay for fixing)."""
    started = time.monotonic()
    into = into.resolve()
    _check_new(name, into, team, platform_root)
    dest = into / name
    report = Report(service=name, path=dest)
    repo = repo_path or template_repo.default_repo_path()
    tag = template_repo.build(platform_root, template_dir, repo)
    report.actions.append(f"built the template repository {repo} at {tag}")
    with _undo_on_failure(dest, into):
        in_git = _render(name, team, dest, repo, tag, platform_root, extra_data, report)
        log("\n".join(report.actions))
        if offline:
            report.plan = _plan_offline(dest)
            report.actions.append(
                f"planned stack {STAGE} in the embedded lane: {report.plan['resources']}"
                f" resources, {report.plan['mandatory']} mandatory and"
                f" {report.plan['advisory']} advisory violations"
                f" ({', '.join(report.plan['packs'])})"
            )
        else:
            report.plan = _preview_cloud(dest)
            report.actions.append(
                f"created stack {STAGE} and previewed it with the policy packs:"
                f" {report.plan['changes']}"
            )
    report.next_steps = next_steps(name, dest, offline, in_git)
    report.elapsed_seconds = time.monotonic() - started
    if report.plan.get("mandatory"):
        raise CheckFailed(
            f"{name}: {report.plan['mandatory']} mandatory policy violation(s):\n"
            + "\n".join(report.plan["violations"])
        )
    return report


def _render(
    name: str,
    team: str,
    dest: Path,
    repo: Path,
    tag: str,
    platform_root: Path,
    extra_data: dict[str, Any] | None,
    report: Report,
) -> bool:
    """Render the template into ``dest``, copy the packs, commit when outside git; returns
    whether ``dest`` is inside a git work tree."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    copier = _copier()
    data = {"service_name": name, "team": team, **(extra_data or {})}
    copier.run_copy(
        str(repo), str(dest), data=data, vcs_ref=tag, defaults=True, quiet=True, unsafe=False
    )
    report.actions.append(f"rendered the service template {tag} into {dest}")
    packs = copy_policy_packs(dest, platform_root)
    report.actions.append(
        f"copied the policy packs ({', '.join(packs)}) into {dest / 'policypacks'}"
    )
    in_git = _inside_git(dest.parent)
    if not in_git:
        _git_commit_all(dest, f"{name}: generated from the service template {tag}")
        report.actions.append("initialised a git repository and committed (upgrades need git)")
    return in_git


def _plan_offline(dest: Path) -> dict[str, Any]:
    # Deferred: the embedded lane loads the Pulumi SDK and providers (~0.5 s).
    from automation.plan.runner import plan_stack

    res = plan_stack(dest, STAGE)
    violations = [f"[{v.enforcement}] {v.pack}/{v.policy}: {v.message}" for v in res.violations]
    return {
        "lane": "embedded",
        "resources": len(res.plan.resources),
        "mandatory": len(res.mandatory),
        "advisory": len(res.violations) - len(res.mandatory),
        "packs": [p.pack for p in res.packs] if res.packs else [],
        "violations": violations,
    }


def _preview_cloud(dest: Path) -> dict[str, Any]:
    from automation import pulumi_ops  # deferred: the Automation API loads the Pulumi SDK

    found = sorted(p.parent for p in (dest / "policypacks").glob("*/PulumiPolicy.yaml"))
    # The CLI pairs --policy-pack-config with --policy-pack by position, so packs with a
    # config for the stack come first and packs without one (their defaults) after.
    packs = sorted(found, key=lambda p: not (p / "config" / f"{STAGE}.json").is_file())
    configs = [c for p in packs if (c := p / "config" / f"{STAGE}.json").is_file()]
    stack = pulumi_ops.open_stack(dest, STAGE, create=True)
    try:
        outcome = pulumi_ops.preview(
            stack,
            policy_packs=packs,
            policy_pack_configs=configs,
        )
    except pulumi_ops.PolicyViolations as err:
        return {
            "lane": "cloud",
            "changes": {},
            "mandatory": len(err.mandatory),
            "violations": [f"{e.pack}/{e.policy}: {e.message}" for e in err.mandatory],
        }
    return {
        "lane": "cloud",
        "changes": outcome.changes,
        "mandatory": len(outcome.mandatory_violations),
        "violations": [f"{e.pack}/{e.policy}: {e.message}" for e in outcome.mandatory_violations],
    }


# --- upgrade ---------------------------------------------------------------------------------


def read_answers(dest: Path) -> dict[str, Any]:
    path = dest / ANSWERS
    if not path.is_file():
        raise UserError(
            "not a service generated from the template (no answers file)", source=str(path)
        )
    doc = yaml.safe_load(path.read_text()) or {}
    for key in ("_src_path", "_commit"):
        if not isinstance(doc.get(key), str):
            raise UserError("expected a string", source=str(path), key=key)
    return doc


def upgrade_service(
    name: str,
    *,
    into: Path,
    template_dir: Path = TEMPLATE_DIR,
    platform_root: Path = PLATFORM_ROOT,
    log: Callable[[str], None] = lambda _m: None,
) -> Report:
    """Apply the newest template version to ``into/name`` with Copier's three-way update and
    refresh its policy packs; the changes stay uncommitted and the diff is returned."""
    started = time.monotonic()
    dest = (into / name).resolve()
    if not dest.is_dir():
        raise UserError("no such service", source=str(dest))
    answers = read_answers(dest)
    if not _inside_git(dest):
        raise UserError("upgrades need the service in git (commit it first)", source=str(dest))
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "."],
        cwd=dest,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if status.strip():
        raise UserError(
            "uncommitted changes: commit or stash them so the upgrade's diff stands alone",
            source=str(dest),
        )
    report = Report(service=name, path=dest)
    old = answers["_commit"]
    repo = Path(answers["_src_path"])
    tag = template_repo.build(platform_root, template_dir, repo)
    report.actions.append(f"rebuilt the template repository {repo} ({old} -> {tag})")
    if template_repo.version_key(tag.lstrip("v")) <= template_repo.version_key(old.lstrip("v")):
        report.actions.append(f"{name} is already at the newest template version {old}")
    else:
        copier = _copier()
        copier.run_update(
            str(dest),
            vcs_ref=tag,
            overwrite=True,
            defaults=True,
            quiet=True,
            unsafe=False,
            conflict="inline",
        )
        report.actions.append(f"applied the template {old} -> {tag} (Copier three-way update)")
    copy_policy_packs(dest, platform_root)
    report.actions.append("refreshed the policy packs")
    report.diff = subprocess.run(
        ["git", "diff", "--", "."], cwd=dest, capture_output=True, text=True, check=True
    ).stdout
    untracked = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "--", "."],
        cwd=dest,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if untracked:
        report.diff += "".join(f"new file: {f}\n" for f in untracked)
    report.next_steps = [
        f"review the diff (git -C {dest} diff); resolve any conflict markers",
        f"summit plan -C {dest} --stack stage && (cd {dest} && python -m pytest -q)",
        f"git -C {dest} commit -am 'Upgrade to the service template {tag}'",
    ]
    report.elapsed_seconds = time.monotonic() - started
    log("\n".join(report.actions))
    return report
