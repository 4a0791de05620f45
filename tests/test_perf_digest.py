"""The percentile digest: exact k6 percentiles while small, within 0.5 % once bucketed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from summit_platform.automation.perf.digest import ALPHA, Digest

samples = st.lists(
    st.floats(min_value=0.0, max_value=600_000, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=400,
)
qs = st.sampled_from([0.0, 0.5, 0.9, 0.95, 0.99, 1.0])


@given(samples, qs)
def test_exact_mode_matches_k6_linear_interpolation(values: list[float], q: float) -> None:
    d = Digest()
    d.extend(values)
    assert d.is_exact
    assert d.quantile(q) == pytest.approx(float(np.percentile(values, q * 100)), rel=1e-12)


@settings(max_examples=200)
@given(samples, qs)
def test_bucket_mode_stays_within_stated_error(values: list[float], q: float) -> None:
    d = Digest(exact_limit=0)
    d.extend(values)
    assert not d.is_exact
    got = d.quantile(q)
    want = float(np.percentile(values, q * 100))
    assert got is not None
    # Values at or below 1e-9 ms are counted as zero: allow that absolute slack.
    assert abs(got - want) <= ALPHA * want + 1e-9
    assert ALPHA <= 0.005


@given(samples, samples, st.integers(min_value=0, max_value=500))
def test_merge_equals_one_digest_of_all_samples(a: list[float], b: list[float], limit: int) -> None:
    one, left, right = Digest(limit), Digest(limit), Digest(limit)
    one.extend(a + b)
    left.extend(a)
    right.extend(b)
    left.merge(right)
    assert left.count == one.count == len(a) + len(b)
    assert left.max == max(a + b)
    for q in (0.5, 0.95, 0.99):
        got, want = left.quantile(q), float(np.percentile(a + b, q * 100))
        assert got is not None
        assert abs(got - want) <= ALPHA * want + 1e-9


def test_large_stream_keeps_memory_bounded_and_accurate() -> None:
    rng = np.random.default_rng(7)
    values = rng.lognormal(mean=3.0, sigma=1.0, size=200_000)
    d = Digest(exact_limit=1000)
    d.extend(values.tolist())
    assert not d.is_exact
    # One counter per occupied bucket, not one per sample.
    assert len(d._buckets) < 3000
    for q in (0.5, 0.9, 0.95, 0.99):
        want = float(np.percentile(values, q * 100))
        assert d.quantile(q) == pytest.approx(want, rel=ALPHA)


def test_empty_and_invalid() -> None:
    d = Digest()
    assert d.quantile(0.95) is None
    with pytest.raises(ValueError):
        d.quantile(1.5)
