# Calcifer: `make run` to serve, `make test` to run the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: run test lint install dev chromium bench clean

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

dev: $(DEVSTAMP) chromium

run: $(STAMP)
	$(BIN)/calcifer serve

# Debian's Chromium drives the browser tests; `playwright install` cannot download browsers here.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Chromium is missing: run 'sudo apt-get install -y chromium' (browser tests need /usr/bin/chromium)"; exit 1; \
	  fi; \
	fi

lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test: dev lint
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
