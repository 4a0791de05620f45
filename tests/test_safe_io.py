"""The shared readers and writers: every malformed input is a UserError naming the file, and
writers never leave half a file, never interleave, and keep YAML formatting."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import stat
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from summit_platform.automation import safe_io
from summit_platform.automation.errors import UserError
from summit_platform.components.render.redact import redact_text, redact_url, short

BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _err(fn, *args, **kw) -> str:
    with pytest.raises(UserError) as info:
        fn(*args, **kw)
    return str(info.value)


# ------------------------------------------------------------------------------ reading bytes


def test_missing_file_folder_and_size_limit(tmp_path: Path) -> None:
    assert "file not found" in _err(safe_io.read_bytes, tmp_path / "nope")
    assert "found a folder" in _err(safe_io.read_bytes, tmp_path)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 11)
    assert "larger than 10 bytes" in _err(safe_io.read_bytes, big, max_bytes=10)


def test_invalid_utf8_is_named_by_byte_offset(tmp_path: Path) -> None:
    p = tmp_path / "Pulumi.x.yaml"
    p.write_bytes(b"config:\n  a: \xff\xfe\n")
    msg = _err(safe_io.load_yaml, p)
    assert str(p) in msg
    assert "not valid UTF-8 at byte 13" in msg


# ------------------------------------------------------------------------------------- YAML


def test_duplicate_keys_are_refused_with_both_lines(tmp_path: Path) -> None:
    msg = _err(safe_io.load_yaml_text, "config:\n  a: 1\n  a: 2\n", "Pulumi.dev.yaml")
    assert msg == "Pulumi.dev.yaml: line 3: duplicate key 'a' (first at line 2)"


@pytest.mark.parametrize("text", ["1: 2\n", "~: 2\n", "? [a]\n: 1\n", "true: x\n"])
def test_non_string_keys_are_refused(text: str) -> None:
    assert "keys must be strings" in _err(safe_io.load_yaml_text, text, "f.yaml")


def test_non_string_keys_can_be_allowed() -> None:
    assert safe_io.load_yaml_text("1: 2\n", "f.yaml", string_keys=False) == {1: 2}


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", ".NaN"])
def test_non_finite_floats_are_refused(value: str) -> None:
    assert "finite" in _err(safe_io.load_yaml_text, f"a: {value}\n", "f.yaml")


def test_alias_bomb_is_refused_quickly() -> None:
    start = time.process_time()
    msg = _err(safe_io.load_yaml_text, BOMB, "Pulumi.bomb.yaml")
    assert "aliases expand" in msg
    assert time.process_time() - start < 5  # generous: refusing must not expand the bomb


def test_modest_aliases_are_fine() -> None:
    doc = safe_io.load_yaml_text("a: &x {k: 1}\nb: *x\nc: *x\n", "f.yaml")
    assert doc == {"a": {"k": 1}, "b": {"k": 1}, "c": {"k": 1}}


@pytest.mark.parametrize(
    "text",
    ["x: &a [*a]\n", "x: &a {k: *a}\n", "x: &a [1, [2, {k: *a}]]\n", "&r {a: *r}\n"],
)
def test_a_recursive_alias_is_refused(text: str) -> None:
    msg = _err(safe_io.load_yaml_text, text, "Pulumi.dev.yaml")
    assert msg.startswith("Pulumi.dev.yaml: ") and "recursive alias" in msg


def test_a_shared_alias_inside_another_is_not_recursive() -> None:
    doc = safe_io.load_yaml_text("a: &x [1]\nb: &y [*x, *x]\nc: [*y, *x]\n", "f.yaml")
    assert doc["c"] == [[[1], [1]], [1]]


def test_merge_keys_are_not_duplicates() -> None:
    doc = safe_io.load_yaml_text("base: &b {k: 1, j: 2}\nx:\n  <<: *b\n  k: 3\n", "f.yaml")
    assert doc["x"] == {"k": 3, "j": 2}


def test_syntax_errors_name_line_and_column() -> None:
    msg = _err(safe_io.load_yaml_text, "a: [1, 2\nb: 3\n", "f.yaml")
    assert msg.startswith("f.yaml: line ")
    assert "not valid YAML" in msg


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    msg = _err(safe_io.load_yaml_text, "[" * 5000 + "]" * 5000, "f.yaml")
    assert "f.yaml" in msg


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_user_error(tmp_path_factory, data: bytes) -> None:
    p = tmp_path_factory.mktemp("y") / "f.yaml"
    p.write_bytes(data)
    try:
        safe_io.load_yaml(p)
    except UserError as err:
        assert str(p) in str(err)
        assert "\n" not in str(err)


# ------------------------------------------------------------------------------------- JSON


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"a": NaN}', "finite"),
        ('{"a": Infinity}', "finite"),
        ('{"a": -Infinity}', "finite"),
        ('{"a": 1e999}', "finite"),
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ('{"a": 1', "line 1"),
        ('{"a": ' + "1" * 5000 + "}", "not valid JSON"),
        ("[" * 100000, "not valid JSON"),
    ],
)
def test_json_refusals(text: str, needle: str) -> None:
    msg = _err(safe_io.load_json_text, text, "m.json")
    assert msg.startswith("m.json: ")
    assert needle in msg


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_arbitrary_bytes_as_json(tmp_path_factory, data: bytes) -> None:
    p = tmp_path_factory.mktemp("j") / "m.json"
    p.write_bytes(data)
    try:
        safe_io.load_json(p)
    except UserError as err:
        assert str(p) in str(err)


def test_dumps_json_never_writes_nan() -> None:
    with pytest.raises(ValueError):
        safe_io.dumps_json({"a": float("nan")})


# -------------------------------------------------------------------------------------- CSV


def test_csv_rows_and_ragged_lines(tmp_path: Path) -> None:
    p = tmp_path / "stats.csv"
    p.write_text("Name,p95\n/a,10\n/b,20,extra\n")
    assert "line 3" in _err(safe_io.read_csv_rows, p)
    p.write_text("Name,p95\n/a,10\n")
    assert safe_io.read_csv_rows(p) == [{"Name": "/a", "p95": "10"}]


def test_gzip_bytes_are_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "stats.csv"
    p.write_bytes(gzip.compress(b"Name,p95\n"))
    assert "not valid UTF-8 at byte 1" in _err(safe_io.read_csv_rows, p)


# ----------------------------------------------------------------------------------- writing


def test_atomic_write_replaces_whole_and_keeps_mode(tmp_path: Path) -> None:
    p = tmp_path / "state.json"
    p.write_text("old")
    os.chmod(p, 0o600)
    safe_io.atomic_write(p, "new")
    assert p.read_text() == "new"
    assert p.stat().st_mode & 0o777 == 0o600
    leftovers = [f.name for f in tmp_path.iterdir() if f.name.endswith(".tmp")]
    assert leftovers == []


def test_atomic_write_to_a_folder_is_a_user_error(tmp_path: Path) -> None:
    assert "found a folder" in _err(safe_io.atomic_write, tmp_path, "x")


def test_update_yaml_keeps_comments_and_layout(tmp_path: Path) -> None:
    p = tmp_path / "Pulumi.prod.yaml"
    original = (
        "# prod: both regions\n"
        "config:\n"
        "    summit-platform:regions:\n"
        "        - name: us-east-1   # primary\n"
        "          dial: 100\n"
        "        - {name: us-west-2, dial: 100}\n"
        "    summit-platform:tags: {team: platform}\n"
    )
    p.write_text(original)

    def change(doc):
        doc["config"]["summit-platform:regions"][0]["dial"] = 40

    safe_io.update_yaml(p, change)
    after = p.read_text()
    diff = [
        (a, b) for a, b in zip(original.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert diff == [("          dial: 100", "          dial: 40")]


def test_update_yaml_refuses_a_broken_file_and_leaves_it(tmp_path: Path) -> None:
    p = tmp_path / "Pulumi.x.yaml"
    p.write_text("config:\n  a: 1\n  a: 2\n")
    before = p.read_bytes()
    assert "duplicate key" in _err(safe_io.update_yaml, p, lambda doc: doc.clear())
    assert p.read_bytes() == before


def _bump(path: str, n: int) -> None:
    for _ in range(n):

        def change(doc):
            doc["count"] = doc["count"] + 1

        safe_io.update_yaml(Path(path), change)


def test_concurrent_read_modify_write_loses_nothing(tmp_path: Path) -> None:
    p = tmp_path / "counter.yaml"
    p.write_text("# a counter\ncount: 0\n")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_bump, args=(str(p), 25)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert p.read_text() == "# a counter\ncount: 100\n"


def _log(path: str, worker: int) -> None:
    for i in range(50):
        safe_io.append_jsonl(Path(path), {"worker": worker, "i": i, "pad": "x" * 500})


def test_concurrent_appends_stay_whole_lines(tmp_path: Path) -> None:
    p = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_log, args=(str(p), w)) for w in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    lines = p.read_text().splitlines()
    assert len(lines) == 200
    assert {(d["worker"], d["i"]) for d in map(json.loads, lines)} == {
        (w, i) for w in range(4) for i in range(50)
    }


def test_an_entry_after_a_torn_last_line_starts_its_own_line(tmp_path: Path) -> None:
    p = tmp_path / "audit.jsonl"
    p.write_text('{"id": "x"')  # a crash cut the last entry short
    safe_io.append_jsonl(p, {"id": "y"})
    safe_io.append_jsonl(p, {"id": "z"})
    assert p.read_text().splitlines() == ['{"id": "x"', '{"id": "y"}', '{"id": "z"}']


def test_a_pipe_is_written_through_not_replaced(tmp_path: Path) -> None:
    """`--json /dev/null` or `/dev/stdout`: a rename over them (as root) would replace the
    device with a regular file; a FIFO stands in for any device here."""
    fifo = tmp_path / "out"
    os.mkfifo(fifo)
    link = tmp_path / "stdout"
    link.symlink_to(fifo)  # like /dev/stdout -> /proc/self/fd/1
    got: list[bytes] = []
    for target in (fifo, link):
        reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
        reader.start()
        safe_io.atomic_write(target, '{"ok": true}\n')
        reader.join(10)
    assert got == [b'{"ok": true}\n'] * 2
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "stdout"]  # no lock, no temp


def test_a_symlinked_file_keeps_its_link(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    safe_io.atomic_write(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_a_log_that_is_a_folder_is_refused_and_leaves_no_lock_file(tmp_path: Path) -> None:
    (tmp_path / "audit").mkdir()
    with pytest.raises(UserError, match="found a folder"):
        safe_io.append_jsonl(tmp_path / "audit", {"id": "x"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit"]


def test_lock_timeout_is_a_user_error(tmp_path: Path) -> None:
    p = tmp_path / "f.yaml"
    with safe_io.locked(p):
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()

        def try_lock() -> None:
            try:
                with safe_io.locked(p, timeout=0.2):
                    q.put("got it")
            except UserError as err:
                q.put(str(err))

        proc = ctx.Process(target=try_lock)
        proc.start()
        proc.join(10)
        assert "held the file's lock" in q.get(timeout=5)


# ---------------------------------------------------------------------------------- redaction


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@prom.example:9090/api/v1", "https://***@prom.example:9090/api/v1"),
        ("http://opencost:9003/allocation?token=abc", "http://opencost:9003/allocation?***"),
        ("https://hooks.slack.com/services/T0/B0/XYZ", "https://hooks.slack.com/***"),
        ("not a url", "***"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_and_short_never_show_secrets() -> None:
    text = "failed to reach https://u:hunter2@h/x?sig=s3cr3t and https://hooks.slack.com/services/T/B/K"
    out = redact_text(text)
    assert "hunter2" not in out and "s3cr3t" not in out and "/T/B/K" not in out
    assert len(short("a" * 500)) < 40
