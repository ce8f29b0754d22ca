"""One property checker run over every bijector the suite builds (float64).

For each: inverse(forward(x)) recovers x; forward log-det = -inverse log-det at y;
the log-det equals log|det| of the autodiff Jacobian; outputs are finite; batch shapes
are kept; gradients reach every trainable variable.
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.bijectors import Planar, Radial
from tfp_flows import (
    AffineLeakyReLUFlow,
    affine_scalar,
    leaky_relu,
    low_rank_affine,
    normal_cdf,
    positive_slope,
    scale,
    shift,
)

F64 = tf.float64


def _case_normal_cdf(rng):
    return normal_cdf(), 0, rng.uniform(-4, 4, size=(7,))


def _case_shift(rng):
    return shift(tf.Variable(rng.normal(size=3), dtype=F64)), 0, rng.normal(size=(5, 3))


def _case_scale(rng):
    return scale(tf.Variable(rng.uniform(0.5, 2, size=3) * rng.choice([-1, 1], 3), dtype=F64)), 0, \
        rng.normal(size=(5, 3))


def _case_affine_scalar(rng):
    return affine_scalar(tf.Variable(0.7, dtype=F64), tf.Variable(-1.9, dtype=F64)), 0, \
        rng.normal(size=(6,))


def _case_leaky_relu(rng):
    alpha = positive_slope(-0.3, dtype=F64)  # |a| + 0.01 = 0.31 from a negative raw value
    return leaky_relu(alpha), 0, rng.normal(size=(4, 3))


def _low_rank(rng, d, r):
    b = low_rank_affine(
        tf.Variable(rng.normal(size=d), dtype=F64),
        tf.Variable(rng.normal(size=d * (d + 1) // 2) + 1.0, dtype=F64),
        tf.Variable(0.5 * rng.normal(size=(d, r)), dtype=F64),
    )
    return b, 1, rng.normal(size=(6, d))


def _case_low_rank_2_2(rng):
    return _low_rank(rng, 2, 2)


def _case_low_rank_4_1(rng):
    return _low_rank(rng, 4, 1)


def _case_p1_flow(rng):
    flow = AffineLeakyReLUFlow(dims=2, rank=2, seed=int(rng.integers(1 << 30)), dtype=F64)
    return flow.distribution.bijector, 1, rng.normal(size=(6, 2))


def _planar(d):
    def case(rng):
        w = rng.normal(size=d)
        # A raw u with w . u < -1 would make the map non-invertible without u_hat.
        u = -3.0 * w / (w @ w) + rng.normal(size=d) * 0.1
        assert w @ u < -1
        b = Planar(tf.Variable(u), tf.Variable(w), tf.Variable(rng.normal(), dtype=F64))
        return b, 1, rng.normal(size=(6, d)) * 2
    case.__name__ = f"_case_planar_{d}d"
    return case


def _radial(d):
    def case(rng):
        # Raw values giving beta close to -alpha: the edge of invertibility.
        b = Radial(tf.Variable(rng.normal(size=d)), tf.Variable(rng.normal(), dtype=F64),
                   tf.Variable(-4.0 + rng.normal(), dtype=F64))
        return b, 1, rng.normal(size=(6, d)) * 2
    case.__name__ = f"_case_radial_{d}d"
    return case


def _case_spline_coupling(rng):
    from tfp_flows.flows import SplineCouplingFlow

    flow = SplineCouplingFlow(dims=3, layers=3, bins=5, hidden=(8,), bound=3.0,
                              seed=int(rng.integers(1 << 30)), dtype=F64)
    for v in flow.trainable_variables:  # away from the identity it starts as
        v.assign(rng.normal(size=v.shape) * 0.2)
    return flow.distribution.bijector, 1, rng.normal(size=(6, 3))


CASES = [_case_spline_coupling, _planar(1), _planar(2), _planar(5), _radial(1), _radial(2), _radial(5),
         _case_normal_cdf, _case_shift, _case_scale, _case_affine_scalar, _case_leaky_relu,
         _case_low_rank_2_2, _case_low_rank_4_1, _case_p1_flow]


def _autodiff_log_det(bijector, x, event_ndims):
    """log|det J| of forward at each point, from the autodiff Jacobian."""
    x = tf.constant(x, F64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = bijector.forward(x)
    if event_ndims == 0:  # element-wise map: the Jacobian is diagonal
        return np.log(np.abs(tape.gradient(y, x).numpy()))
    jac = tape.batch_jacobian(y, x).numpy()  # [n, d, d]
    return np.linalg.slogdet(jac)[1]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__[6:])
def test_bijector_properties(case, rng):
    bijector, event_ndims, x = case(rng)
    x = tf.constant(x, F64)
    y = bijector.forward(x)
    assert y.shape == x.shape
    assert np.all(np.isfinite(y.numpy()))

    # Inverse recovers the input (on a fresh copy of y, so no cached inverse is used).
    x_back = bijector.inverse(tf.constant(y.numpy()))
    np.testing.assert_allclose(x_back.numpy(), x.numpy(), rtol=1e-9, atol=1e-9)

    # Forward log-det against autodiff, and against minus the inverse log-det.
    autodiff = _autodiff_log_det(bijector, x.numpy(), event_ndims)
    # (A constant Jacobian may come back with fewer dimensions; it broadcasts.)
    fldj = np.broadcast_to(
        bijector.forward_log_det_jacobian(x, event_ndims=event_ndims).numpy(), autodiff.shape)
    ildj = np.broadcast_to(bijector.inverse_log_det_jacobian(
        tf.constant(y.numpy()), event_ndims=event_ndims).numpy(), autodiff.shape)
    np.testing.assert_allclose(fldj, autodiff,
                               rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fldj, -ildj, rtol=1e-9, atol=1e-10)
    assert np.all(np.isfinite(fldj))

    # Gradients of forward output and log-det reach every trainable variable.
    variables = bijector.trainable_variables
    if variables:
        x_new = tf.identity(x)  # a new tensor: TFP's cache would answer for `x`
        with tf.GradientTape() as tape:
            obj = tf.reduce_sum(bijector.forward(x_new) ** 2) + tf.reduce_sum(
                bijector.forward_log_det_jacobian(x_new, event_ndims=event_ndims))
        grads = tape.gradient(obj, variables)
        for v, g in zip(variables, grads):
            assert g is not None, f"no gradient reaches {v.name}"
            assert np.all(np.isfinite(g.numpy()))


def test_leaky_relu_is_identity_on_positives_and_scales_negatives():
    b = leaky_relu(np.float64(0.25))
    x = tf.constant([-2.0, -0.5, 0.0, 3.0], F64)
    np.testing.assert_allclose(b.forward(x).numpy(), [-0.5, -0.125, 0.0, 3.0])
    np.testing.assert_allclose(b.forward_log_det_jacobian(x, 0).numpy(),
                               [np.log(0.25), np.log(0.25), 0.0, 0.0])


def test_positive_slope_stays_positive_and_is_trainable():
    alpha = positive_slope(0.0, floor=0.01, dtype=F64)
    assert float(tf.convert_to_tensor(alpha)) == pytest.approx(0.01)
    alpha.pretransformed_input.assign(-3.0)
    assert float(tf.convert_to_tensor(alpha)) == pytest.approx(3.01)
    assert len(alpha.trainable_variables) == 1
    with pytest.raises(ValueError, match="floor"):
        positive_slope(1.0, floor=0.0)


def test_low_rank_affine_matches_dense_matrix(rng):
    d, r = 3, 2
    s, lv, v = rng.normal(size=d), rng.normal(size=6), rng.normal(size=(d, r))
    b = low_rank_affine(s, lv, v)
    tril = tfp.math.fill_triangular(lv).numpy()
    matrix = tril + v @ v.T
    x = rng.normal(size=(5, d))
    np.testing.assert_allclose(b.forward(x).numpy(), x @ matrix.T + s, rtol=1e-12)
    np.testing.assert_allclose(b.forward_log_det_jacobian(x, 1).numpy(),
                               np.linalg.slogdet(matrix)[1], rtol=1e-10)


def test_affine_scalar_scales_then_shifts():
    b = affine_scalar(shift=np.float64(1.0), scale=np.float64(3.0))
    assert float(b.forward(np.float64(2.0))) == 7.0  # 3 * 2 + 1, not 3 * (2 + 1)


def test_flow_rejects_bad_sizes():
    with pytest.raises(ValueError, match="dims"):
        AffineLeakyReLUFlow(dims=0)
    with pytest.raises(ValueError, match="rank"):
        AffineLeakyReLUFlow(rank=-1)
