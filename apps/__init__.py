"""Small, real sample services used by tests, load tests and local demos."""
