"""The radial flow of Rezende & Mohamed (2015) as a TFP bijector, written by hand because
TFP has none (see `tfp_flows.bijectors` for the contract it follows).

[1]: Danilo Jimenez Rezende, Shakir Mohamed. Variational Inference with Normalizing
     Flows. ICML 2015. https://arxiv.org/abs/1505.05770
"""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.bijectors._params import as_parameter, dtype_of

tfb = tfp.bijectors

__all__ = ["Radial"]


class Radial(tfb.Bijector):
    """Y = g(X) = X + beta h(r) (X - z0), r = |X - z0|, h(r) = 1 / (alpha + r): the radial flow.

    log|det dY/dX| = (D - 1) log(1 + beta h) + log(1 + beta h + beta h'(r) r),
    h' = -1 / (alpha + r)^2. Invertible when beta >= -alpha; always so here, as
    alpha = softplus(a) and beta = -alpha + softplus(b_raw).

    The inverse is closed-form: |Y - z0| = r (1 + beta / (alpha + r)) is a quadratic in
    r with one non-negative root, r = (-(alpha + beta - r_y) + sqrt((alpha + beta -
    r_y)^2 + 4 alpha r_y)) / 2, and X = z0 + (Y - z0) / (1 + beta h(r)).

    Args:
      z0: the centre, shape [D].
      a: raw scalar for alpha = softplus(a).
      b_raw: raw scalar for beta = -alpha + softplus(b_raw).
    """

    def __init__(self, z0, a, b_raw, validate_args=False, name="radial"):
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
    def z0(self):
        return self._z0

    def alpha_beta(self):
        """(alpha, beta) with alpha > 0 and beta > -alpha."""
        alpha = tf.math.softplus(tf.convert_to_tensor(self._a))
        beta = -alpha + tf.math.softplus(tf.convert_to_tensor(self._b_raw))
        return alpha, beta

    def _forward(self, x):
        alpha, beta = self.alpha_beta()
        d = x - tf.convert_to_tensor(self._z0)
        r = tf.norm(d, axis=-1, keepdims=True)
        return x + beta / (alpha + r) * d

    def _forward_log_det_jacobian(self, x):
        alpha, beta = self.alpha_beta()
        d = x - tf.convert_to_tensor(self._z0)
        r = tf.norm(d, axis=-1)
        h = 1.0 / (alpha + r)
        dims = tf.cast(tf.shape(x)[-1], x.dtype)
        return (dims - 1.0) * tf.math.log1p(beta * h) + tf.math.log1p(beta * h - beta * h**2 * r)

    def _inverse(self, y):
        alpha, beta = self.alpha_beta()
        d = y - tf.convert_to_tensor(self._z0)
        r_y = tf.norm(d, axis=-1, keepdims=True)
        q = alpha + beta - r_y
        r = 0.5 * (-q + tf.sqrt(q**2 + 4.0 * alpha * r_y))
        return tf.convert_to_tensor(self._z0) + d / (1.0 + beta / (alpha + r))
