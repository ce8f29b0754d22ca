"""Conditional flows: the context reaches every layer that should read it, in both
directions (tensorflow/probability #1410 and #1801: a condition lost inside a
`tfb.Chain`); densities and samples agree; log-dets match autodiff; toy conditionals
with a known truth are learned; no NaN over training (#1203)."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from conftest import perturbed

from tfp_flows.flows import MAFFlow, NSFFlow, RealNVPFlow, SplineCouplingFlow, build_flow, flow_class
from tfp_flows.flows.mog import MADEMoGFlow, MAFMoGFlow
from tfp_flows.training import TrainConfig, Trainer
from tfp_flows.training.objectives import MaximumLikelihood

tfb = tfp.bijectors
F64 = tf.float64

# Chains of the #1410 shape: several conditioned layers with batch norm and permutations between.
CONDITIONAL = {
    "maf": lambda seed, dtype=F64: MAFFlow(3, layers=3, hidden_units=(8, 8), seed=seed, dtype=dtype, context_dims=2),
    "maf-mog": lambda seed, dtype=F64: MAFMoGFlow(3, layers=3, hidden_units=(8,), components=3, seed=seed, dtype=dtype,
                                                  context_dims=2),
    "nsf": lambda seed, dtype=F64: NSFFlow(3, layers=3, hidden_units=(8,), bins=4, seed=seed, dtype=dtype,
                                           context_dims=2),
    "spline-coupling": lambda seed, dtype=F64: SplineCouplingFlow(3, layers=3, bins=4, hidden=(8,), seed=seed,
                                                                  dtype=dtype, context_dims=2),
    "realnvp": lambda seed, dtype=F64: RealNVPFlow(3, layers=3, hidden_units=(8,), seed=seed, dtype=dtype,
                                                   context_dims=2),
}
LAYER_TYPES = (tfb.MaskedAutoregressiveFlow, tfb.RealNVP)


@pytest.fixture(params=sorted(CONDITIONAL))
def family(request):
    return request.param


def test_changing_only_the_context_changes_every_conditioned_layer_and_no_other(family, rng):
    flow = perturbed(CONDITIONAL[family])
    kinds = [type(b).__name__ for b in flow.bijectors]
    assert "Permute" in kinds and ("BatchNormalization" in kinds or family == "spline-coupling")
    assert flow.conditioned == {b.name for b in flow.bijectors if isinstance(b, LAYER_TYPES)}
    assert len(flow.conditioned) == 3
    y = tf.constant(rng.normal(size=(16, 3)), F64)
    c1, c2 = (tf.constant(rng.normal(size=(16, 2)), F64) for _ in range(2))
    for i, b in enumerate(flow.bijectors):
        out1, ildj1 = flow.layer_inverse(i, y, context=c1)
        out2, ildj2 = flow.layer_inverse(i, y, context=c2)
        moved = np.abs(out1.numpy() - out2.numpy()).max()
        if b.name in flow.conditioned:
            assert moved > 1e-3, f"layer {i} ({b.name}) ignores the context"
            assert np.abs(ildj1.numpy() - ildj2.numpy()).max() > 1e-3
        else:
            assert moved == 0, f"layer {i} ({b.name}) reads a context it should pass along"
        y = out1


def test_a_mixture_base_reads_the_context_too():
    # made-mog has no layer but the identity: all of its conditioning is in its base; maf-mog's
    # base is conditioned beside its layers.
    rng = np.random.default_rng(5)
    flow = perturbed(lambda seed: MADEMoGFlow(3, hidden_units=(8,), components=3, seed=seed, dtype=F64,
                                              context_dims=2))
    assert flow.base_conditioned and not flow.conditioned
    z = tf.constant(rng.normal(size=(16, 3)), F64)
    c1, c2 = (tf.constant(rng.normal(size=(16, 2)), F64) for _ in range(2))
    assert np.abs(flow.log_prob(z, context=c1).numpy() - flow.log_prob(z, context=c2).numpy()).min() > 1e-6
    mixed = perturbed(CONDITIONAL["maf-mog"])
    assert mixed.base_conditioned and len(mixed.conditioned) == 3
    y = tf.constant(rng.normal(size=(16, 3)), F64)
    base1 = mixed.base.log_prob(y, conditional_input=c1).numpy()
    base2 = mixed.base.log_prob(y, conditional_input=c2).numpy()
    assert np.abs(base1 - base2).min() > 1e-6


def test_a_made_mog_density_integrates_to_one():
    """The hand-written mixture distribution is a density: on a 2-D grid wide enough to hold
    its mass, exp(log p) sums to 1 (to the grid's resolution), with and without a context."""
    flow = perturbed(lambda seed: MADEMoGFlow(2, hidden_units=(8,), components=3, seed=seed, dtype=F64,
                                              context_dims=1), seed=3)
    grid = np.linspace(-20, 20, 1001)
    step = grid[1] - grid[0]
    xx = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    for value in (-1.0, 0.5):
        density = np.exp(flow.log_prob(tf.constant(xx), context=tf.constant([value], F64)).numpy())
        assert abs(density.sum() * step ** 2 - 1) < 2e-3


@pytest.mark.parametrize("form", ["exp", "softplus"])
def test_a_made_mog_log_density_is_tfps_mixture_of_its_components(form):
    """MADEMixture writes its log-density out (for speed); it equals TFP's
    `MixtureSameFamily` of Categorical and Normal over the same outputs, for both scale
    forms, with a context, near the modes and far in the tails; and each form makes the
    scale it names of the MADE's raw output."""
    from tfp_flows.flows.mog import MIN_SCALE

    rng = np.random.default_rng(11)
    flow = perturbed(lambda seed: MADEMoGFlow(3, hidden_units=(8,), components=4, seed=seed, dtype=F64,
                                              context_dims=2, mixture_scale=form), seed=2, scale=0.8)
    base = flow.base
    x = tf.constant(np.concatenate([rng.normal(size=(20, 3)), 30 * rng.normal(size=(5, 3))]), F64)
    c = tf.constant(rng.normal(size=(25, 2)), F64)
    reference = tf.reduce_sum(base._conditionals(x, c).log_prob(x), axis=-1).numpy()
    np.testing.assert_allclose(base.log_prob(x, conditional_input=c).numpy(), reference, rtol=1e-12, atol=1e-9)
    raw = tf.split(base.made(x, conditional_input=c) + base.offset, 3, axis=-1)[2].numpy()
    made = {"exp": lambda r: np.exp(r / 2), "softplus": lambda r: np.logaddexp(0, r + np.log(np.expm1(1.0)))}[form]
    np.testing.assert_allclose(base._mixture_parameters(x, c)[2].numpy(), MIN_SCALE + made(raw), rtol=1e-12)


def test_a_runaway_mog_scale_output_stays_finite():
    """An exp scale is taken of min(r / 2, MAX_LOG_SCALE): an output driven far up (a diverging
    run) gives a huge but finite scale, so the log-density stays finite in float32."""
    flow = MADEMoGFlow(3, hidden_units=(8,), components=2, seed=0, dtype=tf.float32)
    offset = flow.base.offset.numpy()
    offset[:, 4:] = 500.0  # [logits | locations | scales], 2 components each
    flow.base.offset.assign(offset)
    values = flow.log_prob(tf.constant(np.random.default_rng(0).normal(size=(8, 3)), tf.float32)).numpy()
    assert np.isfinite(values).all() and values.max() < -50


@pytest.mark.parametrize("family", ["made-mog", "maf-mog"])
def test_a_mog_run_recorded_before_the_scale_setting_is_rebuilt_with_softplus(family, tmp_path):
    """Run folders record a flow's config; one written before `mixture_scale` existed was
    trained with softplus scales, and rebuilding it from that record (what `tfp-flows-score`
    and `export` do) gives back the same density from the saved weights. New flows record
    the form they use (exp by default)."""
    from tfp_flows.flows import flow_from_record

    assert build_flow(family, 3, None).config["mixture_scale"] == "exp"
    old = perturbed(lambda seed: flow_class(family)(3, layers=2, hidden_units=(8,), components=3, seed=seed,
                                                    dtype=F64, mixture_scale="softplus"), seed=4)
    record = {k: v for k, v in old.config.items() if k != "mixture_scale"}
    path = tf.train.Checkpoint(flow=old).write(str(tmp_path / "weights"))
    rebuilt = flow_from_record(family, record)
    assert rebuilt.config["mixture_scale"] == "softplus"
    tf.train.Checkpoint(flow=rebuilt).read(path).assert_existing_objects_matched()
    x = tf.constant(np.random.default_rng(1).normal(size=(6, 3)), F64)
    np.testing.assert_allclose(rebuilt.log_prob(x).numpy(), old.log_prob(x).numpy(), rtol=1e-12)
    as_exp = flow_from_record(family, {**record, "mixture_scale": "exp"})
    tf.train.Checkpoint(flow=as_exp).read(path).assert_existing_objects_matched()
    assert np.abs(as_exp.log_prob(x).numpy() - old.log_prob(x).numpy()).max() > 1e-3



def test_the_context_reaches_every_layer_when_sampling(family):
    # In the sampling direction the chain routes the context by layer name; a layer it
    # misses would make the sample's density disagree with the density of the same point.
    flow = perturbed(CONDITIONAL[family], seed=1)
    c = tf.constant(np.random.default_rng(3).normal(size=(32, 2)), F64)
    x, log_q = flow.sample_and_log_prob(32, seed=(1, 2), context=c)
    np.testing.assert_allclose(flow.log_prob(tf.constant(x.numpy()), context=c).numpy(), log_q.numpy(),
                               rtol=1e-6, atol=1e-6)
    same_seed = flow.sample(32, seed=(1, 2), context=c).numpy()
    np.testing.assert_allclose(same_seed, x.numpy(), rtol=1e-9)
    other = flow.sample(32, seed=(1, 2), context=c + 1.0).numpy()
    assert np.abs(other - same_seed).min() > 1e-6  # every row moves with its context
    one_row = flow.sample(5, seed=(1, 2), context=c[0])  # one context row for all draws
    assert one_row.shape == (5, 3)


def test_log_density_matches_the_autodiff_jacobian_given_a_context(family):
    flow = perturbed(CONDITIONAL[family], seed=2)
    c = tf.constant(np.random.default_rng(4).normal(size=(12, 2)), F64)
    z = flow.base.sample(12, seed=(5, 6), **flow._base_kwargs(c))
    with tf.GradientTape() as tape:
        tape.watch(z)
        x = flow.distribution.bijector.forward(z, **flow._bijector_kwargs(c))
    jac = tape.batch_jacobian(x, z).numpy()
    expected = flow.base.log_prob(z, **flow._base_kwargs(c)).numpy() - np.linalg.slogdet(jac)[1]
    np.testing.assert_allclose(flow.log_prob(tf.constant(x.numpy()), context=c).numpy(), expected,
                               rtol=1e-6, atol=1e-6)


def test_a_conditional_flow_refuses_a_missing_or_misshapen_context_and_a_plain_one_refuses_any(family):
    flow = CONDITIONAL[family](0)
    x = tf.zeros([4, 3], F64)
    with pytest.raises(ValueError, match="is conditional"):
        flow.log_prob(x)
    with pytest.raises(ValueError, match="context must be"):
        flow.log_prob(x, context=tf.zeros([4, 3], F64))
    plain = build_flow(family, 3, None, seed=0)
    with pytest.raises(ValueError, match="without a context"):
        plain.log_prob(tf.zeros([4, 3]), context=tf.zeros([4, 2]))
    assert type(flow)(**flow.config).config == flow.config and flow.config["context_dims"] == 2


def _train(flow, x, c, steps, lr=3e-3, batch=256, seed=0):
    cfg = TrainConfig(batch_size=batch, learning_rate=lr, epochs=10**6, max_steps=steps, progress=False, seed=seed)
    Trainer(flow, MaximumLikelihood(x, batch, seed, context=c), cfg, None, (), log=lambda *_: None).run()
    for v in flow.trainable_variables:  # no NaN or inf anywhere after the run (#1203)
        assert np.all(np.isfinite(v.numpy())), f"{v.name} is not finite after training"


def _sine_data(n, rng):
    c = rng.uniform(-1, 1, size=(n, 1)).astype(np.float32)
    x = (np.sin(3 * c) + (0.1 + c ** 2) * rng.normal(size=(n, 1))).astype(np.float32)
    return x, c


def _sine_truth(x, c):
    sd = 0.1 + c ** 2
    return (-0.5 * ((x - np.sin(3 * c)) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi))[:, 0]


@pytest.mark.parametrize("family", ["maf", "nsf", "made-mog"])
def test_a_one_dimensional_conditional_with_a_known_density_is_learned(family):
    """x | c ~ Normal(sin 3c, (0.1 + c^2)^2), c ~ U(-1, 1): the KL divergence from the
    truth, E_c KL(p(.|c) || q(.|c)), estimated on fresh draws, is under 0.05 nats."""
    rng = np.random.default_rng(0)
    x, c = _sine_data(20_000, rng)
    flow = flow_class(family)(1, layers=2, hidden_units=[32, 32], batch_norm=False, seed=0, context_dims=1)
    _train(flow, x, c, steps=1500)
    xt, ct = _sine_data(20_000, np.random.default_rng(1))
    kl = np.mean(_sine_truth(xt, ct) - flow.log_prob(xt, context=ct).numpy())
    assert np.isfinite(kl) and kl < 0.05, f"KL {kl:.4f}"


def _bent_data(n, rng):
    """A 2-D density that bends with c: x1 ~ N(0, 1), x2 | x1, c ~ N(c x1^2, 0.3^2)."""
    c = rng.uniform(-1, 1, size=(n, 1)).astype(np.float32)
    x1 = rng.normal(size=(n, 1))
    x2 = c * x1 ** 2 + 0.3 * rng.normal(size=(n, 1))
    return np.concatenate([x1, x2], 1).astype(np.float32), c


def _bent_truth(x, c):
    x1, x2 = x[:, :1], x[:, 1:]
    lp = -0.5 * x1 ** 2 - 0.5 * ((x2 - c * x1 ** 2) / 0.3) ** 2 - np.log(0.3) - np.log(2 * np.pi)
    return lp[:, 0]


@pytest.mark.parametrize("family", ["maf", "nsf", "realnvp"])
def test_a_two_dimensional_density_that_bends_with_its_context_is_learned(family):
    rng = np.random.default_rng(2)
    x, c = _bent_data(20_000, rng)
    flow = flow_class(family)(2, layers=4, hidden_units=[32, 32], batch_norm=False, bound=10.0, seed=0, context_dims=1)
    _train(flow, x, c, steps=3000)
    xt, ct = _bent_data(20_000, np.random.default_rng(3))
    kl = np.mean(_bent_truth(xt, ct) - flow.log_prob(xt, context=ct).numpy())
    assert np.isfinite(kl) and kl < 0.1, f"KL {kl:.4f}"


@pytest.mark.parametrize("dims", [3, 4, 5])
def test_a_spline_coupling_flow_transforms_every_coordinate(dims, rng):
    """With an odd D, reversing the coordinates between couplings would keep the middle one
    in the unchanged half of every coupling, so it would leave the flow as it came in."""
    flow = perturbed(lambda seed: SplineCouplingFlow(dims, layers=3, bins=4, hidden=(8,), seed=seed, dtype=F64))
    x = rng.uniform(-2, 2, size=(64, dims))
    y = tf.constant(x, F64)
    for i in range(len(flow.bijectors)):
        y, _ = flow.layer_inverse(i, y)
    z = y.numpy()
    untouched = [(j, k) for j in range(dims) for k in range(dims) if np.allclose(z[:, k], x[:, j], atol=1e-9)]
    assert not untouched, f"coordinates passed through unchanged: {untouched}"


@pytest.mark.parametrize("family", ["maf", "nsf", "maf-mog", "made-mog"])
def test_a_conditional_flow_starts_near_its_base_density(family):
    """The context enters each MADE at its first layer: TFP's "all_layers" would add an
    unmasked product of the context to the output layer, and a conditional MAF then
    started some 7,000 nats below its base on standardised data (benchmarks/README.md)."""
    rng = np.random.default_rng(6)
    x, c = rng.normal(size=(2000, 4)), rng.normal(size=(2000, 4))
    flow = flow_class(family)(4, layers=5, hidden_units=[100, 100], batch_norm=False, components=5, seed=0,
                              context_dims=4, dtype=F64)
    start = flow.log_prob(x, context=c).numpy().mean()
    base = -0.5 * (x ** 2).sum(1).mean() - 2 * np.log(2 * np.pi)
    assert abs(start - base) < 8, f"starts at {start:.1f} against the base's {base:.1f}"


@pytest.mark.parametrize("family", ["realnvp", "spline-coupling"])
def test_a_float64_coupling_conditioner_computes_in_float64(family, rng):
    """A Keras Sequential built from a bare shape rounds its input to float32: a float64
    flow's conditioner must agree with the same MLP in NumPy float64 to ~1e-13."""
    net = CONDITIONAL[family](seed=0).conditioners[0].net
    activations = {"tanh": np.tanh, "relu": lambda a: np.maximum(a, 0.0)}
    for v in net.trainable_variables:
        v.assign(rng.normal(size=v.shape) * 0.5)
    x = rng.normal(size=(64, net.input_shape[-1]))
    h = x
    for layer in net.layers:
        kernel, bias = (w.astype(np.float64) for w in layer.get_weights())
        h = h @ kernel + bias
        h = activations.get(layer.activation.__name__, lambda a: a)(h)
    np.testing.assert_allclose(net(tf.constant(x, F64)).numpy(), h, rtol=0, atol=1e-12)


def test_a_conditional_flow_of_one_layer_samples_given_its_context():
    """One conditioned bijector and nothing else (the MAF paper's MADE: one layer, no batch
    norm): sampling routes the context to it as in a longer flow."""
    flow = perturbed(lambda seed: MAFFlow(3, layers=1, hidden_units=(8,), batch_norm=False, seed=seed, dtype=F64,
                                          context_dims=2))
    assert len(flow.bijectors) == 1
    a = flow.sample(5, seed=(1, 2), context=[1.0, 0.0]).numpy()
    b = flow.sample(5, seed=(1, 2), context=[0.0, 1.0]).numpy()
    assert a.shape == (5, 3) and np.all(np.isfinite(a)) and not np.allclose(a, b)
    np.testing.assert_allclose(flow.sample(5, seed=(1, 2), context=[1.0, 0.0]).numpy(), a)
