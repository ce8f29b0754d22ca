# tfp-flows: set-up, reproductions and tests.
#
#   make reproduce-part1   create the venv (first time), install, run the four P1 sections, refresh the report page
#   make test              lint and pytest (doctests included) on every stack this machine can install
#   make lint              ruff over the whole tree and the public API's annotations (first step of make test)
#   make reproduce-part2   P2: masking, MAF on GAS, audio (each skipped without its data), refresh the report page
#   make report            reproductions/results/report.html from the results on disk (nothing re-run)
#   make train-gas         train P2's MAF on data/gas/ethylene_CO.txt (ARGS="..." for options)
#   make images            the MAF paper's Table 2 models on Fashion-MNIST (FASHION_MNIST=folder; under an hour)
#   make vi                planar (K = 2, 8, 32), radial and IAF flows on U1..U4, 3 seeds each, then the checks
#   make train-speech      train P2's MAF on Speech Commands "zero" (ARGS="..." for options)
#   make bench             install the PyTorch comparison libraries, run the benchmarks (MAF, and the
#                          nsf, conditional maf, realnvp and 784-dimensional MAF (5) against zuko's)
#   make bench-gas-epoch   one P2 epoch on a generated 4.2M-row GAS file, against the tree before issue 17
#   make bench-speech      speech feature pipeline vs the old decoder (needs espeak-ng)
#   make bench-speech-stacks  the speech pipeline's first pass on both stacks, side by side (spoken digits)
#   make compare-stacks    P1, P2's masking, a seeded GAS run and the VI direction on both stacks (same numbers?)
#
# Two pinned stacks (README, "Why these versions"), each in its own virtual environment:
#   STACK=pinned   TF 2.16.2 + tensorflow-io (requirements.txt), Python 3.9-3.12, in .venv
#   STACK=current  TF 2.21 + soundfile (requirements-current.txt), Python 3.10-3.13, in .venv-current
# Without STACK, a target uses the pinned stack where a Python 3.9-3.12 is found, else the
# current one (a machine with only Python 3.13); make test runs on both where both can be had.
# A venv is refreshed only when its requirements, pyproject.toml or the C reader change.
# PYTHON=/path/to/python3.X chooses the interpreter.

SHELL := /bin/bash
PYTEST_ARGS ?=
ARGS ?=

# Candidates tried in order when PYTHON is not given; the first that runs and is in the
# stack's range wins. (A pyenv shim may exist for a version that is not installed, so
# each candidate is run, not just looked up.)
PINNED_OK := import sys; sys.exit(0 if (3, 9) <= sys.version_info[:2] <= (3, 12) else 1)
CURRENT_OK := import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 13) else 1)
find_python = $(shell for c in $(1); do if $$c -c '$(2)' >/dev/null 2>&1; then command -v $$c; break; fi; done)
ifeq ($(origin PYTHON), undefined)
PINNED_PYTHON := $(call find_python,python3 python3.12 python3.11 python3.10 python3.9,$(PINNED_OK))
CURRENT_PYTHON := $(call find_python,python3.13 python3 python3.12 python3.11 python3.10,$(CURRENT_OK))
else
PINNED_PYTHON := $(call find_python,$(PYTHON),$(PINNED_OK))
CURRENT_PYTHON := $(call find_python,$(PYTHON),$(CURRENT_OK))
endif

STACK_GIVEN := $(if $(filter command line environment,$(origin STACK)),yes,)
ifeq ($(STACK_GIVEN),)
STACK := $(if $(PINNED_PYTHON),pinned,$(if $(CURRENT_PYTHON),current,pinned))
endif
ifeq ($(STACK),pinned)
VENV ?= .venv
REQS := requirements.txt
PYTHON_FOR_STACK := $(or $(PYTHON),$(PINNED_PYTHON))
STACK_OK := $(PINNED_OK)
STACK_RANGE := 3.9-3.12 (TensorFlow 2.16's wheels stop at 3.12)
OTHER_STACK := STACK=current takes 3.10-3.13
else ifeq ($(STACK),current)
VENV ?= .venv-current
REQS := requirements-current.txt
PYTHON_FOR_STACK := $(or $(PYTHON),$(CURRENT_PYTHON))
STACK_OK := $(CURRENT_OK)
STACK_RANGE := 3.10-3.13 (TensorFlow 2.21's wheels)
OTHER_STACK := STACK=pinned takes 3.9-3.12
else
$(error STACK=$(STACK): expected pinned or current)
endif
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test lint bench-speech-stacks compare-stacks report reproduce-part1 reproduce-part2 train-gas train-speech vi images bench bench-gas-epoch bench-speech clean-venv help

help:
	@sed -n '2,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

venv: $(STAMP)

$(STAMP): $(REQS) requirements-dev.txt pyproject.toml setup.py tfp_flows/datasets/gas/_gasparse.c
	@if [ -z "$(PYTHON_FOR_STACK)" ]; then \
	  echo "make: no Python for the $(STACK) stack found (it needs Python $(STACK_RANGE); $(OTHER_STACK)); install one or run make PYTHON=/path/to/python3.X" >&2; exit 1; fi
	@if ! "$(PYTHON_FOR_STACK)" -c '$(STACK_OK)' >/dev/null 2>&1; then \
	  echo "make: $(PYTHON_FOR_STACK) is not a usable Python for the $(STACK) stack (it needs $(STACK_RANGE); $(OTHER_STACK)); pass PYTHON=/path/to/python3.X" >&2; exit 1; fi
	@echo "make: creating $(VENV) with $(PYTHON_FOR_STACK) and installing the $(STACK) stack ($(REQS); first run: a few minutes)"
	"$(PYTHON_FOR_STACK)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r $(REQS) -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python tests/check_annotations.py

# Without STACK: every stack this machine has a Python for (both here), today's without
# the tests listed in tests/not_on_todays_stack.txt when the pinned stack ran them too
# (README, "Tests on both stacks"; every test file keeps tests on both); on a machine
# with only Python 3.13, today's stack runs the whole suite. With STACK=...: that
# stack, the whole suite.
ifeq ($(STACK_GIVEN),)
test:
	@if [ -n "$(PINNED_PYTHON)" ]; then $(MAKE) --no-print-directory test STACK=pinned; fi
	@if [ -n "$(CURRENT_PYTHON)" ]; then TFP_FLOWS_SUBSET=$(if $(PINNED_PYTHON),current,whole) $(MAKE) --no-print-directory test STACK=current; \
	  else echo "make: no Python 3.10-3.13 here: today's stack not tested"; fi
	@if [ -z "$(PINNED_PYTHON)" ]; then echo "make: no Python 3.9-3.12 here: the pinned stack not tested"; fi
else
test: lint
	@echo "make: testing the $(STACK) stack ($(VENV))"
	TFP_FLOWS_STACK=$(STACK) $(PY) -m pytest $(PYTEST_ARGS)
endif

# The part's status is kept while the report page is refreshed after it.
reproduce-part1: $(STAMP)
	status=0; $(PY) reproductions/run_part.py part1 $(ARGS) || status=$$?; $(PY) reproductions/report.py; exit $$status

reproduce-part2: $(STAMP)
	status=0; $(PY) reproductions/run_part.py part2 $(ARGS) || status=$$?; $(PY) reproductions/report.py; exit $$status

report: $(STAMP)
	$(PY) reproductions/report.py

train-gas: $(STAMP)
	$(PY) -m tfp_flows.cli.train_gas $(ARGS)

train-speech: $(STAMP)
	$(PY) -m tfp_flows.cli.train_speech $(ARGS)

vi: $(STAMP)
	$(PY) -m tfp_flows.cli.train_vi $(ARGS)
	$(PY) -m tfp_flows.cli.train_vi --flows radial --K 32 $(ARGS)
	$(PY) -m tfp_flows.cli.train_vi --flows iaf --K 2 $(ARGS)
	$(PY) reproductions/run_part.py vi

# The folder of the four Fashion-MNIST files: the first of these that holds them.
FASHION_MNIST ?= $(firstword $(foreach d,data/fashion_mnist /usr/share/datasets/fashion-mnist,$(if $(wildcard $(d)/train-images-idx3-ubyte*),$(d),)))
images: $(STAMP)
	status=0; $(PY) reproductions/maf_images.py $(if $(FASHION_MNIST),--data $(FASHION_MNIST),) $(ARGS) || status=$$?; \
	  $(PY) reproductions/report.py; exit $$status

bench: $(STAMP)
	$(PY) -m pip install --quiet -r requirements-bench.txt
	$(PY) benchmarks/bench_train.py $(ARGS)
	$(PY) benchmarks/bench_quality.py --variants tfp_flows fan_in
	$(PY) benchmarks/bench_families.py --quality-epochs 3
	$(PY) benchmarks/bench_gas_load.py
	$(PY) benchmarks/bench_gas_input.py

# P2's GAS protocol end to end (one epoch on a generated 4.2M-row file) against the tree
# before issue 17's work, checked out beside the data as a git worktree.
GAS_EPOCH_BASELINE ?= data/bench/baseline-9cb2dc3
# On today's stack the baseline tree runs on the pinned stack it was written for, where .venv exists.
GAS_EPOCH_BASELINE_PYTHON ?= $(if $(and $(filter current,$(STACK)),$(wildcard .venv/bin/python)),--baseline-python .venv/bin/python,)
bench-gas-epoch: $(STAMP)
	test -d $(GAS_EPOCH_BASELINE) || git worktree add --detach $(GAS_EPOCH_BASELINE) 9cb2dc3
	$(PY) benchmarks/bench_gas_epoch.py --baseline-tree $(GAS_EPOCH_BASELINE) $(GAS_EPOCH_BASELINE_PYTHON) $(ARGS)

# The speech pipeline against the hand-written decoder of commit cab65fe (checked out
# beside the data as a git worktree); needs espeak-ng for the 5,010 generated clips.
SPEECH_BASELINE ?= data/bench/baseline-cab65fe
bench-speech: $(STAMP)
	test -d $(SPEECH_BASELINE) || git worktree add --detach $(SPEECH_BASELINE) cab65fe
	$(PY) benchmarks/bench_speech.py --baseline-tree $(SPEECH_BASELINE) $(ARGS)

# The speech pipeline's first pass on both stacks, side by side, on a Speech-Commands-shaped
# folder (CLIPS=..., e.g. the Free Spoken Digit Dataset in that layout).
CLIPS ?= data/free_spoken_digits
bench-speech-stacks:
	$(MAKE) --no-print-directory venv STACK=pinned
	$(MAKE) --no-print-directory venv STACK=current
	.venv/bin/python benchmarks/bench_speech.py --stacks .venv/bin/python .venv-current/bin/python --clips $(CLIPS) $(ARGS)

# Same numbers on both stacks: P1, P2's masking, a seeded GAS run, the VI direction.
compare-stacks:
	$(MAKE) --no-print-directory venv STACK=pinned
	$(MAKE) --no-print-directory venv STACK=current
	.venv/bin/python -m pytest -p no:cacheprovider tests/test_stacks.py $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
