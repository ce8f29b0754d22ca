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
from tfp_flows.datasets.energies import energy, log_normaliser
from tfp_flows.experiments.vi import kl_divergence
from tfp_flows.flows import VIFlow
from tfp_flows.seeding import seed_everything
from tfp_flows.training import LossLog, ReverseKL, TrainConfig, Trainer, annealing


def fit_reverse_kl(flow, name, steps, learning_rate=1e-2, anneal=True, seed=0, run_dir=None, max_skipped=49,
                   resume=False, log=lambda *_: None):
    """Reverse-KL training through the one trainer, as the VI experiment runs it."""
    cfg = TrainConfig(batch_size=256, learning_rate=learning_rate, max_steps=steps, checkpoint_every=100,
                      seed=seed, progress=False, max_skipped=max_skipped, xla="off")
    trainer = Trainer(flow, ReverseKL(lambda z: energy(name, z), 256, anneal, seed), cfg, run_dir,
                      [LossLog(100)], log=log)
    return trainer, trainer.run(resume=resume)


def _numpy_energies(z):
    """The formulas of Rezende & Mohamed (2015), Table 1, written again in NumPy."""
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
    again = flow.log_prob(tf.constant(z.numpy())).numpy()  # through the inverse
    np.testing.assert_allclose(again, log_q.numpy(), rtol=1e-3, atol=1e-3)


def test_flow_arguments_are_checked():
    with pytest.raises(ValueError, match="K"):
        VIFlow("planar", 0)
    with pytest.raises(ValueError, match="kind"):
        VIFlow("spline", 2)


def test_annealing_schedule():
    assert float(annealing(0)) == pytest.approx(0.01)
    assert float(annealing(4950)) == pytest.approx(0.505)
    assert float(annealing(50_000)) == 1.0 and float(annealing(0, enabled=False)) == 1.0


def test_a_few_hundred_steps_lower_the_kl_and_are_repeatable(tmp_path):
    log_z = log_normaliser("U1")[0]
    results = []
    for run in ("a", "b"):
        seed_everything(0)
        flow = VIFlow("planar", 4, seed=0)
        before = kl_divergence(flow, "U1", log_z, n=5000)[0]
        fit_reverse_kl(flow, "U1", 400, learning_rate=1e-2, anneal=False, seed=0, run_dir=tmp_path / run)
        results.append(kl_divergence(flow, "U1", log_z, n=5000)[0])
    assert results[0] < before - 1.0
    assert results[0] == results[1]
    assert list((tmp_path / "a" / "checkpoints").glob("ckpt-400*"))


class _NaNAtSteps(ReverseKL):
    """Reverse KL whose loss is NaN at the given steps (to exercise the guard)."""

    def __init__(self, bad):
        super().__init__(lambda z: energy("U1", z), 64, anneal=True, seed=0)
        self.bad = tf.constant(bad, tf.int64)

    def loss(self, flow, row, step):
        value = super().loss(flow, row, step)
        return tf.where(tf.reduce_any(tf.equal(step, self.bad)), tf.constant(np.nan, value.dtype), value)


def _kl_run(folder, steps, resume=False):
    seed_everything(0)
    flow = VIFlow("planar", 2, seed=0)
    cfg = TrainConfig(batch_size=64, learning_rate=1e-2, max_steps=steps, checkpoint_every=100, seed=0,
                      progress=False, max_skipped=49, xla="off")
    trainer = Trainer(flow, _NaNAtSteps([50, 51, 250]), cfg, folder, [LossLog(100)], log=lambda *_: None)
    return trainer, trainer.run(resume=resume), flow


def test_resumed_reverse_kl_keeps_its_loss_history_and_skipped_count(tmp_path):
    """Stopped after 200 steps and resumed to 400: the loss history, the count of skipped
    (non-finite) steps and the weights equal an uninterrupted run's."""
    straight, fit, flow_a = _kl_run(tmp_path / "straight", 400)
    _kl_run(tmp_path / "cut", 200)
    resumed, fit_b, flow_b = _kl_run(tmp_path / "cut", 400, resume=True)
    history = [r for r in straight.records if "loss" in r]
    assert [r["step"] for r in history] == [0, 100, 200, 300]
    assert [r for r in resumed.records if "loss" in r] == history
    assert fit["skipped_steps"] == fit_b["skipped_steps"] == 3 and fit_b["steps"] == 400
    for a, b in zip(flow_a.variables, flow_b.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def _run(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=ROOT, env=env)


def test_train_vi_writes_runs_reuses_them_and_draws_the_figure(tmp_path):
    args = ["-m", "tfp_flows.cli.train_vi", "--targets", "U1", "--K", "1", "2", "--max-steps", "50",
            "--seeds", "0", "1", "2", "--kl-samples", "1000", "--out", tmp_path, "--no-progress"]
    first = _run(*args)
    assert first.returncode == 0, first.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())["runs"]
    assert [(r["target"], r["K"]) for r in summary] == [("U1", 1), ("U1", 2)]
    for r in summary:  # KL over three seeds: their mean and spread
        kls = [k["mean"] for k in r["kl_per_seed"]]
        assert r["seeds"] == [0, 1, 2] and len(set(kls)) == 3
        assert r["kl"]["mean"] == pytest.approx(np.mean(kls)) and r["kl"]["sd_over_seeds"] == pytest.approx(np.std(kls, ddof=1))
    assert (tmp_path / "figure_planar.png").stat().st_size > 5000
    second = _run(*args)
    assert second.returncode == 0 and second.stdout.count("finished run reused") == 6


@pytest.mark.parametrize("args, fragment", [(["--targets", "U9"], "unknown target"),
                                            (["--K", "0"], "--K"),
                                            (["--max-steps", "none"], "--max-steps needs a number")])
def test_train_vi_bad_options(args, fragment):
    proc = _run("-m", "tfp_flows.cli.train_vi", *args)
    assert proc.returncode == 2 and fragment in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def _summary(tmp_path, kls):
    runs = [{"target": "U1", "flow": "planar", "K": K, "n_params": 5 * K, "seeds": [0, 1, 2],
             "kl": {"mean": v, "sd_over_seeds": 0.01, "stderr_of_mean": 0.006},
             "log_z": {"value": 1.0, "grid_error": 0}}
            for K, v in zip((2, 8, 32), kls)]
    (tmp_path / "summary.json").write_text(json.dumps({"runs": runs}))


def test_vi_kl_check_passes_and_fails_on_constructed_runs(script, tmp_path):
    _summary(tmp_path, [0.9, 0.3, 0.1])
    assert script("vi_kl").main(["--runs", str(tmp_path), "--out", str(tmp_path / "o")]) == 0
    _summary(tmp_path, [0.9, 0.1, 0.3])
    assert script("vi_kl").main(["--runs", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    assert script("vi_kl").main(["--runs", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 3


def test_affine_chain_collapses_to_one_gaussian(script, tmp_path):
    assert script("vi_affine_chain").main(["--out", str(tmp_path), "--no-progress"]) == 0


def test_spline_coupling_beats_a_gaussian_on_two_moons(script, tmp_path):
    code = script("nf_spline_coupling").main(["--out", str(tmp_path), "--no-progress", "--epochs", "20",
                                              "--n-train", "2000"])
    assert code == 0
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["scores"]["spline coupling"][0] > res["gaussian_test_ll"] + 0.5
    assert (tmp_path / "two_moons.png").exists()


def test_two_moons_are_standardised():
    from tfp_flows.datasets.toy import two_moons

    pts = two_moons(20_000, seed=0)
    assert pts.shape == (20_000, 2) and pts.dtype == np.float32
    np.testing.assert_allclose(pts.mean(0), 0, atol=0.05)
    np.testing.assert_allclose(pts.std(0), 1, atol=0.05)


def test_non_finite_steps_are_skipped_then_stop_the_run(tmp_path):
    flow = VIFlow("radial", 2, seed=0)
    for v in flow.trainable_variables:
        v.assign(tf.fill(v.shape, np.nan))
    with pytest.raises(ValueError, match="50 non-finite steps in a row"):
        fit_reverse_kl(flow, "U1", 200, seed=0, run_dir=tmp_path)
