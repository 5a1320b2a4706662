# Gates, demo and benchmarks for the MGN pipeline (AWS SAM, Python 3.13, arm64).
# Self-bootstrapping: a fresh machine needs pyenv's (or PATH's) python3.13, node and npm, nothing else.
# `make help` lists the targets.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules --warn-undefined-variables

export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PYTHONDONTWRITEBYTECODE := 1
# The demo, benchmarks and tools import the layer's package and localcloud from the source tree.
export PYTHONPATH := $(CURDIR):$(CURDIR)/layers/pipeline

# --- interpreters -----------------------------------------------------------------------------
PYENV_ROOT_DIR := $(shell pyenv root 2>/dev/null)
# The functions' runtime: pyenv's 3.13.0 if present, else a python3.13 on PATH.
PY313 ?= $(firstword $(wildcard $(PYENV_ROOT_DIR)/versions/3.13.0/bin/python3.13) \
                     $(shell PYENV_VERSION=3.13.0 command -v python3.13 2>/dev/null))
# SAM CLI and checkov run on any Python they support: pyenv's 3.11 by default, else python3.
TOOLS_PY ?= $(firstword $(wildcard $(PYENV_ROOT_DIR)/versions/3.11.*/bin/python3.11) \
                        $(shell command -v python3 2>/dev/null))

VENV        := .venv
PY          := $(VENV)/bin/python
VENV_STAMP  := $(VENV)/.installed
SAM_VENV    := .venvs/sam
SAM_STAMP   := $(SAM_VENV)/.installed
SAM         := $(SAM_VENV)/bin/sam
CFN_LINT    := $(SAM_VENV)/bin/cfn-lint
CKV_VENV    := .venvs/checkov
CKV_STAMP   := $(CKV_VENV)/.installed
CHECKOV     := $(CKV_VENV)/bin/checkov
AWSCLI_VENV := .venvs/awscli
AWSCLI_STAMP := $(AWSCLI_VENV)/.installed
NODE_STAMP  := node_modules/.installed

TEMPLATE    := template.yaml
PY_DIRS      = $(wildcard functions layers localcloud tests benchmarks tools mgn_pipeline_ops)
# `make localcloud`'s options (python -m localcloud.endpoint serve --help).
LOCALCLOUD_ARGS ?= --speed 60
# Test directories that exist (others are still being written).
UNIT_DIRS    = $(wildcard tests/unit)
INTEG_DIRS   = $(wildcard tests/integration tests/emulator tests/onprem)
PYTEST      := $(PY) -m pytest
# Whole-flow tests wait on moto's real-time Step Functions more than they compute: one worker
# more than the cores keeps both busy.
INTEG_WORKERS ?= 3

# The gates `make test` runs, fastest first.
GATES := lint asl-validate cfn-lint typecheck sam-validate checkov unit build integration

# pip prints a warning per package for this machine's optional local indexes; keep real errors.
PIP_FILTER := { grep -v "is ignored: it is neither a file nor a directory" || true; }

##@ Main

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} \
	  /^##@/ {printf "\n%s\n", substr($$0, 5)} \
	  /^[a-zA-Z0-9_.-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: test
test: ## Bootstrap, then run every gate (lint ... integration) and print a summary; fails if any gate failed
	@echo "=== make bootstrap (virtualenvs and node_modules, in parallel; each one's log shows when it is done) ==="
	@$(MAKE) --no-print-directory -j3 --output-sync=target bootstrap
	@failed=(); summary=(); total_start=$$SECONDS; \
	for gate in $(GATES); do \
	  echo; echo "=== make $$gate ==="; start=$$SECONDS; \
	  if $(MAKE) --no-print-directory $$gate; then status=PASS; else status=FAIL; failed+=("$$gate"); fi; \
	  summary+=("$$(printf '%-14s %s %4ss' "$$gate" "$$status" "$$((SECONDS - start))")"); \
	done; \
	echo; echo "=== summary ($$((SECONDS - total_start))s) ==="; printf '  %s\n' "$${summary[@]}"; \
	echo "gates green: $$(( $(words $(GATES)) - $${#failed[@]} )) of $(words $(GATES))"; \
	if (( $${#failed[@]} )); then echo "failed: $${failed[*]}"; exit 1; fi

.PHONY: demo
demo: $(VENV_STAMP) ## Run the end-to-end demo against the emulated AWS (localcloud)
	$(PY) -m localcloud.demo

.PHONY: bench
bench: $(VENV_STAMP) ## Every benchmark: cold start, wave of 200 servers, health checks, ... (reports/*.json)
	$(PY) benchmarks/cold_start.py
	$(PY) -m localcloud.bench
	@for script in $(filter-out benchmarks/cold_start.py,$(wildcard benchmarks/*.py)); do \
	  echo "+ $(PY) $$script"; $(PY) $$script || exit 1; \
	done

.PHONY: localcloud
localcloud: $(VENV_STAMP) ## Serve the emulated account on http://127.0.0.1:4566 for any AWS client (LOCALCLOUD_ARGS="--step", "--port 0", "--speed 600")
	$(PY) -m localcloud.endpoint serve $(LOCALCLOUD_ARGS)

##@ Benchmarks

.PHONY: bench-chaos
bench-chaos: $(VENV_STAMP) ## A wave of 200 servers with every fault at once, against the same wave without (reports/chaos.json)
	$(PY) -m localcloud.chaos --servers 200

.PHONY: bench-link
bench-link: $(VENV_STAMP) ## A wave of 200 servers (40 TB) over one 1 Gbps link: no throttle, an equal split, the budget (reports/link.json)
	$(PY) -m localcloud.linkbench

.PHONY: bench-scale
bench-scale: $(VENV_STAMP) ## Waves of 10, 100, 1,000 servers the whole way: growth table, cost per server (~15 min)
	$(PY) benchmarks/wave_scale.py --sizes 10,100,1000

##@ Gates

.PHONY: lint
lint: $(VENV_STAMP) ## ruff check + ruff format --check + the import contracts (lint-imports, pyproject.toml)
	$(VENV)/bin/ruff check $(PY_DIRS)
	$(VENV)/bin/ruff format --check $(PY_DIRS)
	$(VENV)/bin/lint-imports --no-cache

.PHONY: fmt
fmt: $(VENV_STAMP) ## Fix what ruff can (format + autofixable lint)
	$(VENV)/bin/ruff format $(PY_DIRS)
	$(VENV)/bin/ruff check --fix $(PY_DIRS)

.PHONY: typecheck
typecheck: $(VENV_STAMP) ## mypy, strict, on mgn_pipeline, mgn_pipeline_ops and localcloud (config: pyproject.toml)
	$(VENV)/bin/mypy

.PHONY: unit
unit: $(VENV_STAMP) ## Unit tests, sockets disabled (pytest-socket)
	@test -n "$(UNIT_DIRS)" || { echo "unit: tests/unit does not exist" >&2; exit 1; }
	$(PYTEST) $(UNIT_DIRS) --disable-socket --allow-unix-socket

.PHONY: integration
integration: $(VENV_STAMP) $(AWSCLI_STAMP) ## Integration tests on the emulated AWS and loopback: tests/integration (whole flows), tests/emulator (the emulated AWS itself), tests/onprem
	@test -n "$(INTEG_DIRS)" || { echo "integration: no tests/integration or tests/emulator" >&2; exit 1; }
	$(PYTEST) $(INTEG_DIRS) -n $(INTEG_WORKERS)

.PHONY: e2e
e2e: $(VENV_STAMP) ## End-to-end tests against real AWS (skipped without credentials; not part of `test`)
	$(PYTEST) tests/e2e

.PHONY: cfn-lint
cfn-lint: $(SAM_STAMP) ## cfn-lint on template.yaml
	$(CFN_LINT) $(TEMPLATE)

.PHONY: sam-validate
sam-validate: $(SAM_STAMP) ## sam validate --lint (offline)
	$(SAM) validate --lint --template-file $(TEMPLATE) --region us-east-1

.PHONY: asl-validate
asl-validate: $(VENV_STAMP) $(NODE_STAMP) ## asl-validator on statemachines/*.asl.json (placeholders substituted)
	$(PY) tools/asl_validate.py --template $(TEMPLATE) --validator node_modules/.bin/asl-validator

.PHONY: checkov
checkov: $(CKV_STAMP) $(VENV_STAMP) ## checkov on template.yaml (skips and their reasons: .checkov.yaml)
	$(PY) tools/checkov_skips.py .checkov.yaml
	$(CHECKOV) --config-file .checkov.yaml -f $(TEMPLATE) --framework cloudformation --skip-download \
	  --quiet --compact

.PHONY: build
build: $(SAM_STAMP) $(VENV_STAMP) ## sam build --parallel --cached (arm64), then fail on any x86_64 binary
	PATH="$(dir $(PY313)):$$PATH" PYENV_VERSION=3.13.0 \
	  $(SAM) build --template-file $(TEMPLATE) --parallel --cached
	$(PY) tools/check_arch.py .aws-sam/build
	@if find .aws-sam/build -name '*x86_64*.so' | grep -q .; then \
	  echo "build: x86_64 .so files under .aws-sam/build:"; find .aws-sam/build -name '*x86_64*.so'; exit 1; fi

##@ Setup

.PHONY: bootstrap
bootstrap: $(VENV_STAMP) $(SAM_STAMP) $(CKV_STAMP) $(AWSCLI_STAMP) $(NODE_STAMP) ## Create .venv, .venvs/sam, .venvs/checkov, .venvs/awscli, node_modules

.PHONY: venv
venv: $(VENV_STAMP) ## Create .venv (Python 3.13 + requirements-dev.txt)

$(VENV_STAMP): requirements-dev.txt layers/dependencies/requirements.txt pyproject.toml
	@if [ -z "$(PY313)" ]; then \
	  echo "error: Python 3.13 not found. Install it with pyenv (pyenv install 3.13.0) or put python3.13 on PATH." >&2; \
	  exit 1; fi
	@"$(PY313)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' || \
	  { echo "error: $(PY313) is not Python 3.13" >&2; exit 1; }
	@if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))'; then \
	  echo "$(VENV) is not Python 3.13: recreating"; rm -rf $(VENV); fi
	@[ -x $(PY) ] || { echo "+ $(PY313) -m venv $(VENV)"; "$(PY313)" -m venv $(VENV); }
	@echo "+ $(PY) -m pip install -r requirements-dev.txt"
	@$(PY) -m pip install -q -r requirements-dev.txt 2>&1 | $(PIP_FILTER)
	@echo "+ $(PY) -m pip install --no-deps -e .   (the mgn-migrate command)"
	@$(PY) -m pip install -q --no-deps -e . 2>&1 | $(PIP_FILTER)
	@touch $@

$(SAM_STAMP): tools/requirements-sam.txt tools/constraints-sam.txt
	@test -n "$(TOOLS_PY)" || { echo "error: no python3 found for the SAM CLI virtualenv" >&2; exit 1; }
	@[ -x $(SAM_VENV)/bin/python ] || { echo "+ $(TOOLS_PY) -m venv $(SAM_VENV)"; "$(TOOLS_PY)" -m venv $(SAM_VENV); }
	@echo "+ $(SAM_VENV)/bin/pip install -r tools/requirements-sam.txt"
	@$(SAM_VENV)/bin/python -m pip install -q -r tools/requirements-sam.txt 2>&1 | $(PIP_FILTER)
	@touch $@

$(CKV_STAMP): tools/requirements-checkov.txt tools/constraints-checkov.txt
	@test -n "$(TOOLS_PY)" || { echo "error: no python3 found for the checkov virtualenv" >&2; exit 1; }
	@[ -x $(CKV_VENV)/bin/python ] || { echo "+ $(TOOLS_PY) -m venv $(CKV_VENV)"; "$(TOOLS_PY)" -m venv $(CKV_VENV); }
	@echo "+ $(CKV_VENV)/bin/pip install -r tools/requirements-checkov.txt"
	@$(CKV_VENV)/bin/python -m pip install -q -r tools/requirements-checkov.txt 2>&1 | $(PIP_FILTER)
	@touch $@

$(AWSCLI_STAMP): tools/requirements-awscli.txt tools/constraints-awscli.txt
	@test -n "$(TOOLS_PY)" || { echo "error: no python3 found for the AWS CLI virtualenv" >&2; exit 1; }
	@[ -x $(AWSCLI_VENV)/bin/python ] || { echo "+ $(TOOLS_PY) -m venv $(AWSCLI_VENV)"; "$(TOOLS_PY)" -m venv $(AWSCLI_VENV); }
	@echo "+ $(AWSCLI_VENV)/bin/pip install -r tools/requirements-awscli.txt"
	@$(AWSCLI_VENV)/bin/python -m pip install -q -r tools/requirements-awscli.txt 2>&1 | $(PIP_FILTER)
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found (node 20 + npm are needed for asl-validator)" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: clean
clean: ## Remove build output, caches and reports (keeps the virtualenvs)
	rm -rf .aws-sam build reports .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./.venv -prune -o -path ./.venvs -prune -o -path ./node_modules -prune -o \
	  -name __pycache__ -type d -exec rm -rf {} +

.PHONY: distclean
distclean: clean ## clean + remove .venv, .venvs and node_modules
	rm -rf $(VENV) .venvs node_modules
