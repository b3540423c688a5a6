# Two commands on a fresh machine:
#   make render STACK=prod   set up (virtualenv, pinned dependencies) and render the stack offline
#   make test                set up and run the test suite
# Deploying needs the Pulumi CLI and Azure credentials: see README "Deploy".

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK ?= dev

.PHONY: setup render test lint bench clean

# .venv is also the policy pack's virtualenv (policies/PulumiPolicy.yaml: ../.venv): the Pulumi CLI
# starts the pack with .venv/bin/python and installs nothing for a local pack.
$(BIN)/.installed: requirements.txt requirements-dev.txt policies/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -r policies/requirements.txt
	touch $@

setup: $(BIN)/.installed

render: setup
	$(BIN)/python -m offline.render --stack $(STACK)

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	bash tools/lint-workflows.sh

bench: setup
	$(BIN)/python tools/benchmark.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
