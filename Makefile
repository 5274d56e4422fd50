# Two commands do all set-up: `make serve` and `make test`.
SHELL := /bin/bash
# .python-version pins 3.12; pyenv's shim honours it inside the repo.
PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: help serve test lint format train clean

help:
	@echo "make serve   serve the bundled model on http://$(HOST):$(PORT)"
	@echo "make test    lint and run every test"
	@echo "make train   retrain the bundled model (model/model.joblib, model/model.json)"
	@echo "make format  format the code with ruff"

# Rebuilt whenever a requirements file changes.
$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), f"need Python 3.12, found {sys.version.split()[0]}"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

serve: $(STAMP)
	$(BIN)/flask --app app run --host $(HOST) --port $(PORT)

test: $(STAMP) lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

train: $(STAMP)
	$(BIN)/python -m model.train

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
