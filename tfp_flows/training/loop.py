"""The training loop: one `Trainer` for every flow and objective.

`Trainer(flow, objective, config, run, callbacks).run()` minimises the objective
(`MaximumLikelihood` of data, or `ReverseKL` to an energy) over the flow's variables
with Adam (Keras 2's, `tf_keras`, the Keras that TFP's own layers use). Steps run
several at a time inside one compiled call (`make_train_loop`): `config.steps_per_call`,
by default as many as take about a second. A call stops early wherever a callback needs
control: an evaluation, a checkpoint, an epoch's end.

With a run folder the trainer adds `MetricsLog` (metrics.jsonl, TensorBoard) and
`Checkpointing` (checkpoints/, exact resume); a `NonFiniteGuard` is always there.
Resuming (`run(resume=True)`) restores the latest checkpoint and continues with the very
step that would have come next. Ctrl-C finishes the steps under way, saves a checkpoint
and raises KeyboardInterrupt; a second Ctrl-C interrupts at once (the checkpoint is
still consistent: the compiled call advances its own counters).

Under a `tf.distribute` strategy (`strategy=`, see `tfp_flows.training.distribute`)
the same loop runs with each step's batch split across the replicas
(`make_distributed_train_loop`). In a multi-worker cluster every worker runs the same
trainer; only the chief writes the run folder's log and checkpoints (the others save
theirs to a scratch folder, since saving is a collective step, and delete it at the
end); after every call the workers agree whether any of them was interrupted, so they
stop, save and exit together; a worker that stops answering ends the run on the others
with one line (after the collective timeout) instead of a hang.
"""

import contextlib
import functools
import gc
import math
import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, Optional, Sequence

import numpy as np
import tensorflow as tf
import tf_keras
from tqdm.auto import tqdm

from tfp_flows.flows.base import Flow
from tfp_flows.training import distribute
from tfp_flows.training.callbacks import Callback, Checkpointing, MetricsLog, NonFiniteGuard
from tfp_flows.training.config import TrainConfig
from tfp_flows.training.objectives import Objective
from tfp_flows.training.run_folder import RunFolder
from tfp_flows.training.steps import make_distributed_train_loop, make_train_loop

__all__ = ["Trainer", "WorkerLost"]


class WorkerLost(ValueError):
    """Another worker of a multi-worker run stopped answering (killed, crashed, cut off)."""

# The epoch length of an objective without epochs: never reached.
_NO_EPOCHS = 2**62


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
    """Train a `Flow` on an objective.

    Args:
      flow: a `tfp_flows.flows.Flow`.
      objective: a `tfp_flows.training.Objective` (`MaximumLikelihood`, `ReverseKL`).
      config: a `TrainConfig`.
      run: optional run folder, a `RunFolder` or a path (checkpoints, metrics.jsonl,
        tensorboard/; only its chief writes there).
      callbacks: further callbacks (`Evaluation`, `EarlyStopping`, `LossLog`, ...).
      log: where progress lines go (default: print).
      strategy: a `tf.distribute.Strategy` to train under (the flow must have been built
        in its scope), or None.

    Attributes (for callbacks): `step`, `epoch` (0-based, the one under way),
    `in_epoch` (steps done in it), `epoch_mean_loss`, `records` (every dict passed to
    `record`), `state` (the checkpointed counters), `checkpoint`.
    """

    def __init__(self, flow: Flow, objective: Objective, config: TrainConfig, run: Optional[RunFolder] = None,
                 callbacks: Sequence[Callback] = (), log: Callable[[str], Any] = print,
                 strategy: Optional[tf.distribute.Strategy] = None) -> None:
        if not isinstance(flow, Flow):
            raise TypeError(f"flow must be a tfp_flows Flow, got {type(flow).__name__}")
        self.config = config.validate()
        self.flow, self.objective, self.log = flow, objective, log
        if run is not None and not isinstance(run, RunFolder):
            run = RunFolder(run, strategy)
        self.run_folder = run
        self.run_dir = None if run is None else run.path
        if objective.batch_size is not None and objective.batch_size != config.batch_size:
            raise ValueError(f"the objective's batch size ({objective.batch_size}) differs from "
                             f"config.batch_size ({config.batch_size})")
        per_epoch = objective.steps_per_epoch
        if per_epoch is None:  # no epochs (e.g. reverse KL): max_steps alone ends the run
            if config.max_steps is None:
                raise ValueError("max_steps must be set for an objective without epochs")
            per_epoch = _NO_EPOCHS
        self.steps_per_epoch = per_epoch
        self.strategy = strategy
        if strategy is not None and not hasattr(objective, "order"):
            raise ValueError("training under a tf.distribute strategy splits batches of data across replicas: "
                             "it needs a maximum-likelihood objective")
        self.chief = distribute.is_chief(strategy) if run is None else run.chief
        self._multi_worker = distribute.is_multi_worker(strategy)
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            self.optimizer = tf_keras.optimizers.Adam(config.learning_rate)
            self.optimizer.build(flow.trainable_variables)  # slots now: one trace of the loop
            self.state = {
                "step": tf.Variable(0, dtype=tf.int64, trainable=False),
                "epoch": tf.Variable(0, dtype=tf.int64, trainable=False),
                "batch_in_epoch": tf.Variable(0, dtype=tf.int64, trainable=False),
                "epoch_loss_sum": tf.Variable(0.0, dtype=tf.float64, trainable=False),
                "epoch_loss_count": tf.Variable(0, dtype=tf.int64, trainable=False),
                "wall": tf.Variable(0.0, dtype=tf.float64, trainable=False),
            }
        user = [c for c in callbacks if not isinstance(c, NonFiniteGuard)]
        self.guard = next((c for c in callbacks if isinstance(c, NonFiniteGuard)), None) \
            or NonFiniteGuard(config.max_skipped)
        self._checkpointing = None
        if run is not None:
            # Evaluations come before the checkpoint of the same step, so their records
            # are in the log that a resumed run keeps.
            self._checkpointing = Checkpointing(run, config.checkpoint_every or per_epoch)
            log_cb = [MetricsLog(run)] if run.chief else []
            callbacks = [*log_cb, *user, self._checkpointing, self.guard]
        else:
            callbacks = [*user, self.guard]
        self.callbacks = callbacks
        extra = {}
        for cb in callbacks:
            extra.update(cb.state())
        self.checkpoint = tf.train.Checkpoint(flow=flow, optimizer=self.optimizer, **self.state, **extra)
        if strategy is not None:
            # Each replica's loss and gradients are XLA-compiled; the loop around them is not.
            self.xla = False
            self._loop = self._short_loop = make_distributed_train_loop(
                self._step_loss, self.flow.trainable_variables, self.optimizer, self.state["step"], strategy,
                counters=(self.state["batch_in_epoch"],))
        else:
            self.xla = config.use_xla(per_epoch)
            self._loop = self._make_loop(self.xla)
            # An epoch's short last batch has its own shape; with XLA it runs uncompiled
            # rather than costing a second compilation.
            self._short_loop = self._make_loop(False) if self.xla else self._loop
        self._any_worker = distribute.any_worker(strategy) if self._multi_worker else None
        self.records = []
        self.step = self.epoch = self.in_epoch = 0
        self._loss_sum, self._loss_count = 0.0, 0
        self.skipped_in_last_call = 0
        self._step_seconds = None  # measured by each call of full batches
        self._start_wall = time.time()

    def _step_loss(self, row, step):
        return self.objective.loss(self.flow, row, step)

    def _make_loop(self, jit_compile):
        return make_train_loop(self._step_loss, self.flow.trainable_variables, self.optimizer, self.state["step"],
                               counters=(self.state["batch_in_epoch"],), jit_compile=jit_compile)

    # ------------------------------------------------------------ for callbacks
    @property
    def epoch_mean_loss(self) -> float:
        return self._loss_sum / self._loss_count if self._loss_count else math.nan

    def record(self, record: Dict[str, Any]) -> None:
        """Add a record (a dict with at least "step") to the log and pass it to callbacks."""
        self.records.append(record)
        for cb in self.callbacks:
            cb.on_record(self, record)

    def sync(self) -> None:
        """Copy the Python-side position into the checkpointed variables (the compiled
        loop advances `step` and `batch_in_epoch` itself)."""
        st = self.state
        st["epoch"].assign(self.epoch)
        st["batch_in_epoch"].assign(self.in_epoch)
        st["epoch_loss_sum"].assign(self._loss_sum)
        st["epoch_loss_count"].assign(self._loss_count)
        st["wall"].assign(time.time() - self._start_wall)

    def flush(self) -> None:
        """Finish and record whatever callbacks are doing in the background (evaluations
        under way); called before every checkpoint, on Ctrl-C and at the end."""
        for cb in self.callbacks:
            cb.flush(self)

    def restore_last_good(self) -> bool:
        return self._checkpointing is not None and self._checkpointing.restore_last_good(self)

    @property
    def skipped_steps(self) -> int:
        return int(self.guard.skipped.numpy())

    # ---------------------------------------------------------------- training
    def _load_position(self):
        st = self.state
        self.step, self.epoch, self.in_epoch = (int(st[k].numpy()) for k in ("step", "epoch", "batch_in_epoch"))
        self._loss_sum = float(st["epoch_loss_sum"].numpy())
        self._loss_count = int(st["epoch_loss_count"].numpy())

    def _train_call(self, n):
        """Run the next n steps in one compiled call; returns the applied steps' losses."""
        inputs, n, full = self.objective.inputs(self.epoch, self.in_epoch, n, self.config.call_capacity())
        loop = self._loop if full else self._short_loop
        started = time.perf_counter()
        losses, applied = loop(tf.constant(inputs), tf.constant(n, tf.int32))
        losses, applied = losses.numpy()[:n].astype(np.float64), int(applied.numpy())
        if full and applied:
            # The call's own time per step (a first call's compilation included: the next
            # call corrects it), which sizes the calls when steps_per_call is auto.
            self._step_seconds = (time.perf_counter() - started) / applied
        self.step, self.in_epoch = self.step + applied, self.in_epoch + applied
        self.skipped_in_last_call = 0
        if self.guard.observe(self, applied, losses[applied] if applied < n else None):
            # skipped: the step's number is used up (a reverse-KL step draws new points)
            self.state["step"].assign_add(1)
            self.state["batch_in_epoch"].assign_add(1)
            self.step, self.in_epoch = self.step + 1, self.in_epoch + 1
            self.skipped_in_last_call = 1
        good = losses[:applied]
        self._loss_sum += float(good.sum())
        self._loss_count += applied
        return good

    def _call_size(self, target):
        """Steps for the next call towards step `target`, within the epoch under way."""
        return min(self.config.steps_for_call(self._step_seconds), target - self.step,
                   self.steps_per_epoch - self.in_epoch)

    def _chunk_size(self, total):
        n = self._call_size(total)
        for cb in self.callbacks:
            until = cb.steps_until(self)
            if until is not None:
                n = min(n, until)
        return max(n, 1)

    def compile(self) -> None:
        """Trace (and, with XLA, compile) the training loop now without taking a step:
        the first call of `run` then starts training at once. Changes nothing."""
        first, second = self._loops_to_compile()
        first()
        if second is not None:
            second()

    def _loops_to_compile(self):
        """(build the loop of full batches, build the short-batch loop or None): each
        traces its loop and calls it for zero steps (with XLA, that compiles it). The
        first takes an optional `threading.Event`, set once its tracing is done."""
        inputs, _, full = self.objective.inputs(0, 0, 1, self.config.call_capacity())
        inputs = tf.zeros(inputs.shape, tf.int32)
        none = tf.constant(0, tf.int32)  # zero steps: the loop is built, not run

        def build(loop, inputs, traced=None):
            loop.get_concrete_function(inputs, none)
            if traced is not None:
                traced.set()
            loop(inputs, none)
        if not full:
            return functools.partial(build, self._short_loop, inputs), None
        second = None if self._short_loop is self._loop else functools.partial(build, self._short_loop, inputs[:1])
        return functools.partial(build, self._loop, inputs), second

    @contextlib.contextmanager
    def compiling_in_background(self) -> Iterator[None]:
        """Within the block, `compile` runs in a thread (the block can meanwhile do other
        work, e.g. score the data before training); leaving the block, even by an error
        or Ctrl-C, waits for it, and re-raises its error. Under a `tf.distribute`
        strategy (whose loop has collective steps) the block runs first and the loop
        compiles on first use, as usual.

        With XLA, the uncompiled loop for an epoch's short last batch is traced on
        leaving the block, in the calling thread, while XLA (one core) is still
        compiling the main loop: its tracing then costs no time of its own."""
        if self.strategy is not None:
            yield
            return
        failure, traced = [], threading.Event()
        first, second = self._loops_to_compile()

        def work():
            try:
                first(traced=traced)
            except BaseException as err:  # re-raised in the caller's thread
                failure.append(err)
            finally:
                traced.set()
        thread = threading.Thread(target=work, name="compile", daemon=True)
        thread.start()
        try:
            yield
        except BaseException:
            # A failure in the block (its run folder cannot be written) or Ctrl-C: wait for
            # the compilation (seconds; it cannot be cancelled) before the error goes up.
            # A thread still inside TensorFlow when the process ends aborts it ("terminate
            # called ...", SIGABRT) instead of the one line and exit 130.
            thread.join()
            raise
        try:
            traced.wait()  # one loop traced at a time: they share the model and optimizer
            if second is not None and not failure:
                second()
        finally:
            thread.join()
        if failure:
            raise failure[0]

    def train_steps(self, n: int) -> np.ndarray:
        """Advance training by `n` steps exactly as `run` would, but without callbacks
        (for benchmarks and interactive use). Returns the losses of the steps."""
        self._load_position()
        target, out = self.step + int(n), []
        while self.step < target:
            if self.in_epoch >= self.steps_per_epoch:
                self.epoch, self.in_epoch = self.epoch + 1, 0
                self.state["epoch"].assign(self.epoch)
                self.state["batch_in_epoch"].assign(0)
            out.append(self._train_call(self._call_size(target)))
        return np.concatenate(out) if out else np.zeros(0)

    def run(self, resume: bool = False) -> Dict[str, Any]:
        """Train until the planned steps are done or a callback stops the run.

        Returns:
          {"steps", "epochs", "stopped_early", "skipped_steps", "wall_seconds"}.

        Raises:
          ValueError: a non-finite loss beyond what the guard skips (the last good
            checkpoint is kept), `resume` without a checkpoint, or a fresh start over one.
          KeyboardInterrupt: Ctrl-C, after saving a checkpoint.
        """
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            return self._run(resume)
        except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
                tf.errors.AbortedError, tf.errors.InternalError) as err:
            if not self._multi_worker:
                raise
            where = tf.train.latest_checkpoint(str(self._checkpointing.dir)) if self._checkpointing else None
            lost = WorkerLost(f"lost contact with another worker ({type(err).__name__} in a collective step: it "
                              f"stopped answering, or took over {distribute.collective_timeout():g} s); the last "
                              f"checkpoint is {where or 'none'}; restart every worker with --resume")
        # Raised out here, with the collective's error and its frames released first: when the
        # failure came from an eager all-reduce, those frames hold TensorFlow's unclosed
        # multiprocessing ThreadPool, whose finaliser would otherwise run at interpreter exit,
        # after the file descriptors are closed, and print a traceback.
        gc.collect()
        raise lost

    def _run(self, resume):
        cfg = self.config
        # The checkpoint is restored (on resume) before any other callback starts, so
        # they all see the restored position.
        begin = [self._checkpointing] if self._checkpointing else []
        for cb in begin + [c for c in self.callbacks if c is not self._checkpointing]:
            cb.on_train_begin(self, resume)
        self._load_position()
        self._start_wall = time.time() - float(self.state["wall"].numpy())
        total = cfg.planned_steps(self.steps_per_epoch)
        bar = tqdm(total=total, initial=self.step, unit="step", disable=None if cfg.progress else True,
                   file=sys.stderr, dynamic_ncols=True)
        stopped_early = False
        with _DeferredInterrupt() as interrupt:
            try:
                while True:
                    if self.in_epoch >= self.steps_per_epoch:  # an epoch is complete (also after a resume)
                        finished, mean_loss = self.epoch + 1, self.epoch_mean_loss
                        self.epoch, self.in_epoch, self._loss_sum, self._loss_count = finished, 0, 0.0, 0
                        self.sync()
                        verdicts = [cb.on_epoch_end(self, finished, mean_loss) for cb in self.callbacks]
                        if any(verdicts):
                            stopped_early = True
                            break
                    if self.epoch >= cfg.epochs or self.step >= total:
                        break
                    before = self.step
                    losses = self._train_call(self._chunk_size(total))
                    bar.update(self.step - before)
                    for cb in self.callbacks:
                        cb.on_steps(self, losses)
                    asked = interrupt.requested
                    if self._any_worker is not None:  # every worker stops where any was asked to
                        asked = self._any_worker(asked)
                    if asked:  # Ctrl-C: everything agrees at this point
                        self.sync()
                        raise KeyboardInterrupt
            except KeyboardInterrupt:
                bar.close()
                self.state["wall"].assign(time.time() - self._start_wall)
                self.flush()
                for cb in self.callbacks:
                    cb.on_interrupt(self)
                raise
        bar.close()
        self.sync()
        self.flush()
        for cb in reversed(self.callbacks):
            cb.on_train_end(self)
        return {"steps": self.step, "epochs": self.epoch + (1 if self.in_epoch else 0),
                "stopped_early": stopped_early, "skipped_steps": self.skipped_steps,
                "wall_seconds": round(time.time() - self._start_wall, 2)}
