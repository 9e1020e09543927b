# Every target does its own set-up: a fresh clone needs only `make sandbox` or `make test`.
# Each target installs only what it needs: the sandbox and deploy the kit's runtime (requirements.txt)
# and the functions' packages; test and check add requirements-dev.txt; bench adds requirements-bench.txt.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
FUNCTION_REQUIREMENTS := $(wildcard src/*/*/requirements.txt src/shared/requirements.txt)
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
BENCH := $(VENV)/.installed-bench
SANDBOX_ARGS ?=
PYTEST_ARGS ?=
DEPLOY_ARGS ?=   # e.g. DEPLOY_ARGS=--no-smoke to skip the smoke test that ends a deploy

.PHONY: sandbox test test-staging check bench deploy-staging deploy-production smoke-staging smoke-production destroy-staging destroy-production dry-run scan clean

$(RUNTIME): requirements.txt $(FUNCTION_REQUIREMENTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.txt $(foreach r,$(FUNCTION_REQUIREMENTS),-r $(r))
	@touch $@

$(DEV): $(RUNTIME) requirements-dev.txt requirements-bench.txt
	$(PIP) -r requirements-dev.txt
	@touch $@

$(BENCH): $(RUNTIME) requirements-bench.txt
	$(PIP) -r requirements-bench.txt
	@touch $@

# checkov pins boto3 and packaging below what moto and the kit need, so it gets a virtualenv of its own.
CHECKOV := .venv-checkov/bin/checkov
$(CHECKOV):
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check checkov

sandbox: $(RUNTIME)  ## run the app locally on http://localhost:3333
	$(PY) -m devkit sandbox $(SANDBOX_ARGS)

test: $(DEV) $(CHECKOV)  ## run every test: pytest (checkov's scan included), then the page's module tests under Node
	$(PY) -m pytest $(PYTEST_ARGS)
	node --test tests/page/*.test.mjs

test-staging: $(DEV)  ## the app's socket tests against the deployed staging stack (devkit.testing --target)
	$(PY) -m pytest tests/app/test_app_in_sandbox.py --target staging $(PYTEST_ARGS)

check: $(DEV)  ## lint, format and type-check (settings in pyproject.toml)
	$(PY) -m ruff check devkit bench src tests
	$(PY) -m ruff format --check devkit bench src tests
	$(PY) -m mypy

bench: $(BENCH)  ## measure the sandbox against the alternatives
	$(PY) -m bench

scan: $(DEV) $(CHECKOV)  ## checkov and cfn-lint (informational rules on) on both stages' templates, opt-ins on and off
	$(PY) -m pytest -q tests/devkit/deploy/test_scanners.py

dry-run: $(RUNTIME)  ## build the staging template and packages under build/, no AWS call
	$(PY) -m devkit deploy --stage staging --dry-run

deploy-staging: $(RUNTIME)  ## deploy, then run the smoke test against the page
	$(PY) -m devkit deploy --stage staging $(DEPLOY_ARGS)

deploy-production: $(RUNTIME)  ## the same for production: protected tables, termination protection
	$(PY) -m devkit deploy --stage production $(DEPLOY_ARGS)

smoke-staging: $(RUNTIME)  ## check the deployed stack end to end (its PageUrl output)
	$(PY) -m devkit smoke --stage staging

smoke-production: $(RUNTIME)
	$(PY) -m devkit smoke --stage production

destroy-staging: $(RUNTIME)
	$(PY) -m devkit destroy --stage staging

destroy-production: $(RUNTIME)
	$(PY) -m devkit destroy --stage production

clean:
	rm -rf $(VENV) .venv-checkov build .pytest_cache .mypy_cache .ruff_cache
