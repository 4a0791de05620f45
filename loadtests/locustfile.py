"""Locust suite for the gateway's budgeted endpoints, with named requests.

Each request carries ``name=`` set to its route template (``/users/{id}``), so Locust's
``--csv`` stats have one row per budgeted endpoint whatever the ids or query strings, and
``budgets/api.yaml`` matches them by path and method. Weights follow the gateway's traffic
mix (search-heavy). Run it bounded, e.g.::

    locust -f loadtests/locustfile.py --headless -u 8 -r 8 -t 20s \
        --host http://127.0.0.1:8080 --csv out/run1 --only-summary

or through :mod:`loadtests.run`, which also starts nothing it does not stop.
"""

from __future__ import annotations

import itertools

from locust import FastHttpUser, task

_ids = itertools.count(1)


class GatewayUser(FastHttpUser):
    """A client of the gateway: no think time, the run's length bounds the load."""

    def on_start(self) -> None:
        self.uid = next(_ids)

    @task(5)
    def search(self) -> None:
        self.client.get(f"/search?q=item%20{self.uid % 50}", name="/search")

    @task(3)
    def ingest(self) -> None:
        self.client.post("/ingest", json={"events": [{"n": i} for i in range(5)]}, name="/ingest")

    @task(3)
    def user(self) -> None:
        self.client.get(f"/users/{self.uid}", name="/users/{id}")

    @task(2)
    def orders(self) -> None:
        self.client.get("/orders", name="/orders")

    @task(1)
    def create_order(self) -> None:
        self.client.post("/orders", json={"items": [1, 2]}, name="/orders")

    @task(2)
    def catalog(self) -> None:
        self.client.get(f"/catalog?page={self.uid % 10}", name="/catalog")

    @task(2)
    def cart(self) -> None:
        self.client.get("/cart", name="/cart")

    @task(1)
    def checkout(self) -> None:
        self.client.post("/checkout", json={"cart": self.uid}, name="/checkout")

    @task(1)
    def recommendations(self) -> None:
        self.client.get("/recommendations", name="/recommendations")

    @task(1)
    def healthz(self) -> None:
        self.client.get("/healthz", name="/healthz")
