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
	$(BIN)/python -m pytest -q --nbval-lax --nbval-current-env --nbval-cell-timeout=900 --nbval-sanitize-with notebooks/sanitize.cfg -p no:cacheprovider notebooks
	$(MAKE) book

# the book from the committed (executed) notebooks; -W: a warning fails the build
book: install
	$(BIN)/python -m rlattn.execution page notebooks book/generated/execution.md
	$(BIN)/jupyter-book build . -W --keep-going -q

# re-execute every notebook with its default parameters (do this before committing a changed chapter),
# then rewrite the pages generated from the committed results (book/generated/*.md, the README's headline)
notebooks: install
	for nb in notebooks/[0-9]*.ipynb; do (cd notebooks && ../$(BIN)/papermill -k python3 $$(basename $$nb) $$(basename $$nb)) && $(BIN)/python -m rlattn.execution stamp $$nb || exit 1; done
	$(BIN)/rlattn ledger --write

.PHONY: install demo test book notebooks
