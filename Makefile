# The two set-up commands: `make demo` and `make test`. Each creates .venv and
# installs what it needs on a machine with Python 3.11, make and a C compiler.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DOCS_STAMP := $(VENV)/.docs-installed-stamp

.PHONY: demo test check lint typecheck docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The documentation tools: the extra "docs" (mkdocs, Material, mkdocstrings).
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,docs]'
	touch $(DOCS_STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py
	$(BIN)/python -m zeromq bench --quick

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples scripts docs
	$(BIN)/python scripts/gen_stubs.py --check

typecheck: $(STAMP)
	$(BIN)/mypy src/zeromq tests/typing examples docs/hooks

test: lint typecheck docs
	$(BIN)/python -m pytest

# The site, into site/ (a few seconds). --strict: a broken link, a missing
# reference or a docstring warning fails the build.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

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

# The DRAFT sockets (Server, Client, Radio, Dish, ...): builds libzmq from
# Debian's zeromq3 source and pyzmq against it into .draft/ and .venv-draft/
# (both ignored; cached, so a second run only tests), then runs the whole suite
# there, draft tests included. About 3 minutes cold on 2 cores. Without the
# Debian source it says so and that draft sockets were not tested.
.PHONY: draft
draft:
	bash scripts/build_draft.sh

clean:
	rm -rf .draft .venv-draft $(VENV) build site src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
