PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi
# gunicorn's shape for `make run` (e.g. `make run WORKERS=4 THREADS=1`: more charges/s, README "Measured")
WORKERS ?= 2
THREADS ?= 8

.PHONY: setup run test lint clean

$(BIN)/.installed: pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

setup: $(BIN)/.installed

# the worker and gunicorn (its settings: gunicorn.conf.py) both in the background, both writing metrics
# into one fresh var/metrics (what /metrics sums), the shell in `wait`, where a signal runs the trap at
# once (a trap waits for a foreground child, so a SIGTERM to make alone left both serving); the trap
# stops these two only, not the caller's whole process group as `kill 0` did
run: setup
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo
	@rm -rf var/metrics && mkdir -p var/metrics
	@trap 'trap - INT TERM EXIT; kill $$worker $$server 2>/dev/null; wait' INT TERM EXIT; \
	export PROMETHEUS_MULTIPROC_DIR="$(CURDIR)/var/metrics" WEB_CONCURRENCY=$(WORKERS) WEB_THREADS=$(THREADS); \
	$(BIN)/flask worker & worker=$$!; \
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app & server=$$!; \
	wait $$server

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) var/*.db*
