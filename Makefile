# Two commands do everything on a fresh machine with Python 3.11:
#   make run   - set up, generate demo exports, run the whole pipeline
#   make test  - set up (incl. test-only system packages) and run the test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DO_NOT_TRACK := 1
export DAGSTER_DISABLE_TELEMETRY := 1
export CRM_PULSE_LANDING_DIR ?= data/landing
export CRM_PULSE_WAREHOUSE_DIR ?= data/warehouse

.PHONY: install run demo test test-deps oracle-venv chromium duckdb14-venv spark-deps dev docs bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24"
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	cd dbt_project && ../$(BIN)/dbt parse --quiet --profiles-dir . >/dev/null
	touch $@

install: $(STAMP)

demo: install
	$(BIN)/crm-pulse demo --out $(CRM_PULSE_LANDING_DIR)

run: demo
	$(BIN)/crm-pulse run

# Test-only oracle for the CLV tests: the archived `lifetimes` package on its own numpy 1.x stack
# (binary wheels only; never a runtime dependency).
ORACLE_VENV := .venv-oracle
ORACLE_STAMP := $(ORACLE_VENV)/.installed

$(ORACLE_STAMP): tests/oracle-requirements.txt
	$(PYTHON) -m venv $(ORACLE_VENV)
	$(ORACLE_VENV)/bin/pip install -q --only-binary=:all: -r tests/oracle-requirements.txt
	touch $@

oracle-venv: $(ORACLE_STAMP)

# Test-only: Debian's Chromium and CJK fonts (report rendering tests, screenshots, PDF); never a browser download.
chromium:
	@if command -v chromium >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q .; then :; else \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk; fi

# Test-only: DuckDB 1.4 (the version Metabase's DuckDB driver bundles) with its CLI and the SQLAlchemy
# driver Superset uses, in their own venv, plus Evidence's DuckDB source connector (npm), for
# tests/test_bi_access.py.
DUCKDB14_VENV := .venv-duckdb14
DUCKDB14_STAMP := $(DUCKDB14_VENV)/.installed

$(DUCKDB14_STAMP): tests/duckdb14-requirements.txt
	$(PYTHON) -m venv $(DUCKDB14_VENV)
	$(DUCKDB14_VENV)/bin/pip install -q -r tests/duckdb14-requirements.txt
	npm install -s --no-audit --no-fund --save-exact --prefix $(DUCKDB14_VENV)/evidence "@evidence-dev/duckdb@2.0.1"
	touch $@

duckdb14-venv: $(DUCKDB14_STAMP)

# Spark engine (CRM_PULSE_ENGINE=spark, tests/test_spark_parity.py): dbt-spark with a local PySpark
# session from PyPI, and a Java runtime (Debian's default JRE, installed only when no java is found).
SPARK_STAMP := $(VENV)/.spark-installed

$(SPARK_STAMP): $(STAMP)
	$(BIN)/pip install -q -c constraints.txt -e ".[spark]"
	touch $@

spark-deps: $(SPARK_STAMP)
	@if command -v java >/dev/null 2>&1 || test -n "$$JAVA_HOME"; then :; else \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q default-jre-headless; fi

test-deps: install oracle-venv chromium duckdb14-venv spark-deps

test: test-deps
	CRM_PULSE_REQUIRE_CLV_ORACLE=1 CRM_PULSE_REQUIRE_SPARK=1 $(BIN)/pytest -q

DAGSTER_HOME_DIR := $(abspath $(CRM_PULSE_WAREHOUSE_DIR))/dagster_home
DEV_PORT ?= 3000

dev: install
	$(BIN)/python -m orchestration.instance_storage $(DAGSTER_HOME_DIR) >/dev/null
	DAGSTER_HOME=$(DAGSTER_HOME_DIR) $(BIN)/dagster dev -m orchestration.definitions -h 127.0.0.1 -p $(DEV_PORT)

docs: install
	mkdir -p $(CRM_PULSE_WAREHOUSE_DIR)
	cd dbt_project && CRM_PULSE_WORK_DB=$(abspath $(CRM_PULSE_WAREHOUSE_DIR))/work.duckdb \
		../$(BIN)/dbt docs generate --static --profiles-dir . && echo "open dbt_project/target/static_index.html (one self-contained file; or: cd dbt_project && ../$(BIN)/dbt docs serve --profiles-dir .)"

# Benchmark (not part of `make test`): full + incremental refresh at S/M/L vs a bare DuckDB baseline.
# make bench [SCALES=S,M,L] [BENCH_PROCESSES=2] [BENCH_NOTE="..."]; results: bench/results.json, bench/README.md
SCALES ?= S,M,L
BENCH_PROCESSES ?= 2
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install -q -c constraints.txt -e ".[bench]"
	touch $@

bench: $(BENCH_STAMP)
	$(BIN)/python bench/bench.py --scales "$(SCALES)" --processes "$(BENCH_PROCESSES)" --note "$(BENCH_NOTE)"

clean:
	rm -rf data dbt_project/target dbt_project/logs .pytest_cache
