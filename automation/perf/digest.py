"""A mergeable percentile digest with a stated error bound and bounded memory.

Up to ``exact_limit`` samples are kept as-is, so small runs get exact percentiles computed the
way k6 computes them (linear interpolation between order statistics, numpy's default).
Past the limit the samples fold into logarithmic buckets (the DDSketch layout): bucket ``i``
holds values in ``(gamma**(i-1), gamma**i]`` and is represented by ``2*gamma**i/(gamma+1)``,
which is within ``ALPHA`` relative error of every value in the bucket. Percentiles interpolate
between the representatives of the two neighbouring order statistics; a convex combination of
two values each within ``ALPHA`` of the truth is itself within ``ALPHA`` of the interpolated
truth, so every reported percentile is within ``ALPHA`` (0.4 %, under the 0.5 % the budgets
promise) of the exact k6 value. Memory is one counter per occupied bucket: about 5,200 buckets
cover 1 microsecond to 1 hour, whatever the number of samples.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable

ALPHA = 0.004
"""Relative error bound of every percentile once the digest is in bucket mode."""
GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(GAMMA)
_REPR_FACTOR = 2 / (GAMMA + 1)
_ZERO_BELOW = 1e-9
"""Values at or below this (ms) count as zero: k6 reports 0 for sub-resolution timings."""
DEFAULT_EXACT_LIMIT = 20_000


class Digest:
    """Streaming percentile digest: exact for small counts, bounded-error buckets beyond."""

    __slots__ = ("_buckets", "_exact", "_zeros", "count", "exact_limit", "max", "min")

    def __init__(self, exact_limit: int = DEFAULT_EXACT_LIMIT) -> None:
        self.exact_limit = exact_limit
        self._exact: array | None = array("d")
        self._buckets: dict[int, int] = {}
        self._zeros = 0
        self.count = 0
        self.max = -math.inf
        self.min = math.inf

    @property
    def is_exact(self) -> bool:
        """True while every sample is still kept (percentiles are exact)."""
        return self._exact is not None

    def add(self, value: float) -> None:
        """Add one sample (milliseconds, >= 0)."""
        self.count += 1
        if value > self.max:
            self.max = value
        if value < self.min:
            self.min = value
        exact = self._exact
        if exact is not None:
            exact.append(value)
            if len(exact) > self.exact_limit:
                self._fold()
            return
        self._bucket(value)

    def extend(self, values: Iterable[float]) -> None:
        """Add many samples."""
        for v in values:
            self.add(v)

    def _bucket(self, value: float) -> None:
        if value <= _ZERO_BELOW:
            self._zeros += 1
            return
        idx = math.ceil(math.log(value) / _LOG_GAMMA)
        b = self._buckets
        b[idx] = b.get(idx, 0) + 1

    def _fold(self) -> None:
        exact, self._exact = self._exact, None
        assert exact is not None
        for v in exact:
            self._bucket(v)

    def merge(self, other: Digest) -> None:
        """Fold ``other`` into this digest (both keep their error bound)."""
        if other.count == 0:
            return
        self.count += other.count
        self.max = max(self.max, other.max)
        self.min = min(self.min, other.min)
        if self._exact is not None and other._exact is not None:
            self._exact.extend(other._exact)
            if len(self._exact) > self.exact_limit:
                self._fold()
            return
        if self._exact is not None:
            self._fold()
        if other._exact is not None:
            for v in other._exact:
                self._bucket(v)
        else:
            self._zeros += other._zeros
            for idx, n in other._buckets.items():
                self._buckets[idx] = self._buckets.get(idx, 0) + n

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0..1) with k6's linear interpolation; None when empty."""
        if not 0 <= q <= 1:
            raise ValueError(f"quantile must be within [0, 1], found {q}")
        if self.count == 0:
            return None
        if q == 1:
            return self.max
        rank = q * (self.count - 1)
        lo = int(rank)
        frac = rank - lo
        if self._exact is not None:
            values = sorted(self._exact)
            a = values[lo]
            b = values[lo + 1] if lo + 1 < len(values) else a
            return a + (b - a) * frac
        a, b = self._order_stats(lo)
        # Clamp to the observed range: the extreme buckets' representatives may overshoot.
        return min(self.max, max(self.min, a + (b - a) * frac))

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        """Several quantiles with one sort (exact mode) or one bucket walk."""
        qs = list(qs)
        if self._exact is not None and self.count:
            values = sorted(self._exact)
            out: list[float | None] = []
            for q in qs:
                if q == 1:
                    out.append(self.max)
                    continue
                rank = q * (self.count - 1)
                lo = int(rank)
                a = values[lo]
                b = values[lo + 1] if lo + 1 < len(values) else a
                out.append(a + (b - a) * (rank - lo))
            return out
        return [self.quantile(q) for q in qs]

    def _order_stats(self, k: int) -> tuple[float, float]:
        """Representatives of order statistics ``k`` and ``k+1`` (0-based) in bucket mode."""
        found: list[float] = []
        want = [k, min(k + 1, self.count - 1)]
        seen = self._zeros
        if seen > want[0]:
            found.append(0.0)
            if seen > want[1]:
                return 0.0, 0.0
        for idx in sorted(self._buckets):
            seen += self._buckets[idx]
            while len(found) < 2 and seen > want[len(found)]:
                found.append(_REPR_FACTOR * GAMMA**idx)
            if len(found) == 2:
                break
        while len(found) < 2:  # unreachable with consistent counts; keep it total anyway
            found.append(self.max)
        return found[0], found[1]
