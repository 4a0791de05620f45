"""`summit perf lighthouse` around the runs: the plan, the command line, the median run, the
digest, the locked output folder, and every way its input can be wrong (exit 2, nothing
written). One test lets a real Lighthouse time out on a page that never answers and checks
that no Chromium is left behind."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, require_lighthouse

from summit_platform.automation.cli import main
from summit_platform.automation.errors import UserError
from summit_platform.automation.perf.lhr import PageRun
from summit_platform.automation.perf.lighthouse import (
    CHROME_FLAGS,
    Tools,
    build_digest,
    check_base_url,
    lighthouse_command,
    locked_out_dir,
    median_run,
    plan_runs,
    slug,
)
from summit_platform.automation.perf.web_budgets import parse_web_budgets

TOOLS = Tools(
    node="/usr/bin/node",
    lighthouse=Path("nm/.bin/lighthouse"),
    lighthouse_version="12.2.3",
    chrome="/usr/bin/chromium",
)


def spec(form: str = "mobile", runs: int = 3):
    return parse_web_budgets(
        {
            "runs": runs,
            "form_factor": form,
            "pages": [{"path": "/"}, {"path": "/a/b"}, {"path": "/a_b"}],
        },
        "web.yaml",
    )


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://127.0.0.1:8081", "http://127.0.0.1:8081"),
        ("http://127.0.0.1:8081/", "http://127.0.0.1:8081"),
        ("https://web.example", "https://web.example"),
        ("127.0.0.1:8081", None),
        ("ftp://h", None),
        ("http://h/app", None),
        ("http://h/?x=1", None),
    ],
)
def test_base_url(url: str, ok: str | None) -> None:
    if ok is None:
        with pytest.raises(UserError, match="--base-url"):
            check_base_url(url)
    else:
        assert check_base_url(url) == ok


def test_plan_every_page_runs_times_with_unique_files() -> None:
    plan = plan_runs("http://h:1", spec(runs=2), 2)
    assert [(p.page, p.index) for p in plan] == [
        ("/", 1),
        ("/", 2),
        ("/a/b", 1),
        ("/a/b", 2),
        ("/a_b", 1),
        ("/a_b", 2),
    ]
    assert plan[2].url == "http://h:1/a/b"
    files = [p.file for p in plan]
    assert len(set(files)) == 6 and files[0] == "index.mobile.run1.json"
    assert files[2] == "a_b.mobile.run1.json" and files[4] == "a_b_.mobile.run1.json"
    assert slug("/x y/ü") == "x_y_"


def test_command_line_uses_the_given_chromium_flags_and_form_factor() -> None:
    cmd = lighthouse_command(TOOLS, "http://h:1/", Path("/o/x.json"), "mobile", Path("/tmp/p"))
    assert cmd[:3] == ["/usr/bin/node", "nm/.bin/lighthouse", "http://h:1/"]
    assert "--output=json" in cmd and "--output-path=/o/x.json" in cmd
    assert "--only-categories=performance" in cmd and "--form-factor=mobile" in cmd
    flags = next(c for c in cmd if c.startswith("--chrome-flags="))
    for f in (
        "--headless=new",
        "--no-sandbox",
        "--disable-background-networking",
        "--disable-quic",
    ):
        assert f in flags
    assert flags.endswith("--user-data-dir=/tmp/p") and set(CHROME_FLAGS) <= set(
        flags.split("=", 1)[1].split()
    )
    desktop = lighthouse_command(TOOLS, "http://h:1/", Path("/o/x.json"), "desktop", Path("/tmp/p"))
    assert "--preset=desktop" in desktop and "--form-factor=mobile" not in desktop


def run(lcp: float, fcp: float = 700, tbt: float = 0, error: str | None = None) -> PageRun:
    return PageRun(
        "f",
        "12.2.3",
        "http://h/",
        "/",
        "mobile",
        None,
        {} if error else {"lcp_ms": lcp, "fcp_ms": fcp, "tbt_ms": tbt},
        error,
    )


def test_median_run_is_the_one_closest_to_the_medians() -> None:
    assert median_run([run(900), run(3000), run(1000)]) == 2
    assert median_run([run(900, tbt=500), run(1000, tbt=0), run(950, tbt=10)]) == 2
    assert median_run([run(0, error="NO_FCP"), run(1200)]) == 1
    assert median_run([run(0, error="NO_FCP")]) is None


def test_digest_has_every_run_and_the_medians() -> None:
    s = spec(runs=2)
    plan = plan_runs("http://h:1", s, 2)[:2]
    results = [(plan[0], run(900), 12.5), (plan[1], run(1100), 13.25)]
    d = build_digest(base_url="http://h:1", budgets=s, tools=TOOLS, runs=2, results=results)
    assert d["kind"] == "summit-lighthouse-digest" and d["seconds"] == 25.75
    home = d["pages"][0]
    assert home["median"]["lcp_ms"] == 1000 and home["median"]["runs"] == 2
    assert [r["seconds"] for r in home["runs"]] == [12.5, 13.25]
    assert d["pages"][1]["median"]["runs"] == 0 and d["pages"][1]["median_file"] is None


def test_out_folder_is_locked_and_must_not_hold_results(tmp_path: Path) -> None:
    out = tmp_path / "lh"
    with locked_out_dir(out):
        with (
            pytest.raises(UserError, match="another `summit perf lighthouse` is writing here"),
            locked_out_dir(out),
        ):
            pass
        (out / "index.mobile.run1.json").write_text("{}")
    assert not (out / ".summit-lighthouse.lock").exists()
    with (
        pytest.raises(
            UserError,
            match=r"lh: --out: already holds 1 result file\(s\) \(index.mobile.run1.json\)",
        ),
        locked_out_dir(out),
    ):
        pass


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        (["--timeout", "90"], "a duration needs a unit"),
        (["--timeout", "5s"], "--timeout: expected at least 10s"),
        (
            ["--base-url", "http://127.0.0.1:1/app"],
            "--base-url: expected a base URL without a path",
        ),
        (["--chrome", "/nonexistent/chromium"], "Chromium not found at '/nonexistent/chromium'"),
        (
            ["-C", "/nonexistent-project"],
            "Lighthouse is not installed in /nonexistent-project/node_modules",
        ),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], text: str
) -> None:
    out = tmp_path / "lh"
    args = ["perf", "lighthouse", "--base-url", "http://127.0.0.1:1", "--out", str(out)]
    args += ["--budgets", str(ROOT / "budgets" / "web.yaml")]
    if "-C" not in extra:
        require_lighthouse()
        args += ["-C", str(ROOT)]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err
    assert text in err and "Traceback" not in err, err
    assert not out.exists()


def test_unreachable_site_and_dry_run_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_lighthouse()
    out = tmp_path / "lh"
    args = [
        "perf",
        "lighthouse",
        "-C",
        str(ROOT),
        "--base-url",
        "http://127.0.0.1:9",
        "--out",
        str(out),
    ]
    assert main(args) == 2
    assert "--base-url: cannot reach http://127.0.0.1:9/" in capsys.readouterr().err
    assert main([*args, "--dry-run", "--runs", "2"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == "dry run: 6 Lighthouse run(s) of 3 page(s); nothing run"
    assert printed[0].split()[2:4] == ["http://127.0.0.1:9/", "--output=json"]
    assert not out.exists()


class _Hang(BaseHTTPRequestHandler):
    """Answers the reachability check, then lets every later request hang."""

    served = 0

    def do_GET(self) -> None:
        type(self).served += 1
        if type(self).served > 1:
            time.sleep(40)
            return
        body = b"<!doctype html><title>x</title>hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def _live_profiles() -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        for part in cmd.split("\0"):
            if part.startswith("--user-data-dir=") and "summit-lh-profile-" in part:
                found.append(part.split("=", 1)[1])
    return found


def test_a_run_that_times_out_leaves_no_browser_and_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_lighthouse()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hang)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        b = tmp_path / "web.yaml"
        b.write_text(yaml.safe_dump({"runs": 1, "pages": [{"path": "/"}]}))
        out = tmp_path / "lh"
        url = f"http://127.0.0.1:{server.server_address[1]}"
        args = ["perf", "lighthouse", "-C", str(ROOT), "--base-url", url, "--out", str(out)]
        assert main([*args, "--budgets", str(b), "--timeout", "10s"]) == 2
        assert f"--timeout: Lighthouse did not finish {url}/ within 10s" in capsys.readouterr().err
        assert sorted(p.name for p in out.iterdir()) == []  # no partial LHR, no lock, no digest
        # Every Chromium still running with one of our profiles belongs to a live run (its
        # profile folder exists); ours was killed and its profile removed.
        time.sleep(0.5)
        assert [p for p in _live_profiles() if not Path(p).exists()] == []
    finally:
        server.shutdown()
        server.server_close()
