# relabel: the two commands of the README are `make demo` and `make test`.
# Everything is installed into venvs inside the checkout; nothing is installed by hand.

PYTHON      ?= python3
VENV        ?= .venv
STUDIO_VENV ?= .venv-studio
BIN         := $(VENV)/bin
export RELABEL_STUDIO_VENV := $(abspath $(STUDIO_VENV))

.PHONY: install studio browser demo test test-fast lint bench bench-quick reliability clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev,ray]"
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

# README command two: every test tier (see docs/testing.md): the fast tier, Label Studio
# round trips against ONE real local server, the kill -9 fault tests, real cycles (trained
# by the test engine, tests/engine.py), Keras training in the tests about training (tiny
# models), Ray, the report in headless Chromium and the compose validation, in two pytest
# workers (the Label Studio tests in one, the Ray tests in one: one server, one cluster).
# At most 10 minutes on 2 cores after the installs. Quality and speed are measured by the
# benchmarks (`make bench`, `make bench-quick`), not here.
test: install studio browser
	$(BIN)/ruff check relabel tests benchmarks
	$(BIN)/pytest -n 2 --dist loadgroup

# The edit loop: no server, no browser, no compose, no Ray, no Keras training (under 2
# minutes; plumbing tests train with the test engine).
test-fast: install
	$(BIN)/ruff check relabel tests benchmarks
	$(BIN)/pytest -m "not studio and not browser and not compose and not slow and not ray"

lint: install
	$(BIN)/ruff check relabel tests benchmarks
	$(BIN)/ruff format --check relabel tests benchmarks

# The reliability table of docs/reliability.md: the case tables of tests/test_reliability.py
# and tests/test_reliability3.py (with the two unit tests the latter names) and the results
# of this run (failures are shown there, not hidden).
reliability: install studio
	mkdir -p build
	-$(BIN)/pytest tests/test_reliability.py tests/test_reliability3.py tests/test_studio_move.py \
	  tests/test_scoring.py::test_confidence_weighted_entropy_on_one_hot_rows \
	  tests/test_store.py::test_gold_tasks_are_found_by_their_evidence_key_not_by_text \
	  --junitxml=build/reliability.xml -o junit_family=xunit1
	$(BIN)/python -m tests.reliability_readme build/reliability.xml docs/reliability.md

# The tools the issues section compares with (cleanlab's Datalab, cleanvision): the
# `bench` extra, for the benchmarks only (make test does not need it).
$(BIN)/.bench-installed: $(BIN)/.installed
	$(BIN)/pip install -q -e ".[bench]"
	touch $@

bench: install studio $(BIN)/.bench-installed
	$(BIN)/python -m benchmarks --full --no-photos-long

# The quick benchmark (a few minutes; figures printed and written to build/, not asserted).
bench-quick: install studio $(BIN)/.bench-installed
	$(BIN)/python -m benchmarks --quick --out build/BENCHMARKS-quick.md --json build/benchmarks-quick.json

clean:
	rm -rf $(VENV) $(STUDIO_VENV) .pytest_cache .relabel-studio
