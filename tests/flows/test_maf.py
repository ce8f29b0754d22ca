"""The MAF builder: exact change of variables, variable tracking, options."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.flows.maf import LOG_SCALE_CLIP, MAFFlow

tfb = tfp.bijectors


def _hand_log_prob(flow, x, training):
    """base log-prob of the inverse plus each layer's inverse log-det, by hand for batch norm."""
    y, total = tf.constant(x), 0.0
    for b in (flow.training_bijectors if training else flow.bijectors):
        if isinstance(b, tfb.BatchNormalization):
            layer = b.batchnorm
            if training:
                mean, var = tf.nn.moments(y, axes=[0])
            else:
                mean, var = layer.moving_mean, layer.moving_variance
            total += tf.reduce_sum(tf.math.log(layer.gamma)) - 0.5 * tf.reduce_sum(
                tf.math.log(var + layer.epsilon))
            y = (y - mean) / tf.sqrt(var + layer.epsilon) * layer.gamma + layer.beta
        else:
            total += b.inverse_log_det_jacobian(tf.identity(y), event_ndims=1)
            y = b.inverse(tf.identity(y))
    return (flow.base.log_prob(y) + total).numpy()


@pytest.fixture
def flow():
    f = MAFFlow(3, layers=3, hidden_units=(8, 8), seed=0, dtype=tf.float64)
    for bn in f.batch_norms:  # moving statistics far from any batch's
        bn.moving_variance.assign([4.0, 0.25, 9.0])
        bn.moving_mean.assign([1.0, -1.0, 2.0])
    return f


@pytest.mark.parametrize("training", [False, True])
def test_log_prob_is_the_change_of_variables(flow, rng, training):
    x = rng.normal(size=(64, 3)) * [1.0, 3.0, 0.2]
    np.testing.assert_allclose(flow.log_prob(x, training=training).numpy(),
                               _hand_log_prob(flow, x, training), rtol=1e-10, atol=1e-10)


def test_tfp_chain_takes_moving_variance_in_training_mode(flow, rng):
    """Why MAFFlow.log_prob walks the bijectors itself (see its docstring)."""
    x = rng.normal(size=(64, 3)) * [1.0, 3.0, 0.2]
    tfp_training = tfp.distributions.TransformedDistribution(flow.base, tfb.Chain(list(flow.training_bijectors)))
    tfp_value = tfp_training.log_prob(tf.constant(x)).numpy()
    assert np.max(np.abs(tfp_value - _hand_log_prob(flow, x, True))) > 0.1


def test_eval_flow_is_a_bijection_with_autodiff_log_det(flow, rng):
    chain = flow.distribution.bijector
    z = tf.constant(rng.normal(size=(5, 3)))
    x = chain.forward(z)
    np.testing.assert_allclose(chain.inverse(tf.identity(x)).numpy(), z.numpy(), atol=1e-9)
    z_new = tf.identity(z)  # not the cached `z`, or the tape would see no computation
    with tf.GradientTape() as tape:
        tape.watch(z_new)
        y = chain.forward(z_new)
    jac = tape.batch_jacobian(y, z_new).numpy()
    np.testing.assert_allclose(chain.forward_log_det_jacobian(tf.identity(z), 1).numpy(),
                               np.linalg.slogdet(jac)[1], rtol=1e-8)


def test_variables_are_tracked_and_counted():
    f = MAFFlow(8, layers=10, hidden_units=(100, 100), seed=0)
    # MADE 8 -> 100 -> 100 -> 16 with biases; batch norm gamma and beta.
    made = (8 * 100 + 100) + (100 * 100 + 100) + (100 * 16 + 16)
    assert f.count_params() == 10 * (made + 2 * 8)
    assert len(f.trainable_variables) == 10 * (6 + 2)
    assert len(f.variables) == len(f.trainable_variables) + 10 * 2  # moving mean, variance
    g = MAFFlow(8, layers=2, batch_norm=False, permutation="none", seed=0)
    assert g.count_params() == 2 * made and g.permutations == []


def test_gradients_reach_every_variable(rng):
    f = MAFFlow(4, layers=2, hidden_units=(16,), seed=1)
    x = tf.constant(rng.normal(size=(32, 4)), tf.float32)
    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(f.log_prob(x, training=True))
    grads = tape.gradient(loss, f.trainable_variables)
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)


def test_permutations_and_seeds():
    rev = MAFFlow(5, layers=3, seed=0)
    assert [p.tolist() for p in rev.permutations] == [[4, 3, 2, 1, 0]] * 2
    rnd = MAFFlow(5, layers=3, permutation="random", seed=4)
    assert len(rnd.permutations) == 2 and all(sorted(p) == list(range(5)) for p in rnd.permutations)
    x = tf.ones([2, 5])
    a, b = MAFFlow(5, layers=2, seed=9), MAFFlow(5, layers=2, seed=9)
    np.testing.assert_array_equal(a.log_prob(x).numpy(), b.log_prob(x).numpy())


def test_clipped_log_scale_bounds_the_inverse_log_det():
    f = MAFFlow(2, layers=1, hidden_units=(4,), batch_norm=False, clip_log_scale=True, seed=0)
    for v in f.made[0].trainable_variables:
        v.assign(tf.fill(v.shape, 50.0))  # enormous log-scales before clipping
    x = tf.constant([[0.3, -0.2]])
    ildj = f.distribution.bijector.inverse_log_det_jacobian(x, event_ndims=1).numpy()
    lo, hi = LOG_SCALE_CLIP
    assert -2 * hi - 1e-5 <= ildj[0] <= -2 * lo + 1e-5
    assert ildj[0] == pytest.approx(-2 * hi, abs=1e-4) or ildj[0] == pytest.approx(-hi, abs=1e-4)
    # MAFFlow.log_prob runs each MADE once with its own inverse arithmetic: it must
    # agree with TFP's MaskedAutoregressiveFlow, clipping included (no batch norm here,
    # so TFP's TransformedDistribution is exact), in both modes.
    x = tf.constant([[0.3, -0.2], [1.5, 2.0]])
    expected = f.distribution.log_prob(x).numpy()
    for training in (False, True):
        np.testing.assert_allclose(f.log_prob(x, training=training).numpy(), expected, rtol=1e-6)


def _kernels(flow):
    """(kernel, mask) of every masked dense layer of every MADE."""
    return [(layer.kernel.numpy(), mask) for made in flow.made
            for layer, mask in zip([la for la in made._network.layers if hasattr(la, "kernel")], made._masks)]


def test_fan_in_init_is_pytorchs_uniform_and_keeps_the_masks():
    fan_in, glorot = (MAFFlow(8, init=init, seed=3) for init in ("fan_in", "glorot"))
    assert fan_in.config["init"] == "fan_in" and glorot.config["init"] == "glorot"
    for (k, mask), (g, _) in zip(_kernels(fan_in), _kernels(glorot)):
        assert np.all(k[mask == 0] == 0)  # TFP masks what the initializer draws
        live = k[mask != 0]
        limit = 1 / np.sqrt(k.shape[0])  # PyTorch's nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        assert np.abs(live).max() <= limit
        assert np.abs(live).max() > 0.9 * limit and abs(live.std() - limit / np.sqrt(3)) < 0.1 * limit
        glorot_limit = np.sqrt(6 / sum(k.shape))
        assert np.abs(g[mask != 0]).max() > 0.9 * glorot_limit
    for made in fan_in.made:
        for layer in [la for la in made._network.layers if hasattr(la, "kernel")]:
            assert np.all(layer.bias.numpy() == 0)
    # same seed, same draws; the default is still P2's Glorot initialisation
    again = MAFFlow(8, init="fan_in", seed=3)
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(_kernels(fan_in), _kernels(again)))
    assert MAFFlow(2).config["init"] == "glorot"


@pytest.mark.parametrize("kwargs, message", [
    ({"dims": 0}, "dims"), ({"layers": 0}, "layers"), ({"hidden_units": ()}, "hidden_units"),
    ({"permutation": "shuffle"}, "permutation"), ({"init": "he"}, "init")])
def test_bad_arguments(kwargs, message):
    args = {"dims": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        MAFFlow(**args)


def test_random_orders_are_seeded_permutations_other_than_the_reversal():
    """`permutation="random"`: each layer's order is a permutation of the variables drawn
    from the seed (the same seed, the same orders), and not P2's reversal."""
    from tfp_flows.flows.options import FlowOptions

    def orders(seed):
        flow = MAFFlow(6, FlowOptions(layers=4, hidden_units=[8], permutation="random", batch_norm=False), seed=seed)
        return [np.asarray(p) for p in flow.permutations]

    first, again, other = orders(3), orders(3), orders(4)
    assert len(first) == 3 and all(sorted(p) == list(range(6)) for p in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    assert not all(np.array_equal(p, np.arange(6)[::-1]) for p in first)
    reverse = MAFFlow(6, FlowOptions(layers=4, hidden_units=[8], batch_norm=False), seed=3).permutations
    assert all(np.array_equal(p, np.arange(6)[::-1]) for p in reverse)  # the default: P2's reversal
