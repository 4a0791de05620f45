"""Benchmark: ingest a 2,000,000-line k6 NDJSON file; compare with jq computing the same p95.

    python benchmarks/perf_ingest.py [--lines 2000000] [--workdir /tmp/perf-bench] [--json]

The file is generated from the shapes of the real fixture
``tests/fixtures/k6/out-json_grafana-xk6-dashboard_result.ndjson``: its Metric
declarations, then its Point lines cycled in order (so the mix of metrics per request is
k6's own), with the ``name``/``url`` tags spread over the gateway's ten endpoints and
``http_req_duration`` values drawn from a seeded log-normal distribution.

Both sides run as child processes, timed on the wall clock, peak memory from the child's
``ru_maxrss``. The baseline is jq (Debian's /usr/bin/jq) streaming the file with ``reduce``
and sorting per endpoint -- the shell approach the budgets replace, in its cheapest form
(``jq -s`` would also hold every line in memory). Goal: >= 5x faster than jq, < 200 MB peak.
Prints ratios; asserts nothing (timings are not unit tests).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "k6" / "out-json_grafana-xk6-dashboard_result.ndjson"
ENDPOINTS = [
    ("GET /search", "/search?q=x", 0.30),
    ("POST /ingest", "/ingest", 0.15),
    ("GET /users/{id}", "/users/42", 0.12),
    ("GET /orders", "/orders", 0.08),
    ("POST /orders", "/orders", 0.06),
    ("GET /catalog", "/catalog", 0.08),
    ("GET /cart", "/cart", 0.07),
    ("POST /checkout", "/checkout", 0.05),
    ("GET /recommendations", "/recommendations", 0.05),
    ("GET /healthz", "/healthz", 0.04),
]
JQ_PROGRAM = (
    'reduce (inputs | select(.type == "Point" and .metric == "http_req_duration")) as $p'
    " ({}; .[$p.data.tags.name] += [$p.data.value])"
    # p95 with linear interpolation between order statistics, as k6 computes it.
    " | map_values(sort as $s | ((($s | length) - 1) * 0.95) as $r | ($r | floor) as $i"
    " | $s[$i] + (($s[[$i + 1, ($s | length) - 1] | min] - $s[$i]) * ($r - $i)))"
)
OURS = (
    "import json, sys; from summit_platform.automation.perf.ingest import read_result; "
    "r = read_result(sys.argv[1]); "
    "print(json.dumps({e.name: e.p95_ms for e in r.endpoints}))"
)


def generate(out: Path, lines: int, seed: int = 7) -> None:
    """Write ``lines`` NDJSON lines shaped like the fixture."""
    rng = random.Random(seed)
    metrics, points = [], []
    for raw in FIXTURE.read_text(encoding="utf-8").splitlines():
        obj = json.loads(raw)
        (metrics if obj["type"] == "Metric" else points).append(obj)
    # A request starts at each http_reqs point; everything up to the next one belongs to it.
    weights = [w for *_, w in ENDPOINTS]
    written = 0
    with open(out, "w", encoding="utf-8") as fh:
        for m in metrics:
            fh.write(json.dumps(m, separators=(",", ":")) + "\n")
            written += 1
        i = 0
        name, url = ENDPOINTS[0][:2]
        while written < lines:
            p = points[i % len(points)]
            i += 1
            tags = p["data"].get("tags") or {}
            if p["metric"] == "http_reqs":
                name, path, _ = rng.choices(ENDPOINTS, weights)[0]
                url = "http://127.0.0.1:8080" + path
            if "name" in tags:
                tags = {**tags, "name": name, "url": url, "method": name.split()[0]}
            value = p["data"]["value"]
            if p["metric"] == "http_req_duration":
                value = round(rng.lognormvariate(3.0, 0.6), 6)
            obj = {
                "metric": p["metric"],
                "type": "Point",
                "data": {**p["data"], "tags": tags, "value": value},
            }
            fh.write(json.dumps(obj, separators=(",", ":")) + "\n")
            written += 1


def run_child(cmd: list[str], *, stdout_path: Path) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, peak RSS in MB, exit code) of a child process."""
    with open(stdout_path, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=out, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/perf-bench"))
    ap.add_argument("--skip-jq", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = args.workdir / f"k6-{args.lines}.ndjson"
    if not data.exists():
        t0 = time.perf_counter()
        generate(data, args.lines)
        took = time.perf_counter() - t0
        print(f"generated {data} ({data.stat().st_size / 1e6:.0f} MB) in {took:.1f} s")
    figures: dict[str, object] = {"lines": args.lines, "bytes": data.stat().st_size}

    wall, cpu, rss, rc = run_child(
        [sys.executable, "-c", OURS, str(data)], stdout_path=args.workdir / "ours.json"
    )
    if rc:
        print("summit perf ingest failed", file=sys.stderr)
        return 1
    ours = json.loads((args.workdir / "ours.json").read_text())
    figures.update(
        ours_s=round(wall, 2),
        ours_cpu_s=round(cpu, 2),
        ours_lines_per_s=round(args.lines / wall),
        ours_peak_mb=round(rss, 1),
    )
    print(
        f"summit perf: {wall:.2f} s wall ({cpu:.2f} s CPU), {args.lines / wall:,.0f} lines/s, "
        f"peak {rss:.0f} MB"
    )

    jq = shutil.which("jq")
    if jq and not args.skip_jq:
        jwall, jcpu, jrss, jrc = run_child(
            [jq, "-n", "-c", JQ_PROGRAM, str(data)], stdout_path=args.workdir / "jq.json"
        )
        if jrc:
            print("jq failed", file=sys.stderr)
            return 1
        theirs = json.loads((args.workdir / "jq.json").read_text())
        worst = max(abs(ours[k] - v) / v for k, v in theirs.items())
        figures.update(
            jq_s=round(jwall, 2),
            jq_cpu_s=round(jcpu, 2),
            speedup_vs_jq_cpu=round(jcpu / cpu, 2),
            jq_peak_mb=round(jrss, 1),
            speedup_vs_jq=round(jwall / wall, 2),
            max_p95_rel_diff=round(worst, 5),
        )
        print(f"jq (baseline): {jwall:.2f} s wall ({jcpu:.2f} s CPU), peak {jrss:.0f} MB")
        print(
            f"ratio vs jq: {jwall / wall:.1f}x wall, {jcpu / cpu:.1f}x CPU (goal >= 5x); "
            f"peak {rss:.0f} MB (goal < 200 MB)"
        )
        # On a shared machine the CPU-time ratio is the fair one: wall time depends on what
        # else ran during each child.
        print(f"p95 agreement with jq (same definition): max rel. diff {worst:.3%} (bound 0.4%)")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
