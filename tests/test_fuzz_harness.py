"""The bad-input harness itself (tests/fuzz.py): it sees what it is meant to see."""

from __future__ import annotations

import json
from pathlib import Path

import fuzz
import pytest
from fuzz import Outcome, problems


def test_a_clean_refusal_has_no_problems() -> None:
    ok = Outcome(code=2, out="", err="summit: error: m.json: not valid JSON\n")
    assert problems(ok, names="m.json") == []


@pytest.mark.parametrize(
    ("outcome", "needle"),
    [
        (Outcome(code=70, out="", err="summit: internal error: ValueError"), "internal error"),
        (Outcome(code=2, out="Traceback (most recent call last)", err="x"), "traceback"),
        (Outcome(code=0, out="", err=""), "exit 0"),
        (Outcome(code=2, out="", err=""), "without a message"),
        (Outcome(code=2, out="", err="summit: error: oops"), "does not name"),
        (Outcome(code=2, out="", err="summit: error: f", changed=["f"]), "files changed"),
    ],
)
def test_each_broken_promise_is_reported(outcome: Outcome, needle: str) -> None:
    assert any(needle in p for p in problems(outcome, names="f"))


def test_run_captures_refusal_and_watches_files(tmp_path: Path, monkeypatch) -> None:
    log = tmp_path / "fuzz.jsonl"
    monkeypatch.setenv(fuzz.LOG_ENV, str(log))
    project = tmp_path / "not-a-project"
    project.mkdir()
    (project / "notes.txt").write_text("no Pulumi.yaml here")
    outcome = fuzz.run("plan-folder", ["plan", "-s", "dev", "-C", str(project)], watch=[project])
    fuzz.assert_clean(outcome, names=str(project))
    assert fuzz.summarise(log) == {"plan-folder": {"tried": 1, "clean": 1, "exit_2": 1}}
    assert json.loads(log.read_text())["surface"] == "plan-folder"
