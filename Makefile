# tsapi: one obvious target per chore. `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench provision images clean

$(STAMP): setup.cfg setup.py pyproject.toml client/pyproject.toml tsdb/_speedups.c promql/_wire.c promql/_kernels.c
	$(MAKE) provision
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# the client with the server: the server requires tsapi-client, which is not on PyPI
	$(BIN)/python -m pip install -q -e './client[cli,pandas]' -e '.[all,test,dev]'
	touch $(STAMP)

provision:
	@if [ "$$(id -u)" -eq 0 ] || command -v sudo >/dev/null; then bash infra/provision.sh; \
	else echo "make: not root and no sudo; skipping infra/provision.sh"; fi

# tsapi-api and tsapi-worker (podman, or ENGINE=docker); stand-ins for unreachable base images.
images: provision
	bash infra/images/build.sh

run: $(STAMP)
	$(BIN)/tsapi run

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python client/scripts/unasync.py --check

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The peer rows need victoria-metrics (and wrk): provision installs them when missing.
bench: $(STAMP) provision
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .tsapi .pytest_cache .mypy_cache .ruff_cache build *.egg-info
