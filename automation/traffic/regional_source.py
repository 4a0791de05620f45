"""One Prometheus per region: the in-cluster controller's metric source.

Each region's Prometheus records its own steering series (the rules aggregate by region), so
the controller asks each region's server for that region's sample
(``traffic.controller.regions.<region>.prometheusUrl``). A region that cannot be read fails
the whole fetch: the controller holds the weights (fail-static) and logs which region failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from summit_platform.automation.traffic.controller import Sample
from summit_platform.automation.traffic.sources import PrometheusSource, SourceError


class RegionalPrometheusSource:
    """``fetch`` like :class:`~summit_platform.automation.traffic.sources.PrometheusSource`, one server per
    region."""

    def __init__(
        self,
        urls: Mapping[str, str],
        queries: Mapping[str, str] | None = None,
        *,
        make: Callable[..., Any] = PrometheusSource,
    ):
        self.sources = {region: make(url, queries) for region, url in sorted(urls.items())}

    def fetch(self, regions: list[str], at: float | None = None) -> dict[str, Sample]:
        samples: dict[str, Sample] = {}
        errors: list[str] = []
        for region in regions:
            source = self.sources.get(region)
            if source is None:
                errors.append(f"{region}: no prometheusUrl")
                continue
            try:
                samples[region] = source.fetch([region], at)[region]
            except SourceError as err:
                errors.append(f"{region}: {err}")
        if errors:
            raise SourceError("; ".join(errors))
        return samples
