# comfyui-luma-fal developer commands. Everything runs in the project's own test host (.testhost/),
# built by tools/testhost.sh from package registries; `make env` is quick once it exists.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PY := .testhost/venv/bin/python
PORT ?= 8765
# Default: the whole suite (pyproject's testpaths). E.g. make test PYTEST_ARGS="tests/e2e -x"
PYTEST_ARGS ?= tests
BENCH_ARGS ?=

.PHONY: help env sandbox demo test bench clean

help:
	@echo "make env      build/refresh the test host (.testhost/: venv, ComfyUI 0.3.75, frontend 1.58.1, chromium)"
	@echo "make sandbox  run the local fal-compatible sandbox in the foreground (PORT=$(PORT))"
	@echo "make demo     sandbox + ComfyUI, run example_workflows/luma_ray32_text_to_video.json, print the MP4"
	@echo "make test     the whole test suite (PYTEST_ARGS=... to narrow it)"
	@echo "make bench    benchmarks (BENCH_ARGS=...)"
	@echo "make clean    remove test and bench outputs (keeps .testhost/; rm -rf .testhost for a full rebuild)"

env:
	@bash tools/testhost.sh

sandbox: env
	$(PY) -m sandbox --host 127.0.0.1 --port $(PORT)

demo: env
	$(PY) -m tools.demo

test: env
	@mkdir -p test-output
	$(PY) -m pytest $(PYTEST_ARGS)

bench: env
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf test-output bench/out .pytest_cache
	find . -path ./.testhost -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
