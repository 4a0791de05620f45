"""Steady load for the drill lab: each user sends at most one request per second.

``constant_throughput`` keeps the offered load steady while one region slows down (a user
waiting 1.7 s on a slow region simply sends its next request sooner after), so the request
rate Prometheus sees and the counts HAProxy keeps change because of the weights, not because
the load generator stalled. Locust runs as its own process (it patches the standard library
with gevent on import); the drill starts it with ``--headless`` and a run time.
"""

from __future__ import annotations

import itertools

from locust import FastHttpUser, constant_throughput, task

_ids = itertools.count(1)


class SteadyClient(FastHttpUser):
    """A client of the gateway, read-heavy like its real traffic."""

    wait_time = constant_throughput(1.0)

    def on_start(self) -> None:
        self.uid = next(_ids)

    @task(4)
    def search(self) -> None:
        self.client.get(f"/search?q=item%20{self.uid % 50}", name="/search")

    @task(2)
    def catalog(self) -> None:
        self.client.get(f"/catalog?page={self.uid % 10}", name="/catalog")

    @task(2)
    def user(self) -> None:
        self.client.get(f"/users/{self.uid}", name="/users/{id}")

    @task(1)
    def cart(self) -> None:
        self.client.get("/cart", name="/cart")

    @task(1)
    def orders(self) -> None:
        self.client.get("/orders", name="/orders")
