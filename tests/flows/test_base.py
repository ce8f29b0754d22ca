import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import AffineLeakyReLUFlow, fresh_log_prob, scale, shift, transformed

tfb, tfd = tfp.bijectors, tfp.distributions


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


def test_maf_layers_are_listed_in_p2s_order_with_batch_norm_after_each_maf():
    from tfp_flows import MAFFlow

    flow = MAFFlow(3, layers=3, hidden_units=[4], seed=0)
    names = [b.name for b in flow.bijectors]
    assert names == ["maf_0", "bn_0", "permute_0", "maf_1", "bn_1", "permute_1", "maf_2", "bn_2"]
    assert [b.name for b in flow.training_bijectors] == names
    # The same Keras layers in both modes, so the same variables.
    pairs = [(a, b) for a, b in zip(flow.bijectors, flow.training_bijectors)
             if isinstance(a, tfp.bijectors.BatchNormalization)]
    assert len(pairs) == 3 and all(a.batchnorm is b.batchnorm and a is not b for a, b in pairs)
    assert len(flow.moving_statistics()) == 6
    assert [b.name for b in MAFFlow(3, layers=2, hidden_units=[4], batch_norm=False).bijectors] == [
        "maf_0", "permute_0", "maf_1"]


def test_a_flow_must_assemble_itself_once():
    from tfp_flows import Flow

    class Forgetful(Flow):
        def __init__(self):
            super().__init__(name="forgetful")

    with pytest.raises(RuntimeError, match="assemble"):
        Forgetful().log_prob([[0.0]])
    flow = AffineLeakyReLUFlow(seed=0)
    with pytest.raises(RuntimeError, match="once"):
        flow.assemble(flow.base, list(flow.bijectors), {})
    with pytest.raises(ValueError, match="at least one"):
        Forgetful().assemble(tfd.Normal(0.0, 1.0), [], {})
    with pytest.raises(TypeError, match=r"tfp bijectors, got \['str'\]"):
        Forgetful().assemble(tfd.Normal(0.0, 1.0), [tfb.Exp(), "exp"], {})
    with pytest.raises(ValueError, match="at least one"):
        transformed(tfd.Normal(0.0, 1.0), [])
    with pytest.raises(TypeError, match=r"tfp bijectors, got \['int'\]"):
        transformed(tfd.Normal(0.0, 1.0), [3])
    assert transformed(tfd.Normal(0.0, 1.0), tfb.Exp()).bijector.name == "exp"  # one bijector, not a list


def test_registry_names_every_family_and_rebuilds_from_a_record():
    from tfp_flows.flows import MAFFlow, MAFOptions, SplineCouplingFlow, VIFlow
    from tfp_flows.flows import registry

    assert registry.flow_class("maf") is MAFFlow and registry.flow_class("vi") is VIFlow
    assert registry.family_of(SplineCouplingFlow(dims=2, layers=1, hidden=[4])) == "spline-coupling"
    flow = registry.build_flow("maf", 4, MAFOptions(layers=2, hidden_units=[8]), seed=5)
    assert isinstance(flow, MAFFlow) and flow.config["layers"] == 2 and registry.family_of(flow) == "maf"
    again = registry.flow_from_record("maf", flow.config)
    for a, b in zip(flow.trainable_variables, again.trainable_variables):  # same seed, same weights
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="unknown flow family 'nope'"):
        registry.flow_class("nope")
    with pytest.raises(ValueError, match="does not train on data"):
        registry.build_flow("vi", 2)
