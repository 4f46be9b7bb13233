# pgflow: `make demo` runs the main job, `make test` runs every test. Both set up what they need.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-sql test-py lint bench system-deps venv clean fuzz chaos

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: $(STAMP) system-deps
	$(BIN)/python scripts/run_tests.py

test-sql: $(STAMP) system-deps
	$(BIN)/python scripts/run_tests.py sql

test-py: $(STAMP) system-deps
	$(BIN)/python scripts/run_tests.py py

# the property-based search of the SQL API, for as long as asked: make fuzz FUZZ_SECONDS=600
FUZZ_SECONDS ?= 300
fuzz: $(STAMP) system-deps
	PGFLOW_FUZZ_SECONDS=$(FUZZ_SECONDS) $(BIN)/python scripts/run_tests.py py -- tests_py/test_properties.py -s

lint: $(STAMP)
	$(BIN)/python scripts/run_tests.py lint

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run.py

# chaos runs on a private cluster, about 10 minutes; bigger or longer: make chaos CHAOS_ARGS="--tasks 10000 --window 300"
chaos: $(STAMP)
	$(BIN)/python scripts/chaos.py $(CHAOS_ARGS)

system-deps:
	@bash scripts/system_deps.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pgdata .demo .pytest_cache build dist
