# Every target creates .venv when missing; nothing needs installing by hand.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 5002
# test workers: one per CPU core (pytest-xdist); TEST_WORKERS=0 runs the suite in this process
TEST_WORKERS ?= auto
TORCH_PINS ?= "torch==2.14.1" "torchvision==0.29.1"

.PHONY: install run test test-fast clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip wheel
	# Pinning the torch pair on the same command keeps pip from backtracking to an older CUDA torch
	# (litert-torch/executorch accept several); 2.14.1 + 0.29.1 is the pair known to work together.
	$(PY) -m pip install -e ".[export,web,prune,archive,birdnet,pretrained-photo,tune,dev]" $(TORCH_PINS)
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/nightscan-edge serve --port $(PORT) --demo

# The JS client's tests need onnxruntime-node (CPU binaries ship in the package; --ignore-scripts skips the
# GPU download its install script would try).
JS_DEPS := clients/js/node_modules/.package-lock.json
$(JS_DEPS): clients/js/package-lock.json
	cd clients/js && npm ci --ignore-scripts --no-audit --no-fund

test: $(STAMP) $(JS_DEPS)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=25

test-fast: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow and not browser"

clean:
	rm -rf $(VENV) build *.egg-info
