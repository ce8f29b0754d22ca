"""Smoke runs of the benchmarks, so they cannot rot (not measurements)."""

import importlib.util
import json

import pytest

from conftest import ROOT


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_benchmark_smoke(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("zuko")
    pytest.importorskip("nflows")
    bench = _load("bench_train")
    assert bench.main(["--rows", "4000", "--reps", "1", "--steps", "20", "--batch-sizes", "100",
                       "--tfp-variants", "step", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "train.json").read_text())
    params = res["batches"]["100"]["params"]
    # Same architecture: nflows equals ours; zuko lacks the 10 batch norms' 2 x 8 parameters.
    assert params["tfp_step"] == params["nflows"] == 126_320
    assert params["zuko"] == 126_320 - 10 * 2 * 8
    assert set(res["batches"]["100"]["ratios"]) == {"tfp_step/zuko", "tfp_step/nflows"}
    assert "| 100 | zuko |" in (tmp_path / "train.md").read_text()


def test_gas_loading_benchmark_smoke(tmp_path):
    bench = _load("bench_gas_load")
    assert bench.main(["--rows", "3000", "--reps", "1", "--data", str(tmp_path / "d"),
                       "--out", str(tmp_path / "o")]) == 0
    res = json.loads((tmp_path / "o" / "gas_load.json").read_text())
    assert res["rows"] == 3000 and res["read_gas_first_parse"]["rows_per_s_median"] > 0
