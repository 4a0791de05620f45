"""`summit finops refresh-prices`: EC2 and RDS on-demand prices from the AWS Price List API.

The Price List API (boto3 ``pricing``) is served from us-east-1 whatever region is priced.
``GetProducts`` answers ``PriceList``, a list of JSON *strings*, each a product with
``terms.OnDemand.<offer>.priceDimensions.<dim>.pricePerUnit.USD``. :func:`on_demand_price`
parses one answer (pure); :func:`refresh` asks for every instance type / class already in the
table (plus any given) and returns the new table, leaving the file write to the caller.

Answers are untrusted server input: an item that is not JSON, a key holding the wrong kind of
value or a price that is not a finite decimal >= 0 (``NaN``, ``Infinity``, ``-1``, digits
that are not ASCII) is an error naming the item and the key, and nothing is written. An
absent key is simply no on-demand price (the item is listed and keeps its old price).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from summit_platform.automation import numbers, safe_io
from summit_platform.automation.errors import UserError
from summit_platform.automation.numbers import found

PRICING_REGION = "us-east-1"
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
SECTIONS = ("ec2", "rds")


def check_region(region: str, flag: str = "--region") -> str:
    """``region`` when it is written like an AWS region (``us-east-1``); else UserError."""
    if not _REGION.fullmatch(region):
        raise UserError(f"expected an AWS region like us-east-1, found {found(region)}", key=flag)
    return region


def check_table(doc: Any, source: str) -> dict[str, Any]:
    """A price table as ``refresh-prices`` reads and rewrites it: ``regions.<region>.ec2``
    and ``.rds`` map names to $/h (finite numbers >= 0). Other keys are kept as they are."""
    if not isinstance(doc, dict):
        raise UserError(f"expected an object, found {found(doc)}", source=source)
    regions = doc.get("regions", {})
    if not isinstance(regions, dict):
        raise UserError(f"expected an object, found {found(regions)}", source=source, key="regions")
    for region, table in regions.items():
        where = f"regions.{region}"
        if not isinstance(table, dict):
            raise UserError(f"expected an object, found {found(table)}", source=source, key=where)
        for section in SECTIONS:
            items = table.get(section, {})
            if not isinstance(items, dict):
                raise UserError(
                    f"expected an object of name -> $/h, found {found(items)}",
                    source=source,
                    key=f"{where}.{section}",
                )
            for name, price in items.items():
                numbers.number(price, source=source, key=f"{where}.{section}.{name}")
    return doc


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


def _mapping(value: Any, source: str, key: str) -> Mapping[str, Any]:
    """``value`` when it is an object, ``{}`` when absent; UserError for anything else."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UserError(f"expected an object, found {found(value)}", source=source, key=key)
    return value


def _product(item: Any, source: str, key: str) -> Mapping[str, Any]:
    """One ``PriceList`` entry: a JSON string (or, from a test double, an object)."""
    doc = safe_io.load_json_text(item, f"{source}: {key}") if isinstance(item, str) else item
    if not isinstance(doc, Mapping):
        raise UserError(f"expected a product object, found {found(doc)}", source=source, key=key)
    return doc


def on_demand_price(
    price_list: Iterable[Any], source: str = "Price List API answer"
) -> float | None:
    """The hourly USD price of the first product with a non-zero on-demand dimension; None
    when no product has one. A malformed product raises :class:`UserError` naming ``source``
    and the key."""
    for i, item in enumerate(price_list):
        at = f"PriceList[{i}]"
        doc = _product(item, source, at)
        terms = _mapping(doc.get("terms"), source, f"{at}.terms")
        for offer_id, offer in _mapping(
            terms.get("OnDemand"), source, f"{at}.terms.OnDemand"
        ).items():
            where = f"{at}.terms.OnDemand.{offer_id}"
            offer = _mapping(offer, source, where)
            dims = _mapping(offer.get("priceDimensions"), source, f"{where}.priceDimensions")
            for dim_id, dim in dims.items():
                key = f"{where}.priceDimensions.{dim_id}"
                dim = _mapping(dim, source, key)
                usd = _mapping(dim.get("pricePerUnit"), source, f"{key}.pricePerUnit").get("USD")
                if usd is None or dim.get("unit", "Hrs") not in ("Hrs", "Hours"):
                    continue
                price = numbers.parse_decimal(usd, source=source, key=f"{key}.pricePerUnit.USD")
                if price > 0:
                    return price
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
                source = f"Price List API answer for {region}/{section}/{name}"
                if not isinstance(resp, Mapping):
                    raise UserError(f"expected an object, found {found(resp)}", source=source)
                items = resp.get("PriceList") or []
                if not isinstance(items, list):
                    raise UserError(
                        f"expected a list, found {found(items)}", source=source, key="PriceList"
                    )
                price = on_demand_price(items, source)
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
