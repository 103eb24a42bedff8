# Fee Campaigns: `make run` serves the app, `make test` runs the suite. Each target bootstraps .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=

.PHONY: run test lint format bench clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUNTIME): requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(DEV): requirements.txt requirements-dev.txt $(RUNTIME)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

instance/secret_key:
	mkdir -p instance
	umask 077 && $(PY) -c "import secrets; print(secrets.token_hex(32))" > $@

# `make run`: the web server and the scheduler as two processes, as in production (DESIGN.md).
# gunicorn has no reloader, so nothing starts a second scheduler. The shell below starts both in
# the background and waits; Ctrl-C (INT), TERM, or either process exiting stops the other too.
# Background jobs of a non-interactive shell ignore SIGINT, hence the trap sends TERM to both.
run: $(RUNTIME) instance/secret_key
	$(FLASK) db upgrade
	$(FLASK) seed-demo --if-empty
	@echo "Fee Campaigns on http://$(HOST):$(PORT) with its scheduler  (Ctrl-C stops both)"
	@BIND=$(HOST):$(PORT) $(VENV)/bin/gunicorn -c python:campaigns.gunicorn_conf app:app & web=$$!; \
	$(FLASK) scheduler & scheduler=$$!; \
	trap 'kill -TERM $$web $$scheduler 2>/dev/null' INT TERM; \
	while kill -0 $$web 2>/dev/null && kill -0 $$scheduler 2>/dev/null; do sleep 1; done; \
	kill -TERM $$web $$scheduler 2>/dev/null; wait

test: $(DEV)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(DEV)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean-venv:
	rm -rf $(VENV)
