# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS := constraints/airflow-3.3.2-py3.11.txt
STAMP := $(VENV)/.installed

.PHONY: venv test demo lint constraints clean bench bench-quick

venv: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint $(CONSTRAINTS) --editable ".[test,dev]"
	touch $@

test: venv
	$(BIN)/python -m pytest

demo: venv
	$(BIN)/python scripts/demo.py

# Benchmarks (issue #5): `make bench` runs them all and rewrites the results in docs/benchmarks.md;
# `make bench-quick` runs the small version of each, as CI does, and writes nothing.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) bench/requirements.txt
	$(BIN)/python -m pip install --quiet --requirement bench/requirements.txt
	touch $@

bench: $(BENCH_STAMP)
	$(BIN)/python bench/run_all.py --docs docs/benchmarks.md

bench-quick: venv
	$(BIN)/python bench/run_all.py --quick

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy airflow_provider_learnifier

constraints: venv
	{ echo "# Pinned versions for Airflow 3.3.2 on Python 3.11: the environment that 'make test' and 'make demo' build."; \
	  echo "# Regenerate with 'make constraints' after changing dependencies."; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v -i '^airflow-provider-learnifier' | sort -f; } > $(CONSTRAINTS)

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache build dist
