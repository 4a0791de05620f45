"""Benchmark: the golden path's first mile, from `summit service new` to a clean plan of the
new service from its own venv. Goal: under 2 minutes on this machine (2 cores).

Phases, each timed on the wall clock:

1. ``summit service new bench-svc --team bench --offline`` (a fresh process: render the
   template, copy the packs, commit, and the embedded-lane plan it runs itself);
2. this checkout's wheel (``pip wheel --no-deps``), standing in for the published platform
   package (a service team downloads it instead; printed, not counted in the total);
3. the service's ``.venv`` from its ``requirements.txt`` alone (pip as configured here, its
   cache warm after the first run);
4. ``summit plan -C . --stack stage`` from that venv (its first run, so it includes compiling
   the modules the program imports).

Run on demand: ``.venv/bin/python benchmarks/golden_path.py [--keep DIR]``. Exits 0 whatever
the figures, 1 only when a step fails (a benchmark reports, it does not gate).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.service_venv import (  # noqa: E402 - a checkout helper, not a package
    build_wheel,
    clean_env,
    make_venv,
    run_in_venv,
)

GOAL_SECONDS = 120.0
NAME = "bench-svc"


def _timed(label: str, figures: dict[str, float], fn, *args):
    started = time.monotonic()
    result = fn(*args)
    figures[label] = time.monotonic() - started
    print(f"  {label:<34} {figures[label]:7.1f} s", flush=True)
    return result


def _new(work: Path) -> None:
    env = {**clean_env(), "SUMMIT_TEMPLATE_REPO": str(work / "template-repo")}
    summit = Path(sys.executable).parent / "summit"
    args = [str(summit), "service", "new", NAME, "--team", "bench", "--offline"]
    run = subprocess.run(
        [*args, "--into", str(work)], capture_output=True, text=True, env=env, check=False
    )
    if run.returncode != 0:
        raise SystemExit(f"summit service new failed ({run.returncode}):\n{run.stderr}")


def _plan(bin_dir: Path, svc: Path) -> None:
    run = run_in_venv(bin_dir, ["summit", "plan", "-C", ".", "--stack", "stage", "-q"], svc)
    if run.returncode != 0 or "0 mandatory" not in run.stdout:
        raise SystemExit(f"summit plan failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", type=Path, help="Work in DIR and keep it (default: a temp dir).")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="golden-path-"))
    work.mkdir(parents=True, exist_ok=True)
    figures: dict[str, float] = {}
    print(f"golden path in {work} (cores: {os.cpu_count()})")
    _timed("summit service new --offline", figures, _new, work)
    svc = work / NAME
    wheel = _timed("wheel (stand-in for the index)", figures, build_wheel, work / "wheels")
    bin_dir = _timed("venv from requirements.txt", figures, make_venv, svc, wheel.parent)
    _timed("summit plan from the service venv", figures, _plan, bin_dir, svc)
    total = sum(v for k, v in figures.items() if not k.startswith("wheel"))
    print(f"  {'total (without the wheel)':<34} {total:7.1f} s")
    print(f"  goal {GOAL_SECONDS:.0f} s: total/goal = {total / GOAL_SECONDS:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
