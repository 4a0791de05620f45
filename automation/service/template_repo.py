"""The service template as a versioned git repository, which Copier's updates need.

The template lives in a folder of the platform repository (``templates/service``). Copier can
only *update* a generated project from a git repository with version tags, so this module
builds one: a commit per released template version, read from the platform repo's
``service-template-v<X.Y.Z>`` tags with ``git archive``, and then the working tree's
``templates/service`` as ``v<VERSION>`` (replacing a released tag of the same version, so a
template being edited can be tried before release). Commits use a fixed author and date:
the same content gives the same commit ids on every build.

The template's portable address is a VCS URL (the platform package's ``Service-Template``
project URL, or ``$SUMMIT_TEMPLATE_URL``): Copier records it as ``_src_path`` and the tag as
``_commit`` in each service's answers file, the way it expects a template to be published, so
an answers file means the same on every machine. :func:`serving` makes that URL resolve to the
repository built here (git's ``url.<base>.insteadOf``, for Copier's git calls only), which is
how a checkout of the platform renders and upgrades services without the network; where the
template repository is published at its URL, nothing else changes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

from summit_platform.automation.errors import UserError

TAG_PREFIX = "service-template-v"
MARKER = "summit-template-repo"
"""File inside the built repository's ``.git``: proves a directory is ours to rebuild."""
_FIXED = {
    "GIT_AUTHOR_NAME": "summit",
    "GIT_AUTHOR_EMAIL": "summit@localhost",
    "GIT_COMMITTER_NAME": "summit",
    "GIT_COMMITTER_EMAIL": "summit@localhost",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def default_repo_path() -> Path:
    """``$SUMMIT_TEMPLATE_REPO``, else ``$XDG_CACHE_HOME/summit/service-template``."""
    env = os.environ.get("SUMMIT_TEMPLATE_REPO")
    if env:
        return Path(env).expanduser().resolve()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return (cache / "summit" / "service-template").resolve()


def version_key(version: str) -> tuple[int, ...]:
    """``"1.10.0"`` -> ``(1, 10, 0)``: semver order, not string order."""
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        raise UserError(f"expected a version like 1.2.0, found {version!r}") from None


def read_version(template_dir: Path) -> str:
    """The template's VERSION file (semver)."""
    path = template_dir / "VERSION"
    try:
        version = path.read_text().strip()
    except FileNotFoundError:
        raise UserError("missing: every template change bumps it", source=str(path)) from None
    version_key(version)
    return version


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **_FIXED},
        capture_output=True,
        text=True,
        check=check,
    )


def released_versions(platform_root: Path) -> list[str]:
    """Template versions tagged in the platform repository, oldest first ([] outside git)."""
    run = _git(platform_root, "tag", "--list", f"{TAG_PREFIX}*", check=False)
    if run.returncode != 0:
        return []
    versions = [t.removeprefix(TAG_PREFIX) for t in run.stdout.split()]
    return sorted((v for v in versions if v), key=version_key)


def _archive(platform_root: Path, tag: str, rel: str, into: Path) -> None:
    data = subprocess.run(
        ["git", "archive", "--format=tar", tag, rel],
        cwd=platform_root,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")


def _replace_tree(repo: Path, source: Path) -> None:
    for child in repo.iterdir():
        if child.name == ".git":
            continue
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for child in source.iterdir():
        if child.is_dir():
            shutil.copytree(child, repo / child.name, ignore=ignore)
        else:
            shutil.copy2(child, repo / child.name)


def _commit(repo: Path, version: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "commit", "--allow-empty", "-q", "-m", f"service template v{version}")
    _git(repo, "tag", "-f", f"v{version}")


def build(platform_root: Path, template_dir: Path, dest: Path) -> str:
    """(Re)build the template repository at ``dest``; returns the newest tag (``v1.2.0``).

    ``dest`` must be absent or a repository this function built (it carries :data:`MARKER`);
    anything else is refused rather than deleted."""
    dest = dest.resolve()
    if dest.exists() and not (dest / ".git" / MARKER).is_file():
        raise UserError(
            "exists and is not a summit template repository; refusing to overwrite it"
            " (set SUMMIT_TEMPLATE_REPO to another path)",
            source=str(dest),
        )
    current = read_version(template_dir)
    rel = template_dir.resolve().relative_to(platform_root.resolve()).as_posix()
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    _git(dest, "init", "-q", "-b", "main")
    (dest / ".git" / MARKER).write_text("built by automation/service/template_repo.py\n")
    released = [
        v for v in released_versions(platform_root) if version_key(v) < version_key(current)
    ]
    for version in released:
        with tempfile.TemporaryDirectory(prefix="summit-tpl-") as tmp:
            _archive(platform_root, f"{TAG_PREFIX}{version}", rel, Path(tmp))
            _replace_tree(dest, Path(tmp) / rel)
        _commit(dest, version)
    _replace_tree(dest, template_dir)
    _commit(dest, current)
    return f"v{current}"


@contextlib.contextmanager
def serving(url: str, repo: Path) -> Iterator[None]:
    """While inside, Copier's git commands fetch ``url`` from the local ``repo``.

    Git's ``url.<repo>.insteadOf=<url>`` is passed through ``GIT_CONFIG_COUNT`` in the
    environment of Copier's git (plumbum's, which does not follow ``os.environ``), so no git
    config file changes; Copier's mirror cache for the URL lives beside ``repo``, so two builds
    at two paths never share one."""
    # Deferred: plumbum comes with copier, which only `summit service` loads.
    from plumbum import local

    n = int(local.env.get("GIT_CONFIG_COUNT", "0") or 0)
    extra = {
        "GIT_CONFIG_COUNT": str(n + 1),
        f"GIT_CONFIG_KEY_{n}": f"url.{repo.resolve().as_uri()}.insteadOf",
        f"GIT_CONFIG_VALUE_{n}": url,
    }
    mirrors = str(repo.resolve().with_name(repo.name + ".mirrors"))
    old_cache = os.environ.get("COPIER_CACHE_DIR")
    os.environ["COPIER_CACHE_DIR"] = mirrors  # read by copier itself, not by its git
    try:
        with local.env(**extra, COPIER_CACHE_DIR=mirrors):
            yield
    finally:
        if old_cache is None:
            os.environ.pop("COPIER_CACHE_DIR", None)
        else:
            os.environ["COPIER_CACHE_DIR"] = old_cache
