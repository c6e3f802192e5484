# Two commands do all the set-up on a fresh machine (see README.md):
#   make up    install, migrate, and run web + worker + sweeper on the example graphs
#   make test  install and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/callboard
export REDIS_URL ?= redis://127.0.0.1:6379/0
PORT ?= 8000

.PHONY: requirements install install-test services browser db up test bench lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# a stamp per pyproject.toml content: a venv already installed from the same pyproject.toml is
# not installed again (a second `make up` starts at once; VENV=... may name an existing venv)
STAMP = $(VENV)/.callboard-installed-$(shell sha1sum pyproject.toml | cut -c1-12)

install: $(STAMP)

$(STAMP): | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# start the machine's Postgres and Redis when they are not answering
services:
	@pg_isready -h 127.0.0.1 -p 5432 -q || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
	@for i in $$(seq 1 50); do pg_isready -h 127.0.0.1 -p 5432 -q && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && exit 0; sleep 0.2; done; echo "Postgres or Redis did not start" >&2; exit 1

db: services
	@psql "$${DATABASE_URL%/*}/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$${DATABASE_URL##*/}'" | grep -q 1 \
		|| psql "$${DATABASE_URL%/*}/postgres" -c "CREATE DATABASE \"$${DATABASE_URL##*/}\""
	$(BIN)/python -m migrations

# honcho runs the Procfile's lines through /bin/sh: the venv's bin goes first on PATH so that
# `gunicorn` and `python` are the ones installed above.
up: install db
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/honcho start -p $(PORT) web worker sweeper

# the dashboard's browser test (tests/acceptance/test_dashboard.py) drives Debian's chromium
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# the suites that cover every route run a second time with custom auth on (handlers that allow
# all, tests/auth/allow_all.py): auth must change nothing a permitted client sees
AUTH_SUITES ?= tests/integration/test_api.py tests/integration/test_openapi.py tests/acceptance/test_end_to_end.py

test: install-test services browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	CALLBOARD_TEST_AUTH=allow_all $(BIN)/python -m pytest $(PYTEST_ARGS) $(AUTH_SUITES)

bench: install-test services
	$(BIN)/python bench/compare.py

# requirements.txt for a Python buildpack: the runtime dependencies pinned at this venv's versions
requirements: install
	$(BIN)/python scripts/pin_requirements.py
