# Every target does its own set-up: a fresh clone needs only `make sandbox` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FUNCTION_REQUIREMENTS := $(wildcard src/*/*/requirements.txt)
SANDBOX_ARGS ?=
PYTEST_ARGS ?=
DEPLOY_ARGS ?=   # e.g. DEPLOY_ARGS=--no-smoke to skip the smoke test that ends a deploy

.PHONY: sandbox test bench deploy-staging deploy-production smoke-staging smoke-production destroy-staging destroy-production dry-run clean

$(STAMP): requirements-dev.txt $(FUNCTION_REQUIREMENTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt $(foreach r,$(FUNCTION_REQUIREMENTS),-r $(r))
	@touch $@

sandbox: $(STAMP)  ## run the app locally on http://localhost:3333
	$(PY) -m devkit sandbox $(SANDBOX_ARGS)

test: $(STAMP)  ## run every test
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)  ## measure the sandbox against the alternatives
	$(PY) -m devkit bench

dry-run: $(STAMP)  ## build the staging template and packages under build/, no AWS call
	$(PY) -m devkit deploy --stage staging --dry-run

deploy-staging: $(STAMP)  ## deploy, then run the smoke test against the page
	$(PY) -m devkit deploy --stage staging $(DEPLOY_ARGS)

deploy-production: $(STAMP)  ## the same for production: protected tables, termination protection
	$(PY) -m devkit deploy --stage production $(DEPLOY_ARGS)

smoke-staging: $(STAMP)  ## check the deployed stack end to end (its PageUrl output)
	$(PY) -m devkit smoke --stage staging

smoke-production: $(STAMP)
	$(PY) -m devkit smoke --stage production

destroy-staging: $(STAMP)
	$(PY) -m devkit destroy --stage staging

destroy-production: $(STAMP)
	$(PY) -m devkit destroy --stage production

clean:
	rm -rf $(VENV) build .pytest_cache
