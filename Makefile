# Each target does its own set-up: a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-cluster reliability venv browser bundled-checkpoint clean

$(STAMP): requirements.txt pyproject.toml setup.py lightning_module/data/_jpeg_dc.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@$(PY) -c 'import lightning_module.data._jpeg_dc' 2>/dev/null || echo "note: the JPEG decoder extension (lightning_module/data/_jpeg_dc.c) was not built, probably for want of a C compiler: everything works, but ingest decodes photos with Pillow, about 1.6x slower. Install gcc (or Xcode's command-line tools), then run: $(PY) -m pip install --no-deps -e ."
	touch $(STAMP)

venv: $(STAMP)

## The dashboard on the built-in defaults (synthetic data, bundled checkpoint), on http://localhost:8501
run: $(STAMP)
	$(PY) -m streamlit run dashboard/app.py --server.address localhost --server.headless true

## The whole test suite (installs the browser for the real-browser test, and PostgreSQL for the ratings-database
## tests, when it can, and says so when not)
test: $(STAMP)
	-@bash scripts/install_browser.sh
	-@bash scripts/install_postgres.sh
	$(PY) -m pytest -q

## The grid on a real Ray and a real single-node Slurm, two-node torchrun and the Slurm training script (installs
## slurm-wlm and munge with apt-get when root, else those tests skip and say why; see docs/SCALE_OUT.md)
test-cluster: $(STAMP)
	-@bash scripts/cluster/install_slurm.sh
	TREERISK_CLUSTER_TESTS=1 $(PY) -m pytest -q -p no:cacheprovider tests/test_cluster_*.py

## Retrain both bundled models (the default on 20,000 synthetic scenes, the lab reference on 10,000), test them, and
## replace checkpoints/*.{ckpt,json}, each card with its independent-test figures (about 55 minutes on a 2-core CPU
## before training went channels-last, which takes a step in 0.7x the time: not re-measured; see checkpoints/README.md)
bundled-checkpoint: $(STAMP)
	$(call train_and_bundle,bundled,efficientnet_lite0_synthetic)
	$(call train_and_bundle,bundled_seed_cnn,seed_cnn_synthetic)

# $(1): the config in configs/ (also the run name); $(2): the checkpoint's name in checkpoints/
define train_and_bundle
	$(PY) -m lightning_module fit --config configs/$(1).yaml --trainer.enable_progress_bar=false
	run="$$(ls -d runs/$(1)/version_* | sort -V | tail -1)" && \
	$(PY) -m lightning_module test --config "$$run/config.yaml" --ckpt_path "$$run/checkpoints/best.ckpt" \
		--trainer.enable_progress_bar=false && \
	$(PY) -m lightning_module bundle --run "$$run" --out checkpoints/$(2).ckpt --replace --measure
endef

## Everything about bad input and faults, plus the long fuzz cases and the load check (see README "Reliability")
reliability: $(STAMP)
	$(PY) -m pytest -q tests/test_fuzz_images.py tests/test_config_errors.py tests/test_faults.py tests/test_security.py
	$(PY) -m lightning_module.reliability --slow
	$(PY) scripts/fuzz_jpeg_dc.py
	$(PY) bench/load_check.py

browser:
	bash scripts/install_browser.sh

clean:
	rm -rf $(VENV) .cache .pytest_cache
