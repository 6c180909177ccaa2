# Daybook: `make run` starts the journal, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint fmt bench install install-dev migrate clean

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

run: migrate
	$(BIN)/gunicorn --config gunicorn.conf.py

lint: $(DEV_STAMP)
	$(BIN)/ruff check daybook tests bench migrations gunicorn.conf.py
	$(BIN)/ruff format --check daybook tests bench migrations gunicorn.conf.py

fmt: $(DEV_STAMP)
	$(BIN)/ruff format daybook tests bench
	$(BIN)/ruff check --fix daybook tests bench

test: lint
	$(BIN)/pytest -n auto --cov --cov-report=term --cov-fail-under=90 $(PYTEST_ARGS)

bench: $(DEV_STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .coverage .coverage.* htmlcov
