"""Bad input to the preview commands (tests/fuzz.py): ``previews gc --offline --stacks FILE``
with odd JSON, and ``previews up/destroy`` with odd PR numbers, end in exit 2 with one line
naming the file and the key (or the flag), no traceback, and nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

import fuzz
import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]

GOOD_ROW = {
    "name": "pr-1",
    "lastUpdate": "2026-01-01T00:00:00Z",
    "updateInProgress": False,
    "resourceCount": 5,
    "tags": {"preview": "true"},
}

# 2026 in full-width, Arabic-Indic, Devanagari and superscript digits.
ODD_DIGITS = st.sampled_from(
    [
        "\uff12\uff10\uff12\uff16",
        "\u0662\u0660\u0662\u0666",
        "\u0968\u0966\u0968\u096c",
        "\u00b2\u2070\u00b2\u2076",
    ]
)
BAD_FIELDS = {
    "name": st.one_of(st.none(), st.integers(), st.just(""), st.lists(st.text(), max_size=2)),
    "lastUpdate": st.one_of(
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.just("yesterday"),
        st.just("2026-13-45T99:99:99Z"),
        ODD_DIGITS.map(lambda d: f"{d}-01-01T00:00:00Z"),
        st.just({"at": "2026-01-01"}),
        st.just("2026-01-01T00:00:00Z\n"),
    ),
    "updateInProgress": st.one_of(
        st.just("false"), st.just("true"), st.integers(min_value=0, max_value=1), st.just([])
    ),
    "resourceCount": st.one_of(
        st.just(-1), st.just(1.5), st.just(True), st.just("5"), st.just({"n": 1})
    ),
    "tags": st.one_of(
        st.just(["preview"]),
        st.just("preview=true"),
        st.dictionaries(
            st.text(max_size=5), st.one_of(st.integers(), st.booleans(), st.none()), min_size=1
        ),
    ),
}


def _bad_row_docs():
    """A valid list with one field of one row made invalid: always bad input, key known."""
    return st.sampled_from(sorted(BAD_FIELDS)).flatmap(
        lambda field: st.tuples(st.just(field), BAD_FIELDS[field], st.integers(0, 2))
    )


@pytest.fixture(scope="module")
def stacks_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stacks")


def _gc(path: Path) -> fuzz.Outcome:
    argv = ["previews", "gc", "--offline", "--stacks", str(path), "--json", "-"]
    return fuzz.run("previews-gc-stacks", argv, watch=[path])


@pytest.mark.fuzz
@fuzz.surface_settings()
@given(case=_bad_row_docs())
def test_gc_stacks_with_an_odd_field_is_exit_2_naming_file_and_key(stacks_dir: Path, case) -> None:
    field, value, at = case
    rows = [dict(GOOD_ROW, name=f"pr-{i + 1}") for i in range(3)]
    rows[at][field] = value
    path = stacks_dir / "stacks.json"
    path.write_text(json.dumps(rows))
    outcome = _gc(path)
    fuzz.assert_clean(outcome, names=str(path))
    assert f"[{at}]" in outcome.err


@pytest.mark.fuzz
@fuzz.surface_settings()
@given(
    raw=st.one_of(
        st.binary(max_size=200),
        st.sampled_from(
            [
                b"",
                b"{}",
                b"null",
                b"42",
                b'"pr-1"',
                b'[{"name": "pr-1", "lastUpdate": NaN}]',
                b'[{"name": "pr-1", "resourceCount": 1e999}]',
                b'[{"name": "pr-1", "name": "pr-2"}]',
                b'[{"name": "pr-1"}, {"name": "pr-1"}]',
                b"\xff\xfe[]",
                b'[{"name": "pr-1", "tags": {"preview": "tr\xc3',
            ]
        ),
        st.just(json.dumps([GOOD_ROW]).encode()).flatmap(
            lambda full: st.integers(1, len(full) - 1).map(lambda n: full[:n])  # truncated
        ),
    )
)
def test_gc_stacks_with_odd_bytes_is_exit_2_naming_the_file(stacks_dir: Path, raw: bytes) -> None:
    path = stacks_dir / "raw.json"
    path.write_bytes(raw)
    outcome = _gc(path)
    if outcome.code == 0:  # a random input that happens to be a valid (empty or odd) list
        assert isinstance(json.loads(raw), list), raw
        return
    fuzz.assert_clean(outcome, names=str(path))


def test_gc_stacks_that_are_fine_are_decided(stacks_dir: Path) -> None:
    path = stacks_dir / "ok.json"
    path.write_text(json.dumps([GOOD_ROW, dict(GOOD_ROW, name="stage", lastUpdate=None)]))
    outcome = _gc(path)
    assert outcome.code == 0, outcome.err
    decisions = {d["stack"]: d["action"] for d in json.loads(outcome.out)["decisions"]}
    assert decisions == {"pr-1": "destroy", "stage": "refuse"}


@pytest.mark.fuzz
@fuzz.surface_settings()
@given(
    pr=st.one_of(
        st.integers(max_value=0),
        st.integers(min_value=10**9),
        st.sampled_from(["x", "1.5", "\u0663", "1e3", ""]),
    )
)
def test_odd_pr_numbers_are_exit_2_naming_the_flag(tmp_path_factory, pr) -> None:
    project = tmp_path_factory.mktemp("p")
    (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    for argv in (
        ["previews", "up", "--pr", str(pr), "--offline", "-C", str(project)],
        ["previews", "destroy", "--pr", str(pr), "--offline", "--yes", "-C", str(project)],
    ):
        fuzz.assert_clean(fuzz.run("previews-pr", argv, watch=[project]), names="--pr")
