# The two set-up commands: `make demo` and `make test`. Each creates .venv and
# installs what it needs on a machine with Python 3.11, make and a C compiler.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test check lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py
	$(BIN)/python -m zeromq bench --quick

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples scripts
	$(BIN)/python scripts/gen_stubs.py --check

typecheck: $(STAMP)
	$(BIN)/mypy src/zeromq tests/typing

test: lint typecheck
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_core.py

# docs/benchmarks.png: throughput and round trip against message size (about two
# minutes). Installs the optional extra "bench" (matplotlib), which `make test`
# does not need.
.PHONY: plot
plot: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/plot.py --save-json docs/benchmarks.json

# About a minute of mixed patterns with faults injected; prints messages sent,
# faults injected and messages lost (make soak SOAK_SECONDS=600 for a longer run).
.PHONY: soak
soak: $(STAMP)
	$(BIN)/python tests/reliability/soak.py --seconds $(or $(SOAK_SECONDS),60)

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
