# The two commands the README promises: `make demo` and `make test`.
# Both create and reuse .venv and install only what is missing (a stamp file tracks pyproject.toml).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH_VERSION ?= 2.13.0

.PHONY: demo test lint typecheck unit soak bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned to the CPU build: left to the resolver, sentence-transformers pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet 'torch==$(TORCH_VERSION)'
	$(BIN)/python -m pip install --quiet -e '.[dev,all]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/agentcrdt demo

lint: $(STAMP)
	$(BIN)/ruff check agentcrdt tests benchmarks agents
	$(BIN)/ruff format --check agentcrdt tests benchmarks agents
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

test: lint typecheck unit

# The random-history property tests, with many more examples than CI runs (SOAK_HISTORIES to change).
SOAK_HISTORIES ?= 50000
soak: $(STAMP)
	AGENTCRDT_HISTORIES=$(SOAK_HISTORIES) $(BIN)/python -m pytest -n 2 -q tests/capabilities/test_authority_properties.py

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
