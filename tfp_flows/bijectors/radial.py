"""The radial flow of Rezende & Mohamed (2015) as a TFP bijector, written by hand because
TFP has none (see `tfp_flows.bijectors` for the contract it follows).

[1]: Danilo Jimenez Rezende, Shakir Mohamed. Variational Inference with Normalizing
     Flows. ICML 2015. https://arxiv.org/abs/1505.05770
"""

import math
from typing import Tuple

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.bijectors._params import as_parameter, dtype_of
from tfp_flows.bijectors._stable import hypot, log_add_exp, log_softplus, safe_log, safe_norm

tfb = tfp.bijectors
TensorLike = tf.types.experimental.TensorLike

__all__ = ["Radial"]


class Radial(tfb.Bijector):
    """Y = g(X) = X + beta h(r) (X - z0), r = |X - z0|, h(r) = 1 / (alpha + r): the radial flow.

    log|det dY/dX| = (D - 1) log(1 + beta h) + log(1 + beta h + beta h'(r) r),
    h' = -1 / (alpha + r)^2. Invertible when beta >= -alpha; always so here, as
    alpha = softplus(a) and beta = -alpha + softplus(b_raw).

    Computed with care where the parameters saturate: with s = softplus(b_raw),
    1 + beta h = (r + s) / (alpha + r) and 1 + beta h + beta h' r =
    (r (r + 2 alpha) + alpha s) / (alpha + r)^2, sums of non-negative terms taken in log
    space, so the log-det stays finite when beta rounds to -alpha (b_raw below about -37)
    and X = z0.

    The inverse is closed-form: |Y - z0| = r (1 + beta / (alpha + r)) is a quadratic in
    r, r^2 + q r - alpha r_y = 0 with q = s - r_y, whose non-negative root is taken in
    the form that does not cancel: 2 alpha r_y / (q + sqrt(q^2 + 4 alpha r_y)) when q >= 0,
    (sqrt(q^2 + 4 alpha r_y) - q) / 2 otherwise; then X = z0 + (Y - z0) (alpha + r) / (r + s).

    Args:
      z0: the centre, shape [..., D]; leading dimensions are a batch of bijectors.
      a: raw value(s) for alpha = softplus(a), shape [...].
      b_raw: raw value(s) for beta = -alpha + softplus(b_raw), shape [...].
    """

    def __init__(self, z0: TensorLike, a: TensorLike, b_raw: TensorLike, validate_args: bool = False,
                 name: str = "radial") -> None:
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            dtype = dtype_of(z0)
            self._z0 = as_parameter(z0, dtype, "z0")
            self._a = as_parameter(a, dtype, "a")
            self._b_raw = as_parameter(b_raw, dtype, "b_raw")
            super().__init__(forward_min_event_ndims=1, validate_args=validate_args,
                             parameters=parameters, name=name, dtype=dtype)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return dict(z0=tfp.util.ParameterProperties(event_ndims=1),
                    a=tfp.util.ParameterProperties(),
                    b_raw=tfp.util.ParameterProperties())

    @property
    def z0(self) -> tf.Tensor:
        return self._z0

    def alpha_beta(self) -> Tuple[tf.Tensor, tf.Tensor]:
        """(alpha, beta) with alpha > 0 and beta > -alpha."""
        alpha = tf.math.softplus(tf.convert_to_tensor(self._a))
        beta = -alpha + tf.math.softplus(tf.convert_to_tensor(self._b_raw))
        return alpha, beta

    def _forward(self, x):
        alpha, beta = self.alpha_beta()
        d = x - tf.convert_to_tensor(self._z0)
        r = safe_norm(d, axis=-1)
        return x + (beta / (alpha + r))[..., tf.newaxis] * d

    def _forward_log_det_jacobian(self, x):
        a, b_raw = tf.convert_to_tensor(self._a), tf.convert_to_tensor(self._b_raw)
        log_alpha, log_s = log_softplus(a), log_softplus(b_raw)
        r = safe_norm(x - tf.convert_to_tensor(self._z0), axis=-1)
        log_r = safe_log(r)
        log_alpha_r = log_add_exp(log_alpha, log_r)                                 # log(alpha + r)
        first = log_add_exp(log_r, log_s) - log_alpha_r                             # log(1 + beta h)
        log_r_2alpha = log_add_exp(log_r, math.log(2.0) + log_alpha)                # log(r + 2 alpha)
        second = log_add_exp(log_r + log_r_2alpha, log_alpha + log_s) - 2.0 * log_alpha_r
        dims = tf.cast(tf.shape(x)[-1], x.dtype)
        return (dims - 1.0) * first + second

    def _inverse(self, y):
        alpha = tf.math.softplus(tf.convert_to_tensor(self._a))
        s = tf.math.softplus(tf.convert_to_tensor(self._b_raw))
        z0 = tf.convert_to_tensor(self._z0)
        d = y - z0
        r_y = safe_norm(d, axis=-1)
        q = s - r_y
        root = hypot(tf.abs(q), 2.0 * tf.sqrt(alpha) * tf.sqrt(r_y))  # sqrt(q^2 + 4 alpha r_y)
        denominator = q + root
        ok = denominator > 0
        stable = 2.0 * alpha * r_y / tf.where(ok, denominator, tf.ones_like(denominator))
        r = tf.where(q >= 0, tf.where(ok, stable, tf.zeros_like(stable)), 0.5 * (root - q))
        grow = r + s
        factor = (alpha + r) / tf.where(grow > 0, grow, tf.ones_like(grow))
        return z0 + d * factor[..., tf.newaxis]
