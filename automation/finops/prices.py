"""`summit finops refresh-prices`: EC2 and RDS on-demand prices from the AWS Price List API.

The Price List API (boto3 ``pricing``) is served from us-east-1 whatever region is priced.
``GetProducts`` answers ``PriceList``, a list of JSON *strings*, each a product with
``terms.OnDemand.<offer>.priceDimensions.<dim>.pricePerUnit.USD``. :func:`on_demand_price`
parses one answer (pure); :func:`refresh` asks for every instance type / class already in the
table (plus any given) and returns the new table, leaving the file write to the caller.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

PRICING_REGION = "us-east-1"


def ec2_filters(instance_type: str, region: str) -> list[dict[str, str]]:
    """Linux, shared tenancy, no pre-installed software, on-demand capacity."""
    return [
        {"Type": "TERM_MATCH", "Field": "instanceType", "Value": instance_type},
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
        {"Type": "TERM_MATCH", "Field": "operatingSystem", "Value": "Linux"},
        {"Type": "TERM_MATCH", "Field": "tenancy", "Value": "Shared"},
        {"Type": "TERM_MATCH", "Field": "preInstalledSw", "Value": "NA"},
        {"Type": "TERM_MATCH", "Field": "capacitystatus", "Value": "Used"},
    ]


def rds_filters(
    instance_class: str, region: str, engine: str = "PostgreSQL"
) -> list[dict[str, str]]:
    """Single-AZ on-demand for one engine."""
    return [
        {"Type": "TERM_MATCH", "Field": "instanceType", "Value": instance_class},
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
        {"Type": "TERM_MATCH", "Field": "databaseEngine", "Value": engine},
        {"Type": "TERM_MATCH", "Field": "deploymentOption", "Value": "Single-AZ"},
    ]


def on_demand_price(price_list: Iterable[str]) -> float | None:
    """The hourly USD price of the first product with a non-zero on-demand dimension."""
    for item in price_list:
        doc = json.loads(item) if isinstance(item, str) else item
        for offer in ((doc.get("terms") or {}).get("OnDemand") or {}).values():
            for dim in (offer.get("priceDimensions") or {}).values():
                usd = (dim.get("pricePerUnit") or {}).get("USD")
                if (
                    usd is not None
                    and float(usd) > 0
                    and dim.get("unit", "Hrs") in ("Hrs", "Hours")
                ):
                    return float(usd)
    return None


def refresh(
    client: Any,
    table: Mapping[str, Any],
    regions: Iterable[str],
    *,
    now: datetime,
    extra_ec2: Iterable[str] = (),
    extra_rds: Iterable[str] = (),
) -> tuple[dict[str, Any], list[str]]:
    """Ask the Price List API for every EC2 type and RDS class of ``regions``; return the new
    table and the items it could not find (kept at their old price, listed, never zeroed)."""
    out = copy.deepcopy(dict(table))
    missing: list[str] = []
    for region in regions:
        prices = out.setdefault("regions", {}).setdefault(region, {})
        for section, filters, extra in (
            ("ec2", ec2_filters, extra_ec2),
            ("rds", rds_filters, extra_rds),
        ):
            current = prices.setdefault(section, {})
            for name in sorted({*current, *extra}):
                resp = client.get_products(
                    ServiceCode="AmazonEC2" if section == "ec2" else "AmazonRDS",
                    Filters=filters(name, region),
                    FormatVersion="aws_v1",
                    MaxResults=10,
                )
                price = on_demand_price(resp.get("PriceList") or [])
                if price is None:
                    missing.append(f"{region}/{section}/{name}")
                else:
                    current[name] = price
    out["_refreshed"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out, missing


def pricing_client() -> Any:
    """A boto3 Price List client (the API lives in us-east-1)."""
    import boto3  # deferred: about 0.35 s to import; only a price refresh calls AWS

    return boto3.client("pricing", region_name=PRICING_REGION)
