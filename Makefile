# The two commands of the README: `make run` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: run test lint install bench clean

$(BIN)/.installed: pyproject.toml sdk/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet -e ./sdk
	touch $@

install: $(BIN)/.installed

## Start AuthGate with the demo user on http://127.0.0.1:8080
run: install
	$(BIN)/authgate init --demo
	$(BIN)/authgate serve

## Lint, type-check and run the whole test suite
# One worker per core (pytest-xdist); a test file stays in one worker, so module-scoped
# servers and browsers are shared as written.
test: install lint
	$(BIN)/pytest -n auto --dist loadfile

lint: install
	$(BIN)/ruff check src tests bench sdk
	$(BIN)/ruff format --check src tests bench sdk
	$(BIN)/mypy src sdk/src

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .authgate
