# Each target does its own set-up: a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test reliability venv browser bundled-checkpoint clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

## The dashboard on the built-in defaults (synthetic data, bundled checkpoint), on http://localhost:8501
run: $(STAMP)
	$(PY) -m streamlit run dashboard/app.py --server.address localhost --server.headless true

## The whole test suite (installs the browser for the real-browser test when it can, and says so when not)
test: $(STAMP)
	-@bash scripts/install_browser.sh
	$(PY) -m pytest -q

## Retrain the bundled model on the synthetic data and replace checkpoints/seed_cnn_synthetic.{ckpt,json}
bundled-checkpoint: $(STAMP)
	$(PY) -m lightning_module fit --config configs/bundled.yaml --trainer.enable_progress_bar=false
	$(PY) -m lightning_module test --config "$$(ls -d runs/bundled/version_* | sort -V | tail -1)/config.yaml" \
		--ckpt_path "$$(ls -d runs/bundled/version_* | sort -V | tail -1)/checkpoints/best.ckpt" --trainer.enable_progress_bar=false
	$(PY) -m lightning_module bundle --run "$$(ls -d runs/bundled/version_* | sort -V | tail -1)" \
		--out checkpoints/seed_cnn_synthetic.ckpt --replace

## Everything about bad input and faults, plus the long fuzz cases and the load check (see README "Reliability")
reliability: $(STAMP)
	$(PY) -m pytest -q tests/test_fuzz_images.py tests/test_config_errors.py tests/test_faults.py tests/test_security.py
	$(PY) -m lightning_module.reliability --slow
	$(PY) bench/load_check.py

browser:
	bash scripts/install_browser.sh

clean:
	rm -rf $(VENV) .cache .pytest_cache
