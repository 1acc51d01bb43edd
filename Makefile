# comfyui-luma-fal developer commands. Everything runs in the project's own test hosts (.testhost/),
# built by tools/testhost.sh; `make env` is quick once they exist.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PY := .testhost/venv/bin/python
# Bytecode of the test hosts, the pack and the tools is cached under .testhost/pycache (never beside the
# sources), even where the environment says PYTHONDONTWRITEBYTECODE: without it every ComfyUI start compiles
# torch, ComfyUI and their imports again (measured: a ComfyUI 0.3.75 start takes 16-24 CPU-seconds without
# the cache, 6-7 with it; the suite starts about forty).
export PYTHONPYCACHEPREFIX := $(CURDIR)/.testhost/pycache
unexport PYTHONDONTWRITEBYTECODE
PORT ?= 8765
# Default: the whole suite (pyproject's testpaths). E.g. make test PYTEST_ARGS="tests/e2e -x"
PYTEST_ARGS ?= tests
# The ComfyUI hosts to build and test on (e2e and browser suites run once per host). E.g. HOSTS=0.3.75
HOSTS ?= 0.3.75 0.33.0
BENCH_ARGS ?=
# The whole suite runs as several pytest processes side by side (tests/support/parallel.py: layer suites, and
# per host the e2e and browser suites). JOBS=N: at most N at once; JOBS=0: one plain pytest process.
JOBS ?=

.PHONY: help env sandbox demo test bench clean thumbnails

help:
	@echo "make env      build/refresh the test hosts (.testhost/): ComfyUI 0.3.75 (+ frontend 1.58.1) and 0.33.0,"
	@echo "              each with its own venv; chromium (HOSTS=... to build fewer; 0.3.75 always)"
	@echo "make sandbox  run the local fal-compatible sandbox in the foreground (PORT=$(PORT))"
	@echo "make demo     sandbox + ComfyUI, run example_workflows/luma_ray32_text_to_video.json, print the MP4"
	@echo "make test     the whole test suite: unit suites once, e2e + browser on every host (HOSTS=\"$(HOSTS)\")"
	@echo "              as parallel pytest processes (JOBS=N at most N at once, JOBS=0 one process); narrow it:"
	@echo "              make test HOSTS=0.3.75 PYTEST_ARGS=\"tests/e2e -x\" (named paths: one pytest process)"
	@echo "make bench    benchmarks (BENCH_ARGS=...)"
	@echo "make thumbnails  example_workflows/*.jpg from the examples as frontend 1.58.1 draws them (after"
	@echo "              tools/make_examples.py; EXAMPLES=\"name ...\" for some)"
	@echo "make clean    remove test and bench outputs (keeps .testhost/; rm -rf .testhost for a full rebuild)"

env:
	@TESTHOST_HOSTS="$(HOSTS)" bash tools/testhost.sh

sandbox: env
	$(PY) -m sandbox --host 127.0.0.1 --port $(PORT)

demo: env
	$(PY) -m tools.demo

test: env
	@mkdir -p test-output
	$(PY) -m tests.support.parallel --hosts="$(HOSTS)" $(if $(JOBS),--jobs=$(JOBS)) $(PYTEST_ARGS)

bench: env
	$(PY) bench/run.py $(BENCH_ARGS)

thumbnails: env
	$(PY) -m tools.make_thumbnails $(EXAMPLES)

clean:
	rm -rf test-output bench/out .pytest_cache
	find . -path ./.testhost -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
