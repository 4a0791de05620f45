"""The web sample site: real HTTP on loopback, the budgeted pages, and each injected regression
changing what a browser would load (a blocking script, a heavy image, a late banner)."""

from __future__ import annotations

import struct
import subprocess
import sys
import urllib.error
import urllib.request
import zlib

import pytest
from conftest import ROOT

from summit_platform.apps.web.app import (
    PAGES,
    Regression,
    heavy_png,
    parse_inject_spec,
    render_page,
    start,
)
from summit_platform.automation.perf.web_budgets import load_web_budgets


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def test_serves_every_budgeted_page_and_its_assets() -> None:
    budgeted = {p.path for p in load_web_budgets(ROOT / "budgets" / "web.yaml").pages}
    assert budgeted == set(PAGES)
    with start(0, inject="") as web:
        for path in PAGES:
            status, ctype, body = get(web.url + path)
            assert status == 200 and ctype.startswith("text/html")
            page = body.decode()
            assert page.startswith("<!doctype html>") and "</html>" in page
            assert '<script src="/static/app.js" defer>' in page
            assert "vendor.js" not in page and "hero.png" not in page and "insertBefore" not in page
            for src in ("/static/app.js", "/static/logo.svg", "/static/item-1.svg"):
                assert get(web.url + src)[0] == 200
        assert get(web.url + "/healthz")[2] == b'{"status": "ok"}'
        assert get(web.url + "/nope")[0] == 404
        assert get(web.url + "/static/item-99.svg")[0] == 404
        assert get(web.url + "/static/vendor.js?ms=99999999")[0] == 404


def test_render_blocking_script_is_synchronous_in_head_and_busy_for_its_duration() -> None:
    with start(0, inject="render-blocking-script=750ms") as web:
        page = get(web.url + "/catalog")[2].decode()
        head = page.split("</head>")[0]
        assert '<script src="/static/vendor.js?ms=750"></script>' in head  # no defer/async
        js = get(web.url + "/static/vendor.js?ms=750")[2].decode()
        assert "busy(750);" in js and "addEventListener('load'" in js


def test_heavy_asset_is_a_valid_incompressible_png_of_the_asked_size() -> None:
    png = heavy_png(300)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width == 800 and 300 * 1024 <= width * height * 3 + height < 301 * 1024 + 2401
    assert len(png) > 300 * 1024  # random pixels: compression cannot shrink it
    idat_len = struct.unpack(">I", png[33:37])[0]
    assert len(zlib.decompress(png[41 : 41 + idat_len])) == height * (1 + width * 3)
    with start(0, inject="/:heavy-asset=300kb") as web:
        assert 'src="/static/hero.png?kb=300"' in get(web.url + "/")[2].decode()
        assert "hero.png" not in get(web.url + "/checkout")[2].decode()  # only on /
        status, ctype, body = get(web.url + "/static/hero.png?kb=300")
        assert (status, ctype, body) == (200, "image/png", png)


def test_layout_shift_inserts_a_banner_above_the_content_after_load() -> None:
    page = render_page("/checkout", (Regression("layout-shift"),))
    assert "insertBefore(b, m.firstChild)" in page and "setTimeout(" in page
    assert "insertBefore" not in render_page("/checkout")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", ()),
        ("render-blocking-script", (Regression("render-blocking-script", 600),)),
        ("render-blocking-script=1.5s", (Regression("render-blocking-script", 1500),)),
        ("heavy-asset=2mb", (Regression("heavy-asset", 2048),)),
        (
            " /catalog:layout-shift , heavy-asset ",
            (Regression("layout-shift", 0, "/catalog"), Regression("heavy-asset", 1500)),
        ),
    ],
)
def test_inject_spec(spec: str, expected: tuple[Regression, ...]) -> None:
    assert parse_inject_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("spinner", "expected one of"),
        ("render-blocking-script=600", "needs a unit"),
        ("render-blocking-script=\u0666\u0660\u0660ms", "expected a duration"),
        ("render-blocking-script=20s", "expected 1ms to 10000ms"),
        ("heavy-asset=big", "expected a size"),
        ("heavy-asset=0kb", "expected 1kb"),
        ("layout-shift=3", "takes no amount"),
        ("/admin:layout-shift", "with a page of"),
        ("/catalog", "with a page of"),
    ],
)
def test_bad_inject_spec_names_the_variable_and_the_part(spec: str, text: str) -> None:
    with pytest.raises(ValueError, match="SUMMIT_WEB_INJECT") as err:
        parse_inject_spec(spec)
    assert text in str(err.value)


def test_as_a_process_it_refuses_a_bad_spec_and_serves_a_good_one() -> None:
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "summit_platform.apps.web.app",
            "--port",
            "0",
            "--inject",
            "spinner",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 2 and "web: error: SUMMIT_WEB_INJECT" in bad.stderr
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "summit_platform.apps.web.app",
            "--port",
            "0",
            "--inject",
            "layout-shift",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        assert "insertBefore" in get(line.split()[-1] + "/")[2].decode()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
