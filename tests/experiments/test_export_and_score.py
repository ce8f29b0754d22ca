"""Runs exported as SavedModels that TensorFlow alone loads, and scored from the command line."""

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT
from tfp_flows.datasets.gas import GAS_COLUMNS, write_synthetic_gas
from tfp_flows.experiments import GasConfig, MAFOptions, VIConfig, run_gas, run_vi
from tfp_flows.experiments.export import export_run, load_run
from tfp_flows.training import TrainConfig

# A fresh interpreter that imports TensorFlow only: the exported model must not need
# tfp_flows (or TFP) to load and run.
_FRESH = """
import json, sys
import numpy as np, tensorflow as tf
m = tf.saved_model.load(sys.argv[1])
x = np.load(sys.argv[2])
out = {"method": m.log_prob(x).numpy().tolist(),
       "signature": m.signatures["log_prob"](x=tf.constant(x))["output_0"].numpy().tolist(),
       "sample_shape": list(m.signatures["sample"](n=tf.constant(5))["output_0"].shape),
       "modules": [name for name in ("tfp_flows", "tensorflow_probability") if name in sys.modules]}
print(json.dumps(out))
"""


def _run(*args, cwd=ROOT):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def gas_run(tmp_path_factory):
    """A short GAS run (batch norm, so evaluation mode matters) on a generated file."""
    d = tmp_path_factory.mktemp("gas")
    write_synthetic_gas(d / "gas.txt", 3000, seed=4)
    cfg = GasConfig(data=d / "gas.txt", out=d / "run", model=MAFOptions(layers=2, hidden_units=[16]),
                    train=TrainConfig(learning_rate=1e-3, epochs=2, eval_every=10, progress=False, seed=1))
    run_gas(cfg, log=lambda *_: None)
    return d


def _raw_rows(gas_dir, n=50):
    from tfp_flows.datasets.gas import read_gas

    res = json.loads((gas_dir / "run" / "results.json").read_text())
    cols = [GAS_COLUMNS.index(c) for c in res["standardisation"]["columns"]]
    return read_gas(gas_dir / "gas.txt")[:n, cols].astype(np.float32), res


def test_exported_gas_model_matches_the_run_in_a_process_without_tfp_flows(gas_run, tmp_path):
    x, res = _raw_rows(gas_run)
    # The run's own density of the raw rows: the flow on standardised rows, plus the
    # standardisation's log-Jacobian.
    flow, _, kind = load_run(gas_run / "run")
    mean, std = (np.asarray(res["standardisation"][k]) for k in ("mean", "std"))
    z = ((x - mean) / std).astype(np.float32)
    expected = flow.log_prob(z, training=False).numpy() - np.log(std).sum()
    assert kind == "gas" and np.ptp(expected) > 1.0

    out = export_run(gas_run / "run", tmp_path / "model")
    np.save(tmp_path / "x.npy", x)
    proc = _run("-c", _FRESH, out, tmp_path / "x.npy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["modules"] == []
    np.testing.assert_allclose(got["method"], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["signature"], expected, rtol=1e-5, atol=1e-5)
    assert got["sample_shape"] == [5, 8]
    facts = json.loads((out / "tfp_flows.json").read_text())
    assert facts["kind"] == "gas" and facts["columns"] == res["standardisation"]["columns"]
    assert facts["threshold"]["value"] == pytest.approx(res["threshold"]["value"] - np.log(std).sum())


def test_exported_samples_are_in_raw_units(gas_run, tmp_path):
    """Draws come back in the data's units: per column, their mean and standard deviation
    are the training rows' (a briefly trained flow, so within a quarter of an sd and a
    factor of 1.5; measured 0.17 and 1.27 at most), and exactly the run's own flow draws mapped through the standardisation."""
    x, res = _raw_rows(gas_run, n=3000)
    model = tf.saved_model.load(str(export_run(gas_run / "run", tmp_path / "m")))
    draws = model.sample(tf.constant(20_000)).numpy()
    sd = x.std(0)
    assert np.all(sd > 2.0)  # far from the standardised scale, so a missing * std shows
    assert np.all(np.abs(draws.mean(0) - x.mean(0)) < 0.25 * sd)
    assert np.all((draws.std(0) / sd > 1 / 1.5) & (draws.std(0) / sd < 1.5))
    # The same map as the run's: standardised draws of the flow, times std, plus mean.
    flow, _, _ = load_run(gas_run / "run")
    mean, std = (np.asarray(res["standardisation"][k]) for k in ("mean", "std"))
    z = flow.sample(20_000, seed=(7, 8)).numpy()
    assert np.all(np.abs(draws.mean(0) - (z.mean(0) * std + mean)) < 0.05 * sd)
    np.testing.assert_allclose(draws.std(0), z.std(0) * std, rtol=0.05)


def test_export_refuses_an_existing_folder_and_a_folder_without_a_run(gas_run, tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(ValueError, match="already exists"):
        export_run(gas_run / "run", tmp_path / "taken")
    with pytest.raises(ValueError, match="no finished run"):
        export_run(tmp_path / "taken", tmp_path / "new")
    assert not (tmp_path / "new").exists() and not list(tmp_path.glob(".new*"))


def test_score_gas_rows_with_the_run_and_with_its_export(gas_run, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("Time CO Eth\n1 2 3\n")
    exported = tmp_path / "model"
    done = _run("-m", "tfp_flows.cli.export", "--run", gas_run / "run", "--out", exported)
    # nothing on stderr (TensorFlow's deprecation notices for TFP's linear operators were 6 lines)
    assert done.returncode == 0 and done.stderr == "" and done.stdout == f"SavedModel: {exported}\n"
    outputs = []
    for model in (gas_run / "run", exported):
        proc = _run("-m", "tfp_flows.cli.score", "--model", model, gas_run / "gas.txt", bad)
        assert proc.returncode == 1 and "bad.txt:2" in proc.stderr and "Traceback" not in proc.stderr
        rows = list(csv.DictReader(io.StringIO(proc.stdout)))
        assert len(rows) == 3000 and rows[0]["item"] == "1" and rows[-1]["item"] == "3000"
        outputs.append(np.array([float(r["log_density"]) for r in rows]))
        flagged = np.array([r["flagged"] == "1" for r in rows])
        assert 0 < flagged.mean() < 0.1  # the threshold is the 1% quantile of the test rows
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-4)
    ok = _run("-m", "tfp_flows.cli.score", "--model", exported, gas_run / "gas.txt", "--out", tmp_path / "s.csv")
    assert ok.returncode == 0 and len((tmp_path / "s.csv").read_text().splitlines()) == 3001


def test_vi_run_exports_and_scores_plain_tables(tmp_path):
    cfg = VIConfig(targets=["U1"], K=[2], seeds=[0], kl_samples=500, out=tmp_path / "vi", figure=False,
                   train=TrainConfig(batch_size=64, learning_rate=1e-2, max_steps=30, checkpoint_every=10,
                                     progress=False, max_skipped=49, xla="off"))
    run_vi(cfg, log=lambda *_: None)
    run = tmp_path / "vi" / "U1-planar-K2-seed0"
    flow, _, kind = load_run(run)
    pts = np.random.default_rng(0).normal(size=(6, 2)).astype(np.float32)
    np.savetxt(tmp_path / "pts.txt", pts)
    model = tf.saved_model.load(str(export_run(run, tmp_path / "m")))
    np.testing.assert_allclose(model.log_prob(pts).numpy(), flow.log_prob(pts).numpy(), rtol=1e-5, atol=1e-5)
    proc = _run("-m", "tfp_flows.cli.score", "--model", tmp_path / "m", tmp_path / "pts.txt")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == 6 and all(r["flagged"] == "" for r in rows)  # VI runs have no threshold


def test_score_reports_each_unreadable_input_and_scores_the_rest(gas_run, tmp_path, capsys, monkeypatch):
    """Every input that cannot be read gets one line naming it, whatever went wrong, and
    the others are still scored; exit 1 at the end."""
    from tfp_flows.cli import score as score_cli
    from tfp_flows.experiments import score as scoring

    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"\0" * 3000)
    header_only = tmp_path / "header.txt"
    header_only.write_text("Time CO Ethylene")  # no line end
    odd = tmp_path / "odd.txt"
    odd.write_text("Time\n")
    real_rows = scoring._rows

    def rows(path, facts):  # an unexpected failure inside the reader, for one input
        if path.name == "odd.txt":
            raise AttributeError("'mmap.mmap' object has no attribute 'decode'")
        return real_rows(path, facts)

    monkeypatch.setattr(scoring, "_rows", rows)
    inputs = [nul, tmp_path / "missing.txt", gas_run / "gas.txt", odd, header_only, tmp_path]
    code = score_cli.main(["--model", str(gas_run / "run"), *map(str, inputs)])
    out, err = capsys.readouterr()
    assert code == 1
    rows_out = list(csv.DictReader(io.StringIO(out)))
    assert len(rows_out) == 3000 and {r["input"] for r in rows_out} == {str(gas_run / "gas.txt")}
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert len(errors) == 5 and "Traceback" not in err
    for path, fragment in [(nul, "expected a header"), (tmp_path / "missing.txt", "no such file"),
                           (odd, "AttributeError"), (header_only, "no data rows"), (tmp_path, "a folder")]:
        assert any(f"{path}:" in line and fragment in line for line in errors), (path, errors)
    assert "make train-gas" not in err  # the missing input is the scorer's, not the trainer's


@pytest.mark.parametrize("family", ["nsf", "realnvp", "made-mog", "maf-mog", "spline-coupling"])
def test_every_density_family_trains_exports_and_is_scored_by_tensorflow_alone(family, tmp_path):
    """`--flow nsf`, `realnvp`, `made-mog`, `maf-mog` and `spline-coupling` through the GAS experiment, its run folder, the
    export and a fresh interpreter with TensorFlow only (the maf case is the tests above)."""
    write_synthetic_gas(tmp_path / "gas.txt", 2000, seed=6)
    cfg = GasConfig(data=tmp_path / "gas.txt", out=tmp_path / "run", flow=family,
                    model=MAFOptions(layers=2, hidden_units=[16], bins=4, components=3),
                    train=TrainConfig(learning_rate=1e-3, epochs=1, eval_every=10, progress=False, seed=1))
    results = run_gas(cfg, log=lambda *_: None)
    assert results["flow_family"] == family and np.isfinite(results["test_log_likelihood"]["mean"])
    flow, _, kind = load_run(tmp_path / "run")
    assert kind == "gas" and type(flow).__name__ == {"nsf": "NSFFlow", "realnvp": "RealNVPFlow",
                                                     "made-mog": "MADEMoGFlow", "maf-mog": "MAFMoGFlow",
                                                     "spline-coupling": "SplineCouplingFlow"}[family]
    x, res = _raw_rows(tmp_path)
    mean, std = (np.asarray(res["standardisation"][k]) for k in ("mean", "std"))
    expected = flow.log_prob(((x - mean) / std).astype(np.float32)).numpy() - np.log(std).sum()
    out = export_run(tmp_path / "run", tmp_path / "model")
    np.save(tmp_path / "x.npy", x)
    proc = _run("-c", _FRESH, out, tmp_path / "x.npy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["modules"] == [] and got["sample_shape"] == [5, 8]
    np.testing.assert_allclose(got["method"], expected, rtol=1e-5, atol=1e-5)
