"""Rational-quadratic splines from unconstrained network outputs (Durkan et al., 2019),
shared by the autoregressive (`nsf`) and coupling (`spline-coupling`) families.

`tfb.RationalQuadraticSpline` takes bin widths and heights that sum to the interval's
width and the slopes at the K - 1 interior knots; its slopes at +-bound are 1, so the
identity outside [-bound, bound] joins it smoothly and has log-det 0. A network gives
3K - 1 unconstrained numbers per variable; `spline_from_params` turns them into a
valid spline: softmax for the widths and heights (each at least `MIN_BIN`), softplus
for the slopes (at least `MIN_SLOPE`), shifted so that all-zero parameters give equal
bins and slope 1 everywhere: the identity.

`RQSpline` is TFP's spline with two changes for speed under XLA, which TFP does not
offer: the bin holding a value is found by comparing it with the knots (a one-hot row
of K entries, whose gradient is element-wise and fuses with the rest) instead of
`tf.searchsorted` and six `tf.gather` calls, whose gradients are scatters; and the
inverse log-det is computed from the inverse's own bin and position, not by a second
lookup at the inverse's output. Its values are TFP's (tests compare all four directions
and their gradients with `tfb.RationalQuadraticSpline`); a training step of `--flow nsf`
runs about 1.25x as fast (benchmarks/README.md, "2026-12-06").

#### References

[1]: Conor Durkan, Artur Bekasov, Iain Murray, George Papamakarios. Neural Spline Flows.
     NeurIPS 2019. https://arxiv.org/abs/1906.04032
"""

from typing import NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfb = tfp.bijectors

__all__ = ["MIN_BIN", "MIN_SLOPE", "RQSpline", "params_per_variable", "spline_from_params"]

MIN_BIN = 1e-3    # the least bin width or height
MIN_SLOPE = 1e-3  # the least slope at an interior knot
# MIN_SLOPE + softplus(0 + this) = 1: all-zero parameters give slope 1, the identity.
_SLOPE_SHIFT = float(np.log(np.expm1(1.0 - MIN_SLOPE)))


def params_per_variable(bins: int) -> int:
    """Unconstrained parameters per variable for a spline of `bins` bins: K widths, K
    heights, K - 1 interior slopes."""
    return 3 * bins - 1


def spline_from_params(params, bins: int, bound: float):
    """An `RQSpline` (TFP's rational-quadratic spline) on [-bound, bound] from `params` [..., 3 * bins - 1]
    (one spline per leading index; any batch shape, including a batch of one)."""
    w, h, s = tf.split(params, [bins, bins, bins - 1], axis=-1)
    span = 2.0 * bound
    if span <= bins * MIN_BIN:
        raise ValueError(f"bound {bound} is too small for {bins} bins")
    widths = MIN_BIN + (span - bins * MIN_BIN) * tf.math.softmax(w, axis=-1)
    heights = MIN_BIN + (span - bins * MIN_BIN) * tf.math.softmax(h, axis=-1)
    slopes = MIN_SLOPE + tf.math.softplus(s + _SLOPE_SHIFT)
    return RQSpline(widths, heights, slopes, range_min=-bound)


class _Bin(NamedTuple):
    """What the spline formulas need of the bin holding each value (the fields TFP's own
    forward and forward log-det read)."""
    out_of_bounds: tf.Tensor
    x_k: tf.Tensor  # the bin's left knot, x side
    y_k: tf.Tensor  # ... and y side
    w_k: tf.Tensor  # its width
    h_k: tf.Tensor  # its height
    s_k: tf.Tensor  # h_k / w_k
    d_k: tf.Tensor  # the slope at its left knot
    d_kp1: tf.Tensor  # ... and at its right knot


class RQSpline(tfb.RationalQuadraticSpline):
    """`tfb.RationalQuadraticSpline` (same arguments, same values) with an XLA-friendly bin
    lookup and a one-lookup inverse log-det (see the module's text).

    Written here because TFP's class finds bins with `tf.searchsorted` and `tf.gather`,
    and computes the inverse log-det as minus the forward one at the inverse's output,
    which looks the bin up again. The formulas are Durkan et al.'s (2019, appendix A):
    in a bin of width w, height h, mean slope s = h / w and knot slopes d0, d1, at
    relative position t = (x - x_k) / w, the derivative is
    s^2 (d1 t^2 + 2 s t (1 - t) + d0 (1 - t)^2) / (s + (d0 + d1 - 2 s) t (1 - t))^2,
    and the inverse solves a quadratic in t.
    """

    def _compute_shared(self, x=None, y=None):
        """The bin of each value of `x` (knots on the x side) or `y` (y side). Overrides
        TFP's private lookup, which its own `_forward` and `_forward_log_det_jacobian`
        call; values beyond the outer knots are marked and placed in the first bin."""
        on_x = x is not None
        value = x if on_x else y
        kx, ky = self._knots(self.bin_widths), self._knots(self.bin_heights)
        slopes = tf.convert_to_tensor(self.knot_slopes) + tf.zeros([1], value.dtype)
        ones = tf.ones_like(slopes[..., :1])
        kd = tf.concat([ones, slopes, ones], axis=-1)
        knots = kx if on_x else ky
        out_of_bounds = (value <= knots[..., 0]) | (value >= knots[..., -1])
        value = tf.where(out_of_bounds, knots[..., 0], value)
        # Interior knots at or below the value: a run of ones then zeros (the knots rise),
        # whose length is the bin's index; differences of [1, at_or_below] make it one-hot.
        at_or_below = tf.cast(value[..., tf.newaxis] >= knots[..., 1:-1], value.dtype)
        starts = tf.concat([tf.ones_like(at_or_below[..., :1]), at_or_below], axis=-1)
        one_hot = starts - tf.concat([at_or_below, tf.zeros_like(at_or_below[..., :1])], axis=-1)

        def pick(t):
            return tf.reduce_sum(one_hot * t, axis=-1)

        x_k, y_k, d_k = pick(kx[..., :-1]), pick(ky[..., :-1]), pick(kd[..., :-1])
        w_k, h_k = pick(kx[..., 1:]) - x_k, pick(ky[..., 1:]) - y_k
        return _Bin(out_of_bounds, x_k, y_k, w_k, h_k, h_k / w_k, d_k, pick(kd[..., 1:]))

    def _knots(self, sizes):
        """The K + 1 knot positions: range_min, then range_min plus the running sums."""
        lowest = tf.convert_to_tensor(self.range_min, sizes.dtype)[..., tf.newaxis]
        return tf.concat([tf.zeros_like(sizes[..., :1]), tf.cumsum(sizes, axis=-1)], axis=-1) + lowest

    def _position(self, y):
        """The bin of each `y` and the relative position t in [0, 1] of its inverse."""
        b = self._compute_shared(y=y)
        above = tf.where(b.out_of_bounds, tf.zeros([], y.dtype), y - b.y_k)
        curve = above * (b.d_kp1 + b.d_k - 2 * b.s_k)
        qa = b.h_k * (b.s_k - b.d_k) + curve
        qb = b.h_k * b.d_k - curve
        qc = -b.s_k * above
        # The root in [0, 1], written as 2c / (-b - sqrt(b^2 - 4ac)), which keeps its
        # digits when 4ac is small against b^2.
        t = tf.where(above == 0, tf.zeros([], y.dtype), 2 * qc / (-qb - tf.sqrt(qb * qb - 4 * qa * qc)))
        return b, t

    def inverse_and_log_det(self, y, event_ndims: int = 0):
        """`inverse(y)` and `inverse_log_det_jacobian(y, event_ndims)` from one bin
        lookup (the density direction of a spline layer)."""
        b, t = self._position(y)
        ildj = self._inverse_log_det_from(b, t, y.dtype)
        if event_ndims:
            ildj = tf.reduce_sum(ildj, axis=list(range(-event_ndims, 0)))
        return self._inverse_from(b, t, y), ildj

    def _inverse(self, y):
        return self._inverse_from(*self._position(y), y)

    def _inverse_log_det_jacobian(self, y):
        return self._inverse_log_det_from(*self._position(y), y.dtype)

    @staticmethod
    def _inverse_from(b, t, y):
        return tf.where(b.out_of_bounds, y, b.x_k + t * b.w_k)

    @staticmethod
    def _inverse_log_det_from(b, t, dtype):
        # Beyond the bound t is 0 (finite), and the identity's log-det 0 is taken.
        mix = t * (1 - t)
        log_derivative = (2 * tf.math.log(b.s_k)
                          + tf.math.log(b.d_kp1 * t * t + 2 * b.s_k * mix + b.d_k * (1 - t) * (1 - t))
                          - 2 * tf.math.log(b.s_k + (b.d_kp1 + b.d_k - 2 * b.s_k) * mix))
        return tf.where(b.out_of_bounds, tf.zeros([], dtype), -log_derivative)
