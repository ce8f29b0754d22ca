import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import AffineLeakyReLUFlow, fresh_log_prob, scale, shift, transformed

tfd = tfp.distributions


def test_first_listed_bijector_acts_first():
    base = tfd.Normal(np.float64(0), np.float64(1))
    d = transformed(base, [shift(np.float64(1)), scale(np.float64(2))])
    # (0 + 1) * 2 = 2; the other order would give 0 * 2 + 1 = 1.
    assert float(d.bijector.forward(np.float64(0))) == 2.0
    # Density by the change of variables: y = 2(z + 1) => z = y/2 - 1, |dz/dy| = 1/2.
    y = np.array([-1.0, 0.3, 4.0])
    np.testing.assert_allclose(d.log_prob(y).numpy(),
                               base.log_prob(y / 2 - 1).numpy() - np.log(2.0), rtol=1e-12)


def test_transformed_rejects_empty_and_non_bijectors():
    base = tfd.Normal(0.0, 1.0)
    with pytest.raises(ValueError, match="bijectors"):
        transformed(base, [])
    with pytest.raises(TypeError, match="bijectors"):
        transformed(base, [lambda x: x])


def test_fresh_log_prob_sees_updated_variables():
    """TFP caches inverses per input tensor; fresh_log_prob must not return stale values."""
    flow = AffineLeakyReLUFlow(seed=3, dtype=tf.float64)
    x = tf.constant([[-1.0, -2.0], [0.5, -0.3]], tf.float64)
    fresh_log_prob(flow.distribution, x)
    flow.shift.assign([0.5, 0.1])
    flow.alpha.pretransformed_input.assign(0.3)
    expected = flow.distribution.log_prob(tf.constant(x.numpy())).numpy()  # a new tensor
    np.testing.assert_allclose(fresh_log_prob(flow.distribution, x).numpy(), expected, rtol=1e-12)


def test_p1_flow_density_integrates_to_one():
    flow = AffineLeakyReLUFlow(seed=5, dtype=tf.float64)
    flow.alpha.pretransformed_input.assign(0.6)
    flow.scale_tril_params.assign([1.0, 0.3, 1.2])
    flow.perturb_factor.assign([[0.3, 0.0], [0.2, 0.4]])
    # Midpoint rule on cells whose edges include 0, where the density jumps.
    edges = np.linspace(-12, 12, 801)
    g = (edges[1:] + edges[:-1]) / 2
    xx, yy = np.meshgrid(g, g)
    pts = np.stack([xx.ravel(), yy.ravel()], 1)
    total = np.exp(flow.distribution.log_prob(pts).numpy()).sum() * (g[1] - g[0]) ** 2
    assert total == pytest.approx(1.0, abs=1e-3)
