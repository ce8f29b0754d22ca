"""Numerically careful pieces shared by the hand-written bijectors (planar, radial).

Their log-determinants are logs of sums that the obvious formulas compute as a
difference of nearly equal numbers (1 - 1 + tiny) once a constrained parameter
saturates. Here every such sum is kept in log space, where both terms are non-negative,
and nothing divides by zero or takes the log of zero in a way that puts NaN into a
gradient.
"""

import numpy as np
import tensorflow as tf

__all__ = ["hypot", "log_add_exp", "log_softplus", "safe_log", "safe_norm", "tiny"]


def safe_log(x):
    """log(x) for x >= 0, with log(0) = -inf and a zero (not NaN) gradient there."""
    positive = x >= tiny(x.dtype)
    return tf.where(positive, tf.math.log(tf.where(positive, x, tf.ones_like(x))),
                    tf.constant(-float("inf"), x.dtype))


def log_add_exp(a, b):
    """log(exp(a) + exp(b)) without overflow; -inf in one argument gives the other."""
    big = tf.maximum(a, b)
    small = tf.minimum(a, b)
    finite = tf.math.is_finite(small)
    gap = tf.where(finite, small - big, tf.zeros_like(big))
    return big + tf.where(finite, tf.math.log1p(tf.exp(gap)), tf.zeros_like(big))


def log_softplus(x):
    """log(softplus(x)) = log(log1p(exp(x))), finite for every finite x (softplus itself
    underflows to 0 below about -103 in float32 and -745 in float64). Below -20 the
    series log1p(y) = y (1 - y/2 + y^2/3 - ...) with y = exp(x) gives it to double
    precision."""
    low = x < -20.0
    y = tf.exp(tf.minimum(x, -20.0))
    series = x + tf.math.log1p(-y / 2.0 + y * y / 3.0)
    direct = tf.math.log(tf.math.softplus(tf.maximum(x, -20.0)))
    return tf.where(low, series, direct)


def safe_norm(d, axis=-1, keepdims=False):
    """The Euclidean norm of `d`, with a zero (not NaN) gradient at d = 0."""
    sq = tf.reduce_sum(d * d, axis=axis, keepdims=keepdims)
    nonzero = sq > 0
    return tf.where(nonzero, tf.sqrt(tf.where(nonzero, sq, tf.ones_like(sq))), tf.zeros_like(sq))


def hypot(a, b):
    """sqrt(a^2 + b^2) for a, b >= 0 without overflow or underflow of the squares."""
    big, small = tf.maximum(a, b), tf.minimum(a, b)
    ratio = small / tf.where(big > 0, big, tf.ones_like(big))
    return big * tf.sqrt(1.0 + ratio * ratio)


def tiny(dtype):
    """The smallest positive normal number of `dtype`, as a constant of that dtype."""
    dtype = tf.as_dtype(dtype)
    return tf.constant(np.finfo(dtype.as_numpy_dtype).tiny, dtype)
