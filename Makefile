# Two commands on a fresh machine:
#   make render STACK=prod   set up (virtualenv, pinned dependencies) and render the stack offline
#   make test                set up and run the test suite
# Deploying needs the Pulumi CLI and Azure credentials: see README "Deploy".

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK ?= dev

.PHONY: setup render scan test lint bench drill-lab drill-lab-regional clean

# .venv is also the policy pack's virtualenv (policies/PulumiPolicy.yaml: ../.venv): the Pulumi CLI
# starts the pack with .venv/bin/python and installs nothing for a local pack.
$(BIN)/.installed: requirements.txt requirements-dev.txt policies/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -r policies/requirements.txt
	touch $@

setup: $(BIN)/.installed

render: setup
	$(BIN)/python -m offline.render --stack $(STACK)

# checkov's own pins conflict with pulumi's, so it gets its own virtualenv under .tools/ (not committed).
CHECKOV_VENV := .tools/checkov
$(CHECKOV_VENV)/.installed: tools/requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-checkov.txt
	touch $@

# The program's objects with no waiver (run from build/, where checkov finds no .checkov.yaml), then the
# whole render (chart objects too) with .checkov.yaml's waivers.
scan: render $(CHECKOV_VENV)/.installed
	cd build/$(STACK) && $(CURDIR)/$(CHECKOV_VENV)/bin/checkov --framework kubernetes --compact --quiet --skip-download -d manifests
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -d build/$(STACK)

# One pytest worker per CPU (pytest-xdist); TEST_WORKERS=0 runs the suite in this process.
TEST_WORKERS ?= auto
test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	bash tools/lint-workflows.sh

bench: setup
	$(BIN)/python tools/benchmark.py

# Failover of a real three-instance PostgreSQL 18 on 127.0.0.1 with the stack's parameters: RTO and RPO.
drill-lab: setup
	$(BIN)/python -m tools.drill.lab --stack $(STACK)

drill-lab-regional: setup
	$(BIN)/python -m tools.drill.regional_lab --stack $(STACK)

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
