"""The one duration dialect: a number and a unit, ASCII digits, finite, above zero."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from summit_platform.components.render.durations import (
    DurationError,
    format_duration,
    go_duration,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("1h", 3600),
        ("2d", 172800),
        ("1w", 604800),
        ("1h30m", 5400),
        ("500ms", 0.5),
        ("1.5h", 5400),
        (" 5m ", 300),
    ],
)
def test_durations_with_units_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [
        "30",
        "0.5",
        "",
        "   ",
        "m",
        "5 m",
        "-5m",
        "5x",
        "5m-",
        "inf",
        "nan",
        "1e3s",
        "\u0663\u0660m",  # Arabic-Indic 30
        "\uff13\uff10m",  # full-width 30
        "\u00b2m",  # superscript two
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


def test_a_bare_number_says_a_unit_is_needed() -> None:
    with pytest.raises(DurationError, match="needs a unit"):
        parse_duration("30")


def test_zero_and_minimum() -> None:
    with pytest.raises(DurationError, match="above zero"):
        parse_duration("0s")
    assert parse_duration("0s", allow_zero=True) == 0
    with pytest.raises(DurationError, match="at least 1s"):
        parse_duration("1ms", minimum=1)


def test_go_durations_have_no_days() -> None:
    assert go_duration("1h30m") == 5400
    with pytest.raises(DurationError, match="Go durations"):
        go_duration("1d")


def test_non_strings_are_refused() -> None:
    for value in (30, 1.5, None, True, ["5m"]):
        with pytest.raises(DurationError):
            parse_duration(value)  # type: ignore[arg-type]


@given(st.integers(min_value=1, max_value=10**7))
def test_format_then_parse_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.text(max_size=12))
def test_arbitrary_text_parses_or_raises_duration_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except DurationError:
        return
    assert seconds > 0
