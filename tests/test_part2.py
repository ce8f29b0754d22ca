"""P2 reproductions: masking, and the GAS section's three outcomes (skipped, synthetic, checked)."""

import json
import os
import subprocess
import sys

from conftest import REPRODUCTIONS, ROOT
from tfp_flows.gas import write_synthetic_gas


def _run(*args, cwd=ROOT):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env)


def test_masking_matches_the_ledger(script, tmp_path, capsys):
    assert script("p2_masking").main(["--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    checked = {r["key"]: r["ok"] for r in rows if r["ok"] is not None}
    assert checked == {"p2.masking.mask": True, "p2.masking.kernel_mask": True,
                       "p2.masking.first_column": True, "p2.masking.autoregressive": True}


def test_gas_without_the_file_says_how_to_get_it_and_skips(tmp_path):
    proc = _run(REPRODUCTIONS / "p2_gas.py", "--data", tmp_path / "nope.txt", "--out", tmp_path / "o")
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.startswith("SKIP") and "make train-gas" in proc.stdout


def test_gas_pipeline_end_to_end_on_synthetic_data(script, tmp_path, capsys):
    code = script("p2_gas").main(["--synthetic", "3000", "--eval-every", "5", "--out", str(tmp_path),
                                 "--no-progress", "--max-steps", "12"])
    out = capsys.readouterr().out
    assert code == 0
    assert "SYNTHETIC DATA" in out and "P2 train" in out and "nothing compared" in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["synthetic"] is True and all(r["ok"] is None for r in results["rows"])


def test_gas_checks_can_fail_on_a_file_that_is_not_p2s(tmp_path):
    """A GAS-format file whose channels differ from the real ones fails the column check."""
    data = tmp_path / "ethylene_CO.txt"
    write_synthetic_gas(data, 40_000, seed=2)
    proc = _run(REPRODUCTIONS / "p2_gas.py", "--data", data, "--out", tmp_path / "o", "--max-steps", "5",
                "--no-progress")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = {r["key"]: r for r in json.loads((tmp_path / "o" / "results.json").read_text())["rows"] if r["key"]}
    assert rows["p2.gas.columns_kept"]["ok"] is False
    assert rows["p2.gas.base_ll_test"]["ok"] is True  # z-scored data: about -11.35 whatever the file
