# gsomia — two commands do all the set-up on a fresh machine:
#   make demo   sets up .venv and runs the main job
#   make test   sets up .venv and runs lint, types, layer contracts and the whole test suite

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all setup test lint types contracts pytest demo bench clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: $(STAMP)
	$(BIN)/mypy src tests

contracts: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest -q

test: lint types contracts pytest

demo: $(STAMP)
	$(BIN)/gsomia replay --scenario lapse-2019 --from 2019-11-01 --to 2020-03-31
	$(BIN)/gsomia demo

bench: $(STAMP)  # minutes each; figures in docs/benchmarks.md
	$(BIN)/python bench/bench_decide.py
	$(BIN)/python bench/bench_seal.py
	$(BIN)/python bench/bench_log.py
	$(BIN)/python bench/bench_taxii.py
	$(BIN)/python bench/bench_realtime.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
