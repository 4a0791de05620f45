"""Locust load test of the service's budgeted endpoints (budgets/api.yaml); CI runs it three
times headless against a local instance and gates the CSVs with `summit perf compare`."""

from __future__ import annotations

import itertools

from locust import HttpUser, constant, task

_ids = itertools.count()


class ApiUser(HttpUser):
    wait_time = constant(0)

    @task(5)
    def search(self) -> None:
        self.client.get("/search?q=document&limit=10", name="/search")

    @task(2)
    def ingest(self) -> None:
        self.client.post("/ingest", json={"id": f"doc-{next(_ids)}", "title": "t"}, name="/ingest")

    @task(1)
    def healthz(self) -> None:
        self.client.get("/healthz", name="/healthz")
