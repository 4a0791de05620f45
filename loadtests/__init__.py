"""Load tests of the gateway (Locust) and a bounded runner for them."""
