# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CLUSTER_STAMP := $(VENV)/.installed-cluster
# torch/torchvision are pinned to the wheels that ship on local disk here (no CUDA download).
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test test-slow lint install clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The slow suite starts real Ray clusters (dashboard, Ray Client, `ray job submit`): the `cluster` extra.
$(CLUSTER_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev,cluster]'
	touch $(CLUSTER_STAMP)

demo: $(STAMP)
	$(BIN)/python experiments/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -q -x --durations=10

test-slow: $(CLUSTER_STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) runs deploy
