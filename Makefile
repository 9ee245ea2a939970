# Each target does its own set-up: a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-all venv browser bench clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

## The dashboard on the built-in defaults (synthetic data, bundled checkpoint), on http://localhost:8501
run: $(STAMP)
	$(PY) -m streamlit run dashboard/app.py

## The whole test suite (installs the browser for the real-browser test when it can, and says so when not)
test: $(STAMP)
	-@bash scripts/install_browser.sh
	$(PY) -m pytest -q

browser:
	bash scripts/install_browser.sh

clean:
	rm -rf $(VENV) .cache .pytest_cache
