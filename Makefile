# Two commands do all set-up: `make serve` and `make test`.
SHELL := /bin/bash
# .python-version pins 3.12; pyenv's shim honours it inside the repo.
PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
# Two installs into the one .venv: serving, training and packaging (requirements-tools.txt),
# then the tests and tools on top (requirements-dev.txt). Each stamp is rebuilt when
# one of its requirements files changes; the dev one also after the serving one.
SERVE_STAMP := $(VENV)/.installed-serve
DEV_STAMP := $(VENV)/.installed-dev
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check
HOST ?= 127.0.0.1
PORT ?= 5000
NODE_STAMP := node_modules/.installed
# The try-it page's browser tests: Chromium and its driver from Debian's packages.
BROWSER := /usr/bin/chromium /usr/bin/chromedriver
# jq, the engine Firehose partitions capture records with, run on the app's own records.
JQ := /usr/bin/jq
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# osls reads no login and sends nothing when these are set.
SLS := SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off npx --no-install sls
SLS_ARGS ?=
OFFLINE_PORT ?= 3000
OFFLINE_LAMBDA_PORT ?= 3002
MOTO_PORT ?= 5055
BENCH_VENV := bench/.venvs/bench
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_WORK := bench/.work
# The mixed-type example the bench also packages (with pandas) and serves.
CHURN_MODEL := model/examples/churn.joblib

.PHONY: help serve test test-fast lint format train package offline deploy-local bench clean

help:
	@echo "make serve   serve the bundled model on http://$(HOST):$(PORT)"
	@echo "make test    lint, type-check and run every test"
	@echo "make test-fast      the in-process tests alone (tests/in_process)"
	@echo "make train   retrain the bundled model (model/model.joblib, model/model.json)"
	@echo "make format  format the code with ruff"
	@echo "make package        build the Lambda bundle: .serverless/model-prediction-api.zip"
	@echo "make offline        serve the function through emulated API Gateway on :$(OFFLINE_PORT)"
	@echo "make deploy-local   rehearse sls deploy against a local moto server"
	@echo "make bench          measure against the peers; writes bench/REPORT.md"

$(SERVE_STAMP): requirements.txt requirements-pandas.txt requirements-tools.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), f"need Python 3.12, found {sys.version.split()[0]}"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements-tools.txt
	touch $@

$(DEV_STAMP): $(SERVE_STAMP) requirements-dev.txt
	$(PIP_INSTALL) -r requirements-dev.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Installed only where missing (CI runs as root on a clean Debian machine).
$(BROWSER) &:
	$(SUDO) apt-get update
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y chromium chromium-driver

$(JQ):
	$(SUDO) apt-get update
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y jq

serve: $(SERVE_STAMP)
	$(BIN)/python -m app.local_server --host $(HOST) --port $(PORT)

# Every tier, the quick ones first (tests/conftest.py orders them): what CI runs.
test: $(DEV_STAMP) $(NODE_STAMP) $(BROWSER) $(JQ) lint
	$(BIN)/python -m pytest

# The in-process tier alone: no server, package, browser or node_modules. Spread over
# one worker per core, each module kept on one worker for its module-scoped fixtures.
test-fast: $(DEV_STAMP)
	$(BIN)/python -m pytest -n auto --dist loadscope tests/in_process

# mypy checks the files pyproject.toml names: app/, handler.py, model/ and the
# packaging plugins' Python helpers.
lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

train: $(SERVE_STAMP)
	$(BIN)/python -m model.train

# The Lambda bundle; needs no AWS credentials. SLS_ARGS="--package DIR" builds elsewhere.
package: $(SERVE_STAMP) $(NODE_STAMP)
	$(SLS) package $(SLS_ARGS)

# serverless-offline runs the handler with the first python3 on PATH: the venv's.
# `offline start`, not `offline`: only it runs the offline:start:init hooks of other
# plugins once the server exists (offline-binary-media-types needs that).
offline: $(SERVE_STAMP) $(NODE_STAMP)
	VIRTUAL_ENV=$(CURDIR)/$(VENV) PATH=$(CURDIR)/$(BIN):$$PATH \
	  $(SLS) offline start --host 127.0.0.1 --httpPort $(OFFLINE_PORT) --lambdaPort $(OFFLINE_LAMBDA_PORT) $(SLS_ARGS)

# `sls deploy` against moto's server on 127.0.0.1, never AWS: fake credentials, and
# the endpoint must be local. With AWS_ENDPOINT_URL unset it starts (and stops) its own,
# through tests/support/moto_server.py, whose CloudFormation also creates the alias of a
# stack with SnapStart or provisioned concurrency.
deploy-local: $(DEV_STAMP) $(NODE_STAMP)
	@set -e; \
	export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing; \
	export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1; unset AWS_PROFILE; \
	if [ -z "$$AWS_ENDPOINT_URL" ]; then \
	  $(BIN)/python tests/support/moto_server.py -H 127.0.0.1 -p $(MOTO_PORT) > /dev/null 2>&1 & moto=$$!; \
	  trap 'kill $$moto' EXIT; \
	  export AWS_ENDPOINT_URL=http://127.0.0.1:$(MOTO_PORT); \
	  for _ in $$(seq 150); do (exec 3<>/dev/tcp/127.0.0.1/$(MOTO_PORT)) 2>/dev/null && break; sleep 0.2; done; \
	fi; \
	case "$$AWS_ENDPOINT_URL" in http://127.0.0.1:*|http://localhost:*) ;; \
	  *) echo "AWS_ENDPOINT_URL must point at 127.0.0.1 or localhost" >&2; exit 2;; esac; \
	$(SLS) deploy $(SLS_ARGS); \
	$(SLS) info

$(BENCH_STAMP): requirements.txt bench/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

# Not part of `make test`: timings belong in a report, not in pass/fail. Each peer
# server gets its own environment (bench/peers/setup.sh); wrk comes from Debian.
bench: $(DEV_STAMP) $(NODE_STAMP) $(BENCH_STAMP)
	command -v wrk > /dev/null || (apt-get update && apt-get install -y wrk)
	bash bench/peers/setup.sh
	$(SLS) package --package $(BENCH_WORK)/package
	$(SLS) package --package $(BENCH_WORK)/package-pandas --param="modelUri=$(CHURN_MODEL)"
	mkdir -p $(BENCH_WORK)/results
	$(BENCH_VENV)/bin/python bench/size.py --zip $(BENCH_WORK)/package/model-prediction-api.zip \
	  --json $(BENCH_WORK)/results/size.json
	$(BENCH_VENV)/bin/python bench/size.py --zip $(BENCH_WORK)/package-pandas/model-prediction-api.zip \
	  --requirements requirements-pandas.txt --json $(BENCH_WORK)/results/size_churn.json
	$(BENCH_VENV)/bin/python bench/cold_start.py --runs 7 \
	  --zip $(BENCH_WORK)/package/model-prediction-api.zip --json $(BENCH_WORK)/results/cold_start.json
	$(BENCH_VENV)/bin/python bench/cold_start.py --runs 7 --model $(CHURN_MODEL) \
	  --zip $(BENCH_WORK)/package-pandas/model-prediction-api.zip \
	  --json $(BENCH_WORK)/results/cold_start_churn.json
	$(BENCH_VENV)/bin/python bench/model_kinds.py --json $(BENCH_WORK)/results/model_kinds.json
	$(BENCH_VENV)/bin/python bench/lambda_sizes.py \
	  --zip $(BENCH_WORK)/package/model-prediction-api.zip --json $(BENCH_WORK)/results/lambda_sizes.json
	$(BENCH_VENV)/bin/python bench/warm.py --json $(BENCH_WORK)/results/warm.json
	$(BENCH_VENV)/bin/python bench/batch.py --json $(BENCH_WORK)/results/batch.json
	$(BENCH_VENV)/bin/python bench/protocols.py --json $(BENCH_WORK)/results/protocols.json
	$(BENCH_VENV)/bin/python bench/adversarial.py --json $(BENCH_WORK)/results/adversarial.json
	$(BENCH_VENV)/bin/python bench/capture.py --json $(BENCH_WORK)/results/capture.json
	$(BENCH_VENV)/bin/python bench/profiles.py --json $(BENCH_WORK)/results/profile.json
	$(BENCH_VENV)/bin/python bench/throughput.py --json $(BENCH_WORK)/results/throughput.json
	$(BENCH_VENV)/bin/python bench/report.py $(BENCH_WORK)/results

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis .serverless bench/.venvs bench/.work
