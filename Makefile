# relabel: the two commands of the README are `make demo` and `make test`.
# Everything is installed into venvs inside the checkout; nothing is installed by hand.

PYTHON      ?= python3
VENV        ?= .venv
STUDIO_VENV ?= .venv-studio
BIN         := $(VENV)/bin
export RELABEL_STUDIO_VENV := $(abspath $(STUDIO_VENV))

.PHONY: install studio browser demo test lint bench bench-quick clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/.installed

$(STUDIO_VENV)/.installed: $(BIN)/.installed
	$(BIN)/relabel studio install --venv $(STUDIO_VENV)
	touch $@

# The Label Studio server, in its own venv (relabel itself depends on label-studio-sdk only).
studio: $(STUDIO_VENV)/.installed

# Headless Chromium for the report's browser test (Debian's package; needs root or sudo).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# README command one: a full demo on the bundled digits project with a local Label Studio.
demo: install studio
	$(BIN)/relabel demo

# README command two: every test (Label Studio round trips run against a real local server),
# then the benchmarks in quick mode (figures printed and written to build/, not asserted:
# acceptance figures are read from BENCHMARKS.md, made by `make bench`).
test: install studio browser
	$(BIN)/ruff check relabel tests benchmarks
	$(BIN)/pytest
	$(BIN)/python -m benchmarks --quick --out build/BENCHMARKS-quick.md --json build/benchmarks-quick.json

lint: install
	$(BIN)/ruff check relabel tests benchmarks
	$(BIN)/ruff format --check relabel tests benchmarks

bench: install studio
	$(BIN)/python -m benchmarks --full

bench-quick: install studio
	$(BIN)/python -m benchmarks --quick

clean:
	rm -rf $(VENV) $(STUDIO_VENV) .pytest_cache .relabel-studio
