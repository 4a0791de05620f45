"""Run the Locust suite headless against a host, bounded in users and time.

``python -m loadtests.run --host http://127.0.0.1:8080 --out results/pr --runs 3 --seconds 5``
writes ``results/pr/run1_stats.csv`` ... and prints their paths, one per line, ready for
``summit perf compare``. Locust runs in a subprocess: it monkey-patches the standard library
with gevent on import, which must not happen inside a test process or the CLI.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"


def run_locust(
    host: str,
    prefix: Path,
    *,
    seconds: float = 5,
    users: int = 8,
    locustfile: Path = LOCUSTFILE,
) -> Path:
    """One bounded headless run; returns the ``_stats.csv`` it wrote.

    Raises RuntimeError with Locust's stderr when no stats file appears. Locust's own exit
    code is not trusted for the verdict (it is 1 whenever any request failed): the gate
    decides from the numbers."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{max(1, round(seconds))}s",
        "--stop-timeout",
        "1",
        "--host",
        host,
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    stats = Path(f"{prefix}_stats.csv")
    if not stats.is_file():
        raise RuntimeError(
            f"locust wrote no {stats} (exit {proc.returncode}): {proc.stderr[-2000:]}"
        )
    return stats


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: several runs, one stats file per run."""
    ap = argparse.ArgumentParser(prog="python -m loadtests.run", description=__doc__)
    ap.add_argument("--host", required=True, help="base URL, e.g. http://127.0.0.1:8080")
    ap.add_argument("--out", required=True, type=Path, help="directory for the CSV files")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--users", type=int, default=8)
    args = ap.parse_args(argv)
    for i in range(1, args.runs + 1):
        print(run_locust(args.host, args.out / f"run{i}", seconds=args.seconds, users=args.users))
    return 0


if __name__ == "__main__":
    sys.exit(main())
