"""Smoke runs of the benchmarks, so they cannot rot (not measurements)."""

import importlib.util
import json

import numpy as np
import pytest

from conftest import ROOT


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _has_torch_libraries():
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "zuko", "nflows"))


def test_training_benchmark_smoke(tmp_path):
    """A tiny run of the whole benchmark: worker processes, warm-up, timing, quality,
    parameter check, report. The PyTorch libraries take part when installed."""
    bench = _load("bench_train")
    code = bench.main(["--rows", "4000", "--reps", "1", "--samples-per-rep", "400", "--warmup-steps", "2",
                       "--batch-sizes", "100", "--layers", "2", "--hidden", "16", "16",
                       "--libraries", "tfp_flows", "zuko", "nflows", "--quality", "--quality-epochs", "1",
                       "--out", str(tmp_path)])
    assert code == 0
    res = json.loads((tmp_path / "train.json").read_text())
    entry = res["batches"]["100"]
    assert entry["params_check"] == "ok" and entry["threads"]["tfp_flows"]["xla"] is True
    assert entry["params"]["tfp_flows"] == {"total": 1408, "without_batch_norm": 1408 - 2 * 2 * 8}
    assert np.isfinite(entry["quality"]["tfp_flows"]["test_ll"])
    table = (tmp_path / "train.md").read_text()
    assert "| 100 | tfp_flows |" in table
    if _has_torch_libraries():
        assert set(entry["ratios"]) == {"tfp_flows/zuko", "tfp_flows/nflows"}
        assert entry["params"]["nflows"]["total"] == 1408 and entry["params"]["zuko"]["total"] == 1408 - 32
        assert "goal at batch 100" in table
    else:
        assert entry["ratios"] == {} and set(entry["params"]) == {"tfp_flows"}


def test_p2_sized_models_have_the_same_parameters():
    """P2's GAS model (10 MAFs, 2 x 100, D = 8): 126,320 parameters here and in nflows;
    zuko, without batch norm, 10 x 2 x 8 fewer."""
    from tfp_flows.flows.maf import MAFFlow

    assert MAFFlow(8).count_params() == 126_320
    if not _has_torch_libraries():
        pytest.skip("torch, zuko or nflows not installed (requirements-bench.txt)")
    bench = _load("bench_train")
    rng = np.random.default_rng(0)
    data = {"train": rng.normal(size=(50, 8)).astype(np.float32), "test": rng.normal(size=(5, 8)).astype(np.float32)}
    counts = {k: bench.TorchWorker(k, 10, data, 10, [100, 100], 0).params() for k in ("zuko", "nflows")}
    assert counts == {"zuko": (126_160, 126_160), "nflows": (126_320, 126_160)}


def test_gas_loading_benchmark_smoke(tmp_path):
    bench = _load("bench_gas_load")
    assert bench.main(["--rows", "3000", "--reps", "1", "--data", str(tmp_path / "d"),
                       "--out", str(tmp_path / "o")]) == 0
    res = json.loads((tmp_path / "o" / "gas_load.json").read_text())
    assert res["rows"] == 3000 and res["read_gas_first_parse"]["rows_per_s_median"] > 0


@pytest.mark.parametrize("args", [["--batch-sizes", "0"], ["--hidden", "16", "0"], ["--reps", "0"]])
def test_training_benchmark_refuses_bad_settings_in_one_line(args, capsys):
    assert _load("bench_train").main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench_train:") and "\n" not in err


def test_gas_input_benchmark_smoke(tmp_path):
    bench = _load("bench_gas_input")
    assert bench.main(["--rows", "3000", "--batches", "100", "--steps", "20", "--reps", "1", "--layers", "1",
                       "--hidden", "8", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "gas_input.json").read_text())
    assert set(res["batches"]["100"]["median"]) == {"gather", "dataset"}
    assert all(v > 0 for v in res["batches"]["100"]["median"].values())


def test_speech_benchmark_worker_and_refusal(fake_root, tmp_path, capsys):
    bench = _load("bench_speech")
    bench.main(["--worker", "new", "--clips", str(fake_root), "--features", "p2", "--cache", str(tmp_path / "c")])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["clips"] == report["rows"] == 18 and report["seconds"] > 0
    assert report["module"].startswith(str(ROOT))
    assert bench.main(["--clips", str(fake_root), "--baseline-tree", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench_speech:") and "\n" not in err


@pytest.mark.slow
def test_distribute_benchmark_smoke(tmp_path):
    bench = _load("bench_distribute")
    assert bench.main(["--batches", "20", "--steps", "4", "--warmup", "2", "--reps", "1", "--layers", "1",
                       "--hidden", "8", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "distribute.json").read_text())
    assert set(res["batches"]["20"]["median"]) == {"none-xla", "none", "mirrored", "multi-worker"}
    assert all(v > 0 for v in res["batches"]["20"]["median"].values())
    assert bench.main(["--batches", "3"]) == 2
