# The two commands of the README, `make demo` and `make test`. Each sets up what it needs on a
# fresh clone (skipped while requirements*.txt and pyproject.toml are unchanged), then runs.
#   .venv       the core environment: everything but real PySyft (Python 3.10-3.14, numpy 2)
#   .venv-syft  real PySyft 0.9.5 (Python 3.10-3.12): notebook 08 and the bridge tests
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.fedsyft-setup

.PHONY: demo test test-core test-syft test-newest test-unit check-requirements setup setup-syft setup-newest lint typecheck bench clean

demo: $(STAMP)
	$(PY) -m fedsyft demo

# The tests: the core part (unit tests, doctests, every notebook but 08, with nbval), then
# the real-PySyft part in its own environment.
test: test-core test-syft

test-core: $(STAMP)
	$(PY) -m pytest

test-syft:
	PYTHON=$(PYTHON) bash tools/test_syft.sh

setup-syft:
	PYTHON=$(PYTHON) bash tools/test_syft.sh --setup-only

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

# CI extras: the core unit tests and doctests on the newest Python here (the notebooks and the
# tests marked slow run on the default one), and requirements resolving on 3.10-3.14.
test-newest:
	newest=$$($(PYTHON) tools/find_python.py --newest) && \
	$(MAKE) --no-print-directory test-unit VENV=.venv-newest PYTHON=$$newest

setup-newest:
	newest=$$($(PYTHON) tools/find_python.py --newest) && \
	$(MAKE) --no-print-directory setup VENV=.venv-newest PYTHON=$$newest

test-unit: $(STAMP)
	$(PY) -m pytest tests fedsyft -m "not slow"

check-requirements: $(STAMP)
	$(PY) tools/check_requirements.py

lint: $(STAMP)
	$(VENV)/bin/ruff check fedsyft tests benchmarks tools
	$(PY) tools/check_imports.py

typecheck: $(STAMP)
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) benchmarks/demo_time.py
	$(PY) benchmarks/overhead.py
	$(PY) benchmarks/partition_speed.py

clean:
	rm -rf runs .pytest_cache build dist *.egg-info
