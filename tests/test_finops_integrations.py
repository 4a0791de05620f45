"""FinOps at its boundaries: OpenCost's allocation API and a Slack-compatible webhook, each a
real HTTP server on 127.0.0.1; the AWS Price List API through botocore's Stubber against the
real ``pricing`` service model."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
from botocore.stub import Stubber

from summit_platform.automation.cli import main
from summit_platform.automation.errors import CheckFailed
from summit_platform.automation.finops import alerts, prices, reconcile

ROOT = Path(__file__).resolve().parents[1]


class _Server:
    """A loopback HTTP server answering GETs with ``body`` and recording every request."""

    def __init__(self, body: dict[str, Any] | None = None, status: int = 200):
        self.body = body or {}
        self.status = status
        self.requests: list[tuple[str, str, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                outer.requests.append((self.command, self.path, self.rfile.read(length)))
                data = json.dumps(outer.body).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _answer
            do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[type[_Server]]:
    yield _Server


def allocation(ns_costs: dict[str, float], minutes: float = 1440) -> dict[str, Any]:
    """An allocation response in OpenCost's documented shape (one accumulated window)."""
    return {
        "code": 200,
        "data": [
            {
                ns: {
                    "name": ns,
                    "properties": {"cluster": "cluster-one", "namespace": ns},
                    "window": {"start": "2026-11-26T00:00:00Z", "end": "2026-11-27T00:00:00Z"},
                    "start": "2026-11-26T00:00:00Z",
                    "end": "2026-11-27T00:00:00Z",
                    "minutes": minutes,
                    "cpuCores": 1.0,
                    "cpuCost": total * 0.8,
                    "ramCost": total * 0.2,
                    "pvCost": 0.0,
                    "gpuCost": 0.0,
                    "networkCost": 0.0,
                    "totalCost": total,
                }
                for ns, total in ns_costs.items()
            }
        ],
    }


# --- reconciliation ---------------------------------------------------------------------------


def test_actual_hourly_and_drift_decisions():
    actual = reconcile.actual_hourly(allocation({"platform": 24.0, "web": 2.4, "__idle__": 99}))
    assert actual["platform"] == Decimal(1) and actual["web"] == Decimal("0.1")
    rows = reconcile.compare(
        {"platform": Decimal("0.9"), "web": Decimal("0.2"), "intel": Decimal("0.3")}, actual
    )
    got = {r.namespace: (r.flagged, r.note) for r in rows}
    assert got == {
        "intel": (True, "no allocation in OpenCost"),
        "platform": (False, ""),  # +11 %
        "web": (True, ""),  # -50 %
    }


def test_bad_allocation_response_names_the_key():
    from summit_platform.automation.errors import UserError

    with pytest.raises(UserError, match=r"data\[0\]\.platform"):
        reconcile.actual_hourly({"code": 200, "data": [{"platform": {"cpuCost": 1}}]})


def test_reconcile_cli_against_a_loopback_opencost(server, capsys):
    # Estimate the prod stack first to learn its namespaces and their hourly cost.
    assert main(["finops", "estimate", "--stack", "prod", "-C", str(ROOT), "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    per_ns: dict[str, float] = {}
    for r in doc["resources"]:
        if r["namespace"]:
            per_ns[r["namespace"]] = per_ns.get(r["namespace"], 0) + r["hourly"]
    if not per_ns:  # the composition has no Kubernetes workloads yet: compare one namespace
        per_ns = {"platform": 0.0}
    matching = {ns: v * 24 for ns, v in per_ns.items()}
    with server(allocation({**matching, "kube-system": 5.0})) as s:
        code = main(
            [
                "finops",
                "reconcile",
                "--opencost",
                s.url,
                "--window",
                "1d",
                "--stack",
                "prod",
                "-C",
                str(ROOT),
                "--json",
                "-",
            ]
        )
        out = json.loads(capsys.readouterr().out)
        method, path, _ = s.requests[0]
        q = parse_qs(urlparse(path).query)
        assert method == "GET" and urlparse(path).path == "/allocation/compute"
        assert q == {"window": ["1d"], "aggregate": ["namespace"], "accumulate": ["true"]}
    flagged = [r for r in out["namespaces"] if r["flagged"]]
    assert code == (1 if flagged else 0)
    with server(allocation({ns: v * 24 * 3 + 24 for ns, v in per_ns.items()})) as s:
        code = main(
            [
                "finops",
                "reconcile",
                "--opencost",
                s.url,
                "--stack",
                "prod",
                "-C",
                str(ROOT),
                "--markdown",
                "-",
            ]
        )
        md = capsys.readouterr()
    assert code == 1
    assert "beyond ±25%" in md.out and "cost drift beyond 25%" in md.err


def test_reconcile_unreachable_is_a_usage_error(capsys):
    code = main(
        [
            "finops",
            "reconcile",
            "--opencost",
            "http://127.0.0.1:9",
            "--stack",
            "prod",
            "-C",
            str(ROOT),
        ]
    )
    assert code == 2
    assert "cannot reach OpenCost" in capsys.readouterr().err


# --- alerts -----------------------------------------------------------------------------------


def test_budget_alert_posts_slack_shaped_json(server):
    with server({"ok": True}) as s:
        alerts.post(s.url + "/hook", alerts.budget_payload("prod", Decimal("1"), 500.0))
        method, path, body = s.requests[0]
    assert (method, path) == ("POST", "/hook")
    doc = json.loads(body)
    assert doc["text"].startswith(":rotating_light: `prod` estimate $730.00/month")
    assert doc["blocks"][0]["text"]["type"] == "mrkdwn"


def test_webhook_failure_is_a_failed_check(server):
    with server({"ok": False}, status=500) as s, pytest.raises(CheckFailed, match="HTTP 500"):
        alerts.post(s.url, alerts.gc_payload(["pr-1"], "24h"))


def test_gc_alert_names_destroyed_stacks():
    assert "`pr-1`, `pr-2`" in alerts.gc_payload(["pr-1", "pr-2"], "24h")["text"]


# --- Price List API ---------------------------------------------------------------------------


def _product(usd: str) -> str:
    return json.dumps(
        {
            "product": {"attributes": {"instanceType": "m5.large", "regionCode": "us-east-1"}},
            "terms": {
                "OnDemand": {
                    "SKU.JRTCKXETXF": {
                        "priceDimensions": {
                            "SKU.JRTCKXETXF.6YS6EN2CT7": {
                                "unit": "Hrs",
                                "pricePerUnit": {"USD": usd},
                                "description": "$0.1 per On Demand Linux m5.large Instance Hour",
                            }
                        }
                    }
                }
            },
        }
    )


def test_refresh_prices_with_stubber_on_the_real_pricing_model():
    client = boto3.client(
        "pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    table = {"regions": {"us-east-1": {"ec2": {"m5.large": 0.09}, "rds": {"db.r5.large": 0.2}}}}
    with Stubber(client) as stub:
        stub.add_response(
            "get_products",
            {"PriceList": [_product("0.0960000000")], "FormatVersion": "aws_v1"},
            {
                "ServiceCode": "AmazonEC2",
                "Filters": prices.ec2_filters("m5.large", "us-east-1"),
                "FormatVersion": "aws_v1",
                "MaxResults": 10,
            },
        )
        stub.add_response(
            "get_products",
            {"PriceList": [], "FormatVersion": "aws_v1"},
            {
                "ServiceCode": "AmazonRDS",
                "Filters": prices.rds_filters("db.r5.large", "us-east-1"),
                "FormatVersion": "aws_v1",
                "MaxResults": 10,
            },
        )
        new, missing = prices.refresh(
            client, table, ["us-east-1"], now=datetime(2026, 11, 27, tzinfo=UTC)
        )
        stub.assert_no_pending_responses()
    assert new["regions"]["us-east-1"]["ec2"]["m5.large"] == 0.096
    assert new["regions"]["us-east-1"]["rds"]["db.r5.large"] == 0.2  # kept, and listed
    assert missing == ["us-east-1/rds/db.r5.large"]
    assert new["_refreshed"] == "2026-11-27T00:00:00Z"
    assert table["regions"]["us-east-1"]["ec2"]["m5.large"] == 0.09  # input untouched


def test_on_demand_price_skips_zero_dimensions():
    assert prices.on_demand_price([_product("0.0000000000"), _product("0.25")]) == 0.25
    assert prices.on_demand_price([]) is None
