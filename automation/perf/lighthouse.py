"""``summit perf lighthouse``: run the pinned Lighthouse N times per budgeted page in headless
Chromium, keep every LHR, and write a digest with the median per metric.

The tools are project-local and found, never downloaded: Lighthouse from
``<project>/node_modules`` (``npm ci`` installs the version ``package-lock.json`` pins) and
Chromium from ``--chrome``, ``$CHROME_PATH`` or Debian's ``/usr/bin/chromium``, handed to
Lighthouse as ``CHROME_PATH`` (Lighthouse launches exactly that binary). Runs go one after the
other: two browsers at once would slow each other and the numbers would measure the machine.

Pure parts (the plan, the command line, the median run, the digest) are plain functions;
:func:`run_all` is the shell that starts processes and writes files. Writes are safe: the
output folder is locked, must not already hold results, and every file appears whole
(Lighthouse writes to a hidden partial name that is renamed once the LHR reads back).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from summit_platform.automation import safe_io
from summit_platform.automation.errors import UserError
from summit_platform.automation.perf.lhr import BY_KEY, DIGEST_KIND, METRICS, PageRun, read_lhr
from summit_platform.automation.perf.web_budgets import WebBudgets
from summit_platform.automation.perf.web_gate import fmt, measure_page, measurement_json

CHROME_FLAGS = (
    "--headless=new",
    # Our own pages on loopback only; the sandbox needs user namespaces that root in CI and
    # hardened runners do not give.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # A closed network refuses Chromium's background connections (updates, sync, field
    # trials, QUIC probes); without these flags each start waits on them.
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
CHROME_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
LOCK_NAME = ".summit-lighthouse.lock"
DIGEST_NAME = "digest.json"


@dataclass(frozen=True)
class Tools:
    """Where Node, the pinned Lighthouse and Chromium are, with their versions."""

    node: str
    lighthouse: Path
    lighthouse_version: str | None
    chrome: str


def find_tools(project: Path, *, chrome: str | None = None) -> Tools:
    """The project's Lighthouse and a Chromium; a clear error names what is missing."""
    node = shutil.which("node")
    if node is None:
        raise UserError("Node.js is not installed: run `make tools` (Lighthouse runs on Node)")
    lh = project / "node_modules" / ".bin" / "lighthouse"
    if not lh.exists():
        raise UserError(
            f"Lighthouse is not installed in {project / 'node_modules'}: run `make tools` "
            "(npm ci installs the version package-lock.json pins)"
        )
    version = None
    with contextlib.suppress(OSError, ValueError):
        pkg = json.loads((project / "node_modules" / "lighthouse" / "package.json").read_text())
        version = str(pkg.get("version"))
    found = chrome or os.environ.get("CHROME_PATH")
    if found:
        if shutil.which(found) is None:
            raise UserError(f"Chromium not found at {found!r}", key="--chrome/CHROME_PATH")
    else:
        found = next((c for c in CHROME_CANDIDATES if shutil.which(c)), None)
    if found is None:
        raise UserError(
            "no Chromium found: `make tools` installs Debian's chromium; or set CHROME_PATH"
        )
    return Tools(
        node=node, lighthouse=lh, lighthouse_version=version, chrome=str(shutil.which(found))
    )


def check_base_url(url: str) -> str:
    """``http(s)://host[:port]`` without a path (pages are budgeted by their own path)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(f"expected http://HOST[:PORT], found {url!r}", key="--base-url")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UserError(
            f"expected a base URL without a path (budgets name the page paths), found {url!r}",
            key="--base-url",
        )
    return f"{parts.scheme}://{parts.netloc}"


def slug(path: str) -> str:
    """A file-name-safe name for a page path: ``/`` -> ``index``, ``/a/b`` -> ``a_b``."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", path.strip("/")) or "index"


@dataclass(frozen=True)
class PlannedRun:
    """One Lighthouse run to do: which page, which run, its URL and the LHR's file name."""

    page: str
    index: int
    url: str
    file: str


def plan_runs(base_url: str, budgets: WebBudgets, runs: int) -> list[PlannedRun]:
    """Every budgeted page ``runs`` times, page by page, with unique file names."""
    plan: list[PlannedRun] = []
    used: set[str] = set()
    for page in budgets.pages:
        name = slug(page.path)
        while name in used:
            name += "_"
        used.add(name)
        for i in range(1, runs + 1):
            url = base_url + page.path
            plan.append(PlannedRun(page.path, i, url, f"{name}.{budgets.form_factor}.run{i}.json"))
    return plan


def lighthouse_command(
    tools: Tools, url: str, output: Path, form_factor: str, user_data_dir: Path
) -> list[str]:
    """The Lighthouse command line for one run (performance category only: the budgets'
    metrics, in a third of the time of a full audit)."""
    flags = " ".join([*CHROME_FLAGS, f"--user-data-dir={user_data_dir}"])
    preset = ["--preset=desktop"] if form_factor == "desktop" else ["--form-factor=mobile"]
    return [
        tools.node,
        str(tools.lighthouse),
        url,
        "--output=json",
        f"--output-path={output}",
        "--only-categories=performance",
        *preset,
        f"--chrome-flags={flags}",
        "--quiet",
        "--no-enable-error-reporting",
    ]


def dry_run_lines(
    tools: Tools, plan: Sequence[PlannedRun], out: Path, form_factor: str
) -> list[str]:
    """The command of every planned run, for ``--dry-run`` (the profile folder is made per
    run, so it shows as PROFILE)."""
    return [
        " ".join(lighthouse_command(tools, p.url, out / p.file, form_factor, Path("PROFILE")))
        for p in plan
    ]


def progress_line(planned: PlannedRun, lhr: PageRun, seconds: float, runs: int) -> str:
    """One line per finished run: page, run, wall time, and the headline metrics."""
    got = lhr.runtime_error or ", ".join(
        f"{BY_KEY[k].label} {fmt(BY_KEY[k], lhr.metrics.get(k))}"
        for k in ("lcp_ms", "tbt_ms", "cls", "score")
    )
    return f"{planned.page} run {planned.index}/{runs}: {seconds:.1f}s ({got})"


def median_run(runs: Sequence[PageRun]) -> int | None:
    """Index of the run closest to the medians of LCP, FCP and TBT (relative distance): the
    one LHR to open in the Lighthouse viewer. The gate itself uses per-metric medians."""
    keys = ("lcp_ms", "fcp_ms", "tbt_ms")
    ok = [i for i, r in enumerate(runs) if r.runtime_error is None]
    if not ok:
        return None
    med = {}
    for k in keys:
        vals = [v for i in ok if (v := runs[i].metrics.get(k)) is not None]
        med[k] = statistics.median(vals) if vals else None

    def distance(i: int) -> float:
        total = 0.0
        for k in keys:
            v, m = runs[i].metrics.get(k), med[k]
            if v is not None and m is not None:
                total += abs(v - m) / max(m, 1.0)
        return total

    return min(ok, key=distance)


def build_digest(
    *,
    base_url: str,
    budgets: WebBudgets,
    tools: Tools,
    runs: int,
    results: Sequence[tuple[PlannedRun, PageRun, float]],
    now: datetime | None = None,
) -> dict[str, Any]:
    """The digest: per page, every run's metrics and seconds, the medians, the median run."""
    pages = []
    for page in budgets.pages:
        mine = [(p, r, s) for p, r, s in results if p.page == page.path]
        lhrs = [r for _, r, _ in mine]
        pick = median_run(lhrs)
        pages.append(
            {
                "path": page.path,
                "url": base_url + page.path,
                "median": measurement_json(measure_page(page.path, lhrs)),
                "median_file": mine[pick][0].file if pick is not None else None,
                "runs": [
                    {
                        "file": p.file,
                        "seconds": round(s, 2),
                        "final_path": r.path,
                        "runtime_error": r.runtime_error,
                        **{m.key: r.metrics.get(m.key) for m in METRICS},
                    }
                    for p, r, s in mine
                ],
            }
        )
    return {
        "kind": DIGEST_KIND,
        "version": 1,
        "created": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "base_url": base_url,
        "budgets": budgets.source,
        "form_factor": budgets.form_factor,
        "runs": runs,
        "lighthouse_version": tools.lighthouse_version,
        "chrome": tools.chrome,
        "seconds": round(sum(s for _, _, s in results), 2),
        "pages": pages,
    }


@contextlib.contextmanager
def locked_out_dir(out: Path) -> Iterator[Path]:
    """Create and lock ``out``; refuse one that holds results already or is in use."""
    existing = sorted(p.name for p in out.glob("*.json")) if out.is_dir() else []
    if existing:
        shown = ", ".join(existing[:3]) + (" ..." if len(existing) > 3 else "")
        raise UserError(
            f"already holds {len(existing)} result file(s) ({shown}); give a new or empty "
            "folder, so that a later compare reads this run only",
            source=str(out),
            key="--out",
        )
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK_NAME, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(
                "another `summit perf lighthouse` is writing here", source=str(out), key="--out"
            ) from None
        try:
            yield out
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            with contextlib.suppress(OSError):
                (out / LOCK_NAME).unlink()


def reachable(url: str, timeout: float = 10.0) -> None:
    """Fail early, with the URL, when the site does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read(1)
    except urllib.error.HTTPError as err:
        raise UserError(f"{url} answered HTTP {err.code}", key="--base-url") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise UserError(f"cannot reach {url} ({reason})", key="--base-url") from None


def _kill_marked(marker: str) -> None:
    """End the Chromium processes this run started (their command line holds its own
    temporary profile folder): Chromium runs in its own process group, so a Lighthouse that
    timed out can leave it behind."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            with contextlib.suppress(OSError):
                os.kill(int(proc.name), signal.SIGKILL)


def run_one(
    tools: Tools, planned: PlannedRun, out: Path, form_factor: str, timeout_s: float
) -> tuple[PageRun, float]:
    """One Lighthouse run; returns the LHR read back and the wall time in seconds."""
    partial = out / f".partial-{planned.file}"
    final = out / planned.file
    with tempfile.TemporaryDirectory(prefix="summit-lh-profile-") as profile:
        cmd = lighthouse_command(tools, planned.url, partial, form_factor, Path(profile))
        env = {**os.environ, "CHROME_PATH": tools.chrome}
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            _, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            _kill_marked(profile)
            partial.unlink(missing_ok=True)
            raise UserError(
                f"Lighthouse did not finish {planned.url} within {timeout_s:g}s", key="--timeout"
            ) from None
        finally:
            _kill_marked(profile)
        seconds = time.monotonic() - start
    if not partial.exists():
        tail = err.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise UserError(
            f"Lighthouse failed on {planned.url} (exit {proc.returncode}): " + " | ".join(tail)
        )
    try:
        lhr = read_lhr(partial)
    except UserError:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, final)
    return dataclasses.replace(lhr, source=str(final)), seconds


def run_all(
    *,
    base_url: str,
    budgets: WebBudgets,
    tools: Tools,
    out: Path,
    runs: int,
    timeout_s: float,
    progress: Callable[[PlannedRun, PageRun, float], None] | None = None,
) -> dict[str, Any]:
    """Every planned run, then the digest (``out/digest.json``); returns the digest."""
    plan = plan_runs(base_url, budgets, runs)
    reachable(plan[0].url)
    results: list[tuple[PlannedRun, PageRun, float]] = []
    with locked_out_dir(out):
        for planned in plan:
            lhr, seconds = run_one(tools, planned, out, budgets.form_factor, timeout_s)
            results.append((planned, lhr, seconds))
            if progress:
                progress(planned, lhr, seconds)
        digest = build_digest(
            base_url=base_url, budgets=budgets, tools=tools, runs=runs, results=results
        )
        safe_io.atomic_write(out / DIGEST_NAME, safe_io.dumps_json(digest))
    return digest
