"""Callbacks of the training loop: checkpoints and resume, metrics and TensorBoard,
evaluation on P2's schedule, early stopping, loss logs, and the non-finite guard.

A callback may implement any of these hooks (the `Trainer` calls them in list order,
and `on_train_end` in reverse order, like nested context managers):

* ``state()``: a dict of `tf.Variable`s saved with every checkpoint;
* ``on_train_begin(trainer, resumed)``;
* ``steps_until(trainer)``: how many more steps may run before the callback needs
  control (the trainer ends its compiled call there), or None;
* ``on_steps(trainer, losses)``: after every compiled call, with the losses of the
  steps it applied (`trainer.step` and `trainer.in_epoch` already advanced);
* ``on_epoch_end(trainer, epoch, mean_loss)``: epoch is 1-based; return True to stop;
* ``on_record(trainer, record)``: every dict passed to `trainer.record`;
* ``on_interrupt(trainer)``: Ctrl-C, after the steps under way;
* ``on_train_end(trainer)``;
* ``flush(trainer)``: finish and record any work under way in the background (the
  trainer calls it before every checkpoint, before `on_interrupt` and before
  `on_train_end`).
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import shutil
from typing import TYPE_CHECKING, Any, Dict, Optional

import numpy as np
import tensorflow as tf

from tfp_flows.files import atomic_path

if TYPE_CHECKING:  # for annotations only: these modules import this one
    from tfp_flows.training.evaluation import Evaluator
    from tfp_flows.training.loop import Trainer
    from tfp_flows.training.run_folder import RunFolder
from tfp_flows.training.run_folder import RunFolder

__all__ = ["Callback", "Checkpointing", "EarlyStopping", "EpochLoss", "Evaluation", "LossLog",
           "MetricsLog", "NonFiniteGuard"]


class Callback:
    """Base class: every hook does nothing."""

    def state(self) -> Dict[str, Any]:
        return {}

    def on_train_begin(self, trainer: Trainer, resumed: bool) -> None:
        pass

    def steps_until(self, trainer: Trainer) -> Optional[int]:
        return None

    def on_steps(self, trainer: Trainer, losses: np.ndarray) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, epoch: int, mean_loss: float) -> bool:
        return False

    def on_record(self, trainer: Trainer, record: Dict[str, Any]) -> None:
        pass

    def on_interrupt(self, trainer: Trainer) -> None:
        pass

    def on_train_end(self, trainer: Trainer) -> None:
        pass

    def flush(self, trainer: Trainer) -> None:
        pass


class Checkpointing(Callback):
    """Saves weights, optimizer, position in the data and every callback's state to the
    run folder's ``checkpoints/`` every `every` steps, on Ctrl-C and at the end; restores
    the latest on resume. Refuses to start afresh over an existing checkpoint.

    A multi-worker run's other workers save to their scratch folder instead (saving is a
    collective step every worker takes; only the chief's copy is kept), restore from the
    run folder's, and delete their copy at the end."""

    def __init__(self, run: RunFolder, every: int) -> None:
        self.dir, self.every = run.checkpoints, int(every)
        self.save_dir = run.scratch("scratch")
        self.manager = None

    def on_train_begin(self, trainer: Trainer, resumed: bool) -> None:
        self.manager = tf.train.CheckpointManager(trainer.checkpoint, self.save_dir or self.dir, max_to_keep=2,
                                                  step_counter=trainer.state["step"])
        latest = tf.train.latest_checkpoint(str(self.dir))
        if resumed:
            if latest is None:
                raise ValueError(f"{self.dir.parent}: nothing to resume (no checkpoint)")
            trainer.checkpoint.restore(latest).assert_existing_objects_matched()
            trainer.log(f"resumed from {latest} at step {int(trainer.state['step'].numpy())}")
        elif latest is not None:
            raise ValueError(f"{self.dir.parent} already holds a run; use --resume or another --out")

    def steps_until(self, trainer: Trainer) -> Optional[int]:
        return self.every - trainer.step % self.every

    def on_steps(self, trainer: Trainer, losses: np.ndarray) -> None:
        if trainer.step % self.every == 0:
            trainer.sync()
            self.save(trainer)

    def save(self, trainer: Trainer) -> None:
        trainer.flush()  # the log then holds every evaluation up to this step
        self.manager.save(checkpoint_number=int(trainer.state["step"].numpy()))

    def restore_last_good(self, trainer: Trainer) -> bool:
        """Back to the latest checkpoint (e.g. after a non-finite step); False if none."""
        latest = None if self.manager is None else tf.train.latest_checkpoint(str(self.dir))
        if latest is None:
            return False
        trainer.checkpoint.restore(latest)
        return True

    def on_interrupt(self, trainer: Trainer) -> None:
        self.save(trainer)
        self._drop_scratch()

    def on_train_end(self, trainer: Trainer) -> None:
        self.save(trainer)
        self._drop_scratch()

    def _drop_scratch(self):
        if self.save_dir is not None:
            shutil.rmtree(self.save_dir, ignore_errors=True)


class MetricsLog(Callback):
    """Every record as a line of the run folder's ``metrics.jsonl`` and its numbers as
    TensorBoard scalars in its ``tensorboard/``. On resume the log is cut back to the checkpoint's
    step and read into `trainer.records`, so a resumed run's log equals an uninterrupted
    one's."""

    def __init__(self, run: RunFolder) -> None:
        self.path, self.tb_dir = run.metrics, run.tensorboard
        self.writer = None

    def on_train_begin(self, trainer: Trainer, resumed: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resumed and self.path.exists():
            step = int(trainer.state["step"].numpy())
            keep = [json.loads(ln) for ln in self.path.read_text().splitlines() if ln.strip()]
            keep = [r for r in keep if r["step"] <= step]
            with atomic_path(self.path) as tmp:
                tmp.write_text("".join(json.dumps(r) + "\n" for r in keep))
            trainer.records[:] = keep
        elif not resumed:
            self.path.write_text("")
        self.writer = tf.summary.create_file_writer(str(self.tb_dir))

    def on_record(self, trainer: Trainer, record: Dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        with self.writer.as_default(step=record["step"]):
            for k, v in record.items():
                if isinstance(v, float):
                    tf.summary.scalar(k, v)
        self.writer.flush()


class Evaluation(Callback):
    """Scores data sets after batches 1, 1 + every, 1 + 2 every, ... of every epoch (P2's
    protocol), recording the running mean training log-likelihood of the epoch so far and
    ``<name>_ll`` for each set.

    With ``background=True`` (the default) a thread scores a copy of the weights taken at
    the evaluation's step while training goes on (`Evaluator.twin`): the same numbers,
    recorded and printed when they are ready. At most one evaluation is under way: the
    next one waits for it. Everything under way is finished and recorded before a
    checkpoint is written, at an epoch's end and when training ends or is interrupted
    (`flush`), so a run folder's log always holds every evaluation up to its
    checkpoint. Under a `tf.distribute` strategy, or for a flow that `Evaluator.twin`
    cannot copy, evaluations run in the training thread.

    Args:
      evaluator: a `tfp_flows.training.Evaluator`.
      sets: {name: array}; a set named "test" is printed in the log line.
      every: batches between evaluations; None: once an epoch, at its first batch.
      background: score in a thread while training continues.
    """

    def __init__(self, evaluator: Evaluator, sets: Dict[str, Any], every: Optional[int] = None,
                 background: bool = True) -> None:
        self.evaluator, self.sets, self.every = evaluator, dict(sets), every
        self.background = bool(background)
        self._twin = self._pool = self._pending = None

    def _every(self, trainer):
        return self.every or trainer.steps_per_epoch

    def prepare(self, trainer: Trainer) -> None:
        """Make the copy of the flow that background evaluations score, and trace its
        scoring, now rather than in the first evaluation (e.g. while the training loop
        compiles). Optional: training does it when it starts."""
        if self.background and trainer.strategy is None and self._twin is None:
            self._twin = self.evaluator.twin()
            if self._twin is not None and self._twin.bn_eval == "moving" and self.sets:
                self._twin.log_prob(next(iter(self.sets.values()))[:2])  # its weights are copied before each use

    def on_train_begin(self, trainer: Trainer, resumed: bool) -> None:
        self.prepare(trainer)
        if self._twin is not None and self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="evaluation")

    def steps_until(self, trainer: Trainer) -> Optional[int]:
        every, b = self._every(trainer), trainer.in_epoch
        next_eval = 1 if b == 0 else ((b - 1) // every + 1) * every + 1
        return next_eval - b

    def on_steps(self, trainer: Trainer, losses: np.ndarray) -> None:
        if self._pending is not None and self._pending[1].done():
            self.flush(trainer)
        if len(losses) == 0 or (trainer.in_epoch - 1) % self._every(trainer):
            return
        trainer.sync()
        record = {"step": trainer.step, "epoch": trainer.epoch + 1, "batch": trainer.in_epoch,
                  "train_ll_running_mean": -trainer.epoch_mean_loss}
        if self._pool is None:
            self._emit(trainer, record, self._score(self.evaluator))
            return
        self.flush(trainer)  # at most one under way
        weights = self.evaluator.weights()  # taken now, in the training thread

        def job():
            self._twin.copy_weights(weights)
            return self._score(self._twin)
        self._pending = (record, self._pool.submit(job))

    def _score(self, evaluator):
        return {f"{name}_ll": evaluator(data)[0] for name, data in self.sets.items()}

    def _emit(self, trainer, record, scores):
        record.update(scores)
        trainer.record(record)
        line = f"Epoch {record['epoch']}: Batch {record['batch']}: {record['train_ll_running_mean']:.6f}"
        if "test_ll" in record:
            line += f" --- test: {record['test_ll']:.6f}"
        trainer.log(line)

    def flush(self, trainer: Trainer) -> None:
        """Wait for the evaluation under way, if any, and record it."""
        if self._pending is not None:
            record, future = self._pending
            self._pending = None
            self._emit(trainer, record, future.result())

    def on_epoch_end(self, trainer: Trainer, epoch: int, mean_loss: float) -> bool:
        self.flush(trainer)  # before the callbacks after this one (early stopping) see the epoch's end
        return False

    def on_train_end(self, trainer: Trainer) -> None:  # (the trainer has flushed)
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


class EarlyStopping(Callback):
    """At every epoch's end scores `val`; keeps the best weights (in the run folder's
    ``best/`` when there is a `RunFolder`, else in memory), stops after `patience` epochs
    without improvement, and puts the best weights back at the end of training."""

    def __init__(self, evaluator: Evaluator, val: Any, patience: int, run: Optional[RunFolder] = None) -> None:
        self.evaluator, self.val, self.patience = evaluator, val, int(patience)
        if run is not None and not isinstance(run, RunFolder):
            run = RunFolder(run)
        self.run = run
        self.path = None if run is None else run.best_weights
        # A multi-worker run's other workers write their copy elsewhere (writing is a
        # collective step) and read the chief's.
        scratch = None if run is None else run.scratch("best")
        self.write_path = self.path if scratch is None else scratch / "best" / "weights"
        self.best_val = tf.Variable(-np.inf, dtype=tf.float64, trainable=False)
        self.bad_epochs = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._memory = None

    def state(self) -> Dict[str, Any]:
        return {"best_val": self.best_val, "bad_epochs": self.bad_epochs}

    def on_epoch_end(self, trainer: Trainer, epoch: int, mean_loss: float) -> bool:
        val_ll = self.evaluator(self.val)[0]
        trainer.record({"step": trainer.step, "epoch": epoch, "val_ll": val_ll})
        if val_ll > float(self.best_val.numpy()):
            self.best_val.assign(val_ll)
            self.bad_epochs.assign(0)
            if self.path is not None:
                tf.train.Checkpoint(flow=trainer.flow).write(str(self.write_path))
            else:
                self._memory = [v.numpy() for v in trainer.flow.variables]
        else:
            self.bad_epochs.assign_add(1)
        bad = int(self.bad_epochs.numpy())
        trainer.log(f"epoch {epoch}: validation log-likelihood {val_ll:.6f} "
                    f"(best {float(self.best_val.numpy()):.6f}, {bad} epoch(s) without improvement)")
        return bad >= self.patience

    def on_train_end(self, trainer: Trainer) -> None:
        if self.path is not None and self.path.with_name("weights.index").exists():
            self.run.load_weights(trainer.flow, str(self.path))
        elif self._memory is not None:
            for v, value in zip(trainer.flow.variables, self._memory):
                v.assign(value)

    @property
    def best(self) -> Optional[float]:
        value = float(self.best_val.numpy())
        return None if math.isinf(value) else value


class EpochLoss(Callback):
    """Records and logs the mean batch loss of every epoch."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, mean_loss: float) -> bool:
        trainer.record({"step": trainer.step, "epoch": epoch, "train_loss": mean_loss})
        trainer.log(f"epoch {epoch:4d}/{trainer.config.epochs}  mean batch loss {mean_loss:.4f}")
        return False


class LossLog(Callback):
    """Records the loss of steps 0, every, 2 every, ... (0-based step numbers)."""

    def __init__(self, every: int = 100) -> None:
        self.every = int(every)

    def on_steps(self, trainer: Trainer, losses: np.ndarray) -> None:
        first = trainer.step - len(losses) - trainer.skipped_in_last_call
        for j, loss in enumerate(losses):
            if (first + j) % self.every == 0:
                trainer.record({"step": first + j, "loss": float(loss)})


class NonFiniteGuard(Callback):
    """What happens when a step's loss or gradient is not finite (the update is never
    applied): up to `max_in_a_row` such steps in a row are skipped; one more stops the
    run with a ValueError, after putting back the latest checkpoint (a training-mode pass
    may have moved batch-norm statistics)."""

    def __init__(self, max_in_a_row: int = 0) -> None:
        self.max_in_a_row = int(max_in_a_row)
        self.skipped = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.in_a_row = tf.Variable(0, dtype=tf.int64, trainable=False)

    def state(self) -> Dict[str, Any]:
        return {"skipped_steps": self.skipped, "non_finite_in_a_row": self.in_a_row}

    def observe(self, trainer: Trainer, applied: Any, bad_loss: Optional[float] = None) -> bool:
        """Called by the trainer after every compiled call; `bad_loss` is the loss of the
        step that was not applied (None when all were). Returns True to skip it."""
        if bad_loss is None:
            if applied and self.max_in_a_row:  # (nothing to reset when nothing is skipped)
                self.in_a_row.assign(0)
            return False
        if applied:
            self.in_a_row.assign(0)
        if int(self.in_a_row.numpy()) < self.max_in_a_row:
            self.in_a_row.assign_add(1)
            self.skipped.assign_add(1)
            return True
        where = "restored the last good checkpoint" if trainer.restore_last_good() else "no checkpoint"
        in_a_row = f", {self.max_in_a_row + 1} non-finite steps in a row" if self.max_in_a_row else ""
        folder = f" in {trainer.run_dir / 'checkpoints'}" if trainer.run_dir else ""
        raise ValueError(f"non-finite loss or gradient at step {trainer.step + 1} (loss {bad_loss}){in_a_row}; "
                         f"stopped, {where}{folder}")
