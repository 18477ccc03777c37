# The two commands of the README: `make run` (set up, then the chat UI on seeds/, offline)
# and `make test` (set up with the test extras, then lint and the whole test suite).
# Both are idempotent: the virtual environment is (re)installed only when pyproject.toml or
# constraints.txt (the versions CI last passed with) changes.

VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: run test setup lint eval bench

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install -q -c constraints.txt -e .
	touch $@

# llama.cpp built for this CPU (GGML_NATIVE, the default) segfaults on its first completion on
# machines with AMX (llama-cpp-python 0.3.36, seen 2026-12-02): build it for portable AVX2 instead.
# --no-cache-dir: pip's wheel cache does not key on CMAKE_ARGS, so a cached native build would win.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(PY)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install -q --no-cache-dir -c constraints.txt \
		"$$(grep -o 'llama-cpp-python\[server\][^"]*' pyproject.toml)"
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
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
