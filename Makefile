# Summit Platform - every set-up step a fresh machine needs, then the two things people run.
#   make plan   set up, then plan the dev stack in the embedded lane (no cloud, no Pulumi CLI)
#   make test   set up (incl. Debian's prometheus and chromium, and Lighthouse by npm ci),
#               then the tests
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK ?= dev
APT_TOOLS := prometheus jq haproxy prometheus-alertmanager chromium
PYTEST_ARGS ?=

.PHONY: setup tools plan test lint style types layers bench fuzz clean

$(BIN)/summit: pyproject.toml setup.py
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/summit

# Debian tools the tests use for real: promtool and the Prometheus server; jq for a benchmark;
# HAProxy and Alertmanager for the traffic drill's lab (haproxy lives in /usr/sbin); Chromium
# for Lighthouse. Then the Node tools package-lock.json pins (Lighthouse), by npm ci.
tools: node_modules/.package-lock.json
	@missing=""; for t in promtool prometheus jq /usr/sbin/haproxy prometheus-alertmanager chromium; do command -v $$t >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_TOOLS) >/dev/null; \
	fi

# Node.js from Debian only where the machine has none (Lighthouse 12 needs Node >= 18.16).
node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

plan: setup
	$(BIN)/summit plan --stack $(STACK)

# loadgroup: tests marked xdist_group("loopback-timing") (Locust, Lighthouse, the drill) run one after
# the other on one worker, so one's load does not show up in the other's latencies.
test: setup tools
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup $(PYTEST_ARGS)

# lint = style + types + layers; the CI workflow (.github/workflows/ci.yml) runs each as a step.
lint: style types layers

style: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: setup
	@mkdir -p build/namespace/summit_platform && for p in stacks components automation apps; do \
	  ln -sfn ../../../$$p build/namespace/summit_platform/$$p; done
	$(BIN)/mypy

layers: setup
	$(BIN)/lint-imports --no-cache --no-logo

# Every bad-input surface with 10x the generated inputs; prints the inputs tried per surface and
# exits 1 unless every one was clean (exit 2 or a fail-closed 1, no traceback, nothing changed).
fuzz: setup tools
	@mkdir -p build && rm -f build/fuzz.jsonl
	set -o pipefail; SUMMIT_FUZZ_LOG=$(CURDIR)/build/fuzz.jsonl $(BIN)/python -m pytest -q -n 2 -m fuzz \
	  --hypothesis-profile=fuzz $(PYTEST_ARGS) 2>&1 | tee build/fuzz.out | tail -3
	@! grep -n "Traceback" build/fuzz.out
	$(BIN)/python tests/fuzz.py build/fuzz.jsonl

bench: setup tools
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .mypy_cache
