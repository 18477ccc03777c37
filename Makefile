# The two commands of the README: `make run` (set up, then the chat UI on seeds/, offline)
# and `make test` (set up with the test extras, then lint and the whole test suite).
# Both are idempotent: the virtual environment is (re)installed only when pyproject.toml changes.

VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: run test setup lint eval bench

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

setup: $(VENV)/.installed

run: $(VENV)/.installed
	$(VENV)/bin/assistant

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check assistant tests benchmarks

test: $(VENV)/.installed-test lint
	$(PY) -m pytest -q -p no:cacheprovider

eval: $(VENV)/.installed
	$(VENV)/bin/assistant eval ../shared/eval/dev.jsonl

bench: $(VENV)/.installed-test
	$(PY) benchmarks/bench_speed.py
