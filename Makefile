# tfp-flows: set-up, reproductions and tests.
#
#   make reproduce-part1   create .venv (first time), install, run the four P1 sections, refresh the report page
#   make test              create .venv (first time), install, lint, run pytest (doctests included)
#   make lint              ruff over the whole tree (also the first step of make test)
#   make reproduce-part2   P2: masking, MAF on GAS, audio (each skipped without its data), refresh the report page
#   make report            reproductions/results/report.html from the results on disk (nothing re-run)
#   make train-gas         train P2's MAF on data/gas/ethylene_CO.txt (ARGS="..." for options)
#   make vi                planar (K = 2, 8, 32), radial and IAF flows on U1..U4, 3 seeds each, then the checks
#   make train-speech      train P2's MAF on Speech Commands "zero" (ARGS="..." for options)
#   make bench             install the PyTorch comparison libraries, run the benchmarks
#   make bench-gas-epoch   one P2 epoch on a generated 4.2M-row GAS file, against the tree before issue 17
#   make bench-speech      speech feature pipeline vs the old decoder (needs espeak-ng)
#
# The virtual environment is refreshed only when requirements*.txt, pyproject.toml or the
# C reader (setup.py, tfp_flows/datasets/gas/_gasparse.c) change. Pass PYTHON=/path/to/python3.X to
# choose the interpreter; TensorFlow 2.16 supports Python 3.9 to 3.12.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
ARGS ?=

# Candidates tried in order when PYTHON is not given; the first that runs and is
# 3.9-3.12 wins. (A pyenv shim may exist for a version that is not installed, so
# each candidate is run, not just looked up.)
PY_CANDIDATES := python3 python3.12 python3.11 python3.10 python3.9
PY_OK := import sys; sys.exit(0 if (3, 9) <= sys.version_info[:2] <= (3, 12) else 1)
ifeq ($(origin PYTHON), undefined)
PYTHON := $(shell for c in $(PY_CANDIDATES); do \
	if $$c -c '$(PY_OK)' >/dev/null 2>&1; then command -v $$c; break; fi; done)
endif

.PHONY: venv test lint report reproduce-part1 reproduce-part2 train-gas train-speech vi bench bench-gas-epoch bench-speech clean-venv help

help:
	@sed -n '2,18p' Makefile | sed 's/^# \{0,1\}//'

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml setup.py tfp_flows/datasets/gas/_gasparse.c
	@if [ -z "$(PYTHON)" ]; then \
	  echo "make: no supported Python found (TensorFlow 2.16 needs Python 3.9-3.12); install one or run make PYTHON=/path/to/python3.X" >&2; exit 1; fi
	@if ! "$(PYTHON)" -c '$(PY_OK)' >/dev/null 2>&1; then \
	  echo "make: $(PYTHON) is not a usable Python 3.9-3.12 (TensorFlow 2.16 supports only those); pass PYTHON=/path/to/python3.X" >&2; exit 1; fi
	@echo "make: creating $(VENV) with $(PYTHON) and installing the pinned stack (first run: a few minutes)"
	"$(PYTHON)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

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

bench: $(STAMP)
	$(PY) -m pip install --quiet -r requirements-bench.txt
	$(PY) benchmarks/bench_train.py $(ARGS)
	$(PY) benchmarks/bench_quality.py --variants tfp_flows fan_in
	$(PY) benchmarks/bench_gas_load.py
	$(PY) benchmarks/bench_gas_input.py

# P2's GAS protocol end to end (one epoch on a generated 4.2M-row file) against the tree
# before issue 17's work, checked out beside the data as a git worktree.
GAS_EPOCH_BASELINE ?= data/bench/baseline-9cb2dc3
bench-gas-epoch: $(STAMP)
	test -d $(GAS_EPOCH_BASELINE) || git worktree add --detach $(GAS_EPOCH_BASELINE) 9cb2dc3
	$(PY) benchmarks/bench_gas_epoch.py --baseline-tree $(GAS_EPOCH_BASELINE) $(ARGS)

# The speech pipeline against the hand-written decoder of commit cab65fe (checked out
# beside the data as a git worktree); needs espeak-ng for the 5,010 generated clips.
SPEECH_BASELINE ?= data/bench/baseline-cab65fe
bench-speech: $(STAMP)
	test -d $(SPEECH_BASELINE) || git worktree add --detach $(SPEECH_BASELINE) cab65fe
	$(PY) benchmarks/bench_speech.py --baseline-tree $(SPEECH_BASELINE) $(ARGS)

clean-venv:
	rm -rf $(VENV)
