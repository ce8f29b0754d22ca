"""The one training loop on synthetic GAS data: learning, exact resume, guards, callbacks."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows.datasets.gas import prepare_gas, read_gas, write_synthetic_gas
from tfp_flows.flows.maf import MAFFlow
from tfp_flows.seeding import seed_everything
from tfp_flows.training import (EarlyStopping, Evaluation, Evaluator, MaximumLikelihood, TrainConfig,
                                Trainer)
from tfp_flows.training.config import AUTO_STEPS_PER_CALL

REQUIRED = {"recipe", "columns_kept", "n_train", "n_val", "n_test", "test_log_likelihood",
            "base_log_likelihood_test", "steps", "epochs", "wall_seconds", "seed"}


def _quiet(*_):
    pass


def _trainer(flow, train, test, cfg, run_dir, val=None, log=_quiet):
    """The GAS experiment's set-up: maximum likelihood, P2's evaluations, early stopping
    when there is a validation set."""
    ev = Evaluator(flow, cfg.bn_eval, cfg.eval_batch_size)
    callbacks = [Evaluation(ev, {"test": test}, every=cfg.eval_every)]
    if val is not None:
        callbacks.append(EarlyStopping(ev, val, cfg.patience, run_dir))
    return Trainer(flow, MaximumLikelihood(train, cfg.batch_size, cfg.seed), cfg, run_dir, callbacks, log=log)


@pytest.fixture(scope="module")
def gas_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("gas") / "ethylene_CO.txt"
    write_synthetic_gas(path, 6000, seed=5)
    return path


@pytest.fixture(scope="module")
def splits(gas_file):
    return prepare_gas(read_gas(gas_file), "blog", seed=0)


def test_a_few_hundred_steps_beat_the_base_distribution(gas_file, splits, tmp_path):
    from tfp_flows.experiments import GasConfig, run_gas

    # P2's model (10 MAFs, 2 x 100 tanh, BN, reversals), run by the GAS experiment.
    cfg = GasConfig(data=gas_file, out=tmp_path / "run",
                    train=TrainConfig(batch_size=100, learning_rate=1e-4, epochs=10, max_steps=300,
                                      eval_every=100, progress=False))
    res = run_gas(cfg, log=_quiet)
    assert REQUIRED <= set(res)
    assert res["steps"] == 300 and res["epochs"] == 10  # 30 batches an epoch
    assert res["test_log_likelihood"]["mean"] > res["base_log_likelihood_test"] + 0.5
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    assert on_disk["columns_kept"] == splits.columns_kept and on_disk["n_test"] == 3000
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(ln)["batch"] for ln in lines][:2] == [1, 1]  # batch 1 of epochs 1, 2
    assert list((tmp_path / "run" / "tensorboard").iterdir())


def _small_run(splits, run_dir, log=lambda *_: None, resume=False):
    seed_everything(3)
    flow = MAFFlow(splits.dims, layers=2, hidden_units=(16,), seed=3)
    cfg = TrainConfig(batch_size=100, learning_rate=1e-3, epochs=2, eval_every=5,
                      checkpoint_every=7, seed=3, progress=False)
    _trainer(flow, splits.train, splits.test, cfg, run_dir, log=log).run(resume=resume)
    return flow


@pytest.mark.parametrize("how", ["exception", "sigint"])
def test_interrupted_and_resumed_run_ends_with_the_same_weights(splits, tmp_path, how):
    """Stopped at an evaluation (an exception there) or by a real Ctrl-C (SIGINT, which
    the trainer acts on after the steps under way), then resumed: same weights, same log."""
    straight = _small_run(splits, tmp_path / "straight")

    def interrupt(message):
        if message.startswith("Epoch 1: Batch 26" if how == "exception" else "Epoch 1: Batch 11"):
            if how == "exception":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        _small_run(splits, tmp_path / "resumed", log=interrupt)
    assert not (tmp_path / "resumed" / "results.json").exists()
    # Acted on after the steps under way (the line of the evaluation after step 11 prints
    # when that evaluation, scored in the background, is done); the checkpoint's log holds
    # every evaluation up to it, none after it.
    latest = tf.train.latest_checkpoint(str(tmp_path / "resumed" / "checkpoints"))
    at = int(latest.rsplit("-", 1)[1])
    assert at >= (26 if how == "exception" else 11)
    logged = [json.loads(ln)["step"] for ln in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert logged == [s for s in (1, 6, 11, 16, 21, 26, 31, 36, 41, 46, 51, 56) if s <= at]
    resumed = _small_run(splits, tmp_path / "resumed", resume=True)
    for a, b in zip(straight.variables, resumed.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.name)
    m1 = (tmp_path / "straight" / "metrics.jsonl").read_text()
    m2 = (tmp_path / "resumed" / "metrics.jsonl").read_text()
    assert m1 == m2
    x = tf.constant(splits.test)
    np.testing.assert_array_equal(straight.log_prob(x).numpy(), resumed.log_prob(x).numpy())


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(splits, tmp_path):
    train = splits.train.copy()
    train[1234] = np.nan
    seed_everything(0)
    flow = MAFFlow(splits.dims, layers=2, hidden_units=(8,), seed=0)
    cfg = TrainConfig(epochs=1, eval_every=1000, checkpoint_every=3, progress=False)
    trainer = _trainer(flow, train, splits.test, cfg, tmp_path / "run")
    with pytest.raises(ValueError, match="non-finite") as err:
        trainer.run()
    bad_step = int(str(err.value).split("at step ")[1].split()[0])
    assert not (tmp_path / "run" / "results.json").exists()
    latest = tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
    assert bad_step > 3, "choose another NaN row: the test needs a checkpoint before it"
    assert latest is not None and int(latest.rsplit("-", 1)[1]) == (bad_step - 1) // 3 * 3
    # The model in memory is back at that checkpoint (no NaN batch-norm statistics).
    assert all(np.all(np.isfinite(v.numpy())) for v in flow.variables)


def test_refuses_to_overwrite_and_to_resume_nothing(splits, tmp_path):
    flow = MAFFlow(splits.dims, layers=1, hidden_units=(4,), seed=0)
    cfg = TrainConfig(epochs=1, max_steps=2, progress=False)
    _trainer(flow, splits.train, splits.test, cfg, tmp_path / "a").run()
    with pytest.raises(ValueError, match="already holds a run"):
        _trainer(flow, splits.train, splits.test, cfg, tmp_path / "a").run()
    with pytest.raises(ValueError, match="nothing to resume"):
        _trainer(flow, splits.train, splits.test, cfg, tmp_path / "b").run(resume=True)


def _cli(*args, cwd):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "tfp_flows.cli.train_gas", *args, "--no-progress"],
                          capture_output=True, text=True, cwd=cwd, env=env)


def test_cli_bad_data_is_one_line_and_writes_no_run_folder(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("Time CO Eth sensors\n" + "1 2 3\n")
    proc = _cli("--data", str(bad), "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.txt:2" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()
    proc = _cli("--data", str(tmp_path / "missing.txt"), "--no-download", cwd=tmp_path)
    assert proc.returncode == 1 and "no such file" in proc.stderr


def test_cli_trains_and_writes_results(tmp_path):
    data = tmp_path / "gas.txt"
    write_synthetic_gas(data, 2000, seed=1)
    proc = _cli("--data", str(data), "--epochs", "2", "--eval-every", "5", "--layers", "2",
                "--hidden", "16", "16", "--out", str(tmp_path / "run"), "--seed", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Epoch 1: Batch 6:" in proc.stdout and "Epoch 2: Batch 1:" in proc.stdout
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert REQUIRED <= set(res) and res["steps"] == 20 and res["model"]["hidden_units"] == [16, 16]
    again = _cli("--data", str(data), "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert again.returncode == 2 and "--resume" in again.stderr


def test_early_stopping_on_validation_restores_the_best_weights(splits, tmp_path, monkeypatch):
    seed_everything(0)
    flow = MAFFlow(splits.dims, layers=1, hidden_units=(4,), seed=0)
    cfg = TrainConfig(batch_size=1000, epochs=10, patience=2, eval_every=1000, progress=False)
    val = splits.test[:500]
    trainer = _trainer(flow, splits.train[:2000], splits.test, cfg, tmp_path / "run", val=val)
    stopping = next(cb for cb in trainer.callbacks if isinstance(cb, EarlyStopping))
    scripted = iter([1.0, 2.0, 1.5, 1.9])  # epoch 2 is best; 3 and 4 do not improve
    snapshots = {}

    def fake(data):
        epoch = int(trainer.state["epoch"].numpy())
        snapshots[epoch] = [v.numpy().copy() for v in flow.trainable_variables]
        return next(scripted), 0.0

    monkeypatch.setattr(stopping, "evaluator", fake)
    res = trainer.run()
    assert res["stopped_early"] is True and res["epochs"] == 4
    assert stopping.best == 2.0 and [r["val_ll"] for r in trainer.records if "val_ll" in r] == [1.0, 2.0, 1.5, 1.9]
    for v, best in zip(flow.trainable_variables, snapshots[2]):
        np.testing.assert_array_equal(v.numpy(), best)


def _curve_run(splits, run_dir, **overrides):
    """A short run's evaluation log (test log-likelihood and running training mean)."""
    seed_everything(0)
    flow = MAFFlow(splits.dims, layers=3, hidden_units=(32, 32), seed=0)
    settings = dict(batch_size=100, learning_rate=1e-4, epochs=2, eval_every=7, checkpoint_every=9,
                    seed=0, progress=False)
    cfg = TrainConfig(**{**settings, **overrides})
    trainer = _trainer(flow, splits.train[:2950], splits.test, cfg, run_dir)  # 30 batches, last 50 rows
    trainer.run()
    lines = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return trainer, np.array([[r["train_ll_running_mean"], r["test_ll"]] for r in lines])


def test_steps_per_call_and_xla_leave_the_loss_curve_unchanged(splits, tmp_path):
    """The trainer's speed settings must not change results: one step per call, 20 per
    call, calls sized by their time (the default) and the default compiled by XLA give
    the same log at P2's learning rate (measured: identical without XLA; XLA's different
    float32 operation order moves the curve by about 1e-5 relative over 60 steps)."""
    one, curve_one = _curve_run(splits, tmp_path / "one", steps_per_call=1, xla="off")
    twenty, curve_twenty = _curve_run(splits, tmp_path / "twenty", steps_per_call=20, xla="off")
    many, curve_many = _curve_run(splits, tmp_path / "many", xla="off")
    xla, curve_xla = _curve_run(splits, tmp_path / "xla", xla="on")
    assert not one.xla and not many.xla and xla.xla
    assert len(curve_one) == 10  # batches 1, 8, 15, 22, 29 of two epochs
    assert np.ptp(curve_one[:, 1]) > 0.3  # the curve moves far more than the tolerances
    np.testing.assert_allclose(curve_twenty, curve_one, rtol=1e-6)
    np.testing.assert_allclose(curve_many, curve_one, rtol=1e-6)
    np.testing.assert_allclose(curve_xla, curve_one, rtol=1e-4)
    assert int(xla.state["step"].numpy()) == 60  # counters advanced inside the compiled loop


def test_auto_steps_per_call_follows_the_last_calls_time():
    auto = TrainConfig()
    assert auto.steps_per_call is None and auto.call_capacity() == AUTO_STEPS_PER_CALL[1]
    assert auto.steps_for_call(None) == AUTO_STEPS_PER_CALL[0]  # nothing measured yet
    assert auto.steps_for_call(0.02) == 50  # about a second
    assert auto.steps_for_call(1e-4) == AUTO_STEPS_PER_CALL[1]
    assert auto.steps_for_call(0.3) == AUTO_STEPS_PER_CALL[0]
    fixed = TrainConfig(steps_per_call=7)
    assert fixed.steps_for_call(1e-4) == 7 and fixed.call_capacity() == 7
    with pytest.raises(ValueError, match="steps_per_call"):
        TrainConfig(steps_per_call=0).validate()


def test_a_fast_model_gets_longer_calls_and_the_same_steps(splits):
    """With calls sized by time, a model whose steps take milliseconds runs its first call
    at the fewest steps, then longer calls; the weights after 300 steps are those of
    calls of 20 steps."""
    weights, sizes = [], []
    for steps_per_call in (20, None):
        seed_everything(0)
        flow = MAFFlow(splits.dims, layers=2, hidden_units=(16,), seed=0)
        cfg = TrainConfig(batch_size=50, learning_rate=1e-3, epochs=2, xla="off", progress=False,
                          steps_per_call=steps_per_call)
        trainer = Trainer(flow, MaximumLikelihood(splits.train[:20000], 50, 0), cfg)
        calls, original = [], trainer._train_call
        trainer._train_call = lambda n, calls=calls, original=original: (calls.append(n), original(n))[1]
        trainer.train_steps(300)
        weights.append([v.numpy() for v in flow.trainable_variables])
        sizes.append(calls)
    assert set(sizes[0]) == {20}
    assert sizes[1][0] == AUTO_STEPS_PER_CALL[0] and max(sizes[1]) > AUTO_STEPS_PER_CALL[0] and sum(sizes[1]) == 300
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_xla_auto_rule():
    cfg = TrainConfig(batch_size=100, epochs=1)
    assert cfg.use_xla(steps_per_epoch=21_000) and not cfg.use_xla(steps_per_epoch=10_000)
    assert not TrainConfig(batch_size=100, epochs=100, max_steps=500).use_xla(steps_per_epoch=20_000)
    assert not TrainConfig(batch_size=5000, epochs=100).use_xla(steps_per_epoch=400)
    assert TrainConfig(xla="on").use_xla(1) and not TrainConfig(xla="off").use_xla(10**6)


def test_train_steps_follows_the_epoch_order_and_matches_run(splits, tmp_path):
    """train_steps (used by the benchmarks) walks the same batches as run()."""
    seed_everything(0)
    flow = MAFFlow(splits.dims, layers=2, hidden_units=(16,), seed=0)
    cfg = TrainConfig(batch_size=100, learning_rate=1e-3, epochs=2, max_steps=45, xla="off",
                      eval_every=1000, checkpoint_every=1000, progress=False, steps_per_call=7)
    trainer = _trainer(flow, splits.train, splits.test, cfg, None)
    losses = trainer.train_steps(45)  # crosses into epoch 2 (30 batches an epoch)
    assert losses.shape == (45,) and np.all(np.isfinite(losses))
    assert int(trainer.state["epoch"].numpy()) == 1 and int(trainer.state["batch_in_epoch"].numpy()) == 15
    weights = [v.numpy() for v in flow.trainable_variables]
    seed_everything(0)
    flow2 = MAFFlow(splits.dims, layers=2, hidden_units=(16,), seed=0)
    _trainer(flow2, splits.train, splits.test, cfg, tmp_path / "run").run()
    for a, b in zip(weights, flow2.trainable_variables):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-6, atol=1e-6)


def test_xla_loop_compiles_once_for_every_number_of_steps():
    """The step count n of a call must stay a run-time value. Autograph gives
    `for i in tf.range(n)` maximum_iterations=n, which XLA must know when compiling, so
    every distinct n (chunk boundaries make several) cost a 30-60 s compilation. TF's
    while op takes maximum_iterations as its second input: -1 means "none"."""
    import tf_keras

    from tfp_flows.training import make_train_loop

    data = np.random.default_rng(0).normal(size=(500, 2)).astype(np.float32)
    flow = MAFFlow(2, layers=1, hidden_units=(4,), seed=0)
    optimizer = tf_keras.optimizers.Adam(1e-3)
    optimizer.build(flow.trainable_variables)
    data = tf.constant(data)
    step = tf.Variable(0, dtype=tf.int64)
    run = make_train_loop(lambda row, t: -tf.reduce_mean(flow.log_prob(tf.gather(data, row), training=True)),
                          flow.trainable_variables, optimizer, step, jit_compile=True)
    graph = run.get_concrete_function().graph
    loops = [op for op in graph.get_operations() if op.type in ("While", "StatelessWhile")]
    assert len(loops) == 1
    assert tf.get_static_value(loops[0].inputs[1]) == -1
    losses, applied = run(tf.constant(np.arange(50).reshape(5, 10), tf.int32), tf.constant(3))
    assert int(applied) == 3 and np.all(losses.numpy()[3:] == 0) and np.all(losses.numpy()[:3] != 0)
    assert int(step.numpy()) == 3


@pytest.mark.parametrize("mode", ["eager", "graph", "xla", "xla_barrier"])
def test_all_finite_sees_every_non_finite_value(mode):
    from tfp_flows.training.steps import all_finite

    if mode == "eager":
        fn = all_finite
    else:
        fn = tf.function(lambda ts: all_finite(ts, compiled=mode == "xla_barrier"), jit_compile=mode != "graph")
    ok = [tf.ones([3, 4]), tf.constant(2.0), tf.zeros([0])]
    assert bool(fn(ok))
    for bad in (np.nan, np.inf, -np.inf):
        for where in range(2):
            tensors = [np.array(t.numpy()) for t in ok[:2]]
            tensors[where].flat[-1] = bad
            assert not bool(fn([tf.constant(t) for t in tensors])), (bad, where)
    assert bool(fn([tf.constant(np.float32(3e38)) * tf.ones([5])]))  # large is still finite
    # a matrix of at least MATVEC_CHECK_ENTRIES entries, which the compiled check reads by a product
    from tfp_flows.training.steps import MATVEC_CHECK_ENTRIES

    big = np.full((MATVEC_CHECK_ENTRIES // 128, 128), 3e38, np.float32)  # every row's sum would overflow
    assert bool(fn([tf.constant(2.0), tf.constant(big)]))
    for bad in (np.nan, np.inf, -np.inf):
        for where in (0, 4321, big.size - 1):
            mangled = big.copy()
            mangled.flat[where] = bad
            assert not bool(fn([tf.constant(2.0), tf.constant(mangled)])), (bad, where)


def test_compiled_loop_computes_the_finite_flag_once():
    """The step's flag (loss and every gradient finite) is read by the update of every
    variable and optimizer slot; XLA must not copy its minimum over the tensors into each
    of those updates (it did: a scalar minimum per tensor per update, which doubled the
    compile time of P2's loop)."""
    import tf_keras

    from tfp_flows.training import make_train_loop

    data = tf.constant(np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32))
    flow = MAFFlow(3, layers=3, hidden_units=(8, 8), seed=0)
    variables = flow.trainable_variables
    optimizer = tf_keras.optimizers.Adam(1e-3)
    optimizer.build(variables)
    run = make_train_loop(lambda row, t: -tf.reduce_mean(flow.log_prob(tf.gather(data, row), training=True)),
                          variables, optimizer, tf.Variable(0, dtype=tf.int64), jit_compile=True)
    inputs, n = tf.constant(np.arange(40).reshape(4, 10), tf.int32), tf.constant(2)
    hlo = run.experimental_get_compiler_ir(inputs, n)(stage="optimized_hlo")
    tensors = 1 + len(variables)
    assert len(variables) >= 20
    # one minimum per tensor and one over them, plus a few for other reasons
    assert hlo.count(" minimum(") <= tensors + 10, hlo.count(" minimum(")
    losses, applied = run(inputs, n)
    assert int(applied) == 2 and np.all(np.isfinite(losses.numpy()[:2]))


@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_step_with_a_finite_loss_but_an_infinite_gradient_is_not_applied(jit_compile):
    """sqrt at 0 has the value 0 and an infinite derivative: the loop must check the
    gradients, not only the loss."""
    import tf_keras

    from tfp_flows.training import make_train_loop

    w = tf.Variable([1.0, 4.0])
    optimizer = tf_keras.optimizers.SGD(0.1)
    optimizer.build([w])
    step = tf.Variable(0, dtype=tf.int64)
    # Steps 0 and 1 take w[0] to exactly 0; step 2's loss is finite, its gradient not.

    def loss(row, t):
        return tf.cond(t < 2, lambda: 5.0 * w[0], lambda: tf.sqrt(w[0]) + w[1])

    run = make_train_loop(loss, [w], optimizer, step, jit_compile=jit_compile)
    losses, applied = run(tf.zeros([3, 1], tf.int32), tf.constant(3))
    assert int(applied) == 2 and int(step.numpy()) == 2
    assert w.numpy()[0] == 0.0 and np.isfinite(losses.numpy()[2])
    np.testing.assert_array_equal(w.numpy(), [0.0, 4.0])


@pytest.mark.parametrize("n, bad_step", [(0, None), (1, None), (4, None), (5, None), (5, 0), (5, 2), (5, 4)])
def test_the_staggered_xla_loop_takes_the_same_steps_as_the_conditional_one(n, bad_step):
    """With XLA the loop applies each step's gradients at the start of the next pass
    (steps.py, `_staggered_loop_of_steps`). Against the loop that applies each step
    behind ``if finite:`` (`_loop_of_steps`, compiled the same way): the same losses,
    steps applied, counters, weights, Adam state and batch-norm statistics, for no step,
    one, some, all, and a step whose loss is NaN at the start, the middle or the end."""
    import tf_keras

    from tfp_flows.training import make_train_loop
    from tfp_flows.training.steps import _loop_of_steps, loss_and_gradients

    # float64: Adam divides by the root of tiny second moments, so float32 rounding that
    # two compilations order differently grows to 1e-5 within five steps
    data = np.random.default_rng(1).normal(size=(60, 3))
    results = []
    for staggered in (False, True):
        flow = MAFFlow(3, layers=2, hidden_units=(8, 8), seed=0, dtype=tf.float64)  # with batch norm: a loss moves its statistics
        optimizer = tf_keras.optimizers.Adam(1e-2)
        optimizer.build(flow.trainable_variables)
        step, counter = tf.Variable(7, dtype=tf.int64), tf.Variable(0, dtype=tf.int64)
        variables = flow.trainable_variables

        def loss(row, t, flow=flow):
            value = -tf.reduce_mean(flow.log_prob(tf.gather(data, row), training=True))
            return value + (np.nan if bad_step is not None else 0.0) * tf.cast(t == 7 + (bad_step or 0), tf.float64)

        if staggered:
            run = make_train_loop(loss, variables, optimizer, step, counters=(counter,), jit_compile=True,
                                  staggered=True)
        else:
            run = _loop_of_steps(lambda row, t, v=variables: loss_and_gradients(loss, v, row, t, compiled=True),
                                 lambda g, o=optimizer, v=variables: o.apply_gradients(zip(g, v)), step, (counter,),
                                 True, tf.TensorSpec([None, None], tf.int32))
        losses, applied = run(tf.constant(np.arange(50).reshape(5, 10) % 60, tf.int32), tf.constant(n))
        state = [v.numpy() for v in flow.variables] + [v.numpy() for v in optimizer.variables()]
        results.append((losses.numpy(), int(applied), int(step.numpy()), int(counter.numpy()), state))
    (old_losses, old_applied, *old_counts, old_state), (new_losses, new_applied, *new_counts, new_state) = results
    expected = n if bad_step is None else min(n, bad_step)
    assert old_applied == new_applied == expected
    assert old_counts == new_counts == [7 + expected, expected]
    np.testing.assert_allclose(new_losses, old_losses, rtol=1e-6)
    assert np.all(new_losses[n:] == 0) and (bad_step is None or n == 0 or np.isnan(new_losses[bad_step]))
    assert len(old_state) == len(new_state) > 20
    for a, b in zip(old_state, new_state):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)
    if n == 0:  # compiling the loop runs it for no step: nothing may move
        fresh = MAFFlow(3, layers=2, hidden_units=(8, 8), seed=0, dtype=tf.float64)
        for a, b in zip(fresh.variables, new_state):
            np.testing.assert_array_equal(b, a.numpy())


def test_only_a_large_model_gets_the_staggered_loop_by_default():
    """The staggered loop traces the loss twice (step 0, then the loop); the default
    takes it from STAGGER_FROM trainable values on, only with XLA, and only on TF 2.17+."""
    import tf_keras

    from tfp_flows.training import make_train_loop
    from tfp_flows.training.steps import STAGGER_FROM, stagger_pays

    large = 2 if stagger_pays() else 1  # TF 2.16 keeps the conditional loop (steps.stagger_pays)
    assert stagger_pays() == (tuple(int(x) for x in tf.__version__.split(".")[:2]) >= (2, 17))
    for size, jit_compile, traces in ((STAGGER_FROM, True, large), (STAGGER_FROM - 1, True, 1),
                                      (STAGGER_FROM, False, 1)):
        w = tf.Variable(tf.zeros([size]))
        optimizer = tf_keras.optimizers.SGD(0.1)
        optimizer.build([w])
        built = []

        def loss(row, t, w=w, built=built):
            built.append(1)
            return tf.reduce_sum(tf.square(w - 1.0))

        run = make_train_loop(loss, [w], optimizer, tf.Variable(0, dtype=tf.int64), jit_compile=jit_compile)
        losses, applied = run(tf.zeros([2, 1], tf.int32), tf.constant(2))
        assert len(built) == traces and int(applied) == 2, (size, jit_compile, len(built))
        np.testing.assert_allclose(losses.numpy(), [size, size * 0.64], rtol=1e-4)  # (1 - 0.2)^2 after a step


def test_trainer_takes_a_flow_and_one_batch_size(splits):
    flow = MAFFlow(splits.dims, layers=1, hidden_units=(4,), seed=0)
    with pytest.raises(TypeError, match="Flow"):
        Trainer(flow.distribution, MaximumLikelihood(splits.train, 100), TrainConfig(progress=False))
    with pytest.raises(ValueError, match="batch size"):
        Trainer(flow, MaximumLikelihood(splits.train, 50), TrainConfig(batch_size=100, progress=False))
    with pytest.raises(ValueError, match="max_steps"):
        from tfp_flows.training import ReverseKL
        Trainer(flow, ReverseKL(lambda z: tf.reduce_sum(z, -1), 100), TrainConfig(progress=False))


@pytest.mark.parametrize("rows, batch", [(1, 7), (3, 7), (23, 7), (40, 20)])
def test_evaluator_scores_every_row_as_the_flow_does(rows, batch):
    """The evaluator scores each compiled chunk as independent parts (some empty when a
    chunk has fewer rows than parts): every row, in order, equal to the flow's own
    log_prob up to the rounding of the matrix products, and the mean and standard error
    of those values."""
    flow = MAFFlow(3, layers=2, hidden_units=(8, 8), seed=1)
    for bn in flow.batch_norms:
        bn.moving_mean.assign([0.5, -0.5, 1.0])
    x = np.random.default_rng(rows).standard_normal((rows, 3)).astype(np.float32)
    ev = Evaluator(flow, "moving", batch)
    values = ev.log_prob(x)
    expected = flow.log_prob(tf.constant(x), training=False).numpy()
    assert values.shape == (rows,) and values.dtype == np.float64
    np.testing.assert_allclose(values, expected, rtol=1e-6, atol=1e-5)
    mean, se = ev(x)
    assert mean == pytest.approx(values.mean()) and se == pytest.approx(values.std(ddof=1) / np.sqrt(rows) if rows > 1 else 0)


def test_background_evaluations_record_what_the_training_thread_would(splits, tmp_path):
    """Evaluation(background=True) scores a copy of the weights taken at the evaluation's
    step in a thread while training goes on: the log (metrics.jsonl) and the printed
    lines must be exactly those of scoring in the training thread, in order. The test set
    is made large so that training moves the weights while an evaluation is under way."""
    test = np.tile(splits.test, (20, 1))
    runs = {}
    for background in (False, True):
        seed_everything(3)
        flow = MAFFlow(splits.dims, layers=2, hidden_units=(16,), seed=3)
        cfg = TrainConfig(batch_size=100, learning_rate=1e-3, epochs=2, eval_every=5, checkpoint_every=7, seed=3,
                          steps_per_call=1, progress=False)
        evaluation = Evaluation(Evaluator(flow, "moving", 5000), {"test": test}, every=5, background=background)
        lines = []
        Trainer(flow, MaximumLikelihood(splits.train, 100, 3), cfg, tmp_path / str(background), [evaluation],
                log=lines.append).run()
        assert (evaluation._twin is not None) == background  # the thread was used
        runs[background] = ((tmp_path / str(background) / "metrics.jsonl").read_text(), lines)
    assert runs[True] == runs[False]
    records = [json.loads(ln) for ln in runs[True][0].splitlines()]
    assert [r["step"] for r in records] == [1, 6, 11, 16, 21, 26, 31, 36, 41, 46, 51, 56]
    assert np.ptp([r["test_ll"] for r in records]) > 0.3


def test_evaluation_prepares_its_copy_of_the_flow_ahead(splits, tmp_path):
    """`Evaluation.prepare` (called while the loop compiles) makes and traces the copy
    that background evaluations score; training then uses that copy, traced once."""
    flow = MAFFlow(splits.dims, layers=2, hidden_units=(16,), seed=3)
    cfg = TrainConfig(batch_size=100, learning_rate=1e-3, epochs=1, eval_every=10, seed=3, progress=False)
    evaluation = Evaluation(Evaluator(flow, "moving", 5000), {"test": splits.test}, every=10)
    trainer = Trainer(flow, MaximumLikelihood(splits.train[:3000], 100, 3), cfg, tmp_path / "run", [evaluation])
    evaluation.prepare(trainer)
    twin = evaluation._twin
    assert twin is not None and twin._compiled.experimental_get_tracing_count() == 1
    trainer.run()
    assert evaluation._twin is twin and twin._compiled.experimental_get_tracing_count() == 1
    assert len([r for r in trainer.records if "test_ll" in r]) == 3


def test_evaluator_traces_once_and_its_twin_copies_the_weights():
    import tensorflow_probability as tfp

    from tfp_flows.flows import TransformedFlow

    flow = MAFFlow(3, layers=2, hidden_units=(8,), seed=1)
    ev = Evaluator(flow, "moving", 20)
    x = np.random.default_rng(0).standard_normal((50, 3)).astype(np.float32)
    for n in (50, 7, 33, 1):
        ev.log_prob(x[:n])
    assert ev._compiled.experimental_get_tracing_count() == 1
    twin = ev.twin()
    assert twin.flow is not flow and twin.flow.config == flow.config
    for v in flow.trainable_variables:  # the twin is built from the config, not the weights
        v.assign_add(tf.fill(v.shape, 0.01))
    assert not np.allclose(twin.log_prob(x), ev.log_prob(x))
    twin.copy_weights(ev.weights())
    np.testing.assert_array_equal(twin.log_prob(x), ev.log_prob(x))
    hand_made = TransformedFlow(tfp.distributions.Normal(0.0, 1.0), [tfp.bijectors.Shift(1.0)])
    assert Evaluator(hand_made).twin() is None


def test_compiling_ahead_changes_nothing_and_reports_errors(splits):
    """Trainer.compile (what compiling_in_background runs in a thread) builds both loops
    (XLA's and the uncompiled one for an epoch's short last batch) without taking a step:
    the losses afterwards are those of a trainer that compiled on first use, and neither
    loop is traced again. An error while compiling comes out of the block."""
    import threading

    class Traced(MaximumLikelihood):
        threads = []

        def loss(self, flow, rows, step):
            self.threads.append(threading.current_thread().name)
            return super().loss(flow, rows, step)

    train = splits.train[:2950]  # 30 batches an epoch, the last one of 50 rows
    losses, traces = [], None
    for ahead in (False, True):
        seed_everything(3)
        flow = MAFFlow(splits.dims, layers=2, hidden_units=(16,), seed=3)
        cfg = TrainConfig(batch_size=100, learning_rate=1e-3, epochs=2, xla="on", seed=3, progress=False)
        trainer = Trainer(flow, Traced(train, 100, 3), cfg)
        if ahead:
            Traced.threads.clear()
            with trainer.compiling_in_background():
                pass
            # XLA's loop is traced and compiled in the thread; the short batch's loop is
            # traced on leaving the block, in this thread, while XLA compiles.
            assert Traced.threads == ["compile", threading.current_thread().name]
            assert int(trainer.state["step"].numpy()) == 0
            traces = (trainer._loop.experimental_get_tracing_count(),
                      trainer._short_loop.experimental_get_tracing_count())
            assert traces == (1, 1)
        losses.append(trainer.train_steps(45))
        if ahead:
            assert (trainer._loop.experimental_get_tracing_count(),
                    trainer._short_loop.experimental_get_tracing_count()) == traces
    np.testing.assert_array_equal(losses[0], losses[1])

    class Broken(MaximumLikelihood):
        def loss(self, flow, rows, step):
            raise RuntimeError("the loss cannot be built")

    trainer = Trainer(flow, Broken(train, 100, 3), cfg)
    with pytest.raises(RuntimeError, match="cannot be built"):
        with trainer.compiling_in_background():
            pass

    # An error in the block itself (a run folder that cannot be written) goes up only
    # once the compilation has ended: a thread left inside TensorFlow aborts the process
    # when it exits.
    # So does Ctrl-C there (the command's one line and exit 130, not SIGABRT).
    for error in (OSError("disk full"), KeyboardInterrupt()):
        trainer = Trainer(flow, Traced(train, 100, 3), cfg)
        with pytest.raises(type(error)):
            with trainer.compiling_in_background():
                raise error
        assert not [t for t in threading.enumerate() if t.name == "compile"]


def test_early_stopping_counts_epochs_without_improvement_since_the_last_one():
    # Validation scores 1, 0, 2, 1, 1 with patience 2: the improvement at epoch 3 starts
    # the count again, so training stops after epoch 5 (two in a row without improvement),
    # not after epoch 4; the best weights (epoch 3's) come back at the end.
    scores = iter([1.0, 0.0, 2.0, 1.0, 1.0])
    weight = tf.Variable(0.0)

    class FakeTrainer:
        flow = type("F", (), {"variables": [weight]})()
        step = 0

        def record(self, row):
            pass

        def log(self, line):
            pass

    trainer = FakeTrainer()
    stopping = EarlyStopping(lambda val: (next(scores),), val=None, patience=2)
    stops = []
    for epoch in range(1, 6):
        weight.assign(float(epoch))
        stops.append(stopping.on_epoch_end(trainer, epoch, 0.0))
    assert stops == [False, False, False, False, True]
    assert int(stopping.bad_epochs.numpy()) == 2 and float(stopping.best_val.numpy()) == 2.0
    stopping.on_train_end(trainer)
    assert float(weight.numpy()) == 3.0
