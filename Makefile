# Daybook: `make run` starts the journal, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test test-postgres lint fmt bench load install install-dev migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)
install-dev: $(DEV_STAMP)

migrate: $(STAMP)
	$(BIN)/daybook db upgrade

# gunicorn.conf.py also starts and stops a job worker (`daybook worker`), unless
# DAYBOOK_REDIS_URL is set: then run workers on their own (docs/jobs.md).
run: migrate
	$(BIN)/gunicorn --config gunicorn.conf.py

lint: $(DEV_STAMP)
	$(BIN)/ruff check daybook tests bench migrations gunicorn.conf.py
	$(BIN)/ruff format --check daybook tests bench migrations gunicorn.conf.py

fmt: $(DEV_STAMP)
	$(BIN)/ruff format daybook tests bench
	$(BIN)/ruff check --fix daybook tests bench

# The suite runs twice: on SQLite (with coverage), then on PostgreSQL, each xdist worker in its
# own database named after this one. Unreachable, the second run is skipped, unless
# DAYBOOK_REQUIRE_SERVICES=1 (CI) makes that a failure.
TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/daybook_test

test: lint
	DAYBOOK_TEST_DATABASE_URL= $(BIN)/pytest -n auto --cov --cov-report=term --cov-fail-under=90 $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-postgres

test-postgres: $(DEV_STAMP)
	@if [ "$$DAYBOOK_REQUIRE_SERVICES" != 1 ] && ! $(BIN)/python -m tests.databases "$(TEST_DATABASE_URL)"; then \
		echo "Skipping the PostgreSQL run: the server is not reachable (DAYBOOK_REQUIRE_SERVICES=1 makes this fail)."; \
	else \
		echo "Running the suite on PostgreSQL ($(TEST_DATABASE_URL))"; \
		DAYBOOK_TEST_DATABASE_URL="$(TEST_DATABASE_URL)" $(BIN)/pytest -n auto $(PYTEST_ARGS); \
	fi

bench: $(DEV_STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# 1,000 users with think time on the HTML pages (locust), SQLite and PostgreSQL; see bench/README.md.
load: $(DEV_STAMP)
	$(BIN)/python bench/load.py $(LOAD_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .coverage .coverage.* htmlcov
