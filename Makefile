# The front door: `make run` (set-up + the example end to end) and `make test`.
# Every target installs what it needs; re-runs are quick because of the stamps.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.amlite-installed
NODE_STAMP := node_modules/.amlite-installed
# Kept equal to amlite_devhost/worker_index.py's WORKER_PACKAGE (a test checks).
WORKER_LOADER := azure-functions-runtime==1.3.0 azurefunctions-extensions-base==1.2.0
# The web view's browser tests drive Debian's chromium (Playwright never downloads a browser here).
CHROMIUM := /usr/bin/chromium
CHROMIUM_STAMP := $(VENV)/.amlite-chromium
# DataTransferStep's tests start private PostgreSQL and MariaDB servers from Debian's packages
# (tests/support/databases.py); no service is started or enabled by the install.
DATABASES_STAMP := $(VENV)/.amlite-databases
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup run test lint bench clean

setup: $(PY_STAMP) $(NODE_STAMP) $(CHROMIUM_STAMP) $(DATABASES_STAMP)

$(PY_STAMP): pyproject.toml requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	# The Azure Functions Python worker's loader, so tests and `amlite dev` index the app as Azure
	# does. It declares Python >= 3.13 but its loader runs on 3.10+; it is never deployed.
	$(BIN)/python -m pip install -q --ignore-requires-python $(WORKER_LOADER)
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CHROMIUM_STAMP): $(PY_STAMP)
	test -x $(CHROMIUM) || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }
	test -x $(CHROMIUM)
	touch $@

$(DATABASES_STAMP): $(PY_STAMP)
	{ ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && test -x /usr/sbin/mariadbd; } || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql mariadb-server; }
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null && test -x /usr/sbin/mariadbd
	touch $@

run: $(PY_STAMP) $(NODE_STAMP)
	$(BIN)/python examples/run_example.py

test: setup
	$(BIN)/python -m pytest -q

# lint-imports: the import contract in .importlinter (pipeline_core imports no edge; no cycles between packages)
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy pipeline_core amlite_devhost amlite_local amlite_cli functions function_app.py
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python bench/step_overhead.py

clean:
	rm -rf $(VENV) node_modules .azurite .pytest_cache .mypy_cache .ruff_cache
