# The two commands of the README: `make run` and `make test`. Both bootstrap .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= liberation-guardian.yml
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test lint typecheck check venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

run: venv
	@test -f $(CONFIG) || $(BIN)/liberation-guardian init $(CONFIG)
	$(BIN)/liberation-guardian --config $(CONFIG) serve --host 127.0.0.1 --port 8080

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: venv
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q

check: test

clean:
	rm -rf $(VENV) build dist *.egg-info
