# Two commands on a fresh machine:
#   make render STACK=prod   set up (virtualenv, pinned dependencies) and render the stack offline
#   make test                set up and run the test suite
# Deploying needs the Pulumi CLI and Azure credentials: see README "Deploy".

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK ?= dev

.PHONY: setup render scan test lint lock bench drill-lab drill-lab-regional drill-lab-upgrade clean

# Every install is from a lock with a hash for each file of the whole closure (--no-deps: nothing
# unlisted comes in), the same locks CI installs; `pip check` then proves the closure complete.
PIP_INSTALL_LOCK := pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r

# .venv is also the policy pack's virtualenv (policies/PulumiPolicy.yaml: ../.venv): the Pulumi CLI
# starts the pack with .venv/bin/python and installs nothing for a local pack. requirements-dev.lock
# includes requirements.lock (program and pack: policies/requirements.txt holds the same pins).
$(BIN)/.installed: requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/$(PIP_INSTALL_LOCK) requirements-dev.lock
	$(BIN)/pip check
	touch $@

setup: $(BIN)/.installed

render: setup
	$(BIN)/python -m offline.render --stack $(STACK)

# checkov's own pins conflict with pulumi's, so it gets its own virtualenv under .tools/ (not committed).
CHECKOV_VENV := .tools/checkov
$(CHECKOV_VENV)/.installed: tools/requirements-checkov.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/$(PIP_INSTALL_LOCK) tools/requirements-checkov.lock
	$(CHECKOV_VENV)/bin/pip check
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
	$(BIN)/lint-imports --no-cache
	bash tools/lint-workflows.sh

bench: setup
	$(BIN)/python tools/benchmark.py

# Failover of a real three-instance PostgreSQL 18 on 127.0.0.1 with the stack's parameters: RTO and RPO.
drill-lab: setup
	$(BIN)/python -m tools.drill.lab --stack $(STACK)

drill-lab-regional: setup
	$(BIN)/python -m tools.drill.regional_lab --stack $(STACK)

# Needs the old major's server: apt-get install postgresql-15 (Debian).
drill-lab-upgrade: setup
	$(BIN)/python -m tools.drill.upgrade_lab

# Regenerate the locks after changing a requirements file (tests/test_locks.py fails until then).
# Needs uv (https://docs.astral.sh/uv/) on PATH; it resolves from PyPI for Python 3.11.5+ on every
# platform and records the hashes of every wheel and sdist of each pinned version.
UV ?= uv
LOCK_FLAGS := pip compile --quiet --no-config --universal --python-version 3.11.5 --generate-hashes \
	--custom-compile-command "make lock"
lock:
	$(UV) $(LOCK_FLAGS) -o requirements.lock requirements.txt
	$(UV) $(LOCK_FLAGS) -o requirements-dev.lock requirements-dev.txt
	$(UV) $(LOCK_FLAGS) -o tools/requirements-checkov.lock tools/requirements-checkov.txt

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
