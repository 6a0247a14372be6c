# Pod helpdesk. Needs GNU make and python3 >= 3.11; everything else is installed
# into .venv from the hash-pinned lock files in requirements/.
#
#   make run     the embedded demo on http://127.0.0.1:8000 (SQLite in var/, no services)
#   make test    what CI runs: ruff, import contracts, migrations check, pytest
#
# Configuration comes from the environment only (see README.md); with nothing set
# the embedded default runs.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Written after a successful install; older than requirements/dev.txt means reinstall.
STAMP := $(VENV)/.installed-from-lock
# `:=` so that a HOST or PORT in the environment is not picked up by accident;
# override on the command line: make run HOST=0.0.0.0 PORT=8080
HOST := 127.0.0.1
PORT := 8000
PYTEST_ARGS ?=
PIP_COMPILE_ARGS ?=
PIP_TOOLS_VERSION := 7.6.2

# `make lock` runs exactly these two commands (the same line heads each lock file).
# dev.txt is constrained by base.txt so both files pin the same runtime versions.
PIP_COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --strip-extras \
	--allow-unsafe --no-emit-index-url --no-emit-find-links $(PIP_COMPILE_ARGS)

.PHONY: help .venv venv run test lint migrations-check pytest format bench worker \
	beat lock clean

help: ## Show the targets
	@grep -E '^[a-z.-]+:.*## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN {FS = ":.*## "}; {printf "  make %-17s %s\n", $$1, $$2}'

# --- Environment ---------------------------------------------------------------
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11 or newer is needed as '$(PYTHON)'" >&2; exit 1; }
	@echo "$(PYTHON) -m venv $(VENV)"
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "python3 -m venv failed; on Debian: apt-get install python3-venv" >&2; \
		exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): requirements/dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --require-hashes -r requirements/dev.txt
	@touch $@

.venv: $(STAMP) ## Create .venv and install requirements/dev.txt (reruns when the lock changes)
venv: .venv

# --- Run -----------------------------------------------------------------------
run: .venv ## Migrate, seed the demo and serve HTTP + websockets on http://127.0.0.1:8000
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py seed_demo
	@echo "Serving on http://$(HOST):$(PORT)/  (Ctrl-C to stop)"
	exec $(BIN)/uvicorn helpdesk.asgi:application --host $(HOST) --port $(PORT)

worker: .venv ## Celery worker for the queues tickets and outbound (needs REDIS_URL)
	@test -n "$${REDIS_URL:-}" || { echo "make worker needs REDIS_URL;" \
		"without it tasks run inline in the web process" >&2; exit 1; }
	exec $(BIN)/celery -A helpdesk worker -Q tickets,outbound -l info

beat: .venv ## Celery beat, the periodic task scheduler (needs REDIS_URL)
	@test -n "$${REDIS_URL:-}" || { echo "make beat needs REDIS_URL" >&2; exit 1; }
	@mkdir -p var
	exec $(BIN)/celery -A helpdesk beat -l info --schedule var/celerybeat-schedule

# --- Checks --------------------------------------------------------------------
test: lint migrations-check pytest ## Lint, import contracts, migrations check, pytest (PYTEST_ARGS=...)

lint: .venv ## ruff check, ruff format --check, lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

migrations-check: .venv ## Fail when a model change has no migration
	$(BIN)/python manage.py makemigrations --check --dry-run

pytest: .venv ## pytest only (settings: tests.settings, from pyproject.toml)
	$(BIN)/pytest $(PYTEST_ARGS)

format: .venv ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# A quick size by default; the issue's size is
#   make bench BENCH_ARGS="--customers 1500000 --pods 25"
# Each size needs a database of its own (the first run fills it; a database holding
# another volume is refused). See docs/benchmarks.md.
# BENCH=intake runs the multichannel intake benchmark instead (its own database too;
# it starts its own Redis, uvicorn and Celery worker):
#   make bench BENCH=intake BENCH_ARGS="--stream-seconds 600"
# BENCH=workspace measures the queue and ticket pages at the issue's size by default
# (1.5M customers, 4M tickets; its own database; it starts its own uvicorn):
#   make bench BENCH=workspace BENCH_ARGS="--runs 3"
# BENCH=authority measures a decision with 1M past grants and grants racing for one
# pod's budget at 200/s (its own database, filled on the first run):
#   make bench BENCH=authority BENCH_ARGS="--runs 3 --workers 4"
# BENCH=dashboard measures whole pod dashboards and the organisation view per period
# on the workspace benchmark's database (adds surveys, templates and grants once):
#   make bench BENCH=dashboard BENCH_ARGS="--runs 3 --refresh full"
BENCH ?= pods
BENCH_ARGS ?=
bench: .venv ## Benchmark on PostgreSQL: DATABASE_URL=postgres://... [BENCH=pods|intake|workspace|authority|dashboard] BENCH_ARGS=...
	@case "$${DATABASE_URL:-}" in \
		postgres://*|postgresql://*|pgsql://*|postgis://*) ;; \
		*) echo "make bench needs DATABASE_URL=postgres://USER@HOST:PORT/DB, a" \
			"PostgreSQL database of its own (the benchmark fills it);" \
			"see docs/benchmarks.md" >&2; exit 1 ;; \
	esac
	@case "$(BENCH)" in pods|intake|workspace|authority|dashboard) ;; \
		*) echo "BENCH must be pods, intake, workspace, authority or dashboard," \
			"not '$(BENCH)'" >&2; \
			exit 1 ;; \
	esac
	$(BIN)/python -m tests.performance.bench_$(BENCH) $(BENCH_ARGS)

# --- Lock files ----------------------------------------------------------------
lock: | $(BIN)/python ## Regenerate requirements/*.txt from pyproject.toml (PIP_COMPILE_ARGS=--upgrade)
	$(BIN)/python -m pip install --quiet pip-tools==$(PIP_TOOLS_VERSION)
	$(PIP_COMPILE) --output-file requirements/base.txt pyproject.toml
	$(PIP_COMPILE) --extra dev --constraint requirements/base.txt \
		--output-file requirements/dev.txt pyproject.toml

clean: ## Remove .venv, caches and collected static files (var/ demo data is kept)
	rm -rf $(VENV) .ruff_cache .import_linter_cache .pytest_cache var/staticfiles
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
