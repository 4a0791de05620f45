"""Names validated by a regex are matched in full: ``$`` also matches before a trailing
newline, so ``re.match(r"^...$", "name\\n")`` passes. These are the validators outside the
service, gate and price commands (those have their own input tests)."""

from __future__ import annotations

import pytest

from summit_platform.automation.perf.budgets import parse_budgets
from summit_platform.automation.perf.model import EndpointStats, split_endpoint
from summit_platform.components.render.canary import region_flags


@pytest.mark.parametrize("name", ["dark-mode\n", "dark-mode\r", "\u0434ark", "1dark"])
def test_a_flag_name_matches_in_full(name: str) -> None:
    with pytest.raises(ValueError, match="flag name"):
        region_flags({name: True}, {}, "us-east-1")
    assert region_flags({"dark-mode": True}, {}, "us-east-1") == {"dark-mode": True}


def test_a_budget_path_matches_the_whole_path() -> None:
    spec = parse_budgets({"endpoints": [{"path": "/users/{id}", "method": "GET"}]}, "b.yaml")
    (budget,) = spec.budgets
    assert budget.matches(EndpointStats(name="GET /users/42", method="GET", path="/users/42"))
    for path in ("/users/42/x", "/users/"):
        assert not budget.matches(EndpointStats(name="x", method="GET", path=path)), path
    spec = parse_budgets({"endpoints": [{"path": "/search"}]}, "b.yaml")
    assert not spec.budgets[0].matches(EndpointStats(name="x", path="/search\n"))


def test_a_method_name_is_read_in_full() -> None:
    assert split_endpoint("GET /users") == ("GET", "/users")
    assert split_endpoint("GET /users extra") == (None, None)
