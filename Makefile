# backupctl: the two commands a new user runs are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit bench soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install backupctl with its test tools

demo: $(STAMP)  ## local S3 endpoint, SLA-shaped history, plan, prune, verify, proof, drill
	$(BIN)/python -m backupctl.demo

lint: $(STAMP)  ## ruff (lint and format) on everything, mypy (strict on retention/)
	$(BIN)/ruff check backupctl retention restore tests bench
	$(BIN)/ruff format --check backupctl retention restore tests bench
	$(BIN)/mypy retention restore backupctl

test: lint  ## lint, type checks, then the whole test suite (unit, property, golden, e2e)
	$(BIN)/python -m pytest

bench: $(STAMP)  ## speed and memory figures against the named peers, one table
	$(BIN)/pip install -q -e '.[dev,bench]'
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m bench  # the peers: aws (from .venv), rclone, sha256sum, openssl, restic

soak: $(STAMP)  ## the long fault-injection run (more seeds than the test suite), then the hostile-input fuzz with 5000 examples
	$(BIN)/python -m bench.soak
	BACKUPCTL_FUZZ_EXAMPLES=5000 $(BIN)/python -m pytest tests/fuzz -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo-output
