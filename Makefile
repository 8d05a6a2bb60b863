PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck pytest docs demo bench soak clean install uninstall

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,docs]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check agent tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict agent

pytest: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck docs pytest

# The documentation site (docs/, mkdocs.yml) into site/; --strict turns a broken link into a failure.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

demo: $(STAMP)
	$(BIN)/event-agent demo

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

soak: $(STAMP)
	$(BIN)/pytest -q -m slow tests/soak

install:
	sh scripts/install.sh

uninstall:
	sh scripts/uninstall.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache site
