"""Planar and radial flows (Rezende & Mohamed, 2015) as TFP bijectors.

TFP has neither, so they are written here by hand, following TFP's bijector contract
(`_forward`, `_inverse`, `_forward_log_det_jacobian`, `parameters`, read-only
properties), so they compose with `tfb.Chain` and `tfd.TransformedDistribution` like
TFP's own. Both act on vectors (event ndims 1): a batch [..., D] maps to [..., D].

#### References

[1]: Danilo Jimenez Rezende, Shakir Mohamed. Variational Inference with Normalizing
     Flows. ICML 2015. https://arxiv.org/abs/1505.05770
"""

import tensorflow as tf
import tensorflow_probability as tfp

tfb = tfp.bijectors

__all__ = ["Planar", "Radial"]

_BISECTION_STEPS = 100


def _dtype_of(x):
    return x.dtype if hasattr(x, "dtype") else tf.convert_to_tensor(x).dtype


def _param(x, dtype, name):
    """Keep variables (and DeferredTensors) as they are, so they stay trainable."""
    if isinstance(x, (tf.Variable, tfp.util.DeferredTensor)):
        return x
    return tf.convert_to_tensor(x, dtype=dtype, name=name)


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
            dtype = _dtype_of(u)
            self._u = _param(u, dtype, "u")
            self._w = _param(w, dtype, "w")
            self._b = _param(b, dtype, "b")
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
            dtype = _dtype_of(z0)
            self._z0 = _param(z0, dtype, "z0")
            self._a = _param(a, dtype, "a")
            self._b_raw = _param(b_raw, dtype, "b_raw")
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
