# The front door: `make run` (set-up + the example end to end) and `make test`.
# Every target installs what it needs; re-runs are quick because of the stamps.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp's name changes when the install itself changes, so existing checkouts redo it.
PY_STAMP := $(VENV)/.amlite-installed-compat
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

.PHONY: setup bytecode run test lint bench bench-peers clean

setup: $(PY_STAMP) $(NODE_STAMP) $(CHROMIUM_STAMP) $(DATABASES_STAMP) bytecode

# The repo's own packages compiled to bytecode, as pip compiles an installed package's: an editable
# install is imported from source, and where PYTHONDONTWRITEBYTECODE is set (some CI images and
# sandboxes) every process would compile them again, ~0.5 s of a run's cold start (docs/performance.md).
# Up-to-date files are skipped, so this is a fraction of a second on a re-run.
bytecode: $(PY_STAMP)
	$(BIN)/python -m compileall -q -j 0 pipeline_core amlite_cli amlite_devhost amlite_local functions function_app.py

$(PY_STAMP): pyproject.toml requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# A path (.pth) editable install, not setuptools' import-hook one: the hook's finder imports pathlib,
	# re and importlib.util at every interpreter start (~17 ms of CPU, 2-3x a bare start), and every
	# script step is an interpreter start of this venv (docs/performance.md).
	$(BIN)/python -m pip install -q -e '.[dev]' --config-settings editable_mode=compat
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

run: $(PY_STAMP) $(NODE_STAMP) bytecode
	$(BIN)/python examples/run_example.py

# Two pytest-xdist workers, a test file each at a time (module fixtures are set up once), each worker
# with its own Azurite (tests/conftest.py): 7 min on 2 cores against 12 run one after another.
# `make test PYTEST_WORKERS=0` runs them in this process.
PYTEST_WORKERS ?= 2
test: setup
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile

# lint-imports: the import contract in .importlinter (pipeline_core imports no edge; no cycles between packages)
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy pipeline_core amlite_devhost amlite_local amlite_cli functions function_app.py
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python bench/step_overhead.py

# The same pipelines in Kedro, Dagster, Prefect and Airflow (bench/peers.py), each peer pinned in its own
# side venv under .bench-peers/ (built here once; a peer that cannot install is reported, not fatal).
PEERS_DIR := .bench-peers
PEERS := kedro==1.7.0 dagster==1.13.28 prefect==3.9.1 apache-airflow==3.3.2
bench-peers: setup
	@mkdir -p $(PEERS_DIR)
	@for spec in $(PEERS); do \
		name=$${spec%%==*}; dir=$(PEERS_DIR)/$$name; \
		if [ ! -f $$dir/.installed ] || [ "$$(cat $$dir/.installed)" != "$$spec" ]; then \
			echo "bench-peers: building $$dir ($$spec)"; \
			rm -rf $$dir && $(PYTHON) -m venv $$dir && \
			$$dir/bin/python -m pip install -q "$$spec" > $$dir.log 2>&1 && echo "$$spec" > $$dir/.installed \
			|| echo "bench-peers: $$spec did not install (see $$dir.log); the bench reports it"; \
		fi; \
	done
	$(BIN)/python bench/peers.py --peers-dir $(PEERS_DIR) $(PEERS_ARGS)

clean:
	rm -rf $(VENV) node_modules .azurite .bench-peers .pytest_cache .mypy_cache .ruff_cache
