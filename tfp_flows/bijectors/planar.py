"""The planar flow of Rezende & Mohamed (2015) as a TFP bijector, written by hand because
TFP has none (see `tfp_flows.bijectors` for the contract it follows).

[1]: Danilo Jimenez Rezende, Shakir Mohamed. Variational Inference with Normalizing
     Flows. ICML 2015. https://arxiv.org/abs/1505.05770
"""

import math

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.bijectors._params import as_parameter, dtype_of
from tfp_flows.bijectors._stable import log_add_exp, log_softplus, safe_log, tiny

tfb = tfp.bijectors
TensorLike = tf.types.experimental.TensorLike

__all__ = ["Planar"]

_BISECTION_STEPS = 100


class Planar(tfb.Bijector):
    """Y = g(X) = X + u_hat * tanh(w . X + b), the planar flow.

    log|det dY/dX| = log|1 + u_hat . psi(X)|, psi(X) = (1 - tanh(w . X + b)^2) w.
    The map is invertible when w . u_hat >= -1; the raw `u` is always replaced by
    u_hat = u + (m(w . u) - w . u) w / |w|^2, m(s) = -1 + softplus(s), which makes
    w . u_hat = m(w . u) > -1 whatever `u` is.

    Computed with care where the parameters saturate: with a = w . X + b,
    1 + m sech(a)^2 = tanh(a)^2 + sech(a)^2 softplus(w . u), a sum of two non-negative
    terms, is taken in log space, so the log-det stays finite when m rounds to -1
    (w . u below about -15 in float32, -40 in float64) and a = 0.

    The inverse has no closed form: with s = w . X, w . Y = s + m tanh(s + b) is
    strictly increasing in s and s lies within |m| of w . Y, so s is found by bisection
    on that interval (100 halvings: to machine precision in float64), then
    X = Y - u_hat tanh(s + b). The bisection's comparisons carry no useful gradient, so
    its result is held constant and refined by one Newton step, whose derivative is the
    implicit-function one: ds/dtheta = -(dF/dtheta) / (dF/ds) for F(s) = s + m tanh(s + b) - w . Y.

    Args:
      u, w: shape [..., D] (numbers, tensors or variables); leading dimensions are a
        batch of bijectors.
      b: shape [...], a scalar per bijector.
    """

    def __init__(self, u: TensorLike, w: TensorLike, b: TensorLike, validate_args: bool = False, name: str = "planar") -> None:
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            dtype = dtype_of(u)
            self._u = as_parameter(u, dtype, "u")
            self._w = as_parameter(w, dtype, "w")
            self._b = as_parameter(b, dtype, "b")
            super().__init__(forward_min_event_ndims=1, validate_args=validate_args,
                             parameters=parameters, name=name, dtype=dtype)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return dict(u=tfp.util.ParameterProperties(event_ndims=1),
                    w=tfp.util.ParameterProperties(event_ndims=1),
                    b=tfp.util.ParameterProperties())

    @property
    def u(self) -> tf.Tensor:
        return self._u

    @property
    def w(self) -> tf.Tensor:
        return self._w

    @property
    def b(self) -> tf.Tensor:
        return self._b

    def _params(self):
        """(w [..., D], b [...], w . u [...], u_hat [..., D], m = w . u_hat [...], w = 0 [...])."""
        u, w = tf.convert_to_tensor(self._u), tf.convert_to_tensor(self._w)
        b = tf.convert_to_tensor(self._b)
        wu = tf.reduce_sum(w * u, axis=-1)
        ww = tf.reduce_sum(w * w, axis=-1)
        # w = 0 is the identity plus a shift (u tanh(b)): u_hat = u and w . u_hat = 0.
        w_zero = ww < tiny(w.dtype)
        m = tf.where(w_zero, tf.zeros_like(wu), -1.0 + tf.math.softplus(wu))
        # m - w.u = softplus(-w.u) - 1, without the cancellation of large w.u.
        ww = tf.where(w_zero, tf.ones_like(ww), ww)
        u_hat = u + tf.where(w_zero, tf.zeros_like(wu), (tf.math.softplus(-wu) - 1.0) / ww)[..., tf.newaxis] * w
        return w, b, wu, u_hat, m, w_zero

    def u_hat(self) -> tf.Tensor:
        """The reparameterised u, with w . u_hat = -1 + softplus(w . u) > -1."""
        return self._params()[3]

    def _forward(self, x):
        w, b, _, u_hat, _, _ = self._params()
        a = tf.reduce_sum(x * w, axis=-1) + b
        return x + u_hat * tf.tanh(a)[..., tf.newaxis]

    def _forward_log_det_jacobian(self, x):
        w, b, wu, _, _, w_zero = self._params()
        return _log_slope(tf.reduce_sum(x * w, axis=-1) + b, wu, w_zero)

    def _inverse(self, y):
        w, b, wu, u_hat, m, w_zero = self._params()
        target = tf.reduce_sum(y * w, axis=-1)
        s0 = tf.stop_gradient(_bisect(target, tf.stop_gradient(m), tf.stop_gradient(b)))
        residual = s0 + m * tf.tanh(s0 + b) - target
        slope = tf.maximum(tf.exp(_log_slope(s0 + b, wu, w_zero)), tiny(y.dtype))
        s = s0 - residual / slope
        return y - u_hat * tf.tanh(s + b)[..., tf.newaxis]


def _log_slope(a, wu, w_zero):
    """log(1 + m sech(a)^2) with m = -1 + softplus(wu): as log(tanh(a)^2 + sech(a)^2 softplus(wu));
    0 where w = 0 (the map is then a shift)."""
    abs_a = tf.abs(a)
    log_sech2 = 2.0 * (math.log(2.0) - abs_a - tf.math.log1p(tf.exp(-2.0 * abs_a)))
    value = log_add_exp(2.0 * safe_log(tf.abs(tf.tanh(a))), log_sech2 + log_softplus(wu))
    return tf.where(w_zero, tf.zeros_like(value), value)


def _bisect(target, m, b):
    """The s with s + m tanh(s + b) = target, by bisection on [target - |m|, target + |m|]."""
    lo, hi = target - tf.abs(m), target + tf.abs(m)
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        too_big = mid + m * tf.tanh(mid + b) > target
        lo, hi = tf.where(too_big, lo, mid), tf.where(too_big, mid, hi)
    return 0.5 * (lo + hi)
