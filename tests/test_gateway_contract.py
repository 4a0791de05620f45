"""The gateway's OpenAPI contract (apps/gateway/openapi.yaml): it lists exactly what the app
routes, the running app conforms to it under Schemathesis (real HTTP on 127.0.0.1, the JUnit
report parsed), and a breaking change to a response is caught: a field removed, a type
changed, a server error switched on through the drill's fault knob.

With ``SUMMIT_CONTRACT_REPORT`` set (the contract workflow), the conformance run writes its
JUnit report there; otherwise into the test's temporary folder."""

from __future__ import annotations

import json
import os
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from summit_platform.apps.gateway import app as gw
from summit_platform.apps.gateway import contract

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _contract_operations() -> set[tuple[str, str]]:
    doc = yaml.safe_load(contract.CONTRACT.read_text())
    return {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in METHODS
    }


def _junit(path: Path) -> dict[str, Any]:
    """Test cases of a Schemathesis JUnit report: name -> failure/error messages."""
    root = ET.parse(path).getroot()
    cases: dict[str, Any] = {}
    for case in root.iter("testcase"):
        problems = [el.get("message") or el.text or "" for el in case if el.tag != "system-out"]
        cases[str(case.get("name"))] = problems
    return cases


def test_the_contract_lists_every_route_and_nothing_else() -> None:
    served = {(r.method, r.template) for r in gw.ROUTES} | {("GET", "/metrics")}
    assert _contract_operations() == served


def test_a_method_a_path_does_not_serve_is_405_with_allow() -> None:
    with gw.start(0, inject_latency_ms={}, inject_error_pct={}) as server:
        for method, path, allow in (
            ("TRACE", "/healthz", "GET"),
            ("QUERY", "/orders", "GET, POST"),
            ("DELETE", "/metrics", "GET, HEAD"),
        ):
            req = urllib.request.Request(server.url + path, method=method)
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(req, timeout=5)
            assert err.value.code == 405 and err.value.headers["Allow"] == allow, method
        text = gw.generate_latest(server.app.registry).decode()
    # an unknown method token is one label value, not a new series per token
    assert 'method="OTHER"' in text and "QUERY" not in text


def test_the_gateway_conforms_to_its_contract(tmp_path: Path) -> None:
    report = Path(os.environ.get("SUMMIT_CONTRACT_REPORT") or tmp_path / "gateway.xml")
    with gw.start(0, inject_latency_ms={}, inject_error_pct={}) as server:
        run = contract.run(server.url, junit=report)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    cases = _junit(report)
    assert set(cases) == {f"{m} {p}" for m, p in _contract_operations()}
    assert all(problems == [] for problems in cases.values()), cases


def _drop_total(_p: Any, q: Any, b: Any) -> tuple[int, Any]:
    status, body = gw._search(_p, q, b)
    body.pop("total")
    return status, body


def _id_as_text(p: Any, q: Any, b: Any) -> tuple[int, Any]:
    status, body = gw._user(p, q, b)
    if status == 200:
        body["id"] = str(body["id"])
    return status, body


def _replace(template: str, handler: Callable[..., tuple[int, Any]]) -> tuple[gw.Route, ...]:
    return tuple(
        gw.Route(r.method, r.template, handler) if r.template == template else r for r in gw.ROUTES
    )


@pytest.mark.parametrize(
    ("template", "handler", "operation", "needle"),
    [
        ("/search", _drop_total, "GET /search", "total"),
        ("/users/{id}", _id_as_text, "GET /users/{id}", 'is not of type "integer"'),
    ],
    ids=["field-removed", "type-changed"],
)
def test_a_breaking_change_to_a_response_is_caught(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    template: str,
    handler: Callable[..., tuple[int, Any]],
    operation: str,
    needle: str,
) -> None:
    # The running app's route table with one handler changed: the server answers with the
    # broken shape over real HTTP, exactly as a deployed regression would.
    monkeypatch.setattr(gw, "ROUTES", _replace(template, handler))
    report = tmp_path / "broken.xml"
    with gw.start(0, inject_latency_ms={}, inject_error_pct={}) as server:
        run = contract.run(server.url, junit=report, max_examples=10)
    assert run.returncode == 1, run.stdout[-3000:]
    assert operation in run.stdout and needle in run.stdout, run.stdout[-3000:]
    failed = {name for name, problems in _junit(report).items() if problems}
    assert failed == {operation}


def test_a_server_error_from_the_fault_knob_is_caught(tmp_path: Path) -> None:
    with gw.start(0, inject_latency_ms={}, inject_error_pct={}) as server:
        admin = gw.start_admin(server.app)
        try:
            req = urllib.request.Request(
                admin.url + "/faults",
                data=json.dumps({"errorPct": {"/checkout": 100}}).encode(),
                method="PUT",
            )
            with urllib.request.urlopen(req, timeout=5) as resp:
                assert resp.status == 200
            run = contract.run(server.url, junit=tmp_path / "fault.xml", max_examples=10)
        finally:
            admin.stop()
    assert run.returncode == 1
    assert "POST /checkout" in run.stdout and "Server error" in run.stdout, run.stdout[-3000:]
    failed = {name for name, problems in _junit(tmp_path / "fault.xml").items() if problems}
    assert failed == {"POST /checkout"}
