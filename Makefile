# Two commands do all the set-up (see README.md):
#   make demo   create .venv, install the pinned dependencies, run the main job on its embedded default
#   make test   same set-up when needed, then lint, type-check and the whole test suite
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache
export MUJOCO_GL ?= egl
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup test lint typecheck pytest demo firmware doctor bench lock clean

setup: $(STAMP) firmware

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.lock
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@touch $@

# Host build of the reference firmware (C99, gcc), used by the serial bridge tests and the demo.
firmware:
	@if [ -f firmware_bridge/firmware/Makefile ]; then $(MAKE) -s -C firmware_bridge/firmware; fi

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy robossl firmware_bridge

# The whole suite runs inside a private network namespace (only `lo`) with loopback-only Fast DDS.
pytest: setup
	@mkdir -p build
	$(VENV)/bin/robossl-sandbox $(PY) -m pytest --junitxml=build/test-report.xml $(PYTEST_ARGS)

test: lint typecheck pytest

demo: setup
	$(VENV)/bin/robossl demo $(DEMO_ARGS)

doctor: setup
	$(VENV)/bin/robossl doctor

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(VENV)/bin/robossl-sandbox $(PY) $$b || exit 1; done

# Regenerate requirements.lock from the current venv (review the diff before committing).
lock:
	$(PY) -m pip freeze --exclude-editable | sed 's/+cpu//' > requirements.lock.new && echo "wrote requirements.lock.new"

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache .pytest_cache .numba_cache
