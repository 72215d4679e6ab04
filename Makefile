# saas_metrics: the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home

.PHONY: install run test ui report bench lint docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

## Also compiles the package's bytecode: pip compiles what it installs, but not an editable
## install's own modules, and where PYTHONDONTWRITEBYTECODE is set (this machine sets it) every
## process (a run, the run worker the UI launches, the daemon) would compile them again from source.
install: $(STAMP)
	$(BIN)/python -m compileall -q saas_metrics

## Generate the sample data if absent, materialise every complete month as one
## single-run backfill into data/warehouse.db, print the last 12 months of KPIs.
run: install
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/saas-metrics run --generate-if-missing

## The whole test suite (PostgreSQL tests skip with a reason when no server is
## reachable; CI sets SAAS_METRICS_REQUIRE_POSTGRES=1 so they must run).
## --no-loadscope-reorder: files are handed out in collection order, which conftest.py sorts
## slowest first (xdist's own order, by test count, started the one-test files of minutes last).
test: install
	bash scripts/install_chromium.sh
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder -q

## The Dagster UI and daemon (schedules, sensors) with run history kept under data/, and
## the dashboard and GX Data Docs over HTTP on 127.0.0.1:3001 (the UI's links point there).
ui: install
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/saas-metrics ui

report: install
	$(BIN)/saas-metrics report

bench: install
	$(BIN)/saas-metrics bench

## ruff, and mypy on the package (its settings: [tool.mypy] in pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

docs: install
	$(BIN)/python -m saas_metrics.metrics.reference

clean:
	rm -rf data/warehouse.db* data/dagster_home data/reports data/gx_docs data/landing_cache
