"""A generated service installed the way its owners install it: from its own files only.

Shared by ``tests/test_service_install.py`` and ``benchmarks/golden_path.py``:

- :func:`build_wheel` builds this checkout's wheel (``pip wheel --no-deps``), standing in for
  the platform package a company publishes to its index; it builds from a copy of the
  files the package ships, so the checkout gains no ``build/`` or ``*.egg-info``;
- :func:`make_venv` creates the service's ``.venv`` (the one its Pulumi.yaml names) and runs
  ``pip install -r requirements.txt`` with the wheel's folder as an extra find-links, every
  other package coming from pip's configured index and cache as usual;
- :func:`run_in_venv` runs a command from that venv with nothing of this checkout on the path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def clean_env() -> dict[str, str]:
    """The environment without anything that would put this checkout or its venv first."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSAFEPATH"}
    return {k: v for k, v in os.environ.items() if k not in drop}


SKIP = ("tests/", "docs/", "benchmarks/", ".github/", "loadtests/", "budgets/", "templates/")
"""Folders the package does not ship: not copied for the build."""


def build_wheel(out: Path, root: Path = ROOT) -> Path:
    """This checkout's wheel in ``out``, built from a copy of its files (tracked, or new and
    not ignored) without the folders the package does not ship."""
    src = out / "src"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        if rel.startswith(SKIP) or not (root / rel).is_file():
            continue
        target = src / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
        env=clean_env(),
    )
    (wheel,) = out.glob("summit_platform-*.whl")
    return wheel


def make_venv(service: Path, wheels: Path) -> Path:
    """``service/.venv`` from ``service/requirements.txt`` alone (the wheel folder added as
    find-links); returns the venv's bin folder."""
    venv = service / ".venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=clean_env())
    bin_dir = venv / "bin"
    run = subprocess.run(
        [
            str(bin_dir / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            # pulumi-aws alone is thousands of modules and a program imports a handful:
            # compile on first import rather than all of them at install time.
            "--no-compile",
            "--find-links",
            str(wheels),
            "-r",
            "requirements.txt",
        ],
        cwd=service,
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    if run.returncode != 0:
        raise RuntimeError(f"pip install -r requirements.txt failed:\n{run.stderr[-4000:]}")
    return bin_dir


def run_in_venv(
    bin_dir: Path, args: list[str], cwd: Path, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``bin_dir/<args[0]> args[1:]`` from ``cwd``, with the venv first on PATH."""
    env = clean_env()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(bin_dir.parent)
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
