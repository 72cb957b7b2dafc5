# Calcifer: `make run` to serve, `make test` to run the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: run test lint install dev servers bench clean

# pip's own progress (one line per package) shows that a first install, ~2 minutes, is not a hang.
PIP_INSTALL := $(BIN)/pip install --progress-bar on --disable-pip-version-check

$(BIN)/python:
	@echo "== Creating the virtualenv in $(VENV)"
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "== Installing Calcifer and its dependencies (first run: about 2 minutes)"
	$(PIP_INSTALL) -e .
	touch $@

$(DEVSTAMP): pyproject.toml $(STAMP)
	@echo "== Installing the test tools"
	$(PIP_INSTALL) -e '.[dev]'
	touch $@

install: $(STAMP)

dev: $(DEVSTAMP) servers

run: $(STAMP)
	$(BIN)/calcifer serve

# Debian packages the tests need (Chromium for the browser tests, the servers some tests start), listed one
# file per feature in tests/servers/debian/; `playwright install` cannot download browsers here.
SERVER_PACKAGES = $(shell cat tests/servers/debian/*.txt | sed 's/#.*//' | tr -s ' \n' ' ')
servers:
	@missing=$$(for p in $(SERVER_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "== Installing Debian packages for the tests: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "Missing Debian packages for the tests: run 'sudo apt-get install -y $$missing'"; exit 1; \
	  fi; \
	fi

lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test: dev lint
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
