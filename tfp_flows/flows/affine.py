"""P1's "training a flow" model: a low-rank affine map followed by a leaky ReLU."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.bijectors import leaky_relu, low_rank_affine, positive_slope
from tfp_flows.flows.base import Flow, check_positive_int

tfd = tfp.distributions

__all__ = ["AffineLeakyReLUFlow"]


def _glorot_uniform(rng, shape):
    """TF1's `get_variable` default initialiser (P1's variables were made that way)."""
    if len(shape) == 0:
        fan_in = fan_out = 1
    elif len(shape) == 1:
        fan_in = fan_out = shape[0]
    else:
        fan_in, fan_out = shape[-2], shape[-1]
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


class AffineLeakyReLUFlow(Flow):
    """P1's "training a flow" model: Y = LeakyReLU_alpha((L + V V^T) Z + shift), Z ~ N(0, I_d).

    The low-rank affine map acts first on base samples, then the leaky ReLU with a
    learnable slope alpha = |a| + 0.01. Variables (shift [d], L's d(d+1)/2 entries,
    V [d, r], a []) get Glorot-uniform initial values from `seed`, as TF1's
    `get_variable` gave P1.

    Args:
      dims: event size d.
      rank: rank r of the update V V^T.
      seed: integer seed for the initial values.
      dtype: float dtype of variables and samples.

    #### Examples

    >>> flow = AffineLeakyReLUFlow(seed=1)
    >>> flow.log_prob([[1.0, 1.0]]).shape
    TensorShape([1])
    """

    def __init__(self, dims: int = 2, rank: int = 2, seed: int = 0, dtype: tf.DType = tf.float32,
                 name: str = "affine_leaky_relu_flow") -> None:
        super().__init__(name=name)
        dims, rank = check_positive_int(dims, "dims"), check_positive_int(rank, "rank")
        dtype = tf.as_dtype(dtype)
        self._args = dict(dims=dims, rank=rank, seed=seed, dtype=dtype.name)
        rng = np.random.default_rng(seed)
        n_tril = dims * (dims + 1) // 2
        with self.name_scope:
            self.shift = tf.Variable(_glorot_uniform(rng, (dims,)), dtype=dtype, name="shift")
            self.scale_tril_params = tf.Variable(
                _glorot_uniform(rng, (n_tril,)), dtype=dtype, name="L")
            self.perturb_factor = tf.Variable(
                _glorot_uniform(rng, (dims, rank)), dtype=dtype, name="V")
            self.alpha = positive_slope(_glorot_uniform(rng, ()), dtype=dtype)
        # The affine map acts first on base samples, so the leaky ReLU is the data side.
        self.assemble(tfd.MultivariateNormalDiag(loc=tf.zeros(dims, dtype=dtype)),
                      [leaky_relu(self.alpha),
                       low_rank_affine(self.shift, self.scale_tril_params, self.perturb_factor)],
                      self._args)
