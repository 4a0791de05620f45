# Summit Platform - every set-up step a fresh machine needs, then the two things people run.
#   make plan   set up, then plan the dev stack in the embedded lane (no cloud, no Pulumi CLI)
#   make test   set up (incl. Debian's prometheus for promtool and the server), then the tests
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK ?= dev
APT_TOOLS := prometheus jq
PYTEST_ARGS ?=

.PHONY: setup tools plan test lint bench fuzz clean

$(BIN)/summit: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/summit

# Debian tools the tests use for real: promtool and the Prometheus server; jq for a benchmark.
tools:
	@missing=""; for t in promtool prometheus jq; do command -v $$t >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_TOOLS) >/dev/null; \
	fi

plan: setup
	$(BIN)/summit plan --stack $(STACK)

test: setup tools
	$(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
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
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
