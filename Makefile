# The two commands a newcomer needs:  `make run`  and  `make test`  (see README.md).
VENV   ?= .venv
PY     := $(VENV)/bin/python
# CPU torch 2.13.0 here; on a GPU box the same pin from PyPI is the CUDA build.
TORCH  ?= torch==2.13.0
# onnxruntime-gpu where a driver is visible, the CPU package elsewhere (never both).
ORT    ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)
PYTEST_ARGS ?=

.PHONY: install run test lint benchmark containers-check container-test clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[$(ORT),test,lint,serve]"
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/fairhep bench

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# Style, strict typing, the import layering (docs/architecture.md) and module sizes.
lint: install
	$(VENV)/bin/ruff check suite tests tools
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) tools/module-sizes 500 suite/fairhep

benchmark: install
	$(PY) -m pytest tests/benchmarks --benchmark-enable --benchmark-json=results/benchmarks.json -m benchmark_suite

containers-check: install
	$(VENV)/bin/fairhep containers check

# The x86_64-cpu image built for real (buildah, from a base made of Debian's packages) and
# fairhep run inside it (podman): selftest, a small bench, records that name the image.
# Installs what it needs with apt-get; engine storage under a temporary folder, removed at the
# end; an engine that cannot start here is skipped with the reason (tools/container-test).
container-test: install
	$(PY) tools/container-test

clean:
	rm -rf $(VENV) .pytest_cache
