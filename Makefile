# Every target bootstraps .venv on first use, so a fresh clone needs only `make run`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench screenshots lint format typecheck

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/paracle

test: $(STAMP)
	bash scripts/with-keyring.sh $(PY) -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(PY) bench/scheduler.py
	$(PY) bench/history.py
	$(PY) bench/startup.py
	$(PY) bench/ui.py --quick

screenshots: $(STAMP)
	$(PY) scripts/screenshots.py

lint: $(STAMP)
	$(VENV)/bin/ruff check paracle_engine paracle_tui tests bench

format: $(STAMP)
	$(VENV)/bin/ruff format paracle_engine paracle_tui tests bench scripts
	$(VENV)/bin/ruff check --fix paracle_engine paracle_tui tests bench scripts

typecheck: $(STAMP)
	$(PY) -m mypy paracle_engine paracle_tui
