"""A maximum-likelihood trainer with a run folder: evaluation, early stopping,
checkpoints, exact resume, a non-finite guard, metrics and `results.json`.

Shared by the GAS and the audio experiments. A run folder holds::

    config.json        what was asked for (written at the start)
    checkpoints/       the latest checkpoints (weights, optimizer, position in the data)
    best/              the weights with the best validation log-likelihood (with a val set)
    metrics.jsonl      one JSON object per evaluation
    tensorboard/       the same scalars for TensorBoard
    results.json       written last, atomically, when the run completes

Resuming (`resume=True`) restores the latest checkpoint and continues with the very
batch that would have come next: epoch e visits the training rows in the order
``default_rng([seed, e]).permutation(n)``, so the data order does not depend on how
often the run was interrupted. Ctrl-C finishes the steps under way (at most
`steps_per_call` of them), saves a checkpoint and stops.
"""

import json
import math
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import tensorflow as tf
import tf_keras
from tqdm.auto import tqdm

from tfp_flows.files import write_json_atomic
from tfp_flows.training import make_train_loop

__all__ = ["TrainConfig", "Trainer", "evaluate_log_likelihood"]


@dataclass
class TrainConfig:
    """Settings of a training run (see `Trainer`)."""

    batch_size: int = 100
    learning_rate: float = 1e-4
    epochs: int = 1
    max_steps: Optional[int] = None
    eval_every: int = 1000
    checkpoint_every: int = 1000
    patience: int = 30
    eval_batch_size: int = 20_000
    bn_eval: str = "moving"
    seed: int = 0
    progress: bool = True
    xla: str = "auto"
    steps_per_call: int = 20

    # "auto" compiles with XLA for runs of at least this many steps, at batches up to
    # XLA_AUTO_MAX_BATCH (the range measured): XLA makes a step of P2's MAF about 3.4x
    # faster at batch 100 and 1.3x at batch 1000 on CPU, but compiling takes 30-70 s,
    # which a run must earn back (one P2 epoch on GAS is 21,000 steps at batch 100).
    XLA_AUTO_MIN_STEPS = 20_000
    XLA_AUTO_MAX_BATCH = 1000

    def planned_steps(self, n_train):
        """Training steps the run will take at most, for `n_train` training rows."""
        total = self.epochs * math.ceil(n_train / self.batch_size)
        return total if self.max_steps is None else min(total, self.max_steps)

    def use_xla(self, n_train):
        """Whether the training loop is compiled with XLA ("on", "off", or "auto")."""
        if self.xla != "auto":
            return self.xla == "on"
        return (self.batch_size <= self.XLA_AUTO_MAX_BATCH
                and self.planned_steps(n_train) >= self.XLA_AUTO_MIN_STEPS)

    def validate(self):
        for name in ("batch_size", "epochs", "eval_every", "checkpoint_every", "patience",
                     "eval_batch_size", "steps_per_call"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.max_steps is not None and (not isinstance(self.max_steps, int) or self.max_steps < 1):
            raise ValueError(f"max_steps must be a positive integer, got {self.max_steps!r}")
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate < math.inf):
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate!r}")
        if self.bn_eval not in ("moving", "batch"):
            raise ValueError(f"bn_eval must be 'moving' or 'batch', got {self.bn_eval!r}")
        if self.xla not in ("auto", "on", "off"):
            raise ValueError(f"xla must be 'auto', 'on' or 'off', got {self.xla!r}")


def evaluate_log_likelihood(log_prob, data, batch_size=20_000):
    """Mean log-likelihood of `data` [n, D] and its standard error, scored in chunks by
    `log_prob` (a function [m, D] -> [m])."""
    values = []
    for start in range(0, len(data), batch_size):
        chunk = tf.constant(data[start:start + batch_size])
        values.append(log_prob(chunk).numpy().astype(np.float64))
    ll = np.concatenate(values)
    return float(ll.mean()), float(ll.std(ddof=1) / np.sqrt(len(ll))) if len(ll) > 1 else 0.0


class _DeferredInterrupt:
    """Within the block, Ctrl-C sets `requested`, which the trainer turns into a
    KeyboardInterrupt at a point where the weights, the position and the log agree; a
    second Ctrl-C interrupts at once. (Signal handlers can only be set in the main
    thread; elsewhere Ctrl-C behaves as usual.)"""

    def __enter__(self):
        self.requested, self._previous = False, None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


class Trainer:
    """Train `flow` (a `MAFFlow`-like module with `log_prob(x, training)` and `base`).

    Args:
      flow: the model; `flow.log_prob(batch, training=True)` gives the training loss
        and `training=False` (batch norm with moving statistics) the evaluation.
      train, test: float32 arrays [n, D].
      val: optional validation array; enables early stopping with `config.patience`
        epochs and restoring the best weights before the final test evaluation.
      config: a `TrainConfig`.
      run_dir: the run folder.
      eval_sets: optional {name: array} also scored at every evaluation (e.g. other words).
      meta: JSON-able facts copied into results.json (recipe, columns kept, ...).
    """

    def __init__(self, flow, train, test, config, run_dir, val=None, eval_sets=None, meta=None):
        config.validate()
        for name, arr in (("train", train), ("test", test), ("val", val)):
            if arr is not None and (np.ndim(arr) != 2 or len(arr) == 0):
                raise ValueError(f"{name} must be a non-empty [rows, D] array")
        self.flow, self.config = flow, config
        self.train = np.asarray(train, np.float32)
        self.test = np.asarray(test, np.float32)
        self.val = None if val is None else np.asarray(val, np.float32)
        self.eval_sets: Dict[str, np.ndarray] = {k: np.asarray(v, np.float32)
                                                for k, v in (eval_sets or {}).items()}
        self.meta = dict(meta or {})
        self.run_dir = Path(run_dir)
        self.optimizer = tf_keras.optimizers.Adam(config.learning_rate)
        self.optimizer.build(flow.trainable_variables)  # slots now: one trace of the loop
        self.state = {
            "step": tf.Variable(0, dtype=tf.int64, trainable=False),
            "epoch": tf.Variable(0, dtype=tf.int64, trainable=False),
            "batch_in_epoch": tf.Variable(0, dtype=tf.int64, trainable=False),
            "best_val": tf.Variable(-np.inf, dtype=tf.float64, trainable=False),
            "bad_epochs": tf.Variable(0, dtype=tf.int64, trainable=False),
            # sum and count of this epoch's training log-likelihoods so far (P2's log line)
            "running_sum": tf.Variable(0.0, dtype=tf.float64, trainable=False),
            "running_count": tf.Variable(0, dtype=tf.int64, trainable=False),
            "wall": tf.Variable(0.0, dtype=tf.float64, trainable=False),
        }
        self.checkpoint = tf.train.Checkpoint(flow=flow, optimizer=self.optimizer, **self.state)
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.run_dir / "checkpoints",
                                                  max_to_keep=2, step_counter=self.state["step"])
        self.best = tf.train.Checkpoint(flow=flow)
        # Several steps per compiled call over the training array held in the graph;
        # the call itself advances the position counters (see make_train_loop).
        self.xla = config.use_xla(len(self.train))
        self._loop = self._make_loop(self.xla)
        # An epoch's short last batch has its own shape; with XLA it runs uncompiled
        # rather than costing a second compilation.
        self._short_loop = self._make_loop(False) if self.xla else self._loop
        self._order_cache = (None, None)
        # Compiled evaluation (3x faster than eager on P2's model; P2's protocol scores
        # the whole test set every 1000 batches, which costs more than the training).
        spec = tf.TensorSpec([None, self.train.shape[1]], tf.float32)
        self._eval_log_prob = tf.function(lambda x: self.flow.log_prob(x, training=False),
                                          input_signature=[spec])

    def _make_loop(self, jit_compile):
        return make_train_loop(lambda b: -tf.reduce_mean(self.flow.log_prob(b, training=True)),
                               self.flow.trainable_variables, self.optimizer, self.train,
                               counters=(self.state["step"], self.state["batch_in_epoch"]),
                               jit_compile=jit_compile)

    # ------------------------------------------------------------------ evaluation
    def _bn_variables(self):
        return [v for layer in getattr(self.flow, "batch_norms", []) for v in layer.non_trainable_variables]

    def log_likelihood(self, data):
        """(mean, stderr) of the log-likelihood of `data` under the configured evaluation."""
        if self.config.bn_eval == "moving":
            return evaluate_log_likelihood(self._eval_log_prob, data, self.config.eval_batch_size)
        # P2's way: the whole set as one batch, batch norm normalising with that batch's
        # statistics. Moving statistics are restored afterwards so evaluation has no effect.
        saved = [v.numpy() for v in self._bn_variables()]
        ll = self.flow.log_prob(tf.constant(data), training=True).numpy().astype(np.float64)
        for v, s in zip(self._bn_variables(), saved):
            v.assign(s)
        return float(ll.mean()), float(ll.std(ddof=1) / np.sqrt(len(ll)))

    # --------------------------------------------------------------------- running
    def _order(self, epoch):
        """The training rows in epoch `epoch`'s order (int32)."""
        if self._order_cache[0] != epoch:
            order = np.random.default_rng([self.config.seed, int(epoch)]).permutation(len(self.train))
            self._order_cache = (epoch, order.astype(np.int32))
        return self._order_cache[1]

    def _chunk(self, epoch, in_epoch, step, total, boundaries=True):
        """(indices [k, batch], n): the next n steps, stopping at the epoch's end, at
        `total` and (with `boundaries`) at the next evaluation or checkpoint; an epoch's
        short last batch runs alone."""
        cfg, bs = self.config, self.config.batch_size
        k = cfg.steps_per_call
        n = min(k, total - step, self._steps_per_epoch() - in_epoch)
        if boundaries:
            # Evaluations follow batches 1, 1 + eval_every, ... of an epoch.
            next_eval = 1 if in_epoch == 0 else ((in_epoch - 1) // cfg.eval_every + 1) * cfg.eval_every + 1
            next_ckpt = (step // cfg.checkpoint_every + 1) * cfg.checkpoint_every
            n = min(n, next_eval - in_epoch, next_ckpt - step)
        order = self._order(epoch)
        rows = order[in_epoch * bs:(in_epoch + n) * bs]
        if len(rows) < n * bs:  # the epoch's short last batch is in this chunk
            if n > 1:
                n -= 1
                rows = rows[:n * bs]
            else:
                return rows[None, :], 1
        indices = np.zeros((k, bs), np.int32)  # a fixed shape: XLA compiles once
        indices[:n] = rows.reshape(n, bs)
        return indices, n

    def _train_chunk(self, epoch, in_epoch, step, total, boundaries=True):
        """Run the next steps (see `_chunk`) in one compiled call; returns their losses.

        Raises ValueError on a non-finite loss or gradient, after restoring the last
        good checkpoint (the bad update was not applied, but a training-mode pass may
        have moved batch-norm statistics)."""
        indices, n = self._chunk(epoch, in_epoch, step, total, boundaries)
        loop = self._loop if indices.shape[1] == self.config.batch_size else self._short_loop
        losses, applied = loop(tf.constant(indices), tf.constant(n, tf.int32))
        losses, applied = losses.numpy()[:n].astype(np.float64), int(applied.numpy())
        if applied < n:
            if self.manager.latest_checkpoint:
                self.checkpoint.restore(self.manager.latest_checkpoint)
            raise ValueError(
                f"non-finite loss or gradient at step {step + applied + 1} "
                f"(loss {losses[applied]}); stopped, the last good checkpoint is kept in "
                f"{self.run_dir / 'checkpoints'}")
        return losses

    def train_steps(self, n):
        """Advance training by `n` steps exactly as `run` would, but without evaluation,
        checkpoints, logs or a run folder (for benchmarks and interactive use). Returns
        the `n` losses (negative mean log-likelihoods of the batches)."""
        st = self.state
        step, epoch, in_epoch = (int(st[k].numpy()) for k in ("step", "epoch", "batch_in_epoch"))
        target, out = step + int(n), []
        while step < target:
            if in_epoch >= self._steps_per_epoch():
                epoch, in_epoch = epoch + 1, 0
                st["epoch"].assign(epoch)
                st["batch_in_epoch"].assign(0)
            losses = self._train_chunk(epoch, in_epoch, step, target, boundaries=False)
            step, in_epoch = step + len(losses), in_epoch + len(losses)
            out.append(losses)
        return np.concatenate(out) if out else np.zeros(0)

    def _steps_per_epoch(self):
        return math.ceil(len(self.train) / self.config.batch_size)

    def _log(self, record, writer):
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        with writer.as_default(step=record["step"]):
            for k, v in record.items():
                if isinstance(v, float):
                    tf.summary.scalar(k, v)
        writer.flush()

    def _trim_metrics(self, step):
        path = self.run_dir / "metrics.jsonl"
        if path.exists():
            keep = [ln for ln in path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
            path.write_text("".join(ln + "\n" for ln in keep))

    def run(self, resume=False, log=print):
        """Train, evaluate, and write results.json; returns the results dict.

        Raises:
          ValueError: a non-finite loss or gradient (the last good checkpoint is kept),
            or `resume` without a checkpoint.
        """
        cfg = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            if self.manager.latest_checkpoint is None:
                raise ValueError(f"{self.run_dir}: nothing to resume (no checkpoint)")
            self.checkpoint.restore(self.manager.latest_checkpoint).assert_existing_objects_matched()
            try:  # facts recorded at the start (e.g. before-training figures) carry over
                saved = json.loads((self.run_dir / "config.json").read_text())
                self.meta = {**{k: v for k, v in saved.items() if k != "train"}, **self.meta}
            except (OSError, ValueError):
                pass
            self._trim_metrics(int(self.state["step"].numpy()))
            log(f"resumed from {self.manager.latest_checkpoint} at step {int(self.state['step'].numpy())}")
        else:
            if (self.run_dir / "results.json").exists() or self.manager.latest_checkpoint:
                raise ValueError(f"{self.run_dir} already holds a run; use --resume or another --out")
            write_json_atomic(self.run_dir / "config.json", {"train": asdict(cfg), **self.meta})
        writer = tf.summary.create_file_writer(str(self.run_dir / "tensorboard"))
        per_epoch, total = self._steps_per_epoch(), cfg.planned_steps(len(self.train))
        start_wall = time.time() - float(self.state["wall"].numpy())
        st = self.state
        step, epoch, in_epoch = (int(st[k].numpy()) for k in ("step", "epoch", "batch_in_epoch"))
        run_sum, run_count = float(st["running_sum"].numpy()), int(st["running_count"].numpy())

        def sync():
            # step and batch_in_epoch are advanced by the compiled loop itself; the rest
            # is copied in from Python whenever something reads or saves the state.
            st["epoch"].assign(epoch)
            st["batch_in_epoch"].assign(in_epoch)
            st["running_sum"].assign(run_sum)
            st["running_count"].assign(run_count)
            st["wall"].assign(time.time() - start_wall)

        bar = tqdm(total=total, initial=step, unit="step", disable=None if cfg.progress else True,
                   file=sys.stderr, dynamic_ncols=True)
        stopped_early = False
        with _DeferredInterrupt() as interrupt:
            try:
                while True:
                    if in_epoch >= per_epoch:  # an epoch is complete (also after a resume)
                        epoch, in_epoch, run_sum, run_count = epoch + 1, 0, 0.0, 0
                        sync()
                        if self.val is not None and self._end_of_epoch(writer, log):
                            stopped_early = True
                            break
                    if epoch >= cfg.epochs or step >= total:
                        break
                    losses = self._train_chunk(epoch, in_epoch, step, total)
                    n = len(losses)
                    step, in_epoch = step + n, in_epoch + n
                    run_sum, run_count = run_sum - float(losses.sum()), run_count + n
                    bar.update(n)
                    # Like P2's log: batches 1, 1 + eval_every, ... of every epoch.
                    if (in_epoch - 1) % cfg.eval_every == 0:
                        sync()
                        self._evaluate(epoch, step, run_sum / run_count, writer, log)
                    if step % cfg.checkpoint_every == 0:
                        sync()
                        self.manager.save(checkpoint_number=step)
                    if interrupt.requested:  # Ctrl-C: everything agrees at this point
                        sync()
                        raise KeyboardInterrupt
            except KeyboardInterrupt:
                # The variables are consistent even when Python's copies are not (a second
                # Ctrl-C can land anywhere): the loop advances its own counters.
                bar.close()
                st["wall"].assign(time.time() - start_wall)
                self.manager.save(checkpoint_number=int(st["step"].numpy()))
                raise
        bar.close()
        sync()
        self.manager.save(checkpoint_number=step)
        return self._finish(stopped_early, time.time() - start_wall, log)

    def _evaluate(self, epoch, step, running_mean, writer, log):
        test_ll, _ = self.log_likelihood(self.test)
        record = {"step": step, "epoch": epoch + 1, "batch": int(self.state["batch_in_epoch"].numpy()),
                  "train_ll_running_mean": running_mean, "test_ll": test_ll}
        if self.val is not None:
            record["val_ll"] = self.log_likelihood(self.val)[0]
        for name, data in self.eval_sets.items():
            record[f"{name}_ll"] = self.log_likelihood(data)[0]
        self._log(record, writer)
        log(f"Epoch {record['epoch']}: Batch {record['batch']}: {record['train_ll_running_mean']:.6f}"
            f" --- test: {test_ll:.6f}")

    def _end_of_epoch(self, writer, log):
        st = self.state
        val_ll, _ = self.log_likelihood(self.val)
        epoch = int(st["epoch"].numpy())
        self._log({"step": int(st["step"].numpy()), "epoch": epoch, "val_ll": val_ll}, writer)
        if val_ll > float(st["best_val"].numpy()):
            st["best_val"].assign(val_ll)
            st["bad_epochs"].assign(0)
            self.best.write(str(self.run_dir / "best" / "weights"))
        else:
            st["bad_epochs"].assign_add(1)
        log(f"epoch {epoch}: validation log-likelihood {val_ll:.6f} "
            f"(best {float(st['best_val'].numpy()):.6f}, {int(st['bad_epochs'].numpy())} epoch(s) without improvement)")
        return int(st["bad_epochs"].numpy()) >= self.config.patience

    def _finish(self, stopped_early, wall, log):
        if self.val is not None and (self.run_dir / "best" / "weights.index").exists():
            self.best.read(str(self.run_dir / "best" / "weights")).expect_partial()
        test_mean, test_se = self.log_likelihood(self.test)
        base_ll = evaluate_log_likelihood(self.flow.base.log_prob, self.test,
                                          self.config.eval_batch_size)[0]
        results = {
            **self.meta,
            "n_train": len(self.train),
            "n_val": 0 if self.val is None else len(self.val),
            "n_test": len(self.test),
            "test_log_likelihood": {"mean": test_mean, "stderr": test_se},
            "base_log_likelihood_test": base_ll,
            "bn_eval": self.config.bn_eval,
            "steps": int(self.state["step"].numpy()),
            "epochs": int(self.state["epoch"].numpy()) + (1 if int(self.state["batch_in_epoch"].numpy()) else 0),
            "stopped_early": stopped_early,
            "best_val_log_likelihood": (None if self.val is None else float(self.state["best_val"].numpy())),
            "wall_seconds": round(wall, 2),
            "seed": self.config.seed,
            "train_config": asdict(self.config),
        }
        for name, data in self.eval_sets.items():
            results.setdefault("eval_sets", {})[name] = dict(zip(("mean", "stderr"), self.log_likelihood(data)))
        write_json_atomic(self.run_dir / "results.json", results)
        log(f"test log-likelihood {test_mean:.4f} +- {2 * test_se:.4f} (2 se); base {base_ll:.4f}; "
            f"results: {self.run_dir / 'results.json'}")
        return results
