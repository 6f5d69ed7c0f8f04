# MLOS developer entry points. Every target uses the project's own virtual environment (.venv),
# created and filled by `make install`.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help install system-deps cpp-plugin perf-analyzer generate check-generated run test lint typecheck check bench dist clean

help:
	@echo "make run              set up, generate, and serve the demo model (REST on 127.0.0.1:8080)"
	@echo "make test             set up, check generated code, lint, type-check, run the whole suite"
	@echo "make install          create .venv with MLOS, the ONNX plugin and the dev tools"
	@echo "make system-deps      install the system packages the tests need: C++ and protobuf, PostgreSQL, HAProxy (apt-get)"
	@echo "make cpp-plugin       build the C++ example plugin into build/mlos-plugin-cpp/"
	@echo "make perf-analyzer    install Triton's perf_analyzer into .perf_analyzer (the tests load MLOS with it)"
	@echo "make generate         rebuild generated/ from spec/"
	@echo "make check-generated  fail when generated/ differs from what spec/ produces"
	@echo "make dist             build wheels and sdists of every distribution into dist/ and twine-check them"
	@echo "make bench            run the latency benchmark (writes bench-results/)"

$(STAMP): pyproject.toml plugins/examples/mlos-plugin-numpy/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[onnx,torch,tensorflow,dev]'
	# --no-deps: its one MLOS requirement, mlos-plugin-sdk, is part of the editable install above.
	$(PY) -m pip install --quiet --no-deps -e plugins/examples/mlos-plugin-numpy
	touch $(STAMP)

install: $(STAMP)

# A C++ compiler, CMake and protobuf for the C++ example plugin; PostgreSQL and HAProxy, which
# the suite runs for real.
system-deps:
	sh tools/system_deps.sh

cpp-plugin: system-deps
	cmake -S plugins/examples/mlos-plugin-cpp -B build/mlos-plugin-cpp
	cmake --build build/mlos-plugin-cpp --parallel
# Triton's perf_analyzer, in a virtual environment of its own (see DEVELOPERS.md).
perf-analyzer:
	PYTHON=$(PYTHON) bash tools/perf_analyzer.sh .perf_analyzer

generate: install
	$(PY) tools/generate.py
	$(PY) tools/gen_manifest.py --docs docs/axon.md

check-generated: install
	$(PY) tools/generate.py --check

run: generate
	$(VENV)/bin/mlos serve --demo

lint: install
	$(VENV)/bin/ruff check mlos axon plugins conformance tools tests

typecheck: install
	$(VENV)/bin/mypy

test: system-deps install perf-analyzer check-generated lint typecheck
	$(PY) -m pytest -q

check: test

bench: install
	$(VENV)/bin/mlos bench --rounds 3 --output bench-results/bench.json

dist: install
	rm -rf dist build/dist-src
	$(PY) tools/distributions.py --outdir dist
	$(VENV)/bin/twine check --strict dist/*

clean:
	rm -rf $(VENV) .perf_analyzer build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
