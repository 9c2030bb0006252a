# The two commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check
# one install for both commands: the tests run the demo model for real (CI's shortened demo)
STAMP := $(VENV)/.installed
# torch is pinned: where there is no NVIDIA GPU, 2.13.0 resolves to the CPU wheel (on these machines
# it lies on disk); elsewhere set TORCH_INDEX=https://download.pytorch.org/whl/cpu to fetch the CPU
# build instead of the multi-GB CUDA one. On a GPU box the default CUDA build is what you want.
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?=
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)

.PHONY: test demo lint format clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(PY)
	$(PIP) install "torch==$(TORCH_VERSION)" $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	@if [ -z "$(HAS_GPU)" ]; then $(PY) -c "import torch, sys; sys.exit('torch has CUDA on a machine without a GPU: rerun with TORCH_INDEX=https://download.pytorch.org/whl/cpu' if torch.version.cuda else 0)"; fi
	touch $@

$(STAMP): pyproject.toml $(VENV)/.torch
	$(PIP) install -e '.[dev,demo]'
	touch $@

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	VENV=$(VENV) ci/checks.sh imports
	VENV=$(VENV) ci/checks.sh types
	$(VENV)/bin/pytest

demo: $(STAMP)
	$(VENV)/bin/langprune demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	VENV=$(VENV) ci/checks.sh imports
	VENV=$(VENV) ci/checks.sh types

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) build *.egg-info
