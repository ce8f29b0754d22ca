"""tf.distribute: two logical CPU devices (mirrored) and two local worker processes
(multi-worker) against one process; checkpoints, --resume, Ctrl-C and a killed worker.

Every distributed run is a process of its own: the CPU split and the multi-worker
strategy must be set up before TensorFlow starts.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from tfp_flows.training.distribute import local_cluster

RUN = Path(__file__).with_name("distributed_run.py")
pytestmark = pytest.mark.slow


def _env(**extra):
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT), **extra}


def _losses(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def _single(mode, steps, *flags):
    proc = subprocess.run([sys.executable, str(RUN), mode, str(steps), *flags], capture_output=True, text=True,
                          env=_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return _losses(proc.stdout)


def _workers(argv, timeout=600, **env):
    """Start one process per worker with its TF_CONFIG; returns the Popen objects."""
    return [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=_env(TF_CONFIG=cfg, **env), cwd=ROOT) for cfg in local_cluster(2)]


def _multi(steps, *flags):
    procs = _workers([sys.executable, str(RUN), "multi-worker", str(steps), *flags])
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    return [_losses(out) for out, _ in outs]


def _windows(losses, width=20):
    x = np.asarray(losses)
    return x[: len(x) // width * width].reshape(-1, width).mean(1)


def test_mirrored_over_two_logical_cpus_matches_one_device():
    # Without batch norm a step on two halves of the batch is the step on the batch:
    # the gradients of the two halves, weighted by their share, sum to the batch's.
    one = _single("none", 60, "--layers", "2", "--hidden", "32", "32")
    two = _single("mirrored", 60, "--layers", "2", "--hidden", "32", "32")
    assert (one["replicas"], two["replicas"]) == (1, 2)
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-4)


@pytest.mark.parametrize("replicas, shares, tiny_shares", [(2, [50, 51], [1, 1]), (3, [33, 34, 34], [0, 1, 1])])
def test_an_uneven_global_batch_is_split_weighted_and_summed_like_one_device(replicas, shares, tiny_shares):
    """101 rows on 2 and 3 replicas: replica r takes rows [r w // R, (r + 1) w // R) and
    its loss is that slice's mean weighted by its share of the batch; the sum is the
    one-device loss of the whole batch, step after step, and so are the weights. A batch
    of 2 rows on 3 replicas leaves replica 0 empty: it contributes nothing."""
    proc = subprocess.run([sys.executable, str(RUN.with_name("uneven_split.py")), str(replicas)],
                          capture_output=True, text=True, env=_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = _losses(proc.stdout)
    assert out["replicas"] == replicas
    got, expected = np.array(out["contributions"]), np.array(out["expected"])
    assert got[:, 1].tolist() == shares == expected[:, 1].tolist()
    np.testing.assert_allclose(got[:, 0], expected[:, 0], rtol=1e-5)
    assert got[:, 0].sum() == pytest.approx(out["one_device_loss"], rel=1e-5)
    tiny = np.array(out["tiny_contributions"])
    assert tiny[:, 1].tolist() == tiny_shares == np.array(out["tiny_expected"])[:, 1].tolist()
    np.testing.assert_allclose(tiny[:, 0], np.array(out["tiny_expected"])[:, 0], rtol=1e-5)
    assert out["applied"] == [6, 6]
    np.testing.assert_allclose(out["losses"], out["one_device_losses"], rtol=1e-5)
    assert out["weight_gap"] < 1e-5


def test_two_local_workers_train_p2s_model_like_one_process():
    """P2's model (10 MAFs of 2 x 100 units) for 200 steps at a global batch of 100."""
    # Without batch norm: the same loss at every step, up to summation order.
    single = _single("none", 200)["losses"]
    w0, w1 = _multi(200)
    assert w0["replicas"] == w1["replicas"] == 2 and (w0["chief"], w1["chief"]) == (True, False)
    assert w0["losses"] == w1["losses"]  # every worker sees the summed numbers
    np.testing.assert_allclose(w0["losses"], single, rtol=1e-4)

    # With batch norm each replica normalises by its own 50 rows' statistics, not by the
    # 100 rows' (no synchronised statistics in TFP's BatchNormalization), so the curves
    # differ: measured here by up to 2% (0.2 nats) in 20-step means, the two-worker loss
    # lower (statistics of fewer rows fit them more closely). Tolerance: 4%. Two workers
    # equal two devices in one process (both two replicas of 50 rows) up to float error.
    single_bn = _single("none", 200, "--bn")["losses"]
    mirrored_bn = _single("mirrored", 200, "--bn")["losses"]
    w0, w1 = _multi(200, "--bn")
    np.testing.assert_allclose(w0["losses"], mirrored_bn, rtol=1e-4)
    a, b = _windows(single_bn), _windows(w0["losses"])
    assert np.all(np.abs(a - b) / np.abs(a) < 0.04), (a, b)
    assert a[-1] < a[0] - 1 and b[-1] < b[0] - 1  # both train


# ----------------------------------------------------------------------------- through the command line
def _gas_file(tmp_path):
    from tfp_flows.datasets.gas import write_synthetic_gas

    path = tmp_path / "gas.txt"
    write_synthetic_gas(path, 12_000, seed=0)
    return path


def _train_argv(data, out, *extra):
    return [sys.executable, "-m", "tfp_flows.cli.train_gas", "--data", str(data), "--layers", "2", "--hidden", "16",
            "16", "--epochs", "4", "--eval-every", "40", "--checkpoint-every", "20", "--out", str(out),
            "--no-progress", *extra]


def _wait_for_checkpoint(out, procs, limit=300):
    start = time.time()
    while not list((out / "checkpoints").glob("ckpt-*.index")):
        assert all(p.poll() is None for p in procs), "a worker ended before its first checkpoint"
        assert time.time() - start < limit, "no checkpoint in time"
        time.sleep(0.2)


def _result(out):
    return json.loads((out / "results.json").read_text())["test_log_likelihood"]["mean"]


def test_mirrored_run_interrupted_and_resumed_equals_an_uninterrupted_one(tmp_path):
    data = _gas_file(tmp_path)
    flags = ("--distribute", "mirrored", "--cpu-devices", "2")
    whole = subprocess.run(_train_argv(data, tmp_path / "whole", *flags), capture_output=True, text=True,
                           env=_env(), cwd=ROOT, timeout=600)
    assert whole.returncode == 0, whole.stderr[-2000:]
    out = tmp_path / "cut"
    proc = subprocess.Popen(_train_argv(data, out, *flags), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env(), cwd=ROOT)
    _wait_for_checkpoint(out, [proc])
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert not (out / "results.json").exists()
    again = subprocess.run(_train_argv(data, out, *flags, "--resume"), capture_output=True, text=True,
                           env=_env(), cwd=ROOT, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert _result(out) == pytest.approx(_result(tmp_path / "whole"), abs=1e-6)


def _newest_step(out):
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(out / "checkpoints"))
    return -1 if latest is None else int(latest.rsplit("-", 1)[1])


def test_ctrl_c_on_one_worker_and_a_killed_worker_leave_a_run_that_resumes(tmp_path):
    data = _gas_file(tmp_path)
    flags = ("--distribute", "multi-worker")
    whole = _workers(_train_argv(data, tmp_path / "whole", *flags))
    for p in whole:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
    assert not list((tmp_path / "whole").glob("worker*"))  # the other worker's scratch is gone

    # Ctrl-C reaches worker 0 only: both stop at the same step, save and exit 130.
    out = tmp_path / "cut"
    procs = _workers(_train_argv(data, out, *flags))
    _wait_for_checkpoint(out, procs)
    procs[0].send_signal(signal.SIGINT)
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err, err[-2000:]
    stopped_at = _newest_step(out)

    # Resumed, then worker 1 is killed: worker 0 ends with one line, in bounded time.
    procs = _workers(_train_argv(data, out, *flags, "--resume"), TFP_FLOWS_COLLECTIVE_TIMEOUT="20")
    while _newest_step(out) <= stopped_at:
        assert all(p.poll() is None for p in procs), "a worker ended early"
        time.sleep(0.2)
    procs[1].kill()
    killed_at = time.time()
    _, err = procs[0].communicate(timeout=180)
    assert time.time() - killed_at < 120  # bounded, not a hang
    lines = [ln for ln in err.splitlines() if ln.startswith("train-gas:")]
    assert procs[0].returncode == 1 and len(lines) == 1 and "lost contact with another worker" in lines[0]
    assert "Traceback" not in err
    procs[1].communicate()
    assert tf_checkpoint_is_readable(out) and not (out / "results.json").exists()

    again = _workers(_train_argv(data, out, *flags, "--resume"))
    for p in again:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
    assert _result(out) == pytest.approx(_result(tmp_path / "whole"), abs=1e-6)


def tf_checkpoint_is_readable(out):
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(out / "checkpoints"))
    return latest is not None and any("step" in name for name, _ in tf.train.list_variables(latest))


# ----------------------------------------------------------------------------- refusals, in this process
def test_multi_worker_without_or_with_a_bad_tf_config_is_one_line(monkeypatch):
    from tfp_flows.errors import UsageError
    from tfp_flows.training.distribute import make_strategy

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UsageError, match="needs TF_CONFIG"):
        make_strategy("multi-worker")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
    with pytest.raises(UsageError, match="TF_CONFIG must look like"):
        make_strategy("multi-worker")
    with pytest.raises(UsageError, match="must be one of"):
        make_strategy("ring")


def test_distribute_settings_are_checked():
    from tfp_flows.training import TrainConfig

    with pytest.raises(ValueError, match="cpu_devices"):
        TrainConfig(cpu_devices=2).validate()
    with pytest.raises(ValueError, match="distribute must be"):
        TrainConfig(distribute="ring").validate()
    TrainConfig(distribute="mirrored", cpu_devices=2).validate()


def test_a_strategy_needs_a_maximum_likelihood_objective():
    import tensorflow as tf

    from tfp_flows.flows import MAFFlow
    from tfp_flows.training import ReverseKL, TrainConfig, Trainer

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        flow = MAFFlow(2, layers=1, hidden_units=[4])
    with pytest.raises(ValueError, match="maximum-likelihood"):
        Trainer(flow, ReverseKL(lambda z: tf.reduce_sum(z ** 2, -1), batch_size=8),
                TrainConfig(max_steps=2, batch_size=8), strategy=strategy)


def test_a_worker_whose_peers_never_start_gives_up_in_one_line(tmp_path):
    # TensorFlow would wait for the missing worker for good (holding the GIL, ignoring
    # SIGTERM); a watchdog process ends the wait after TFP_FLOWS_STARTUP_TIMEOUT.
    data = _gas_file(tmp_path)
    start = time.time()
    proc = subprocess.run(_train_argv(data, tmp_path / "lone", "--distribute", "multi-worker"), capture_output=True,
                          text=True, cwd=ROOT, timeout=300,
                          env=_env(TF_CONFIG=local_cluster(2)[0], TFP_FLOWS_STARTUP_TIMEOUT="10"))
    assert time.time() - start < 200
    lines = [ln for ln in proc.stderr.splitlines() if "error:" in ln and ln.startswith("tfp-flows")]
    assert proc.returncode != 0 and len(lines) == 1 and "joined within 10 s" in lines[0]
    assert not (tmp_path / "lone").exists()
