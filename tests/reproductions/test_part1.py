"""The four P1 reproductions, checked against the ledger (CI regression checks)."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REPRODUCTIONS, ROOT

FAST_SCRIPTS = ["p1_inverse_cdf", "p1_bijectors", "p1_mass_conservation"]


def _results(out):
    return json.loads((out / "results.json").read_text())


@pytest.mark.parametrize("name", FAST_SCRIPTS)
def test_p1_section_matches_the_ledger(script, name, tmp_path, capsys):
    code = script(name).main(["--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    results = _results(tmp_path)
    assert results["passed"] is True
    assert all(row["ok"] for row in results["rows"] if row["ok"] is not None)
    assert "quantity" in printed and "published" in printed and "PASS" in printed


def test_a_value_moved_outside_its_tolerance_fails_the_check(script, tmp_path, capsys):
    ledger = json.loads((REPRODUCTIONS / "ledger.json").read_text())
    ledger["entries"]["p1.bijectors.log_prob_direct"]["value"] = -2.938989 + 2e-6
    moved = tmp_path / "ledger.json"
    moved.write_text(json.dumps(ledger))
    code = script("p1_bijectors").main(["--ledger", str(moved), "--out", str(tmp_path / "o")])
    assert code == 1
    rows = _results(tmp_path / "o")["rows"]
    assert [r["ok"] for r in rows] == [False, True]
    assert "FAIL" in capsys.readouterr().out


def test_training_a_flow_with_p1_settings(script, tmp_path):
    code = script("p1_training_a_flow").main(["--out", str(tmp_path), "--no-progress"])
    assert code == 0
    res = _results(tmp_path)
    assert res["epochs"] == 100 and res["learning_rate"] == 1e-4 and res["batch_size"] == 100
    assert len(res["epoch_losses"]) == 100
    assert res["nll_after"] < res["nll_before"]
    assert (tmp_path / "training_a_flow.png").stat().st_size > 10_000


def test_training_is_deterministic_for_a_seed(script, tmp_path):
    args = ["--no-progress", "--epochs", "3", "--n-eval", "500"]
    a, b, c = (tmp_path / n for n in "abc")
    script("p1_training_a_flow").main(args + ["--out", str(a), "--seed", "7"])
    script("p1_training_a_flow").main(args + ["--out", str(b), "--seed", "7"])
    script("p1_training_a_flow").main(args + ["--out", str(c), "--seed", "8"])
    ra, rb, rc = _results(a), _results(b), _results(c)
    assert ra["epoch_losses"] == rb["epoch_losses"]
    assert ra["rows"] == rb["rows"]
    assert ra["epoch_losses"] != rc["epoch_losses"]


@pytest.mark.slow
def test_tuned_training_reaches_the_entropy_bound(script, tmp_path):
    """The README's settings: within 0.05 nats of 4.2242, mean and covariance on target."""
    code = script("p1_training_a_flow").main([
        "--out", str(tmp_path), "--no-progress", "--learning-rate", "0.05",
        "--epochs", "1000", "--require-fit"])
    rows = {r["key"]: r for r in _results(tmp_path)["rows"] if r["key"]}
    assert code == 0, rows
    assert rows["p1.training.entropy_bound"]["ok"] is True
    assert abs(rows["p1.training.entropy_bound"]["reproduced_value"][0] - 4.2242) <= 0.05


def _run(args, **kw):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, **kw)


@pytest.mark.parametrize("args, fragment", [
    (["--epochs", "-1"], "--epochs"),
    (["--learning-rate", "abc"], "--learning-rate"),
    (["--frobnicate"], "unrecognized arguments"),
])
def test_bad_options_give_one_line_and_status_2(args, fragment):
    proc = _run([str(REPRODUCTIONS / "p1_training_a_flow.py"), *args])
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_unwritable_output_folder_gives_one_line_and_status_2(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    proc = _run([str(REPRODUCTIONS / "p1_bijectors.py"), "--out", str(blocker / "sub")])
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "not writable" in lines[0], proc.stderr


def test_runner_summarises_each_section_and_fails_on_a_mismatch(tmp_path):
    ledger = json.loads((REPRODUCTIONS / "ledger.json").read_text())
    ledger["entries"]["p1.mass.cdf_base"]["value"] = [0.5, 0.6914625, 0.8413457]
    moved = tmp_path / "ledger.json"
    moved.write_text(json.dumps(ledger))
    results = tmp_path / "results"
    proc = _run([str(REPRODUCTIONS / "run_part.py"), "part1", "--ledger", str(moved), "--results", str(results)])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    summary = proc.stdout.split("== part1 summary")[1].strip().splitlines()
    assert len(summary) == 4
    assert [line.split()[0] for line in summary] == ["PASS", "PASS", "FAIL", "PASS"]
    assert "Probability mass is conserved: 4/5" in summary[2]
    assert sorted(p.name for p in results.iterdir()) == ["p1_bijectors", "p1_inverse_cdf", "p1_mass_conservation",
                                                         "p1_training_a_flow"]

    # The report page built from these results: the moved ledger value turns that section red.
    proc = _run([str(REPRODUCTIONS / "report.py"), "--results", str(results), "--benchmarks", str(tmp_path / "none")])
    assert proc.returncode == 0 and "3 passed, 1 failed, 7 not run" in proc.stdout, proc.stdout + proc.stderr
    page = (results / "report.html").read_text()
    mass = page.split('id="p1_mass_conservation"')[1].split("</section>")[0]
    assert 'class="fail"' in mass and "4 passed, 1 failed" in mass


def test_make_refuses_an_unsupported_python_in_one_line(tmp_path):
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\necho 'Python 3.13.0'\nexit 1\n")
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "STACK", "PYTHON")}
    proc = subprocess.run(["make", "-s", "venv", f"PYTHON={fake}", f"VENV={tmp_path / 'v'}"],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    assert proc.returncode != 0
    assert "3.9-3.12" in proc.stderr and "3.10-3.13" in proc.stderr and "PYTHON=" in proc.stderr
    assert not (tmp_path / "v").exists()


def test_make_chooses_the_stack_by_the_python_it_is_given(tmp_path):
    """A Python that passes only today's stack's version check (as 3.13 does) gets today's
    stack and its own venv; one that passes both gets the pinned stack; STACK= overrides."""
    only_current = tmp_path / "python3"
    # Answers the Makefile's two checks as Python 3.13 would: yes to 3.10-3.13, no to 3.9-3.12.
    only_current.write_text('#!/bin/sh\ncase "$2" in *"(3, 10)"*) exit 0;; *) exit 1;; esac\n')
    only_current.chmod(0o755)

    # Not the make that runs this suite's: its MAKEFLAGS would pass STACK=... down. -B: the
    # commands are printed whether or not the venv exists already.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "STACK", "PYTHON")}

    def dry_run(*args):
        proc = subprocess.run(["make", "-n", "-B", "venv", *args], capture_output=True, text=True, cwd=ROOT, env=env)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    assert "requirements-current.txt" in dry_run(f"PYTHON={only_current}")
    assert "-m venv .venv-current" in dry_run(f"PYTHON={only_current}")
    assert "requirements-current.txt" not in dry_run(f"PYTHON={sys.executable}", "STACK=pinned")
    assert "-m venv .venv-current" in dry_run(f"PYTHON={sys.executable}", "STACK=current")
    assert "-m venv .venv\n" in dry_run(f"PYTHON={sys.executable}", "STACK=pinned")
