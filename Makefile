# permit: make run (simulator in a vpcd reader) / make test (lint + full test suite)

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Everything the suite needs to run every test (none skipped): PC/SC + vpcd, the PC/SC tools
# the transport tests drive, SoftHSM2, openssl (certificate cross-checks), unshare/mount.
APT_PACKAGES := pcscd vsmartcard-vpcd pcsc-tools opensc libpcsclite-dev swig softhsm2 openssl util-linux
CARDS ?= 1

.PHONY: deps postgres redis venv lint test run bench clean distclean

## deps: Debian packages for PC/SC, vpcd, SoftHSM2, openssl and building pyscard (apt only
## when missing; under PERMIT_REQUIRE_ALL=1, as on CI, a package it cannot install is an error)
deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "deps: all system packages present"; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "deps: missing$$missing; not root, skipping apt (run: sudo apt-get install -y$$missing)" >&2; \
	  if [ -n "$$PERMIT_REQUIRE_ALL" ]; then exit 1; fi; \
	else \
	  echo "deps: installing$$missing"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

## postgres: a PostgreSQL on 127.0.0.1:5432 for the register tests (installed/started if
## possible; without it the PostgreSQL cases skip, unless PERMIT_REQUIRE_POSTGRES=1 as on CI)
postgres:
	@scripts/ensure-postgres.sh || { \
	  if [ -n "$$PERMIT_REQUIRE_POSTGRES" ]; then exit 1; fi; \
	  echo "postgres: unavailable; the PostgreSQL test cases will be skipped" >&2; }

## redis: a Redis on 127.0.0.1:6379 for the shared-state tests (installed/started if
## possible; without it the Redis cases skip, unless PERMIT_REQUIRE_REDIS=1 as on CI)
redis:
	@scripts/ensure-redis.sh || { \
	  if [ -n "$$PERMIT_REQUIRE_REDIS" ]; then exit 1; fi; \
	  echo "redis: unavailable; the Redis test cases will be skipped" >&2; }

## venv: .venv with permit and its dev tools (re-run when pyproject.toml changes)
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || { echo "venv: creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

## lint: ruff, mypy --strict and the layering contract (lint-imports), configured in pyproject.toml
lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

## test: lint, then the whole suite (pcsc tests start their own private pcscd)
test: deps postgres redis venv lint
	$(BIN)/pytest

## run: pcscd with a vpcd reader + `permit sim start --cards $(CARDS)` in the foreground
run: deps venv
	@CARDS=$(CARDS) scripts/run-sim.sh

## bench: APDU round trip, record verification, issuance, relying-party verifications over
## HTTP (one JSON line each)
bench: deps postgres redis venv
	$(BIN)/python bench/apdu_roundtrip.py
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/issuance.py
	$(BIN)/python bench/api.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
