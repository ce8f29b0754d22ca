"""The planar flow of Rezende & Mohamed (2015) as a TFP bijector, written by hand because
TFP has none (see `tfp_flows.bijectors` for the contract it follows).

[1]: Danilo Jimenez Rezende, Shakir Mohamed. Variational Inference with Normalizing
     Flows. ICML 2015. https://arxiv.org/abs/1505.05770
"""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.bijectors._params import as_parameter, dtype_of

tfb = tfp.bijectors

__all__ = ["Planar"]

_BISECTION_STEPS = 100


class Planar(tfb.Bijector):
    """Y = g(X) = X + u_hat * tanh(w . X + b), the planar flow.

    log|det dY/dX| = log|1 + u_hat . psi(X)|, psi(X) = (1 - tanh(w . X + b)^2) w.
    The map is invertible when w . u_hat >= -1; the raw `u` is always replaced by
    u_hat = u + (m(w . u) - w . u) w / |w|^2, m(s) = -1 + softplus(s), which makes
    w . u_hat = m(w . u) > -1 whatever `u` is.

    The inverse has no closed form: with s = w . X, w . Y = s + (w . u_hat) tanh(s + b)
    is strictly increasing in s and s lies within |w . u_hat| of w . Y, so s is found by
    bisection on that interval (100 halvings: to machine precision in float64), then
    X = Y - u_hat tanh(s + b).

    Args:
      u, w: shape [D] (numbers, tensors or variables).
      b: a scalar.
    """

    def __init__(self, u, w, b, validate_args=False, name="planar"):
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
    def u(self):
        return self._u

    @property
    def w(self):
        return self._w

    @property
    def b(self):
        return self._b

    def u_hat(self):
        """The reparameterised u, with w . u_hat = -1 + softplus(w . u) > -1."""
        u, w = tf.convert_to_tensor(self._u), tf.convert_to_tensor(self._w)
        wu = tf.reduce_sum(w * u, axis=-1, keepdims=True)
        m = -1.0 + tf.math.softplus(wu)
        return u + (m - wu) * w / tf.reduce_sum(w * w, axis=-1, keepdims=True)

    def _forward(self, x):
        w, b = tf.convert_to_tensor(self._w), tf.convert_to_tensor(self._b)
        a = tf.reduce_sum(x * w, axis=-1, keepdims=True) + b
        return x + self.u_hat() * tf.tanh(a)

    def _forward_log_det_jacobian(self, x):
        w, b = tf.convert_to_tensor(self._w), tf.convert_to_tensor(self._b)
        a = tf.reduce_sum(x * w, axis=-1) + b
        u_hat_w = tf.reduce_sum(self.u_hat() * w, axis=-1)
        return tf.math.log(tf.abs(1.0 + (1.0 - tf.tanh(a) ** 2) * u_hat_w))

    def _inverse(self, y):
        w, b = tf.convert_to_tensor(self._w), tf.convert_to_tensor(self._b)
        u_hat = self.u_hat()
        c = tf.reduce_sum(w * u_hat, axis=-1)
        target = tf.reduce_sum(y * w, axis=-1)
        lo, hi = target - tf.abs(c), target + tf.abs(c)
        for _ in range(_BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            too_big = mid + c * tf.tanh(mid + b) > target
            lo, hi = tf.where(too_big, lo, mid), tf.where(too_big, mid, hi)
        s = 0.5 * (lo + hi)
        return y - u_hat * tf.tanh(s + b)[..., tf.newaxis]
