# gsomia — two commands do all the set-up on a fresh machine:
#   make demo   sets up .venv and runs the main job
#   make test   sets up .venv and runs lint, types, layer contracts and the whole test suite

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all setup browser test lint types contracts pytest demo bench clean

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

# The console's browser tests drive Debian's Chromium (Playwright's own browser download is not
# used). Installing it needs root, as on CI; elsewhere install the package `chromium` yourself.
browser:
	@{ test -x /usr/bin/chromium && test -d /usr/share/fonts/opentype/noto; } || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk; \
	  else echo "the browser tests need /usr/bin/chromium (and fonts-noto-cjk): run 'sudo apt-get install chromium fonts-noto-cjk'" >&2; exit 1; fi; }

# The suite runs under coverage (configured in pyproject.toml: branch coverage of src/gsomia, the
# processes the tests start measured too); the total is printed at the end, and the report fails
# below the floor `fail_under`.
# pytest-xdist runs the suite on PYTEST_WORKERS processes, each test file on one of them (its
# module fixtures are made once); the tests that restart PostgreSQL run after, on their own,
# as nothing else may use the server meanwhile.
PYTEST_WORKERS ?= 3
pytest: $(STAMP) browser
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile -m "not pg_restart"
	$(BIN)/coverage run -m pytest -q -m pg_restart
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report

test: lint types contracts pytest

demo: $(STAMP)
	$(BIN)/gsomia replay --scenario lapse-2019 --from 2019-11-01 --to 2020-03-31
	$(BIN)/gsomia demo

bench: $(STAMP)  # minutes each; figures in docs/benchmarks.md
	$(BIN)/python bench/bench_decide.py
	$(BIN)/python bench/bench_seal.py
	$(BIN)/python bench/bench_log.py
	$(BIN)/python bench/bench_taxii.py --target gsomia
	$(BIN)/python bench/bench_taxii.py --target opentaxii
	$(BIN)/python bench/bench_publish.py
	$(BIN)/python bench/bench_realtime.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .coverage .coverage.* htmlcov
