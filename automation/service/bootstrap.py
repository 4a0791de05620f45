"""``summit service new`` and ``summit service upgrade`` without the CLI around them.

The decisions are plain functions (:func:`name_problems`, :func:`next_steps`); the rest renders
with Copier, copies the policy packs, plans (embedded lane) or previews (cloud lane).

Policy packs: a generated service carries a copy of the platform's ``policypacks/`` (finops,
guardrails, with their per-stack configs), so ``summit plan -C <service> --stack stage`` and the
service's CI evaluate exactly the packs the platform evaluates, with no path back into this
repository. ``summit service upgrade`` refreshes that copy with the template. In the copy, a
pack's ``-e ../..`` (this checkout) becomes ``-r ../../requirements.txt``: the service's own
pinned requirements, the platform package among them.

The platform package: a service pins ``summit-platform`` at the version that generated it (its
``platform_version`` answer), with ``pulumi`` and the providers at the versions the package
is built against, all read from the installed package's metadata (:func:`platform_release`);
``platform_source`` says whether pip gets it from the company's package index or from the
platform's git repository at its tag. ``upgrade`` moves these pins forward with the template.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from summit_platform.automation import safe_io
from summit_platform.automation.errors import CheckFailed, UserError
from summit_platform.automation.service import template_repo
from summit_platform.automation.stack_files import load_stack
from summit_platform.stacks.config import DEFAULT_RUNTIME_CLASSES
from summit_platform.stacks.service_project import runtime_class_problem

PLATFORM_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = PLATFORM_ROOT / "templates" / "service"
DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", re.ASCII)
"""A DNS-1123 label; always used with ``fullmatch`` (``$`` would accept a trailing newline)."""
STAGE = "stage"
ANSWERS = ".copier-answers.yml"
PACKAGE = "summit-platform"
"""The platform's distribution name: what a service's requirements pin."""
PINNED = {
    "pulumi": "pulumi_version",
    "pulumi-aws": "pulumi_aws_version",
    "pulumi-kubernetes": "pulumi_kubernetes_version",
}
"""The platform's exact dependency pins a service repeats, and the template answer for each."""
TEMPLATE_URL_ENV = "SUMMIT_TEMPLATE_URL"
SOURCES = ("index", "git")
CONFLICT_MARKERS = (b"<<<<<<< before updating", b">>>>>>> after updating")
REPO_LOCK_S = 300.0
"""How long a run waits for another one building the same template repository."""


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
    conflicts: list[str] = field(default_factory=list)
    """Files an upgrade left with conflict markers (relative to the service)."""


@dataclass(frozen=True)
class PlatformRelease:
    """What a service pins and where it finds the template, from the platform's metadata."""

    version: str
    pins: dict[str, str]
    """Distribution -> exact version, for each of :data:`PINNED`."""
    repository: str | None
    """The platform's git repository (project URL ``Repository``)."""
    template_url: str | None
    """The service template's repository (project URL ``Service-Template``)."""

    def answers(self, source: str) -> dict[str, str]:
        """The template answers that pin the platform package (``source``: index or git)."""
        if source not in SOURCES:
            raise UserError(
                f"expected one of {', '.join(SOURCES)}, found {source!r}", key="--platform-source"
            )
        if source == "git" and not self.repository:
            raise UserError(
                f"the {PACKAGE} package names no Repository project URL", key="--platform-source"
            )
        out = {"platform_version": self.version, "platform_source": source}
        out["platform_repository"] = self.repository or ""
        out.update({answer: self.pins[dist] for dist, answer in PINNED.items()})
        return out


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


def release_from_metadata(
    version: str, requires: Iterable[str], project_urls: Iterable[str]
) -> PlatformRelease:
    """The :class:`PlatformRelease` of a distribution's metadata: its version, its
    ``Requires-Dist`` lines (each of :data:`PINNED` must be pinned with ``==``) and its
    ``Project-URL`` lines (``Label, URL``)."""
    pins: dict[str, str] = {}
    for line in requires:
        m = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;,]+)\s*(;.*)?$", line)
        if m and m.group(1).lower().replace("_", "-") in PINNED and not m.group(3):
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    missing = sorted(set(PINNED) - set(pins))
    if missing:
        raise UserError(
            f"{PACKAGE} {version} does not pin {', '.join(missing)} with ==: a service could"
            " not repeat the versions it is built against"
        )
    urls = {}
    for entry in project_urls:
        label, _, url = entry.partition(",")
        urls[label.strip().lower().replace(" ", "-")] = url.strip()
    return PlatformRelease(
        version=version,
        pins=pins,
        repository=urls.get("repository"),
        template_url=urls.get("service-template"),
    )


def runtime_class_choice(requested: str | None, allowed: list[str]) -> str:
    """The service's RuntimeClass: ``requested`` when the platform lists it, else the
    platform's first (its default); anything else exits 2 with the list."""
    name = allowed[0] if requested is None else requested
    problem = runtime_class_problem(name, allowed)
    if problem:
        raise UserError(problem, key="--runtime-class")
    return name


def conflicted_files(unmerged: Iterable[str], texts: dict[str, bytes]) -> list[str]:
    """Files an update left in conflict: the ones git holds unmerged, and any whose text still
    carries Copier's conflict markers (sorted, each once)."""
    found = {f for f in unmerged if f}
    for name, data in texts.items():
        if any(line.rstrip() in CONFLICT_MARKERS for line in data.splitlines()):
            found.add(name)
    return sorted(found)


# --- helpers ---------------------------------------------------------------------------------


def platform_release() -> PlatformRelease:
    """The installed platform package's :class:`PlatformRelease`."""
    try:
        meta = importlib.metadata.metadata(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise UserError(f"the {PACKAGE} package is not installed (pip install it)") from None
    requires = importlib.metadata.requires(PACKAGE) or []
    return release_from_metadata(meta["Version"], requires, meta.get_all("Project-URL") or [])


def template_url(release: PlatformRelease) -> str:
    """The template's portable address: ``$SUMMIT_TEMPLATE_URL``, else the package's."""
    url = os.environ.get(TEMPLATE_URL_ENV) or release.template_url
    if not url:
        raise UserError(
            f"no template URL: set {TEMPLATE_URL_ENV} (the package names no Service-Template URL)"
        )
    return url


def platform_runtime_classes(root: Path = PLATFORM_ROOT) -> list[str]:
    """The RuntimeClass names the platform's stage stack lists (its ``runtimeClasses``; the
    model's default when the platform has no stage stack file here)."""
    if not (root / "Pulumi.yaml").is_file() or not (root / f"Pulumi.{STAGE}.yaml").is_file():
        return list(DEFAULT_RUNTIME_CLASSES)
    return list(load_stack(root, STAGE).runtime_classes)


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


def service_pack_requirements(text: str) -> str:
    """A pack's requirements.txt as a service's copy needs it: the line installing this
    checkout (``-e ../..``) becomes the service's own pinned requirements."""
    ours = "# In a service: its own pinned requirements (the platform package among them).\n"
    lines = [
        ours + "-r ../../requirements.txt" if line.strip() == "-e ../.." else line
        for line in text.splitlines()
    ]
    return "\n".join(lines) + "\n"


def copy_policy_packs(dest: Path, root: Path = PLATFORM_ROOT) -> list[str]:
    """Copy the platform's packs into ``dest/policypacks`` (replacing an older copy)."""
    src = root / "policypacks"
    out = dest / "policypacks"
    if out.exists():
        shutil.rmtree(out)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".venv", "venv")
    names = []
    for pack in sorted(p.parent for p in src.glob("*/PulumiPolicy.yaml")):
        shutil.copytree(pack, out / pack.name, ignore=ignore)
        req = out / pack.name / "requirements.txt"
        if req.is_file():
            req.write_text(service_pack_requirements(req.read_text()))
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
    """Bad input exits 2 before anything is written."""
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


def _render(url: str, repo: Path, dest: Path, tag: str, data: dict[str, Any]) -> None:
    """Copier renders ``url`` at ``tag`` into ``dest`` (served from the local ``repo``);
    ``_src_path`` records the URL, never the local path."""
    copier = _copier()
    try:
        with template_repo.serving(url, repo):
            copier.run_copy(
                url,
                str(dest),
                data=data,
                vcs_ref=tag,
                defaults=True,
                quiet=True,
                unsafe=False,
            )
    except Exception:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def new_service(
    name: str,
    *,
    into: Path,
    team: str = "platform",
    offline: bool = False,
    runtime_class: str | None = None,
    platform_source: str = "index",
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
    release = platform_release()
    data = {
        "service_name": name,
        "team": team,
        "runtime_class": runtime_class_choice(
            runtime_class, platform_runtime_classes(platform_root)
        ),
        **release.answers(platform_source),
        **(extra_data or {}),
    }
    url = template_url(release)
    dest = into / name
    report = Report(service=name, path=dest)

    repo = repo_path or template_repo.default_repo_path()
    with _undo_on_failure(dest, into):
        into.mkdir(parents=True, exist_ok=True)
        with safe_io.locked(repo, timeout=REPO_LOCK_S):  # another run may be rebuilding it
            tag = template_repo.build(platform_root, template_dir, repo)
            _render(url, repo, dest, tag, data)
        report.actions.append(f"built the template repository {repo} at {tag}, served as {url}")
        report.actions.append(
            f"rendered the service template {tag} into {dest} ({PACKAGE} {release.version}"
            f" from the {platform_source}, runtime class {data['runtime_class']})"
        )
        in_git = _copy_packs_and_commit(report, name, dest, into, platform_root, tag)
        log("\n".join(report.actions))
        _plan_new(report, dest, offline)
    report.next_steps = next_steps(name, dest, offline, in_git)
    report.elapsed_seconds = time.monotonic() - started
    if report.plan and report.plan.get("mandatory"):
        raise CheckFailed(
            f"{name}: {report.plan['mandatory']} mandatory policy violation(s):\n"
            + "\n".join(report.plan["violations"])
        )
    return report


def _copy_packs_and_commit(
    report: Report, name: str, dest: Path, into: Path, platform_root: Path, tag: str
) -> bool:
    """Copy the platform's packs into the service and commit it when it is outside git;
    returns whether ``into`` is inside a git work tree."""
    packs = copy_policy_packs(dest, platform_root)
    report.actions.append(
        f"copied the policy packs ({', '.join(packs)}) into {dest / 'policypacks'}"
    )
    in_git = _inside_git(into)
    if not in_git:
        _git_commit_all(dest, f"{name}: generated from the service template {tag}")
        report.actions.append("initialised a git repository and committed (upgrades need git)")
    return in_git


def _plan_new(report: Report, dest: Path, offline: bool) -> None:
    if offline:
        report.plan = _plan_offline(dest)
        report.actions.append(
            f"planned stack {STAGE} in the embedded lane: {report.plan['resources']} resources,"
            f" {report.plan['mandatory']} mandatory and {report.plan['advisory']} advisory"
            f" violations ({', '.join(report.plan['packs'])})"
        )
    else:
        report.plan = _preview_cloud(dest)
        report.actions.append(
            f"created stack {STAGE} and previewed it with the policy packs: {report.plan['changes']}"
        )


def _plan_offline(dest: Path) -> dict[str, Any]:
    # Deferred: the embedded lane loads the Pulumi SDK and providers (~0.5 s).
    from summit_platform.automation.plan.runner import plan_stack

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
    # deferred: the Automation API loads the Pulumi SDK
    from summit_platform.automation import pulumi_ops

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
    """The service's answers file: where its template came from and at which version."""
    path = dest / ANSWERS
    if not path.is_file():
        raise UserError(
            "not a service generated from the template (no answers file)", source=str(path)
        )
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise UserError(f"not valid YAML ({err.__class__.__name__})", source=str(path)) from None
    if not isinstance(doc, dict):
        raise UserError("expected a mapping", source=str(path))
    for key in ("_src_path", "_commit"):
        if not isinstance(doc.get(key), str):
            raise UserError("expected a string", source=str(path), key=key)
    return doc


def _git_out(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def _check_clean(dest: Path) -> None:
    if not _inside_git(dest):
        raise UserError("upgrades need the service in git (commit it first)", source=str(dest))
    if _git_out(dest, "status", "--porcelain", "--", ".").strip():
        raise UserError(
            "uncommitted changes: commit or stash them so the upgrade's diff stands alone",
            source=str(dest),
        )


def _pin_answers(answers: dict[str, Any], release: PlatformRelease) -> dict[str, str]:
    """The platform pins move to the running platform's when it is newer than the recorded
    one (an older ``summit`` never downgrades a service)."""
    recorded = answers.get("platform_version")
    if isinstance(recorded, str) and template_repo.version_key(
        recorded
    ) >= template_repo.version_key(release.version):
        return {}
    source = answers.get("platform_source")
    return release.answers(source if source in SOURCES else "index")


def _conflicts(dest: Path) -> list[str]:
    """Files Copier's update left in conflict, relative to ``dest``."""
    unmerged = {
        line.split("\t", 1)[1] for line in _git_out(dest, "ls-files", "-u", "--", ".").splitlines()
    }
    changed = _git_out(dest, "diff", "--name-only", "--relative", "HEAD", "--", ".").split()
    changed += _git_out(dest, "ls-files", "--others", "--exclude-standard", "--", ".").split()
    texts = {f: (dest / f).read_bytes() for f in set(changed) if (dest / f).is_file()}
    return conflicted_files(unmerged, texts)


def _apply_update(
    dest: Path, answers: dict[str, Any], platform_root: Path, template_dir: Path, report: Report
) -> str:
    """Rebuild the template repository, serve the recorded URL from it and run Copier's
    three-way update; returns the newest tag."""
    release = platform_release()
    old = answers["_commit"]
    src = answers["_src_path"]
    portable = "://" in src or src.startswith("git@")
    # A service generated before sources were portable recorded the build's path: rebuild
    # there, as it was built then.
    repo = template_repo.default_repo_path() if portable else Path(src)
    with safe_io.locked(repo, timeout=REPO_LOCK_S):  # another run may be rebuilding it
        tag = template_repo.build(platform_root, template_dir, repo)
        report.actions.append(f"rebuilt the template repository {repo} ({old} -> {tag}) for {src}")
        if template_repo.version_key(tag.lstrip("v")) <= template_repo.version_key(old.lstrip("v")):
            report.actions.append(
                f"{report.service} is already at the newest template version {old}"
            )
            return tag
        data = _pin_answers(answers, release)
        _update(dest, tag, data, template_repo.serving(src, repo) if portable else None)
    report.actions.append(f"applied the template {old} -> {tag} (Copier three-way update)")
    if data:
        report.actions.append(f"moved the pins to {PACKAGE} {release.version}")
    return tag


def _update(dest: Path, tag: str, data: dict[str, str], serving: Any) -> None:
    with serving or contextlib.nullcontext():
        _copier().run_update(
            str(dest),
            data=data,
            vcs_ref=tag,
            overwrite=True,
            defaults=True,
            quiet=True,
            unsafe=False,
            conflict="inline",
        )


def upgrade_service(
    name: str,
    *,
    into: Path,
    template_dir: Path = TEMPLATE_DIR,
    platform_root: Path = PLATFORM_ROOT,
    log: Callable[[str], None] = lambda _m: None,
) -> Report:
    """Apply the newest template version to ``into/name`` with Copier's three-way update and
    refresh its policy packs; the changes stay uncommitted and the diff is returned. Files left
    in conflict are listed in ``report.conflicts`` (the CLI exits 1 on any)."""
    started = time.monotonic()
    dest = (into / name).resolve()
    if not dest.is_dir():
        raise UserError("no such service", source=str(dest))
    answers = read_answers(dest)
    _check_clean(dest)
    report = Report(service=name, path=dest)
    tag = _apply_update(dest, answers, platform_root, template_dir, report)
    copy_policy_packs(dest, platform_root)
    report.actions.append("refreshed the policy packs")
    report.conflicts = _conflicts(dest)
    report.diff = _git_out(dest, "diff", "HEAD", "--", ".")
    untracked = _git_out(dest, "ls-files", "--others", "--exclude-standard", "--", ".").split()
    if untracked:
        report.diff += "".join(f"new file: {f}\n" for f in untracked)
    if report.conflicts:
        report.actions.append(
            f"{len(report.conflicts)} file(s) left in conflict: {', '.join(report.conflicts)}"
        )
    report.next_steps = [
        *(
            [f"resolve the conflict markers in {', '.join(report.conflicts)}, then git add them"]
            if report.conflicts
            else []
        ),
        f"review the diff (git -C {dest} diff HEAD)",
        f"summit plan -C {dest} --stack stage && (cd {dest} && python -m pytest -q)",
        f"git -C {dest} commit -am 'Upgrade to the service template {tag}'",
    ]
    report.elapsed_seconds = time.monotonic() - started
    log("\n".join(report.actions))
    return report
