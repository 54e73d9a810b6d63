# Two commands a new user needs: `make demo` (install + track the synthetic demo) and `make test`.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

$(BIN)/rlattn: pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY) (Python 3.11)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	@touch $@

install: $(BIN)/rlattn

demo: install
	$(BIN)/rlattn track --demo --out demo_out

test: install
	$(BIN)/ruff check rlattn tests benchmarks
	$(BIN)/python -m pytest -q tests

.PHONY: install demo test
