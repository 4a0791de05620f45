"""The apimachinery predicates the provider check applies (names, labels, ports, keys,
environment variable names) and the quantity grammar, each against the cases
k8s.io/apimachinery's own tests use, plus hypothesis properties."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from summit_platform.automation.plan.provider_check import kube_names as kn

LABEL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.mark.parametrize("good", ["a", "ab", "a-b", "a--b", "1", "0-a", "a" * 63])
def test_dns1123_label_accepts(good: str) -> None:
    assert kn.is_dns1123_label(good) == []


@pytest.mark.parametrize("bad", ["", "A", "-a", "a-", "a_b", "a.b", "a" * 64, "ä"])
def test_dns1123_label_rejects(bad: str) -> None:
    assert kn.is_dns1123_label(bad)


@pytest.mark.parametrize("good", ["a", "a.b", "a-1.b-2", "1.2.3", "a" * 253])
def test_dns1123_subdomain_accepts(good: str) -> None:
    assert kn.is_dns1123_subdomain(good) == []


@pytest.mark.parametrize("bad", ["", "A.b", "a..b", ".a", "a.", "a_b", "a" * 254, "Web_App"])
def test_dns1123_subdomain_rejects(bad: str) -> None:
    assert kn.is_dns1123_subdomain(bad)


def test_dns1035_label_needs_a_leading_letter() -> None:
    assert kn.is_dns1035_label("web-1") == []
    assert kn.is_dns1035_label("1web")
    assert kn.is_dns1035_label("a" * 64)


@pytest.mark.parametrize(
    "good", ["a", "A", "a_b", "a.b", "app.kubernetes.io/name", "example.com/A-b_c.1", "x" * 63]
)
def test_qualified_name_accepts(good: str) -> None:
    assert kn.is_qualified_name(good) == []


@pytest.mark.parametrize(
    "bad", ["", "/a", "a/", "a/b/c", "-a", "a-", "Example.com/a", "a b", "x" * 64, "a/" + "x" * 64]
)
def test_qualified_name_rejects(bad: str) -> None:
    assert kn.is_qualified_name(bad)


@pytest.mark.parametrize("good", ["", "a", "A-b_c.1", "x" * 63])
def test_label_value_accepts(good: str) -> None:
    assert kn.is_valid_label_value(good) == []


@pytest.mark.parametrize("bad", ["-a", "a-", "a b", "a/b", "x" * 64])
def test_label_value_rejects(bad: str) -> None:
    assert kn.is_valid_label_value(bad)


def test_port_numbers_and_names() -> None:
    assert kn.is_valid_port_num(1) == [] and kn.is_valid_port_num(65535) == []
    assert kn.is_valid_port_num(0) and kn.is_valid_port_num(65536)
    assert kn.is_valid_port_name("http") == [] and kn.is_valid_port_name("h-2") == []
    for bad in ("", "80", "a--b", "-http", "http-", "HTTP", "a" * 16, "web_port"):
        assert kn.is_valid_port_name(bad), bad


def test_config_map_keys() -> None:
    for good in ("a", "a.json", "A_b-c.1", ".hidden"):
        assert kn.is_config_map_key(good) == [], good
    for bad in ("", ".", "..", "..a", "a/b", "a b", "x" * 254):
        assert kn.is_config_map_key(bad), bad


def test_env_var_names_strict_and_relaxed() -> None:
    assert kn.is_env_var_name("HTTP_PORT") == [] and kn.is_env_var_name("a.b-c") == []
    assert kn.is_env_var_name("1PORT") and kn.is_env_var_name("A B")
    assert kn.is_relaxed_env_var_name("1 PORT:x") == []
    assert kn.is_relaxed_env_var_name("A=B") and kn.is_relaxed_env_var_name("")
    assert kn.is_relaxed_env_var_name("é")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("250m", Fraction(1, 4)),
        ("0.5", Fraction(1, 2)),
        (".5", Fraction(1, 2)),
        ("1.", 1),
        ("+2", 2),
        ("-1", -1),
        ("1Ki", 1024),
        ("512Mi", 512 * 2**20),
        ("1Ei", 2**60),
        ("1k", 1000),
        ("1M", 10**6),
        ("1E", 10**18),
        ("1e3", 1000),
        ("1E3", 1000),
        ("5e-1", Fraction(1, 2)),
        ("100n", Fraction(1, 10**7)),
        ("3u", Fraction(3, 10**6)),
        (2, 2),
        (0.25, Fraction(1, 4)),
    ],
)
def test_quantity_grammar_accepts(text: object, value: Fraction) -> None:
    assert kn.parse_quantity(text) == value


@pytest.mark.parametrize(
    "bad", ["", "1K", "1 Gi", "1.5 cores", "1gi", "Gi", "1e", "1e1.5", "one", "1Mi ", True, None]
)
def test_quantity_grammar_rejects(bad: object) -> None:
    # "1K" is the classic: only a lower-case k is a decimal suffix in Kubernetes.
    assert kn.parse_quantity(bad) is None


@given(st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True))
def test_every_rfc1123_label_passes(label: str) -> None:
    assert kn.is_dns1123_label(label) == []
    assert kn.is_dns1123_subdomain(label) == []


@given(st.text(alphabet=LABEL_CHARS + "-.", min_size=64, max_size=80))
def test_no_label_longer_than_63_passes(text: str) -> None:
    assert kn.is_dns1123_label(text)
    assert kn.is_valid_label_value(text)


@given(
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(["", "m", "k", "M", "G", "Ki", "Mi", "Gi"]),
)
def test_quantities_scale_by_their_suffix(n: int, suffix: str) -> None:
    factor = {"": 1, "m": Fraction(1, 1000), "k": 10**3, "M": 10**6, "G": 10**9}
    factor |= {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    assert kn.parse_quantity(f"{n}{suffix}") == n * factor[suffix]


@given(st.integers(min_value=-(2**40), max_value=2**40))
def test_port_numbers_valid_exactly_in_range(n: int) -> None:
    assert (kn.is_valid_port_num(n) == []) == (1 <= n <= 65535)
