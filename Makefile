# Two entry points for a fresh machine: `make demo` (tune and measure a zoo model) and
# `make test` (the test suite). Each creates .venv and installs what it needs.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

$(VENV)/.installed-torch: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test,torch]'
	touch $@

.PHONY: install demo test
install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/fisched tune resnet18 --trials 64 --workdir runs/demo
	$(BIN)/fisched measure resnet18 --workdir runs/demo

test: $(VENV)/.installed-torch
	$(BIN)/python -m pytest -q --durations=25
