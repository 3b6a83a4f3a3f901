# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS := constraints/airflow-3.3.2-py3.11.txt
STAMP := $(VENV)/.installed

.PHONY: venv test demo lint constraints clean bench bench-quick docs dist check-dist matrix matrix-lock tools-lock

venv: $(STAMP)

# The provider and the simulator (its own distribution, in simulator/), both editable. The
# simulator goes second: a provider older than the split removes the learnifier-simulator command
# when it is upgraded.
$(STAMP): pyproject.toml simulator/pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint $(CONSTRAINTS) --editable ".[test,dev,openlineage]"
	$(BIN)/python -m pip install --quiet --constraint $(CONSTRAINTS) --editable ./simulator
	touch $@

# System packages that tests start as throwaway instances on loopback: tinyproxy, a real forward
# proxy (with stunnel4 in front of it for an https:// proxy), for the proxy tests. apt installs the
# missing ones (CI runs as root on a fresh Debian machine); nothing is done when all are there.
SYSTEM_PACKAGES := tinyproxy stunnel4
.PHONY: system-packages
system-packages:
	@missing=$$(for package in $(SYSTEM_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q 'ok installed' || echo $$package; done); \
	if [ -n "$$missing" ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	        -o DPkg::Lock::Timeout=300 $$missing; \
	fi

# `make test` leaves out the long tests, each marked and run by a target (and CI stage) of its own:
# the demo end to end (make test-demo), the benchmarks' quick runs (make test-bench), the
# 1,000-person fault cases (make test-faults), the nudge runs killed at random moments
# (make test-crashes) and the distributed deployment (make test-distributed).
FAST_TESTS := not demo and not bench and not faults and not crashes and not distributed

# -n auto: one pytest worker per core (pytest-xdist); each worker has its own Airflow home and
# simulators, so the tests stay independent.
test: venv system-packages
	$(BIN)/python -m pytest -n auto -m "$(FAST_TESTS)"

# The same tests on the lowest and the highest Python that Airflow supports, beside 3.11 (.venv):
# `make test-python PYTHON_VERSION=3.13` (or 3.10) builds .venv-py3.13 with Airflow 3.3.2, pinned by
# constraints/airflow-3.3.2-py3.13.txt, and runs `make test`'s tests there. The interpreter is
# pyenv's (as on this kind of machine) or python3.13 on the PATH. On 3.10 common-compat is 1.20 (the
# newest there), so version_compat's own mask_secret and get_async_connection are the ones used.
PYTHON_VERSION ?= 3.13
PYENV_ROOT ?= $(HOME)/.pyenv
# $(call find_python,3.10): pyenv's interpreter of that version, else pythonX.Y on the PATH.
find_python = $(firstword $(wildcard $(PYENV_ROOT)/versions/$(1).*/bin/python$(1)) \
    $(shell command -v python$(1) 2>/dev/null))
OTHER_PYTHON = $(call find_python,$(PYTHON_VERSION))
OTHER_VENV := .venv-py$(PYTHON_VERSION)
comma := ,
OTHER_CONSTRAINTS := constraints/airflow-3.3.2-py$(PYTHON_VERSION).txt

# uv (pinned) installs the test environments beside .venv and the matrix's: every one is fully
# pinned by its constraints file, so what is installed is the same as with pip, in a tenth of the
# time (it links each package from one shared cache instead of unpacking it again per environment:
# 12 s instead of 113 s for .venv-lowest). make lowest-lock uses its resolver.
UV_VERSION := 0.13.9
UV_VENV := .uv
UV := $(UV_VENV)/bin/uv
$(UV):
	rm -rf $(UV_VENV) && $(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION)

# A test environment beside .venv: $(call test_venv,PYTHON,VENV,CONSTRAINTS,EXTRAS). The targets
# that call it depend on $(UV).
define test_venv
	rm -rf $(2)
	$(1) -m venv $(2)
	$(UV) pip install --quiet --python $(2)/bin/python --constraint $(3) --editable ".[$(4)]" --editable ./simulator
	touch $(2)/.installed
endef

.PHONY: test-python constraints-python
$(OTHER_VENV)/.installed: pyproject.toml simulator/pyproject.toml $(OTHER_CONSTRAINTS) | $(UV)
	@test -n "$(OTHER_PYTHON)" || { echo "no Python $(PYTHON_VERSION) found (pyenv or PATH)"; exit 1; }
	$(call test_venv,$(OTHER_PYTHON),$(OTHER_VENV),$(OTHER_CONSTRAINTS),test$(comma)openlineage)

test-python: $(OTHER_VENV)/.installed system-packages
	$(OTHER_VENV)/bin/python -m pytest -n auto -m "$(FAST_TESTS)" -p no:cacheprovider

# Regenerate constraints/airflow-3.3.2-pyX.Y.txt from the environment test-python built.
constraints-python:
	{ echo "# Pinned versions for Airflow 3.3.2 on Python $(PYTHON_VERSION): the environment of 'make test-python PYTHON_VERSION=$(PYTHON_VERSION)'."; \
	  echo "# Regenerate with 'make constraints-python PYTHON_VERSION=$(PYTHON_VERSION)' after changing dependencies."; \
	  $(OTHER_VENV)/bin/python -m pip freeze --exclude-editable | grep -v -i -e '^airflow-provider-learnifier' -e '^learnifier-simulator' | sort -f; } > $(OTHER_CONSTRAINTS)

# The floors of pyproject.toml's dependencies, tested on the lowest Python it declares (3.10): `make
# test-lowest` builds .venv-lowest with Python 3.10 from constraints/lowest-direct-py3.10.txt, a
# lowest-direct resolution (each direct dependency at its declared floor: Airflow 2.11.2,
# common-compat 1.20.0, requests 2.31.0, urllib3 2.0.2, ...; the rest as the Airflow 2.11.2 matrix
# environment has it, where that installs on 3.10), and runs the tests that environment runs.
# `make lowest-lock` regenerates the file (scripts/lowest_lock.py) with uv, the resolver that has a
# lowest-direct mode.
LOWEST_PYTHON_VERSION := 3.10
LOWEST_PYTHON = $(call find_python,$(LOWEST_PYTHON_VERSION))
LOWEST_VENV := .venv-lowest
LOWEST_CONSTRAINTS := constraints/lowest-direct-py$(LOWEST_PYTHON_VERSION).txt
.PHONY: test-lowest lowest-lock

$(LOWEST_VENV)/.installed: pyproject.toml simulator/pyproject.toml $(LOWEST_CONSTRAINTS) | $(UV)
	@test -n "$(LOWEST_PYTHON)" || { echo "no Python $(LOWEST_PYTHON_VERSION) found (pyenv or PATH)"; exit 1; }
	$(call test_venv,$(LOWEST_PYTHON),$(LOWEST_VENV),$(LOWEST_CONSTRAINTS),test)

test-lowest: $(LOWEST_VENV)/.installed system-packages
	$(LOWEST_VENV)/bin/python -m pytest tests -n auto -p no:cacheprovider -m "$(FAST_TESTS)" \
	    --ignore=tests/bench --ignore=tests/reliability --ignore=tests/integration

lowest-lock: | $(UV)
	$(PYTHON) scripts/lowest_lock.py $(UV)

.PHONY: test-demo test-bench test-faults test-crashes
# The long suites run on both cores as `make test` does (-n auto); the benchmarks two at a time.
test-demo: venv
	$(BIN)/python -m pytest -n auto -m demo tests/example_dags/test_demo.py

test-bench: venv
	$(BIN)/python -m pytest -n auto -m bench tests/bench

test-faults: venv
	$(BIN)/python -m pytest -n auto -m faults tests/reliability/test_faults.py

test-crashes: venv
	$(BIN)/python -m pytest -m crashes tests/operators/test_nudges.py

# The deployment test: a real Airflow 3 (api-server, scheduler, dag-processor,
# triggerer; LocalExecutor, SQLite) on loopback runs the example enrollment DAG, then the
# event-driven one across a triggerer restart, against the simulator. A few minutes; skipped by
# `make test`.
.PHONY: test-integration
test-integration: venv
	LEARNIFIER_INTEGRATION=1 $(BIN)/python -m pytest tests/integration -ra

# The distributed deployment test: Airflow with the CeleryExecutor and two Celery workers, on a
# throwaway PostgreSQL and Redis (Debian's servers, installed by the script when missing) on
# loopback, runs the example enrollment DAG and a mapped one. The Celery provider and the database
# and broker clients are pinned in constraints/distributed-py3.11.txt. Skipped by `make test`.
DISTRIBUTED_CONSTRAINTS := constraints/distributed-py3.11.txt
DISTRIBUTED_STAMP := $(VENV)/.distributed-installed

$(DISTRIBUTED_STAMP): $(STAMP) $(DISTRIBUTED_CONSTRAINTS)
	$(BIN)/python -m pip install --quiet --constraint $(CONSTRAINTS) --requirement $(DISTRIBUTED_CONSTRAINTS)
	touch $@

.PHONY: test-distributed
test-distributed: $(DISTRIBUTED_STAMP)
	scripts/install_distributed_services.sh
	LEARNIFIER_DISTRIBUTED=1 $(BIN)/python -m pytest -m distributed tests/integration -ra

# The property-based tests with many examples (HYPOTHESIS_PROFILE=ci): `make test` runs them
# with a few examples each; CI runs this stage too.
.PHONY: test-properties
test-properties: venv
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -n auto tests/operators/test_spec_properties.py tests/hooks/test_paging.py \
		tests/test_participant_states.py tests/operators/test_nudge_ledger.py tests/operators/test_policy_properties.py -ra

# Headless Chromium from Debian's packages, for the tests that open the at-risk page in a real
# browser (tests/browser.py). `make test` runs them where `chromium` is found and skips them
# elsewhere; CI installs it first (.ci/run), and there (CI set) a missing browser fails them.
.PHONY: browser
browser:
	command -v chromium >/dev/null 2>&1 || { apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install --yes --no-install-recommends chromium; }

demo: venv
	$(BIN)/python scripts/demo.py

# Benchmarks: `make bench` runs them all and rewrites the results in docs/benchmarks.md;
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
	$(BIN)/mypy airflow_provider_learnifier simulator/learnifier_simulator

# Docs, packaging and the Airflow version matrix.
# `make docs` builds the Sphinx site into docs/_build/html, warnings as errors.
# `make dist` builds the sdists and wheels of the provider and of the simulator into dist/ and runs
# `twine check`; `make check-dist` then installs each wheel alone into a clean virtualenv and checks
# that Airflow registers the provider, that its wheel holds no simulator, and that the simulator
# runs and gives pytest its fixtures without the provider.
# `make matrix` runs the tests and an example DAG on each Airflow version of MATRIX_VERSIONS,
# each pinned by constraints/airflow-VERSION-py3.11.txt (`make matrix-lock` regenerates those);
# MATRIX_ARGS="--deployment 3.0.6" adds the real-deployment tests on a version (.ci/run's list).
TOOLS_CONSTRAINTS := constraints/tools-py3.11.txt
TOOLS_STAMP := $(VENV)/.tools-installed
MATRIX_VERSIONS ?= 2.11.2 3.0.6 3.1.8 3.2.2 3.3.2
MATRIX_ARGS ?=
SPHINXOPTS ?=

$(TOOLS_STAMP): $(STAMP) $(TOOLS_CONSTRAINTS)
	$(BIN)/python -m pip install --quiet --constraint $(CONSTRAINTS) --requirement $(TOOLS_CONSTRAINTS)
	touch $@

docs: $(TOOLS_STAMP)
	rm -rf docs/_build
	$(BIN)/sphinx-build -W --keep-going -b html $(SPHINXOPTS) docs docs/_build/html

dist: $(TOOLS_STAMP)
	rm -rf dist
	$(BIN)/hatchling build
	cd simulator && ../$(BIN)/hatchling build --directory ../dist
	$(BIN)/twine check --strict dist/*

check-dist: dist
	$(BIN)/python scripts/check_dist.py dist

matrix: venv system-packages | $(UV)
	LEARNIFIER_UV=$(abspath $(UV)) $(BIN)/python scripts/matrix.py run $(MATRIX_ARGS) $(MATRIX_VERSIONS)

matrix-lock: venv
	$(BIN)/python scripts/matrix.py lock $(filter-out 3.3.2,$(MATRIX_VERSIONS))

tools-lock: venv
	$(BIN)/python scripts/lock_tools.py

constraints: venv
	{ echo "# Pinned versions for Airflow 3.3.2 on Python 3.11: the environment that 'make test' and 'make demo' build."; \
	  echo "# Regenerate with 'make constraints' after changing dependencies."; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v -i -e '^airflow-provider-learnifier' -e '^learnifier-simulator' | sort -f; } > $(CONSTRAINTS)

clean:
	rm -rf $(VENV) .venv-py3.* .venv-lowest $(UV_VENV) .demo .pytest_cache .mypy_cache .ruff_cache build dist .matrix docs/_build
