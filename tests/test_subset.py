"""The list of tests left out on today's stack in `make test` (tests/not_on_todays_stack.txt):
every entry names a test that exists, and every test file keeps tests on both stacks."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, subset_ids


def _without_subset():
    return {k: v for k, v in os.environ.items() if k != "TFP_FLOWS_SUBSET"}


def _collected():
    # Collected as the pinned pass sees them, whichever pass runs this test: under
    # TFP_FLOWS_SUBSET=current the listed tests would be deselected and look missing.
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "tests"], capture_output=True, text=True, cwd=ROOT, env=_without_subset())
    return [line.strip() for line in proc.stdout.splitlines() if "::" in line]


def test_every_listed_test_exists_and_every_file_keeps_tests_on_todays_stack():
    collected = _collected()
    listed = subset_ids()
    assert len(collected) > 300 and listed
    assert len(set(listed)) == len(listed), "a test is listed twice"
    missing = [node for node in listed if node not in collected]
    assert not missing, f"listed but not collected (renamed or removed?): {missing}"
    files = {node.split("::")[0] for node in collected}
    kept = {node.split("::")[0] for node in collected if node not in set(listed)}
    assert files == kept, f"files with no test left on today's stack: {sorted(files - kept)}"


def test_the_subset_is_applied_only_when_asked():
    # A run of one listed test: collected normally, deselected under TFP_FLOWS_SUBSET=current.
    node = next(n for n in subset_ids() if "test_vi.py" in n)
    base = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", node]
    env = _without_subset()
    plain = subprocess.run(base, capture_output=True, text=True, cwd=ROOT, env=env)
    subset = subprocess.run(base, capture_output=True, text=True, cwd=ROOT,
                            env={**env, "TFP_FLOWS_SUBSET": "current"})
    assert node in plain.stdout and "1 test collected" in plain.stdout
    assert node not in subset.stdout and "1 deselected" in subset.stdout


def _make_test_plan(pinned, current):
    """What `make -n test` would run with the given interpreters found (empty: none)."""
    if not shutil.which("make"):
        pytest.skip("no make on this machine")
    # Under `make test` this runs inside a make whose variables (STACK=...) would reach
    # the inner make through the environment: it gets none of them.
    env = {k: v for k, v in _without_subset().items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "STACK")}
    proc = subprocess.run(["make", "-n", "--no-print-directory", "test", f"PINNED_PYTHON={pinned}",
                           f"CURRENT_PYTHON={current}"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_make_test_leaves_the_subset_out_only_when_the_pinned_stack_ran_it():
    both = _make_test_plan(sys.executable, sys.executable)
    assert "test STACK=pinned" in both and "TFP_FLOWS_SUBSET=current" in both
    # A machine with only Python 3.13 (Debian 13): today's stack is the only pass, so it
    # runs every test.
    only_current = _make_test_plan("", sys.executable)
    assert "TFP_FLOWS_SUBSET=whole" in only_current and "TFP_FLOWS_SUBSET=current" not in only_current
    assert "the pinned stack not tested" in only_current
