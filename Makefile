# The two commands of the README. Each sets up .venv on a fresh clone (skipped when
# requirements.txt and pyproject.toml are unchanged), then runs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.fedsyft-setup

.PHONY: demo test setup lint bench clean

demo: $(STAMP)
	$(PY) -m fedsyft demo

test: $(STAMP)
	$(PY) -m pytest

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check fedsyft tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/demo_time.py
	$(PY) benchmarks/overhead.py
	$(PY) benchmarks/partition_speed.py

clean:
	rm -rf runs .pytest_cache
