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
often the run was interrupted. Ctrl-C saves a checkpoint before stopping.
"""

import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import tensorflow as tf
import tf_keras
from tqdm.auto import tqdm

from tfp_flows.files import write_json_atomic
from tfp_flows.training import make_train_step

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
    xla: str = "off"

    def use_xla(self):
        """XLA for the training step: "on", "off", or "auto" (on for batches up to 256).
        Off by default: the bare MAF step is about 1.7x faster with XLA at batch 100, but
        inside the trainer (with its finite-update guard) it measured no faster."""
        return self.xla == "on" or (self.xla == "auto" and self.batch_size <= 256)

    def validate(self):
        for name in ("batch_size", "epochs", "eval_every", "checkpoint_every", "patience",
                     "eval_batch_size"):
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
        self.state = {
            "step": tf.Variable(0, dtype=tf.int64, trainable=False),
            "epoch": tf.Variable(0, dtype=tf.int64, trainable=False),
            "batch_in_epoch": tf.Variable(0, dtype=tf.int64, trainable=False),
            "best_val": tf.Variable(-np.inf, dtype=tf.float64, trainable=False),
            "bad_epochs": tf.Variable(0, dtype=tf.int64, trainable=False),
            "wall": tf.Variable(0.0, dtype=tf.float64, trainable=False),
        }
        self.checkpoint = tf.train.Checkpoint(flow=flow, optimizer=self.optimizer, **self.state)
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.run_dir / "checkpoints",
                                                  max_to_keep=2, step_counter=self.state["step"])
        self.best = tf.train.Checkpoint(flow=flow)
        self._train_tensor = tf.constant(self.train)
        self._step = make_train_step(lambda b: -tf.reduce_mean(flow.log_prob(b, training=True)),
                                     flow.trainable_variables, self.optimizer,
                                     jit_compile=config.use_xla())

    # ------------------------------------------------------------------ evaluation
    def _bn_variables(self):
        return [v for layer in getattr(self.flow, "batch_norms", []) for v in layer.non_trainable_variables]

    def log_likelihood(self, data):
        """(mean, stderr) of the log-likelihood of `data` under the configured evaluation."""
        if self.config.bn_eval == "moving":
            return evaluate_log_likelihood(lambda c: self.flow.log_prob(c, training=False), data,
                                           self.config.eval_batch_size)
        # P2's way: the whole set as one batch, batch norm normalising with that batch's
        # statistics. Moving statistics are restored afterwards so evaluation has no effect.
        saved = [v.numpy() for v in self._bn_variables()]
        ll = self.flow.log_prob(tf.constant(data), training=True).numpy().astype(np.float64)
        for v, s in zip(self._bn_variables(), saved):
            v.assign(s)
        return float(ll.mean()), float(ll.std(ddof=1) / np.sqrt(len(ll)))

    # --------------------------------------------------------------------- running
    def _epoch_batches(self, epoch, skip):
        n, bs = len(self.train), self.config.batch_size
        order = np.random.default_rng([self.config.seed, int(epoch)]).permutation(n)
        starts = np.arange(0, n, bs)[skip:]
        ds = tf.data.Dataset.from_tensor_slices(starts).map(
            lambda s: tf.gather(self._train_tensor, tf.constant(order)[s:s + bs]))
        return ds.prefetch(tf.data.AUTOTUNE)

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
        per_epoch = self._steps_per_epoch()
        total = cfg.epochs * per_epoch if cfg.max_steps is None else min(cfg.max_steps, cfg.epochs * per_epoch)
        start_wall = time.time() - float(self.state["wall"].numpy())
        st = self.state
        # Position kept in Python ints (no eager op per step); copied into the checkpointed
        # variables whenever something reads or saves them.
        step, epoch, in_epoch = (int(st[k].numpy()) for k in ("step", "epoch", "batch_in_epoch"))

        def sync():
            st["step"].assign(step)
            st["epoch"].assign(epoch)
            st["batch_in_epoch"].assign(in_epoch)
            st["wall"].assign(time.time() - start_wall)

        bar = tqdm(total=total, initial=step, unit="step", disable=None if cfg.progress else True,
                   file=sys.stderr, dynamic_ncols=True)
        stopped_early = False
        running = []
        try:
            while epoch < cfg.epochs and step < total:
                for batch in self._epoch_batches(epoch, in_epoch):
                    if step >= total:
                        break
                    loss, finite = self._step(batch)
                    loss_value, ok = float(loss.numpy()), bool(finite.numpy())
                    if not ok:
                        # The update was not applied, but a training-mode pass may have
                        # moved batch-norm statistics: go back to the last good checkpoint.
                        if self.manager.latest_checkpoint:
                            self.checkpoint.restore(self.manager.latest_checkpoint)
                        raise ValueError(
                            f"non-finite loss or gradient at step {step + 1} "
                            f"(loss {loss_value}); stopped, the last good checkpoint is kept in "
                            f"{self.run_dir / 'checkpoints'}")
                    step += 1
                    in_epoch += 1
                    running.append(-loss_value)
                    bar.update(1)
                    # Like P2's log: batches 1, 1 + eval_every, ... of every epoch.
                    if (in_epoch - 1) % cfg.eval_every == 0:
                        sync()
                        self._evaluate(epoch, step, running, writer, log)
                    if step % cfg.checkpoint_every == 0:
                        sync()
                        self.manager.save(checkpoint_number=step)
                if in_epoch >= per_epoch:
                    epoch += 1
                    in_epoch = 0
                    running = []
                    sync()
                    if self.val is not None and self._end_of_epoch(writer, log):
                        stopped_early = True
                        break
                else:
                    break  # max_steps reached inside the epoch
        except KeyboardInterrupt:
            bar.close()
            sync()
            self.manager.save(checkpoint_number=step)
            raise
        bar.close()
        sync()
        self.manager.save(checkpoint_number=step)
        return self._finish(stopped_early, time.time() - start_wall, log)

    def _evaluate(self, epoch, step, running, writer, log):
        test_ll, _ = self.log_likelihood(self.test)
        record = {"step": step, "epoch": epoch + 1, "batch": int(self.state["batch_in_epoch"].numpy()),
                  "train_ll_running_mean": float(np.mean(running)), "test_ll": test_ll}
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
