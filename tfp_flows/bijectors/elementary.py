"""Thin constructors over `tfp.bijectors` for the bijectors of the first blog post (P1).

Each function returns an ordinary TFP bijector (`tfb.NormalCDF`, `tfb.Shift`,
`tfb.Scale`, `tfb.Inline`, `tfb.Chain`, `tfb.ScaleMatvecLinearOperator`); nothing here
reimplements what TFP provides. Parameters may be plain numbers, tensors, `tf.Variable`s
or `tfp.util.DeferredTensor`s; variables stay variables, so a bijector built once is
trainable (gradients reach its variables at every call).
"""

import tensorflow as tf
import tensorflow_probability as tfp

TensorLike = tf.types.experimental.TensorLike

tfb = tfp.bijectors

__all__ = [
    "normal_cdf",
    "shift",
    "scale",
    "affine_scalar",
    "positive_slope",
    "leaky_relu",
    "low_rank_affine",
]


def normal_cdf(name: str = "normal_cdf") -> tfb.Bijector:
    """Y = g(X) = Phi(X), the standard normal CDF, mapping the real line to (0, 1).

    Scalar bijector (event ndims 0): a batch of shape S maps to shape S. Its inverse
    turns Uniform(0, 1) draws into N(0, 1) draws.

    Returns:
      `tfb.NormalCDF`.

    #### Examples

    >>> b = normal_cdf()
    >>> float(b.forward(0.0))
    0.5
    """
    return tfb.NormalCDF(name=name)


def shift(shift: TensorLike, name: str = "shift") -> tfb.Bijector:
    """Y = g(X; shift) = X + shift. Returns `tfb.Shift`; shapes broadcast."""
    return tfb.Shift(shift, name=name)


def scale(scale: TensorLike, name: str = "scale") -> tfb.Bijector:
    """Y = g(X; scale) = scale * X (element-wise). Returns `tfb.Scale`; shapes broadcast."""
    return tfb.Scale(scale, name=name)


def affine_scalar(shift: TensorLike = 0.0, scale: TensorLike = 1.0, name: str = "affine_scalar") -> tfb.Bijector:
    """Y = g(X; shift, scale) = scale * X + shift, element-wise (TFP 1.x's `AffineScalar`).

    Returns:
      `tfb.Chain([tfb.Shift(shift), tfb.Scale(scale)])` (TFP chains apply the last
      bijector first, so the scale acts before the shift).

    #### Examples

    >>> b = affine_scalar(shift=0.0, scale=2.0)
    >>> b.forward([0.0, 0.5, 1.0]).numpy().tolist()
    [0.0, 1.0, 2.0]
    """
    return tfb.Chain([tfb.Shift(shift), tfb.Scale(scale)], name=name)


def positive_slope(initial_raw: TensorLike, floor: float = 0.01, dtype: tf.DType = tf.float32,
                   name: str = "alpha") -> tfp.util.DeferredTensor:
    """A learnable positive scalar: alpha = |a| + floor, with `a` a `tf.Variable`.

    This is P1's parametrisation of the leaky-ReLU slope, which keeps alpha away from 0
    so the map stays invertible.

    Returns:
      A `tfp.util.DeferredTensor` whose `trainable_variables` holds the raw `a`.
    """
    if not floor > 0:
        raise ValueError(f"floor must be > 0, got {floor!r}")
    raw = tf.Variable(initial_raw, dtype=dtype, name=f"{name}_raw")
    return tfp.util.DeferredTensor(raw, lambda a: tf.abs(a) + tf.cast(floor, a.dtype), name=name)


def leaky_relu(alpha: TensorLike, name: str = "leaky_relu") -> tfb.Bijector:
    """Y = g(X; alpha) = X if X >= 0 else alpha * X, element-wise, alpha > 0.

    Built with `tfb.Inline` as in P1. log|dY/dX| = 0 where X >= 0 and log(alpha)
    elsewhere; as a scalar bijector (event ndims 0) it works for any event shape, TFP
    summing the log-det-Jacobian over the event dimensions of the distribution it
    transforms.

    Args:
      alpha: the slope for negative inputs; a positive number, tensor, variable or
        `positive_slope(...)`. Positivity is the caller's promise (it is what makes
        the map invertible).

    Returns:
      `tfb.Inline`.
    """

    def _alpha(like):
        return tf.cast(tf.convert_to_tensor(alpha), like.dtype)

    def forward(x):
        return tf.where(x >= 0, x, _alpha(x) * x)

    def inverse(y):
        return tf.where(y >= 0, y, y / _alpha(y))

    def forward_ldj(x):
        return tf.where(x >= 0, tf.zeros_like(x), tf.math.log(_alpha(x)) * tf.ones_like(x))

    def inverse_ldj(y):
        return tf.where(y >= 0, tf.zeros_like(y), -tf.math.log(_alpha(y)) * tf.ones_like(y))

    return tfb.Inline(
        forward_fn=forward,
        inverse_fn=inverse,
        forward_log_det_jacobian_fn=forward_ldj,
        inverse_log_det_jacobian_fn=inverse_ldj,
        forward_min_event_ndims=0,
        is_increasing=True,
        name=name,
    )


def low_rank_affine(shift: TensorLike, scale_tril_params: TensorLike, perturb_factor: TensorLike,
                    name: str = "low_rank_affine") -> tfb.Bijector:
    """Y = g(X) = (L + V V^T) X + shift, with L lower-triangular: P1's `tfb_affine`.

    `L = FillTriangular(scale_tril_params)` takes a vector of d(d+1)/2 entries; V is a
    d x r factor (the rank-r update). The log-det-Jacobian is log|det(L + V V^T)|,
    which TFP's `LinearOperatorLowRankUpdate` computes with the matrix determinant lemma.

    Args:
      shift: shape [d].
      scale_tril_params: shape [d(d+1)/2] (a variable stays trainable).
      perturb_factor: shape [d, r].

    Returns:
      A `tfb.Chain` of `tfb.Shift` and `tfb.ScaleMatvecLinearOperator`; event ndims 1,
      so a batch of shape [..., d] maps to [..., d].
    """
    tril = tfp.util.DeferredTensor(scale_tril_params, tfb.FillTriangular(), name="scale_tril")
    operator = tf.linalg.LinearOperatorLowRankUpdate(
        tf.linalg.LinearOperatorLowerTriangular(tril), u=perturb_factor
    )
    return tfb.Chain(
        [tfb.Shift(shift), tfb.ScaleMatvecLinearOperator(operator)], name=name
    )
