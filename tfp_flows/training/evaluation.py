"""Scoring data with a flow: mean log-likelihood and its standard error, in chunks."""

from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf
from numpy.typing import ArrayLike

from tfp_flows.flows.base import Flow

__all__ = ["Evaluator", "evaluate_log_likelihood", "mean_and_stderr", "xla_pays"]


def xla_pays():
    """Whether this TensorFlow's XLA CPU backend splits small element-wise work across
    cores (TF 2.17 and later; TF 2.16's does so only from 512 KB of output)."""
    major, minor = (int(x) for x in tf.__version__.split(".")[:2])
    return (major, minor) >= (2, 17)


def mean_and_stderr(values: ArrayLike) -> Tuple[float, float]:
    """(mean, standard error of the mean) of a 1-D array, in float64."""
    v = np.asarray(values, np.float64)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0


def evaluate_log_likelihood(log_prob: Callable[[tf.Tensor], tf.Tensor], data: ArrayLike,
                            batch_size: int = 20_000) -> Tuple[float, float]:
    """Mean log-likelihood of `data` [n, ...] and its standard error, scored in chunks by
    `log_prob` (a function [m, ...] -> [m])."""
    values = [log_prob(tf.constant(data[s:s + batch_size])).numpy()
              for s in range(0, len(data), batch_size)]
    return mean_and_stderr(np.concatenate(values))


class Evaluator:
    """Scores data under a flow with batch norm in evaluation mode.

    ``bn_eval="moving"`` (correct): batch norm uses its moving statistics, in compiled
    chunks of `batch_size` rows. ``bn_eval="batch"`` (P2's way): the whole set is one
    batch and batch norm normalises with that batch's statistics; the moving statistics
    are restored afterwards, so evaluating changes nothing.
    """

    # Each compiled chunk is scored as this many independent parts: TensorFlow's executor
    # runs them side by side, which keeps both cores of a small machine busy between the
    # parts' matrix products (about 1.1x on 2 cores; benchmarks/README.md, "Evaluation").
    # Rows are scored independently, so only the rounding of the products changes.
    PARTS = 4

    def __init__(self, flow: Flow, bn_eval: str = "moving", batch_size: int = 20_000,
                 xla: Optional[bool] = None) -> None:
        self.flow, self.bn_eval, self.batch_size = flow, bn_eval, batch_size
        self.dtype = flow.base.dtype
        # XLA where it pays: from TF 2.17 its CPU backend splits the element-wise work of a
        # chunk across cores (P2's model: about 1.7x the rows/s of the graph executor on 2
        # cores, TF 2.21); TF 2.16's runs it on one core (about 1.0-1.4x, not kept). One
        # compilation per chunk size: the full chunks and a set's short last one.
        # Not with variables on several devices (a tf.distribute strategy's mirrored copies):
        # XLA's compiled chunk cannot read a variable placed on another device.
        distributed = tf.distribute.has_strategy() or any(
            isinstance(v, tf.distribute.DistributedValues) for v in flow.variables)
        self.xla = (xla_pays() and not distributed) if xla is None else bool(xla)

        # Any number of rows: one trace (a set's short last chunk would otherwise trace
        # the flow a second time, some 4 s for P2's model).
        # A conditional flow's rows come with their context rows: data is then (x, context).
        specs = [tf.TensorSpec([None, *flow.base.event_shape.as_list()], self.dtype)]
        if flow.context_dims:
            specs.append(tf.TensorSpec([None, flow.context_dims], self.dtype))
        # The flow is traced once, as a function each part calls (TensorFlow inlines the
        # calls when it runs the graph), not once per part.
        part = tf.function(lambda x, *c: flow.log_prob(x, training=False, context=c[0] if c else None),
                           input_signature=specs)

        def log_prob(*inputs):
            n = tf.shape(inputs[0])[0]  # parts may be empty (fewer rows than parts)
            cuts = [n * i // self.PARTS for i in range(self.PARTS + 1)]
            return tf.concat([part(*(t[a:b] for t in inputs)) for a, b in zip(cuts, cuts[1:])], 0)

        self._compiled = tf.function(log_prob, input_signature=specs, jit_compile=self.xla)

    def twin(self) -> Optional["Evaluator"]:
        """An `Evaluator` over a separate copy of the flow (the same class rebuilt from
        its `config`, own variables; `copy_weights` fills them), or None when the flow
        cannot be rebuilt that way. Lets a thread score a snapshot of the weights while
        training goes on (`tfp_flows.training.Evaluation`)."""
        try:
            copy = type(self.flow)(**self.flow.config)
        except Exception:  # e.g. a TransformedFlow, whose config does not rebuild it
            return None
        # (Names differ: Keras numbers the layers it names itself, e.g. the MADEs' dense_7.)
        if [(v.shape, v.dtype) for v in copy.variables] != [(v.shape, v.dtype) for v in self.flow.variables]:
            return None
        return Evaluator(copy, self.bn_eval, self.batch_size, self.xla)

    def weights(self) -> List[np.ndarray]:
        """The flow's current variable values (numpy), for `copy_weights` of a twin."""
        return [v.numpy() for v in self.flow.variables]

    def copy_weights(self, values: Sequence[np.ndarray]) -> None:
        for v, value in zip(self.flow.variables, values):
            v.assign(value)

    def log_prob(self, data: Union[ArrayLike, Tuple[ArrayLike, ArrayLike]]) -> np.ndarray:
        """Per-row log-likelihoods (float64) under the configured evaluation; `data` is
        [n, D], or for a conditional flow the pair (x [n, D], context [n, C])."""
        parts = [np.asarray(t, self.dtype.as_numpy_dtype) for t in (data if isinstance(data, tuple) else (data,))]
        if len(parts) != 1 + bool(self.flow.context_dims):
            raise ValueError("a conditional flow scores (x, context) pairs; a plain one, x alone")
        if self.bn_eval == "moving":
            n, bs = len(parts[0]), self.batch_size
            return np.concatenate([self._compiled(*(tf.constant(t[s:s + bs]) for t in parts)).numpy()
                                   for s in range(0, n, bs)]).astype(np.float64)
        bn = self.flow.moving_statistics()
        saved = [v.numpy() for v in bn]
        context = tf.constant(parts[1]) if len(parts) > 1 else None
        values = self.flow.log_prob(tf.constant(parts[0]), training=True, context=context).numpy().astype(np.float64)
        for v, s in zip(bn, saved):
            v.assign(s)
        return values

    def __call__(self, data):
        """(mean, standard error) of the log-likelihood of `data`."""
        return mean_and_stderr(self.log_prob(data))
