"""Smoke runs of the benchmarks, so they cannot rot (not measurements)."""

import importlib.util
import json
import os

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
    ev = res["eval"]
    assert ev["rows"] == res["rows_test"] and len(ev["rows_per_s"]["tfp_flows"]) == 5
    assert ev["summary"]["tfp_flows"]["min"] > 0 and "| tfp_flows | " in table.split("Evaluation:")[1]
    # the ceiling (the model's products alone) is timed in the same turns, by tfp_flows' worker
    assert len(entry["samples_per_s"]["products_alone"]) == 1 and len(ev["rows_per_s"]["products_alone"]) == 5
    assert "| 100 | products_alone (ceiling) |" in table and "evaluation, products alone" in table
    if _has_torch_libraries():
        assert set(entry["ratios"]) == {"tfp_flows/zuko", "tfp_flows/nflows", "products_alone/zuko",
                                        "products_alone/nflows"}
        assert "the model's products alone reach" in table
        assert entry["params"]["nflows"]["total"] == 1408 and entry["params"]["zuko"]["total"] == 1408 - 32
        assert "goal at batch 100" in table and "goal for evaluation" in table
        assert set(ev["ratios"]) == {"tfp_flows/zuko", "tfp_flows/nflows", "products_alone/zuko",
                                     "products_alone/nflows"}
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


def test_busy_machine_warning(monkeypatch):
    machine = _load("_machine")
    monkeypatch.setattr(machine.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(machine.os, "getloadavg", lambda: (1.9, 1.0, 0.5))
    warning = machine.load_warning()
    assert warning.startswith("WARNING: load average 1.90 on 2 cores") and "\n" not in warning
    assert machine.machine()["load_average_at_start"] == [1.9, 1.0, 0.5]
    monkeypatch.setattr(machine.os, "getloadavg", lambda: (0.3, 1.0, 0.5))
    assert machine.load_warning() is None


def test_quality_benchmark_smoke(tmp_path):
    """Tiny paired comparison: tfp_flows variants against nflows on the same rows."""
    if any(importlib.util.find_spec(m) is None for m in ("torch", "nflows")):
        pytest.skip("torch or nflows not installed (requirements-bench.txt)")
    bench = _load("bench_quality")
    assert bench.main(["--rows", "3000", "--epochs", "1", "--seeds", "0", "1", "--layers", "2", "--hidden", "8", "8",
                       "--variants", "tfp_flows", "fan_in+adam_eps", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "quality.json").read_text())
    assert set(res["variants"]) == {"nflows", "tfp_flows", "fan_in+adam_eps"}
    v = res["variants"]["fan_in+adam_eps"]
    assert len(v["paired_per_seed"]) == 2 and v["paired_se"] > 0
    assert v["paired_mean"] == pytest.approx(np.mean([s["mean"] for s in v["paired_per_seed"]]))
    # the paired mean is the difference of the two models' means on the same rows
    assert v["paired_per_seed"][0]["mean"] == pytest.approx(v["test_ll"][0] - res["variants"]["nflows"]["test_ll"][0])
    assert "fan_in+adam_eps:" in (tmp_path / "quality.md").read_text()


def test_quality_benchmark_paired_statistics_and_refusals(capsys):
    bench = _load("bench_quality")
    mean, se = bench.paired(np.array([1.0, 2.0, 3.0, 4.0]))
    assert mean == 2.5 and se == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    with pytest.raises(SystemExit):
        bench.main(["--variants", "fan_out"])
    assert "unknown variant 'fan_out'" in capsys.readouterr().err
    assert bench.main(["--epochs", "0"]) == 2


def test_gas_epoch_benchmark_against_a_baseline_tree(tmp_path):
    """Both trees run the command; the same tree twice must agree exactly, and the
    report says so."""
    bench = _load("bench_gas_epoch")
    data = tmp_path / "gas.txt"
    code = bench.main(["--data", str(data), "--rows", "3000", "--baseline-tree", str(ROOT), "--out", str(tmp_path / "o"),
                       "--", "--max-steps", "4", "--eval-every", "2", "--layers", "1", "--hidden", "8", "--batch-size", "50"])
    assert code == 0 and data.exists()
    res = json.loads((tmp_path / "o" / "gas_epoch.json").read_text())
    ours, base = res["runs"]["tfp_flows"][0], res["runs"]["baseline"][0]
    assert ours["steps"] == base["steps"] == 4 and ours["evaluations"] == base["evaluations"] == 2
    assert res["first_eval_difference"] == 0 and res["final_difference"] == 0
    assert "first evaluation differs by 0.00e+00" in (tmp_path / "o" / "gas_epoch.md").read_text()
    for run in (ours, base):  # each run's own CPU time (the command's, not this process's nor the sum of both)
        assert 1.0 < run["cpu_seconds"] <= run["seconds"] * (os.cpu_count() or 1) + 0.5
        assert run["busy_share"] == pytest.approx(run["cpu_seconds"] / (run["seconds"] * (os.cpu_count() or 1)))
        assert run["seconds_between_evaluations"] >= 0  # two evaluation lines, one gap
    assert bench.main(["--baseline-tree", str(tmp_path)]) == 2
    # a failing command: one line naming its log, no traceback
    assert bench.main(["--data", str(data), "--out", str(tmp_path / "o2"), "--", "--layers", "0"]) == 1


def test_products_alone_compute_the_models_chain_and_train():
    """The ceiling multiplies the flow's own kernel shapes in a chain (checked against
    numpy), runs any number of steps from one compilation, and scores every test row."""
    import tensorflow as tf

    from tfp_flows.flows.maf import MAFFlow

    bench = _load("bench_train")
    flow = MAFFlow(4, layers=2, hidden_units=[6, 5])
    shapes = [[tuple(k.shape) for k in made.whole_kernels()] for made in flow.made]
    assert shapes == [[(4, 6), (6, 5), (5, 8)]] * 2
    rng = np.random.default_rng(1)
    train, test = rng.normal(size=(50, 4)).astype(np.float32), rng.normal(size=(7, 4)).astype(np.float32)
    pa = bench.ProductsAlone(shapes, train, 10, test, eval_batch=3)
    w = [v.numpy().astype(np.float64) for v in pa.weights]
    x, total = test.astype(np.float64), 0.0
    for a, b, c in (w[:3], w[3:]):
        folded = (np.maximum(np.maximum(x @ a, 0) @ b, 0) @ c).reshape(-1, 4, 2).sum(-1)
        x, total = x + 1e-3 * folded, total + folded.sum(-1)
    np.testing.assert_allclose(pa.score_test(), total, rtol=1e-4, atol=1e-5)
    first = pa.train_steps(1)
    assert np.isfinite(first) and pa.train_steps(250) != first and pa.first == 251
    assert pa.train_loop.experimental_get_tracing_count() == 1
    assert isinstance(pa.score(tf.constant(test)), tf.Tensor)


def test_goal_verdicts_say_whether_the_products_alone_reach_the_goal():
    note = _load("bench_train").ceiling_note
    assert note(None, 3.0) == ""
    assert "within reach" in note({"median": 3.2}, 3.0)
    assert "only 2.77x" in note({"median": 2.77}, 3.0) and "out of reach" in note({"median": 2.77}, 3.0)


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


def test_feature_search_smoke(fake_root, tmp_path_factory):
    """Every candidate feature screened on the fake folder's tones (zero at 300 Hz, the
    other words at 500 and 900 Hz): on both protocols, and separable by every feature
    that sees more than the first 32 ms."""
    bench = _load("feature_search")
    out = tmp_path_factory.mktemp("fs")
    assert bench.main(["--data", str(fake_root), "--out", str(out)]) == 0
    rows = json.loads((out / "feature_search.json").read_text())["rows"]
    assert [r["candidate"] for r in rows] == [c[0] for c in bench.CANDIDATES]
    by_name = {r["candidate"]: r for r in rows}
    assert by_name["logmel"]["values"] == 80 and by_name["mfccseg, 5 parts"]["values"] == 65
    for r in rows:
        assert 0 <= r["official_auc"] <= 1 and len(r["speaker_out_auc"]) == 6
    assert by_name["mfccseg (13 MFCCs x 4 parts, 25 dB, 4 kHz)"]["official_auc"] == 1.0
    assert bench.main(["--data", str(fake_root), "--word", "nope", "--out", str(out)]) == 1


def test_families_benchmark_builds_models_of_the_same_size_and_reports(tmp_path):
    """The families benchmark compares like with like: tfp_flows' nsf and realnvp have
    exactly zuko's parameter counts, the conditional MAF too (its context enters the first
    layer, as zuko's), the spline coupling nflows' and the MADE MoG families nflows' but
    for the learned offsets; a tiny run writes its ratios and paired differences."""
    if any(importlib.util.find_spec(m) is None for m in ("torch", "zuko", "nflows")):
        pytest.skip("torch, zuko or nflows not installed (requirements-bench.txt)")
    bench = _load("bench_families")
    assert bench.main(["--rows", "3000", "--steps", "2", "--reps", "2", "--warmup", "1", "--layers", "2",
                       "--hidden", "16", "16", "--quality-epochs", "1", "--image-batches", "50",
                       "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "families.json").read_text())
    image = res["families"]["maf-784"]["batches"]["50"]  # MAF (5) at 784 dimensions, 1024 hidden units
    assert image["params"]["tfp_flows"] == image["params"]["zuko"] > 5 * 784 * 1024
    # the same model; the suite's MADEs hold only the kernels' unmasked blocks as weights
    assert image["weights_held"]["zuko"] == image["params"]["zuko"]
    assert image["weights_held"]["tfp_flows"] / image["params"]["tfp_flows"] == pytest.approx(0.625, abs=0.01)
    assert all(mb > 100 for mb in image["peak_rss_mb"].values()) and image["epoch_seconds"]["zuko"] > 0
    # The physical limit beside the speed: 6 FLOP per kernel entry per training sample (5 MAFs
    # of 784 -> 1024 -> 2 x 784; zuko multiplies every entry, the suite's grouped MADEs 62.5%
    # of them), the achieved rate from it, and the product rate, measured.
    every, multiplied = res["families"]["maf-784"]["flops_per_sample"]
    assert every == 6 * 5 * (784 * 1024 + 1024 * 2 * 784) and res["families"]["maf-784"]["peak_gflops"] > 0
    assert multiplied / every == pytest.approx(0.625, abs=0.01)
    rates = image["samples_per_second"]
    assert image["gflops"]["zuko"] == pytest.approx(every * rates["zuko"] / 1e9)
    assert image["gflops"]["tfp_flows"] == pytest.approx(multiplied * rates["tfp_flows"] / 1e9)
    for family in ("nsf", "maf-cond", "realnvp"):
        entry = res["families"][family]
        assert entry["params"]["tfp_flows"] == entry["params"]["zuko"], family
        assert entry["ratio"]["min"] <= entry["ratio"]["median"] <= entry["ratio"]["max"]
        q = entry["quality"]
        assert q["difference"] == pytest.approx(q["test_ll"]["tfp_flows"] - q["test_ll"]["zuko"])
        assert set(entry["ratio_vs"]) == set(entry["quality_vs"]) == {"zuko", "nflows"}, family
        n = entry["quality_vs"]["nflows"]  # nflows' equivalent trained and scored on the same rows
        assert n["difference"] == pytest.approx(n["test_ll"]["tfp_flows"] - n["test_ll"]["nflows"])
        assert n["test_ll"]["tfp_flows"] == q["test_ll"]["tfp_flows"] and entry["params"]["nflows"] > 0
    coupling = res["families"]["spline-coupling"]  # nflows' spline coupling has exactly our conditioners;
    assert coupling["params"]["tfp_flows"] == coupling["params"]["nflows"]  # zuko's masked one is larger
    assert set(coupling["quality_vs"]) == {"zuko", "nflows"}
    for family in ("made-mog", "maf-mog"):  # nflows' MADEMoG, the only peer: the same MADE, without
        entry = res["families"][family]  # the suite's learned offset per variable and component
        assert set(entry["ratio_vs"]) == set(entry["quality_vs"]) == {"nflows"}, family
        assert entry["params"]["tfp_flows"] - entry["params"]["nflows"] == 8 * 3 * bench.COMPONENTS, family
        q = entry["quality"]
        assert q["difference"] == pytest.approx(q["test_ll"]["tfp_flows"] - q["test_ll"]["nflows"])
