"""Rational-quadratic splines from unconstrained network outputs (Durkan et al., 2019),
shared by the autoregressive (`nsf`) and coupling (`spline-coupling`) families.

`tfb.RationalQuadraticSpline` takes bin widths and heights that sum to the interval's
width and the slopes at the K - 1 interior knots; its slopes at +-bound are 1, so the
identity outside [-bound, bound] joins it smoothly and has log-det 0. A network gives
3K - 1 unconstrained numbers per variable; `spline_from_params` turns them into a
valid spline: softmax for the widths and heights (each at least `MIN_BIN`), softplus
for the slopes (at least `MIN_SLOPE`), shifted so that all-zero parameters give equal
bins and slope 1 everywhere: the identity.

#### References

[1]: Conor Durkan, Artur Bekasov, Iain Murray, George Papamakarios. Neural Spline Flows.
     NeurIPS 2019. https://arxiv.org/abs/1906.04032
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfb = tfp.bijectors

__all__ = ["MIN_BIN", "MIN_SLOPE", "params_per_variable", "spline_from_params"]

MIN_BIN = 1e-3    # the least bin width or height
MIN_SLOPE = 1e-3  # the least slope at an interior knot
# MIN_SLOPE + softplus(0 + this) = 1: all-zero parameters give slope 1, the identity.
_SLOPE_SHIFT = float(np.log(np.expm1(1.0 - MIN_SLOPE)))


def params_per_variable(bins: int) -> int:
    """Unconstrained parameters per variable for a spline of `bins` bins: K widths, K
    heights, K - 1 interior slopes."""
    return 3 * bins - 1


def spline_from_params(params, bins: int, bound: float):
    """A `tfb.RationalQuadraticSpline` on [-bound, bound] from `params` [..., 3 * bins - 1]
    (one spline per leading index; any batch shape, including a batch of one)."""
    w, h, s = tf.split(params, [bins, bins, bins - 1], axis=-1)
    span = 2.0 * bound
    if span <= bins * MIN_BIN:
        raise ValueError(f"bound {bound} is too small for {bins} bins")
    widths = MIN_BIN + (span - bins * MIN_BIN) * tf.math.softmax(w, axis=-1)
    heights = MIN_BIN + (span - bins * MIN_BIN) * tf.math.softmax(h, axis=-1)
    slopes = MIN_SLOPE + tf.math.softplus(s + _SLOPE_SHIFT)
    return tfb.RationalQuadraticSpline(widths, heights, slopes, range_min=-bound)
