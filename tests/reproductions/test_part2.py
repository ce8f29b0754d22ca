"""P2 reproductions: masking, and the GAS section's three outcomes (skipped, synthetic, checked)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPRODUCTIONS, ROOT
from tfp_flows.datasets.gas import write_synthetic_gas


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
    assert proc.stdout.startswith("SKIP") and "make train-gas" in proc.stdout and "--synthetic" in proc.stdout


def test_gas_pipeline_end_to_end_on_synthetic_data(script, tmp_path, capsys):
    code = script("p2_gas").main(["--synthetic", "3000", "--eval-every", "5", "--out", str(tmp_path),
                                 "--no-progress", "--max-steps", "12"])
    out = capsys.readouterr().out
    assert code == 0
    assert "SYNTHETIC DATA" in out and "P2 train" in out and "nothing compared" in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["synthetic"] is True and all(r["ok"] is None for r in results["rows"])


def test_gas_rows_are_info_unless_the_file_is_the_uci_one(tmp_path):
    """On a GAS-format file that is not the UCI file every row is info (the base
    log-likelihood rows pass for any z-scored file, so they prove nothing). The UCI file
    is recognised by its row count AND the first values P2 printed: a ledger that gives
    this file's row count is not enough; one that gives its first values too makes the
    rows checks, and the column check fails on it."""
    data = tmp_path / "ethylene_CO.txt"
    write_synthetic_gas(data, 12_000, seed=2)
    args = ["--data", data, "--max-steps", "5", "--no-progress"]
    proc = _run(REPRODUCTIONS / "p2_gas.py", *args, "--out", tmp_path / "o")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "NOT THE UCI FILE" in proc.stdout and "0/0 checks" in proc.stdout
    rows = json.loads((tmp_path / "o" / "results.json").read_text())["rows"]
    assert all(r["ok"] is None for r in rows)

    # the right row count, other values: still not the UCI file
    ledger = json.loads((REPRODUCTIONS / "ledger.json").read_text())
    ledger["entries"]["p2.gas.n_rows"]["value"] = 12_000
    (tmp_path / "count.json").write_text(json.dumps(ledger))
    proc = _run(REPRODUCTIONS / "p2_gas.py", *args, "--out", tmp_path / "o1", "--ledger", tmp_path / "count.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "NOT THE UCI FILE" in proc.stdout and "first values differ" in proc.stdout and "(the UCI file has" not in proc.stdout
    rows = {r["key"]: r for r in json.loads((tmp_path / "o1" / "results.json").read_text())["rows"] if r["key"]}
    assert all(r["ok"] is None for r in rows.values()) and "p2.gas.first_values" in rows

    # the right count and this file's own first values: taken for the real file
    from tfp_flows.datasets.gas import GAS_COLUMNS, read_gas

    first = read_gas(data, max_rows=20)
    for i, c in enumerate(GAS_COLUMNS):
        entry = ledger["entries"][f"p2.gas.glimpse.{c}"]
        entry["value"] = [round(float(v), 2) for v in first[:len(entry["value"]), i]]
    (tmp_path / "ledger.json").write_text(json.dumps(ledger))
    proc = _run(REPRODUCTIONS / "p2_gas.py", *args, "--out", tmp_path / "o2", "--ledger", tmp_path / "ledger.json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "NOT THE UCI FILE" not in proc.stdout
    rows = {r["key"]: r for r in json.loads((tmp_path / "o2" / "results.json").read_text())["rows"] if r["key"]}
    assert rows["p2.gas.first_values"]["ok"] is True and rows["p2.gas.n_rows"]["ok"] is True
    assert rows["p2.gas.columns_kept"]["ok"] is False
    assert rows["p2.gas.base_ll_test"]["ok"] is not None


def _reported(out):
    """(run folder, its results) that a reproduction's results.json in `out` reports."""
    run = Path(json.loads((out / "results.json").read_text())["run"])
    return run, json.loads((run / "results.json").read_text())


def test_gas_reuses_a_finished_run_only_with_the_same_settings(script, tmp_path, capsys):
    """A finished run is reported again only when data and settings match: a 5-step run
    must not be reported for a 9-step request, nor a 2-layer run for a 3-layer one."""
    base = ["--synthetic", "2000", "--eval-every", "3", "--out", str(tmp_path), "--no-progress",
            "--layers", "2", "--hidden", "8"]

    assert script("p2_gas").main(base + ["--max-steps", "5"]) == 0
    first, res = _reported(tmp_path)
    assert res["steps"] == 5
    capsys.readouterr()
    assert script("p2_gas").main(base + ["--max-steps", "5"]) == 0
    assert "same settings" in capsys.readouterr().out and _reported(tmp_path)[0] == first
    assert script("p2_gas").main(base + ["--max-steps", "9"]) == 0
    assert "not reused" in capsys.readouterr().out
    second, res = _reported(tmp_path)
    assert second != first and res["steps"] == 9
    assert script("p2_gas").main(base + ["--max-steps", "9", "--layers", "3"]) == 0
    third, res = _reported(tmp_path)
    assert third not in (first, second) and res["model"]["layers"] == 3


def test_gas_run_is_not_reused_after_the_file_changes_in_place(script, tmp_path, capsys):
    """The data file is known by its content: an edit that keeps its size and puts its
    modification time back is another file, and the finished run is not reported for it."""
    import os

    data = tmp_path / "gas.txt"
    write_synthetic_gas(data, 2000, seed=3)
    base = ["--data", str(data), "--eval-every", "3", "--out", str(tmp_path / "o"), "--no-progress",
            "--layers", "2", "--hidden", "8", "--max-steps", "4"]
    assert script("p2_gas").main(base) == 0
    first, _ = _reported(tmp_path / "o")
    capsys.readouterr()
    assert script("p2_gas").main(base) == 0
    assert "same settings" in capsys.readouterr().out and _reported(tmp_path / "o")[0] == first

    st = data.stat()
    text = data.read_bytes()
    row = text.index(b"\n", text.index(b"\n") + 1) + 1  # the second data row
    digit = row + text[row:].index(b".") + 1  # a digit after a decimal point
    edited = text[:digit] + (b"7" if text[digit:digit + 1] != b"7" else b"3") + text[digit + 1:]
    data.write_bytes(edited)
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert data.stat().st_size == st.st_size and data.stat().st_mtime_ns == st.st_mtime_ns
    assert script("p2_gas").main(base) == 0
    assert "same settings" not in capsys.readouterr().out
    second, res = _reported(tmp_path / "o")
    assert second != first and res["settings"]["data_identity"]["sha256"] != \
        json.loads((first / "results.json").read_text())["settings"]["data_identity"]["sha256"]


def test_audio_reuses_a_finished_run_only_with_the_same_settings(script, fake_root, tmp_path_factory, capsys):
    out = tmp_path_factory.mktemp("out")  # outside the data folder (fake_root)
    base = ["--data", str(fake_root), "--features", "logmel", "--layers", "1", "--hidden", "8",
            "--out", str(out), "--no-progress", "--cache", str(out / "cache")]

    assert script("p2_audio").main(base + ["--epochs", "1"]) == 0
    first, res = _reported(out)
    assert res["epochs"] == 1
    capsys.readouterr()
    assert script("p2_audio").main(base + ["--epochs", "1"]) == 0
    assert "same settings" in capsys.readouterr().out and _reported(out)[0] == first
    assert script("p2_audio").main(base + ["--epochs", "2"]) == 0
    second, res = _reported(out)
    assert second != first and res["epochs"] == 2
    (fake_root / "one" / "00000000_nohash_0.wav").unlink()  # the data changed: train again
    capsys.readouterr()
    assert script("p2_audio").main(base + ["--epochs", "2"]) == 0
    assert "same settings" not in capsys.readouterr().out and _reported(out)[0] not in (first, second)
