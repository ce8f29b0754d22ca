"""What the trainer minimises: the negative log-likelihood of data, or the reverse KL
divergence to an unnormalised target.

An objective tells the trainer how long an epoch is and what each step's input row
is, and computes a step's loss inside the compiled loop (`loss(flow, row, step)`).
"""

import math
from typing import Callable, Optional, Tuple, Union

import numpy as np
import tensorflow as tf

from tfp_flows.batches import epoch_order
from tfp_flows.flows.base import Flow

__all__ = ["MaximumLikelihood", "Objective", "ReverseKL", "annealing"]


class Objective:
    """Base class. `steps_per_epoch` is None when the objective has no epochs (then the
    run's length is `TrainConfig.max_steps`)."""

    steps_per_epoch = None
    batch_size = None  # rows (or draws) per step, when the objective has a batch

    def loss(self, flow: Flow, row: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def inputs(self, epoch: int, in_epoch: int, n: int, k: int) -> Tuple[np.ndarray, int, bool]:
        """(int32 [k, width] inputs for the next n <= k steps, n, whether the rows have the
        usual width). Default: no per-step input (a row of zeros)."""
        return np.zeros((k, 1), np.int32), n, True


class MaximumLikelihood(Objective):
    """Minimise -mean(log p(batch)) over batches of `data` [rows, ...event]; with `context`
    [rows, C], -mean(log p(batch | its context rows)) for a conditional flow.

    Epoch e visits the rows in `tfp_flows.batches.epoch_order` (seeded by (seed, e)), so
    the data order does not depend on how often a run was interrupted; `batch_dataset`
    gives the same batches as a `tf.data.Dataset`. The array is held in the graph and
    each step gathers its rows there, the per-step input being the batch's row numbers
    (measured no slower than feeding the dataset's batches, and its position is two
    integers in the checkpoint: see `tfp_flows.batches`). The
    epoch's short last batch (when the batch size does not divide the rows) runs alone,
    with its own width.
    """

    def __init__(self, data: np.ndarray, batch_size: int, seed: int = 0, context: Optional[np.ndarray] = None) -> None:
        data = np.asarray(data, np.float32)
        if data.ndim < 1 or len(data) == 0:
            raise ValueError("data must be a non-empty array [rows, ...]")
        if context is not None:
            context = np.asarray(context, np.float32)
            if context.ndim != 2 or len(context) != len(data):
                raise ValueError(f"context must be [rows, C] with a row for each of the {len(data)} data rows, "
                                 f"got shape {context.shape}")
        self.data, self.batch_size, self.seed = data, int(batch_size), int(seed)
        self.steps_per_epoch = math.ceil(len(data) / self.batch_size)
        self._tensor = tf.convert_to_tensor(data)
        self._context = None if context is None else tf.convert_to_tensor(context)
        self._order = (None, None)

    def loss(self, flow: Flow, row: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
        context = None if self._context is None else tf.gather(self._context, row)
        return -tf.reduce_mean(flow.log_prob(tf.gather(self._tensor, row), training=True, context=context))

    def order(self, epoch: int) -> np.ndarray:
        """The training rows in epoch `epoch`'s order (int32)."""
        if self._order[0] != epoch:
            self._order = (epoch, epoch_order(len(self.data), self.seed, epoch))
        return self._order[1]

    def inputs(self, epoch: int, in_epoch: int, n: int, k: int) -> Tuple[np.ndarray, int, bool]:
        bs = self.batch_size
        rows = self.order(epoch)[in_epoch * bs:(in_epoch + n) * bs]
        if len(rows) < n * bs:  # the epoch's short last batch is in this chunk
            if n > 1:
                n -= 1
                rows = rows[:n * bs]
            else:
                return rows[None, :], 1, False
        inputs = np.zeros((k, bs), np.int32)  # a fixed shape: XLA compiles once
        inputs[:n] = rows.reshape(n, bs)
        return inputs, n, True


def annealing(step: Union[int, float, tf.Tensor], enabled: bool = True) -> Union[float, tf.Tensor]:
    """The inverse temperature of Rezende & Mohamed (2015): beta_t = min(1, 0.01 + t / 10000),
    or 1 when not `enabled`. Works on Python numbers and on tensors (returns float64).

    >>> [round(float(annealing(t)), 4) for t in (0, 5_000, 9_900, 20_000)]
    [0.01, 0.51, 1.0, 1.0]
    >>> float(annealing(0, enabled=False))
    1.0
    """
    if not enabled:
        return tf.constant(1.0, tf.float64)
    return tf.minimum(tf.constant(1.0, tf.float64), 0.01 + tf.cast(step, tf.float64) / 10_000.0)


class ReverseKL(Objective):
    """Minimise E_q[log q(z) + beta_t U(z)] for a flow q and an energy U (p ∝ exp(-U)).

    Every step draws `batch_size` fresh points from q with the stateless seed
    ``[seed, t]`` (t the step number), so a resumed run draws exactly what an
    uninterrupted one would. beta_t follows `annealing` when `anneal` is on.

    Args:
      energy_fn: z [n, D] -> U(z) [n].
      batch_size: draws per step.
      anneal: use the annealing schedule (else beta = 1).
      seed: the first half of every step's stateless seed.
    """

    def __init__(self, energy_fn: Callable[[tf.Tensor], tf.Tensor], batch_size: int = 256, anneal: bool = True,
                 seed: int = 0) -> None:
        self.energy_fn, self.batch_size, self.anneal = energy_fn, int(batch_size), bool(anneal)
        self.seed = int(seed) % 2**31

    def loss(self, flow: Flow, row: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
        seed = tf.stack([tf.constant(self.seed, tf.int32), tf.cast(step, tf.int32)])
        z, log_q = flow.sample_and_log_prob(self.batch_size, seed=seed)
        beta = tf.cast(annealing(step, self.anneal), log_q.dtype)
        return tf.reduce_mean(log_q + beta * tf.cast(self.energy_fn(z), log_q.dtype))
