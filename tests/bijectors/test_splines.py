"""The rational-quadratic splines of the `nsf` and `spline-coupling` families at their
edges (nflows #23 and #87: splines failing at their bounds; tensorflow/probability #941:
the spline example failing for a batch over one): identity with log-det 0 beyond the
bound, exact at the bound, finite when the network's outputs saturate, any batch size;
and a hypothesis property test over wide ranges in float32 and float64 (round trip,
log-det against the autodiff Jacobian, inverse log-det)."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import perturbed

from tfp_flows.flows import NSFFlow
from tfp_flows.flows.splines import params_per_variable, spline_from_params

F32, F64 = tf.float32, tf.float64
TOL = {F32: 2e-4, F64: 1e-9}


def _spline(rng, shape, bins, bound, dtype, scale=1.0):
    params = tf.constant(scale * rng.normal(size=(*shape, params_per_variable(bins))), dtype)
    return spline_from_params(params, bins, bound)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_beyond_the_bound_the_identity_with_log_det_zero_and_exact_at_the_bound(dtype, rng):
    bound = 3.0
    spline = _spline(rng, (6, 2), bins=5, bound=bound, dtype=dtype, scale=2.0)
    outside = tf.constant(np.stack([[-1e4, 1e4], [-3.0001, 3.0001], [-50, 7], [-bound - 1e-6, 10],
                                    [-4, 4], [-1e30 if dtype == F64 else -1e30, 1e30]]), dtype)
    np.testing.assert_array_equal(spline.forward(outside).numpy(), outside.numpy())
    np.testing.assert_array_equal(spline.inverse(outside).numpy(), outside.numpy())
    np.testing.assert_array_equal(spline.forward_log_det_jacobian(outside, event_ndims=0).numpy(), 0.0)
    edges = tf.constant([[-bound, bound]] * 6, dtype)
    np.testing.assert_allclose(spline.forward(edges).numpy(), edges.numpy(), rtol=0, atol=TOL[dtype] * bound)
    np.testing.assert_allclose(spline.inverse(edges).numpy(), edges.numpy(), rtol=0, atol=TOL[dtype] * bound)
    inside = tf.constant(rng.uniform(-bound, bound, size=(6, 2)), dtype)
    assert np.abs(spline.forward(inside).numpy() - inside.numpy()).max() > 1e-3  # not the identity inside


@pytest.mark.parametrize("dtype", [F32, F64])
def test_saturating_parameters_stay_finite(dtype, rng):
    # Network outputs of +-1e4 (and 1e30 in float64): bins at their minimum width, slopes
    # at their extremes. Every value, log-det and round trip stays finite.
    for scale in ([1e2, 1e4] + ([1e30] if dtype == F64 else [1e30])):
        spline = _spline(rng, (64, 3), bins=8, bound=4.0, dtype=dtype, scale=scale)
        x = tf.constant(rng.uniform(-5, 5, size=(64, 3)), dtype)
        y = spline.forward(x)
        back = spline.inverse(y)
        for value in (y, back, spline.forward_log_det_jacobian(x, event_ndims=0),
                      spline.inverse_log_det_jacobian(y, event_ndims=0)):
            assert np.all(np.isfinite(value.numpy())), f"not finite at parameter scale {scale}"


@pytest.mark.parametrize("n", [1, 2, 7, 128])
def test_an_nsf_flow_scores_and_samples_batches_of_any_size(n, rng):
    flow = perturbed(lambda seed: NSFFlow(3, layers=2, hidden_units=[8], bins=4, seed=seed))
    x = tf.constant(rng.normal(size=(n, 3)), F32)
    assert flow.log_prob(x).shape == (n,) and flow.sample(n, seed=(1, 2)).shape == (n, 3)
    rows = min(n, 8)  # each row alone (a batch of one) scores as it does within the batch
    one_by_one = np.concatenate([flow.log_prob(x[i:i + 1]).numpy() for i in range(rows)])
    np.testing.assert_allclose(flow.log_prob(x).numpy()[:rows], one_by_one, rtol=1e-5, atol=1e-5)


def test_all_zero_parameters_give_the_identity(rng):
    spline = spline_from_params(tf.zeros([5, 3, params_per_variable(6)], F64), 6, 2.5)
    x = tf.constant(rng.uniform(-4, 4, size=(5, 3)), F64)
    np.testing.assert_allclose(spline.forward(x).numpy(), x.numpy(), atol=1e-12)
    np.testing.assert_allclose(spline.forward_log_det_jacobian(x, event_ndims=0).numpy(), 0.0, atol=1e-12)


def test_a_bound_too_small_for_its_bins_is_refused():
    with pytest.raises(ValueError, match="too small"):
        spline_from_params(tf.zeros([1, params_per_variable(8)]), 8, 0.003)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), bins=st.integers(2, 12), bound=st.floats(0.5, 20.0),
       scale=st.sampled_from([0.1, 1.0, 5.0, 20.0]), spread=st.sampled_from([0.5, 1.0, 1.5]),
       double=st.booleans())
def test_spline_round_trip_and_log_det_against_autodiff(seed, bins, bound, scale, spread, double):
    """Over wide ranges of bins, bounds, parameter scales and inputs (inside and beyond the
    bound): inverse(forward(x)) = x; the log-det is log of the autodiff derivative (the
    spline is elementwise, so its Jacobian is diagonal); the inverse log-det is its negative."""
    dtype = F64 if double else F32
    if not double:
        # Beyond this, float32's autodiff derivative of a near-flat bin underflows to 0
        # (finiteness there is the saturation test's business).
        scale = min(scale, 5.0)
    rng = np.random.default_rng(seed)
    spline = _spline(rng, (16, 2), bins, bound, dtype, scale=scale)
    x = tf.constant(rng.uniform(-spread * bound, spread * bound, size=(16, 2)), dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = spline.forward(x)
    derivative = tape.gradient(y, x).numpy()
    tol = 1e-8 if double else 2e-3
    np.testing.assert_allclose(spline.inverse(y).numpy(), x.numpy(), rtol=tol, atol=tol * bound)
    fldj = spline.forward_log_det_jacobian(x, event_ndims=0).numpy()
    # float32's autodiff of a derivative near e^-20 (a steep or flat bin) keeps about two
    # digits of its log: 1e-2 relative there, 1e-8 in float64.
    np.testing.assert_allclose(fldj, np.log(derivative), rtol=tol if double else 1e-2, atol=tol)
    np.testing.assert_allclose(spline.inverse_log_det_jacobian(y, event_ndims=0).numpy(), -fldj, rtol=tol, atol=tol)


def test_each_parameter_block_sets_its_own_part_of_the_spline():
    """The K width, K height and K - 1 slope parameters reach the spline as the paper's
    construction says: knots at the cumulative softmax of the widths (x) and of the
    heights (y), interior slopes from a softplus of theirs; checked against NumPy at the
    knots, where the spline passes through (x_k, y_k) with slope s_k."""
    bins, bound = 4, 3.0
    w, h, s = np.array([0.3, -1.0, 2.0, 0.0]), np.array([1.5, 0.2, -0.7, 0.4]), np.array([0.5, -1.2, 2.0])
    spline = spline_from_params(tf.constant(np.concatenate([w, h, s])[None], tf.float64), bins, bound)

    def knots(p):
        e = np.exp(p - p.max())
        size = 1e-3 + (2 * bound - bins * 1e-3) * e / e.sum()
        return -bound + np.concatenate([[0.0], np.cumsum(size)])

    x, y = knots(w), knots(h)
    slopes = 1e-3 + np.log1p(np.exp(s + np.log(np.expm1(1.0 - 1e-3))))
    got = spline.forward(tf.constant(x[None, 1:-1].T, tf.float64)).numpy()[:, 0]
    np.testing.assert_allclose(got, y[1:-1], rtol=1e-10, atol=1e-10)
    log_slopes = spline.forward_log_det_jacobian(tf.constant(x[None, 1:-1].T, tf.float64), event_ndims=0).numpy()
    np.testing.assert_allclose(np.exp(log_slopes[:, 0]), slopes, rtol=1e-8)


def _twins(rng, dtype, scale, bins=7, bound=3.0, shape=(40, 3)):
    """The suite's `RQSpline` and TFP's `tfb.RationalQuadraticSpline` on the same parameters."""
    mine = _spline(rng, shape, bins, bound, dtype, scale=scale)
    theirs = tfp.bijectors.RationalQuadraticSpline(mine.bin_widths, mine.bin_heights, mine.knot_slopes,
                                                   range_min=-bound)
    return mine, theirs


def _fresh(rng, dtype, bound, sizes):
    """Values inside and beyond the bound, exactly at it, and at each spline's own
    interior knots (from its bin `sizes` [rows, cols, K]); a new tensor each call (TFP's
    bijectors cache a forward's input for the inverse of its output)."""
    rows, cols, bins = sizes.shape
    values = rng.uniform(-1.4 * bound, 1.4 * bound, size=(rows, cols))
    values[0], values[1] = -bound, bound
    knots = -bound + np.cumsum(sizes, axis=-1)[..., :-1]  # the interior knots of each spline
    for i in range(2, 2 + 2 * (bins - 1)):
        values[i] = knots[i, np.arange(cols), (i - 2) % (bins - 1)]
    return values


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_rqspline_gives_tfps_values_and_gradients(dtype, scale, rng):
    """`RQSpline` finds bins by comparison and computes the inverse log-det from the
    inverse's own bin; it must give what TFP's class gives, in all four directions and
    through `inverse_and_log_det`, and the same gradients with respect to the spline's
    parameters (TFP's flow through its gathers, the suite's through the one-hot sums)."""
    mine, theirs = _twins(rng, dtype, scale)
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == F64 else dict(rtol=2e-4, atol=2e-4)
    x = tf.constant(_fresh(rng, dtype, 3.0, mine.bin_widths.numpy()), dtype)
    y = tf.constant(_fresh(rng, dtype, 3.0, mine.bin_heights.numpy()), dtype)
    np.testing.assert_allclose(mine.forward(x).numpy(), theirs.forward(x).numpy(), **tol)
    np.testing.assert_allclose(mine.forward_log_det_jacobian(x, 0).numpy(),
                               theirs.forward_log_det_jacobian(x, 0).numpy(), **tol)
    np.testing.assert_allclose(mine.inverse(y).numpy(), theirs.inverse(tf.constant(y.numpy())).numpy(), **tol)
    ildj = theirs.inverse_log_det_jacobian(tf.constant(y.numpy()), 1).numpy()
    np.testing.assert_allclose(mine.inverse_log_det_jacobian(tf.constant(y.numpy()), 1).numpy(), ildj,
                               rtol=tol["rtol"], atol=10 * tol["atol"])
    inverse, log_det = mine.inverse_and_log_det(tf.constant(y.numpy()), event_ndims=1)
    np.testing.assert_allclose(inverse.numpy(), theirs.inverse(tf.constant(y.numpy())).numpy(), **tol)
    np.testing.assert_allclose(log_det.numpy(), ildj, rtol=tol["rtol"], atol=10 * tol["atol"])

    params = tf.Variable(tf.constant(scale * rng.normal(size=(40, 3, params_per_variable(7))), dtype))

    def gradient(make):
        with tf.GradientTape() as tape:
            spline = spline_from_params(params, 7, 3.0)
            if make is not None:
                spline = make(spline)
            inverse = spline.inverse(tf.constant(y.numpy()))
            loss = (tf.reduce_sum(tf.sin(inverse))
                    + tf.reduce_sum(spline.inverse_log_det_jacobian(tf.constant(y.numpy()), 1))
                    + tf.reduce_sum(spline.forward(tf.constant(x.numpy()))))
        return tape.gradient(loss, params).numpy()

    tfp_grad = gradient(lambda s: tfp.bijectors.RationalQuadraticSpline(s.bin_widths, s.bin_heights, s.knot_slopes,
                                                                         range_min=-3.0))
    np.testing.assert_allclose(gradient(None), tfp_grad, rtol=tol["rtol"], atol=10 * tol["atol"])


def test_rqspline_finds_bins_without_searchsorted_or_gather():
    """The point of `RQSpline`: its density direction holds no `tf.searchsorted` and no
    gather (whose gradients are scatters), where TFP's does."""
    params = tf.TensorSpec([None, 3, params_per_variable(5)], F32)
    y_spec = tf.TensorSpec([None, 3], F32)

    def ops(fn):
        graph = tf.function(fn).get_concrete_function(params, y_spec).graph
        return {op.type for op in graph.get_operations()}

    mine = ops(lambda p, y: spline_from_params(p, 5, 2.0).inverse_and_log_det(y, 1))
    theirs = ops(lambda p, y: (lambda s: (s.inverse(y), s.inverse_log_det_jacobian(y, 1)))(
        tfp.bijectors.RationalQuadraticSpline(*(lambda s: (s.bin_widths, s.bin_heights, s.knot_slopes))(
            spline_from_params(p, 5, 2.0)), range_min=-2.0)))
    lookups = {"LowerBound", "UpperBound", "GatherV2", "ResourceGather", "GatherNd"}
    assert theirs & lookups, "TFP's spline no longer looks bins up with searchsorted/gather"
    assert not mine & lookups, f"RQSpline's density direction looks bins up with {sorted(mine & lookups)}"
