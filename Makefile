# Every target sets itself up: a fresh clone needs only Python 3.11+ (3.12 preferred, the
# Lambda runtime) and network access to the package index.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell infra/find-python.sh)
VENV := .venv
SAM_VENV := .venv-sam
BIN := $(VENV)/bin
UV := $(BIN)/uv
export UV_PYTHON_DOWNLOADS := never
export AWS_DEFAULT_REGION ?= us-east-1
# sam build looks for the runtime's interpreter (python3.12) on PATH.
export PATH := $(dir $(PYTHON)):$(PATH)

.PHONY: help install demo serve test test-all lint bench faults lock sam-build clean chromium

help:
	@echo "make demo   - run the main job on the embedded local stack"
	@echo "make test   - install everything and run the test suite, less its slow suites"
	@echo "make test-all - the same with the slow suites (a sam build, property and growth runs)"
	@echo "make serve  - keep the local stack up on 127.0.0.1:3000"
	@echo "make lint   - ruff, mypy, the import contracts and the complexity gate"
	@echo "make chromium - install Chromium for the admin page tests (as root, if missing)"
	@echo "make bench  - benchmarks; figures go to docs/performance.md"
	@echo "make faults - the full fault-injection matrix; written to docs/reliability.md"
	@echo "make lock   - regenerate the pinned requirement files from pyproject.toml"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): requirements/bootstrap.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/bootstrap.txt
	@touch $@

$(VENV)/.installed: $(UV) requirements/dev.txt pyproject.toml
	$(UV) pip install --python $(BIN)/python --quiet --require-hashes -r requirements/dev.txt
	$(UV) pip install --python $(BIN)/python --quiet --no-deps -e .
	@touch $@

$(SAM_VENV)/.installed: $(UV) requirements/sam.txt
	$(UV) venv --quiet --clear --python $(PYTHON) $(SAM_VENV)
	$(UV) pip install --python $(SAM_VENV)/bin/python --quiet --require-hashes -r requirements/sam.txt
	@touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/recoup demo

serve: install
	$(BIN)/recoup serve

# Two workers (these machines have two cores), each test file whole on one of them: a
# module-wide fixture (a served stack, a sam build) and the tests that build on each
# other's state stay together. (Not `loadgroup`: with pytest 9.2 its groups are silently
# ignored, pytest-xdist issue 1386.)
# `-m` replaces pyproject's default (not faults): the full fault matrix is `make faults`.
test: install chromium
	$(BIN)/pytest -n 2 --dist loadfile -m "not slow and not faults"

test-all: install $(SAM_VENV)/.installed chromium
	RECOUP_SAM=$(SAM_VENV)/bin/sam $(BIN)/pytest -n 2 --dist loadfile -m "not faults"

# The admin page's browser tests drive Debian's Chromium (never a downloaded browser build);
# a Japanese font, so the customer page's Japanese screenshots show text, not boxes.
CHROMIUM := /usr/bin/chromium
JA_FONT := /usr/share/fonts/opentype/ipafont-gothic
chromium:
	@if [ -x "$(CHROMIUM)" ] && [ -d "$(JA_FONT)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium fonts-ipafont-gothic; \
	elif [ -x "$(CHROMIUM)" ]; then \
		echo "No Japanese font: the Japanese screenshots show boxes (apt-get install -y fonts-ipafont-gothic)" >&2; \
	else \
		echo "$(CHROMIUM) is missing: the admin page tests need it. Install it as root:" >&2; \
		echo "  apt-get install -y chromium" >&2; \
		exit 1; \
	fi

# The import contracts are in pyproject.toml ([tool.importlinter]); the layer's package is
# importable as `recoup` from layers/recoup. No cache: its directory would land in the tree.
# Complexity: no function, method or class of the shipped code above radon's grade C.
COMPLEXITY_PATHS := layers/recoup/recoup functions
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	PYTHONPATH=layers/recoup $(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/xenon --max-absolute C $(COMPLEXITY_PATHS)

bench: install
	$(BIN)/python -m benchmarks

# Every AWS call of every consumer failed in turn with every fault kind (minutes); the
# matrix is written to docs/reliability.md even when cells fail, then the exit code is
# pytest's.
FAULT_RESULTS := .pytest_cache/fault-results.jsonl
faults: install
	@mkdir -p $(dir $(FAULT_RESULTS)) && rm -f $(FAULT_RESULTS)
	RECOUP_FAULT_RESULTS=$(abspath $(FAULT_RESULTS)) $(BIN)/pytest -n 2 -q -m faults \
		tests/integration/test_fault_matrix.py; status=$$?; \
	$(BIN)/python -m tests.fault_matrix.report $(FAULT_RESULTS) docs/reliability.md && \
	exit $$status

sam-build: $(SAM_VENV)/.installed
	$(SAM_VENV)/bin/sam build

LOCK := $(UV) pip compile --quiet --generate-hashes --python $(PYTHON) \
	--python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock"
lock: $(UV)
	$(LOCK) pyproject.toml --extra dev -o requirements/dev.txt
	$(LOCK) pyproject.toml -c requirements/dev.txt -o layers/recoup/requirements.txt
	$(LOCK) requirements/sam.in -o requirements/sam.txt
	$(LOCK) requirements/bootstrap.in -o requirements/bootstrap.txt

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
