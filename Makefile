# The two commands a newcomer needs:  `make run`  and  `make test`  (see README.md).
VENV   ?= .venv
PY     := $(VENV)/bin/python
# CPU torch 2.13.0 here; on a GPU box the same pin from PyPI is the CUDA build.
TORCH  ?= torch==2.13.0
# onnxruntime-gpu where a driver is visible, the CPU package elsewhere (never both).
ORT    ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)
PYTEST_ARGS ?=

.PHONY: install run test lint docs benchmark containers-check container-test stack-test clean

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
	$(VENV)/bin/ruff check suite tests tools docs
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) tools/module-sizes 500 suite/fairhep

# The documentation site (docs/: Sphinx, MyST Markdown, furo) into build/docs/html, warnings as
# errors and from a fresh environment (-E), so a warning in a page nobody touched still fails,
# as on Read the Docs (.readthedocs.yaml builds the same conf.py). Its references are
# generated from the code (the parser, the record schema, stacks.toml, the site and campaign
# dataclasses, results/published, docstrings); tests/docs runs the tutorials' commands.
DOCS_OUT ?= build/docs
$(VENV)/.docs-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e ".[docs]"
	touch $@

docs: $(VENV)/.docs-installed
	$(VENV)/bin/sphinx-build -E -W --keep-going -q -b html -d $(DOCS_OUT)/doctrees docs $(DOCS_OUT)/html

benchmark: install
	$(PY) -m pytest tests/benchmarks --benchmark-enable --benchmark-json=results/benchmarks.json -m benchmark_suite

containers-check: install
	$(VENV)/bin/fairhep containers check

# Each stack this machine can build (x86_64-cpu, x86_64-cuda; STACK=<id> for one) built for
# real (buildah, from a base made of Debian's packages) and fairhep run inside it (podman):
# selftest, a small bench, records that name the image.
# Installs what it needs with apt-get; engine storage under a temporary folder, removed at the
# end; an engine that cannot start here is skipped with the reason (tools/container-test).
container-test: install
	$(PY) tools/container-test $(STACK)

# One test session per container stack (noxfile.py): a venv with exactly that stack's Python
# minor and pins, installed as its image installs them, then the test suite. STACK=<id> runs
# one (nox -s "stack(<id>)"); without it every stack. PYTEST_ARGS go to pytest.
stack-test: install
	$(VENV)/bin/nox $(if $(STACK),-s "stack($(STACK))") -- $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
