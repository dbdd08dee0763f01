# iceprod-tasks: `make run` serves the API locally, `make test` runs everything CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
ROLE ?= admin
DATASETS ?=
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: install run token test test-moto test-ddblocal lint package reconcile convert-protocol bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

run: install  ## serve the API on http://127.0.0.1:$(PORT) (ICEPROD_API_VERSION=3 for IceProd 3's protocol)
	PORT=$(PORT) $(PY) -m devserver.run

token: install  ## print a token: make token ROLE=system [DATASETS=d1:write]
	@$(PY) -m devserver.token --role $(ROLE) --datasets "$(DATASETS)"

lint: install
	$(PY) -m ruff check .

# Each engine runs the suite under IceProd 2's protocol, then IceProd 3's own tests in a process
# that serves protocol 3 (a process, like a deployment, serves one protocol).
test-moto: install
	$(PY) -m pytest -q -p no:cacheprovider
	ICEPROD_API_VERSION=3 $(PY) -m pytest -q -p no:cacheprovider tests/protocol3

test-ddblocal: install
	$(PY) -m pytest -q -p no:cacheprovider --backend=ddblocal
	ICEPROD_API_VERSION=3 $(PY) -m pytest -q -p no:cacheprovider --backend=ddblocal tests/protocol3

package: install  ## the deployable template and code, in build/ (then cfn-lint)
	rm -rf build
	$(VENV)/bin/chalice package --stage $(or $(STAGE),prod) --merge-template template.yaml --template-format yaml build
	$(VENV)/bin/cfn-lint build/sam.yaml

reconcile: install  ## recompute the counters from the tasks table (AWS_ENDPOINT_URL_DYNAMODB for a local engine)
	$(PY) -m devserver.reconcile

convert-protocol: install  ## convert IceProd 2 tables to IceProd 3's protocol (DRY_RUN=1: only count; see README, Protocols)
	$(PY) -m devserver.convert $(if $(DRY_RUN),--dry-run)

bench: install  ## benchmarks on DynamoDB Local; writes docs/performance.md
	$(PY) -m bench

test: lint package test-moto test-ddblocal  ## everything: lint, template, both backends

clean:
	rm -rf $(VENV) .cache build .pytest_cache .ruff_cache
