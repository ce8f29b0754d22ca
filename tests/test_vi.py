"""VI with flows: energies, grid normalisers, flows, reverse-KL training, the VI reproductions."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT
from tfp_flows.seeding import seed_everything
from tfp_flows.vi import VIFlow, annealing, energy, fit_reverse_kl, kl_divergence, log_normaliser


def _numpy_energies(z):
    """The formulas of REFERENCE.md, written again in NumPy."""
    z1, z2 = z[:, 0], z[:, 1]
    w1 = np.sin(2 * np.pi * z1 / 4)
    w2 = 3 * np.exp(-0.5 * ((z1 - 1) / 0.6) ** 2)
    w3 = 3 / (1 + np.exp(-(z1 - 1) / 0.3))
    r = np.hypot(z1, z2)
    return {
        "U1": 0.5 * ((r - 2) / 0.4) ** 2 - np.log(np.exp(-0.5 * ((z1 - 2) / 0.6) ** 2)
                                                  + np.exp(-0.5 * ((z1 + 2) / 0.6) ** 2)),
        "U2": 0.5 * ((z2 - w1) / 0.4) ** 2,
        "U3": -np.log(np.exp(-0.5 * ((z2 - w1) / 0.35) ** 2) + np.exp(-0.5 * ((z2 - w1 + w2) / 0.35) ** 2)),
        "U4": -np.log(np.exp(-0.5 * ((z2 - w1) / 0.4) ** 2) + np.exp(-0.5 * ((z2 - w1 + w3) / 0.35) ** 2)),
    }


def test_energies_match_the_formulas_inside_the_box(rng):
    z = rng.uniform(-3.9, 3.9, size=(200, 2))
    expected = _numpy_energies(z)
    for name, values in expected.items():
        np.testing.assert_allclose(energy(name, z).numpy(), values, rtol=1e-10, atol=1e-10)


def test_the_wall_acts_only_outside_the_box():
    inside = energy("U2", np.array([[3.99, 0.0]]), wall=False).numpy()
    assert energy("U2", np.array([[3.99, 0.0]])).numpy() == pytest.approx(inside)
    assert energy("U2", np.array([[4.2, 0.0]])).numpy() - energy("U2", np.array([[4.2, 0.0]]), wall=False).numpy() \
        == pytest.approx(0.5 * (0.2 / 0.05) ** 2)
    with pytest.raises(ValueError, match="unknown target"):
        energy("U5", np.zeros((1, 2)))


def test_grid_normaliser_against_a_closed_form():
    # exp(-U2 - wall): a Gaussian of sd 0.4 in z2 around sin(.) (inside the box), times the
    # z1 extent 8 plus two half-Gaussian walls of sd 0.05.
    extent = 8 + 2 * 0.05 * math.sqrt(math.pi / 2)
    exact = math.log(extent * 0.4 * math.sqrt(2 * math.pi))
    log_z, err = log_normaliser("U2")
    assert abs(log_z - exact) < 1e-6 and err < 1e-5


@pytest.mark.parametrize("kind", ["planar", "radial", "iaf"])
def test_flow_log_density_agrees_in_both_directions(kind):
    flow = VIFlow(kind, 4, seed=1, dtype=tf.float32)
    z, log_q = flow.sample_and_log_prob(64, seed=(3, 4))
    again = flow.distribution.log_prob(tf.constant(z.numpy())).numpy()  # through the inverse
    np.testing.assert_allclose(again, log_q.numpy(), rtol=1e-3, atol=1e-3)


def test_flow_arguments_are_checked():
    with pytest.raises(ValueError, match="K"):
        VIFlow("planar", 0)
    with pytest.raises(ValueError, match="kind"):
        VIFlow("spline", 2)


def test_annealing_schedule():
    assert annealing(0) == pytest.approx(0.01)
    assert annealing(4950) == pytest.approx(0.505)
    assert annealing(50_000) == 1.0 and annealing(0, enabled=False) == 1.0


def test_a_few_hundred_steps_lower_the_kl_and_are_repeatable(tmp_path):
    log_z = log_normaliser("U1")[0]
    results = []
    for run in ("a", "b"):
        seed_everything(0)
        flow = VIFlow("planar", 4, seed=0)
        before = kl_divergence(flow, "U1", log_z, n=5000)[0]
        fit_reverse_kl(flow, "U1", 400, learning_rate=1e-2, anneal=False, seed=0,
                       run_dir=tmp_path / run, progress=False)
        results.append(kl_divergence(flow, "U1", log_z, n=5000)[0])
    assert results[0] < before - 1.0
    assert results[0] == results[1]
    assert list((tmp_path / "a" / "checkpoints").glob("ckpt-400*"))


def _run(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=ROOT, env=env)


def test_train_vi_writes_runs_reuses_them_and_draws_the_figure(tmp_path):
    args = ["-m", "tfp_flows.train_vi", "--targets", "U1", "--K", "1", "2", "--steps", "50",
            "--kl-samples", "1000", "--out", tmp_path, "--no-progress"]
    first = _run(*args)
    assert first.returncode == 0, first.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())["runs"]
    assert [(r["target"], r["K"]) for r in summary] == [("U1", 1), ("U1", 2)]
    assert (tmp_path / "figure_planar.png").stat().st_size > 5000
    second = _run(*args)
    assert second.returncode == 0 and second.stdout.count("finished run reused") == 2


@pytest.mark.parametrize("args, fragment", [(["--targets", "U9"], "unknown target"),
                                            (["--K", "0"], "--K")])
def test_train_vi_bad_options(args, fragment):
    proc = _run("-m", "tfp_flows.train_vi", *args)
    assert proc.returncode == 2 and fragment in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def _summary(tmp_path, kls):
    runs = [{"target": "U1", "flow": "planar", "K": K, "n_params": 5 * K,
             "kl": {"mean": v, "stderr": 0.01}, "log_z": {"value": 1.0, "grid_error": 0}}
            for K, v in zip((2, 8, 32), kls)]
    (tmp_path / "summary.json").write_text(json.dumps({"runs": runs}))


def test_vi_kl_check_passes_and_fails_on_constructed_runs(script, tmp_path):
    _summary(tmp_path, [0.9, 0.3, 0.1])
    assert script("vi_kl").main(["--runs", str(tmp_path), "--out", str(tmp_path / "o")]) == 0
    _summary(tmp_path, [0.9, 0.1, 0.3])
    assert script("vi_kl").main(["--runs", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    assert script("vi_kl").main(["--runs", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 3


def test_affine_chain_collapses_to_one_gaussian(script, tmp_path):
    assert script("vi_affine_chain").main(["--out", str(tmp_path), "--no-progress", "--epochs", "80"]) == 0


def test_spline_coupling_beats_a_gaussian_on_two_moons(script, tmp_path):
    code = script("nf_spline_coupling").main(["--out", str(tmp_path), "--no-progress", "--epochs", "20",
                                              "--n-train", "2000"])
    assert code == 0
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["scores"]["spline coupling"][0] > res["gaussian_test_ll"] + 0.5
    assert (tmp_path / "two_moons.png").exists()


def test_two_moons_are_standardised():
    from tfp_flows.coupling import two_moons

    pts = two_moons(20_000, seed=0)
    assert pts.shape == (20_000, 2) and pts.dtype == np.float32
    np.testing.assert_allclose(pts.mean(0), 0, atol=0.05)
    np.testing.assert_allclose(pts.std(0), 1, atol=0.05)


def test_non_finite_steps_are_skipped_then_stop_the_run(tmp_path):
    flow = VIFlow("radial", 2, seed=0)
    for v in flow.trainable_variables:
        v.assign(tf.fill(v.shape, np.nan))
    with pytest.raises(ValueError, match="50 non-finite steps in a row"):
        fit_reverse_kl(flow, "U1", 200, seed=0, run_dir=tmp_path, progress=False)
