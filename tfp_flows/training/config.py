"""`TrainConfig`: the settings of a training run, declared once.

The command lines generate their training options from these fields (name, type,
default, `help` in the field's metadata; see `tfp_flows.cli.options`).
"""

from dataclasses import dataclass, field
from typing import Optional

from tfp_flows.configs import check_fields

__all__ = ["TrainConfig"]

# `steps_per_call=None`: each compiled call runs as many steps as take about CALL_SECONDS
# (by the last call's time), within these bounds. Every call costs a few milliseconds
# besides its steps (the call itself, reading its losses back, the trainer's
# bookkeeping), as much as two or three steps of P2's model at batch 100: 20 steps per
# call ran that model at 0.74x the speed of 100 per call (benchmarks/README.md,
# "2026-12-07, night"). The lower bound keeps large models, whose steps take a tenth of a
# second or more, at 20 as before; the upper one bounds the rows each call is handed.
AUTO_STEPS_PER_CALL = (20, 200)
CALL_SECONDS = 1.0

# Settings that old run records hold but that no longer change what a run computes: a
# record holding one still matches a run without it (`training.run_folder.differing_settings`).
NO_LONGER_RECORDED = frozenset({"steps_per_call"})


def _opt(help_text, **extra):
    return {"help": help_text, **extra}


@dataclass
class TrainConfig:
    """Settings of a training run (see `Trainer`)."""

    batch_size: int = field(default=100, metadata=_opt("batch size"))
    learning_rate: float = field(default=1e-4, metadata=_opt("Adam's learning rate"))
    epochs: int = field(default=1, metadata=_opt("passes over the training data"))
    max_steps: Optional[int] = field(default=None, metadata=_opt("stop after N steps (batches)"))
    eval_every: Optional[int] = field(
        default=1000, metadata=_opt("evaluate at batches 1, 1 + N, 1 + 2N, ... of every epoch "
                                    "(none: once an epoch, at its first batch)"))
    checkpoint_every: Optional[int] = field(
        default=1000, metadata=_opt("checkpoint every N steps (none: at every epoch's end); a run also checkpoints "
                                    "when it ends or is interrupted"))
    patience: int = field(default=30, metadata=_opt(
        "early stopping: epochs without a better validation log-likelihood (with a validation set)"))
    eval_batch_size: int = field(default=20_000, metadata=_opt("rows scored per evaluation call"))
    bn_eval: str = field(default="moving", metadata=_opt(
        "batch norm at evaluation: its moving statistics (correct) or, as P2 did, the statistics "
        "of the evaluated set as one batch", choices=("moving", "batch")))
    seed: int = field(default=0, metadata=_opt("random seed: the same seed gives the same numbers",
                                               minimum=0))
    progress: bool = field(default=True, metadata=_opt("no progress bar", negate="--no-progress",
                                                       affects_results=False))
    xla: str = field(default="auto", metadata=_opt(
        "compile the training loop with XLA; auto = on for runs of 20,000+ steps at batches up to "
        "1000 (the first compilation takes about 20 s for P2's model on 2 cores; see benchmarks/README.md)",
        choices=("auto", "on", "off")))
    steps_per_call: Optional[int] = field(default=None, metadata=_opt(
        "training steps per compiled call (default: auto = as many as take about a second, from "
        f"{AUTO_STEPS_PER_CALL[0]} to {AUTO_STEPS_PER_CALL[1]}); the numbers do not depend on it",
        affects_results=False))
    distribute: str = field(default="none", metadata=_opt(
        "train under tf.distribute: mirrored = the visible GPUs (or --cpu-devices logical CPUs) of this "
        "machine; multi-worker = every worker named in TF_CONFIG (see README)",
        choices=("none", "mirrored", "multi-worker")))
    cpu_devices: Optional[int] = field(default=None, metadata=_opt(
        "with --distribute mirrored on a machine without GPUs: split the CPU into N logical devices, one "
        "replica each"))
    max_skipped: int = field(default=0, metadata=_opt(
        "non-finite steps in a row that are skipped before the run stops (0: stop at the first)",
        minimum=0))

    # "auto" compiles with XLA for runs of at least this many steps, at batches up to
    # XLA_AUTO_MAX_BATCH, the range benchmarks/bench_train.py measures: compiling costs
    # about 20 s for P2's model on 2 cores, which a run must earn back (one P2 epoch on GAS is
    # 21,000 steps).
    XLA_AUTO_MIN_STEPS = 20_000
    XLA_AUTO_MAX_BATCH = 1000

    def planned_steps(self, steps_per_epoch: int) -> int:
        """Training steps the run will take at most."""
        total = self.epochs * steps_per_epoch
        return total if self.max_steps is None else min(total, self.max_steps)

    def use_xla(self, steps_per_epoch: int) -> bool:
        """Whether the training loop is compiled with XLA ("on", "off", or "auto")."""
        if self.xla != "auto":
            return self.xla == "on"
        return (self.batch_size <= self.XLA_AUTO_MAX_BATCH
                and self.planned_steps(steps_per_epoch) >= self.XLA_AUTO_MIN_STEPS)

    def call_capacity(self) -> int:
        """The most steps one compiled call can run (its per-step inputs have this many rows)."""
        return self.steps_per_call or AUTO_STEPS_PER_CALL[1]

    def steps_for_call(self, step_seconds: Optional[float]) -> int:
        """Steps for the next compiled call: `steps_per_call`, or when auto, as many as take
        about `CALL_SECONDS` at `step_seconds` a step (None, not measured yet: the fewest)."""
        if self.steps_per_call is not None:
            return self.steps_per_call
        low, high = AUTO_STEPS_PER_CALL
        if not step_seconds or step_seconds <= 0:
            return low
        return int(min(high, max(low, round(CALL_SECONDS / step_seconds))))

    def validate(self) -> "TrainConfig":
        """Raise ValueError naming the first setting that is out of range (the choices and
        bounds in the fields' metadata, and one rule between fields); returns self."""
        check_fields(self)
        if self.cpu_devices is not None and self.distribute != "mirrored":
            raise ValueError("cpu_devices (--cpu-devices) goes with distribute='mirrored'")
        return self
