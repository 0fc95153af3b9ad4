# Two entry points, each creating its own virtual environment on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test bench bench-smoke lint typecheck clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## set up, then run the end-to-end GTG-1002 demo (SQLite, loopback only)
	$(VENV)/bin/writ demo

test: $(STAMP)  ## set up, then run the whole test suite
	$(PY) -m pytest

bench-smoke: $(STAMP)  ## the verifier benchmark, short: proves benchmarks/ still runs
	$(PY) benchmarks/run.py --quick --only verify

bench: $(STAMP)  ## set up (with the peers), then run every benchmark
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) benchmarks/run.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .writ-demo
