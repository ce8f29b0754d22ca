"""The grouped MADE: TFP's network computed on fewer kernel entries, same values and gradients."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.flows import made as made_module
from tfp_flows.flows.made import MIN_ENTRIES, BlockMADE, column_groups, grouped_matmul
from tfp_flows.flows.maf import MAFFlow
from tfp_flows.flows.stacking import keras_floatx

tfb = tfp.bijectors


def _tfp_masks(dims, hidden, params):
    """The masks TFP's MADE builds (inputs left to right, "equal" hidden degrees)."""
    made = tfb.AutoregressiveNetwork(params=params, event_shape=[dims], hidden_units=hidden)
    made(tf.zeros([1, dims]))
    return [np.asarray(m) for m in made._masks]


@pytest.mark.parametrize("dims,hidden,params", [(784, [1024], 2), (8, [100, 100], 2), (10, [64], 25), (5, [7, 9], 1)])
def test_groups_cover_every_unmasked_entry(dims, hidden, params):
    for mask in _tfp_masks(dims, hidden, params):
        groups = column_groups(mask, 4, min_entries=0)
        starts, ends = [g[0] for g in groups], [g[1] for g in groups]
        assert starts[0] == 0 and ends[-1] == mask.shape[1] and starts[1:] == ends[:-1]
        for start, end, read in groups:
            assert not mask[read:, start:end].any()  # what a group skips is masked
            assert read == 0 or mask[read - 1, start:end].any()  # and it reads no row it need not


def test_image_made_skips_over_a_third():
    """The MAF paper's image MADE: 4 groups per kernel, 37.5% of the products skipped."""
    for mask in _tfp_masks(784, [1024], 2):
        groups = column_groups(mask, 4)
        assert len(groups) == 4
        computed = sum((end - start) * read for start, end, read in groups)
        assert computed / mask.size == pytest.approx(0.625, abs=0.01)


def test_small_or_unstructured_kernels_are_multiplied_whole():
    mask = _tfp_masks(8, [100], 2)[0]
    assert mask.size < MIN_ENTRIES and column_groups(mask, 4) == [(0, 100, 8)]
    dense = np.ones((600, 600), bool)  # nothing to skip
    assert column_groups(dense, 4) == [(0, 600, 600)]
    assert column_groups(np.tril(np.ones((600, 600), bool)).T, 1) == [(0, 600, 600)]


@pytest.mark.parametrize("mask_kind", ["staircase", "random", "reversed"])
def test_grouped_matmul_values_and_gradients(mask_kind):
    rng = np.random.default_rng(1)
    rows, cols = 37, 53
    mask = {"staircase": np.arange(rows)[:, None] <= np.sort(rng.integers(0, rows, cols))[None],
            "random": rng.random((rows, cols)) < 0.5,
            "reversed": np.arange(rows)[:, None] >= np.sort(rng.integers(0, rows, cols))[None]}[mask_kind]
    groups = [(0, 10, rows), (10, 30, rows), (30, cols, rows)]
    if mask_kind == "staircase":
        groups = column_groups(mask, 4, min_entries=0)
        assert len(groups) > 1
    kernel = tf.constant(rng.normal(size=(rows, cols)) * mask)
    h = tf.constant(rng.normal(size=(6, rows)))
    weights = tf.constant(rng.normal(size=(6, cols)))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([h, kernel])
        grouped, dense = grouped_matmul(h, kernel, groups), h @ kernel
        a, b = tf.reduce_sum(grouped * weights), tf.reduce_sum(dense * weights)
    np.testing.assert_allclose(grouped, dense, atol=1e-12)
    (dh_a, dk_a), (dh_b, dk_b) = tape.gradient(a, [h, kernel]), tape.gradient(b, [h, kernel])
    np.testing.assert_allclose(dh_a, dh_b, atol=1e-12)
    np.testing.assert_allclose(dk_a * mask, dk_b * mask, atol=1e-12)  # masked entries: the constraint's


def _count_grouped(monkeypatch):
    """Record the rows of every grouped product BlockMADE computes from now on."""
    calls, real = [], made_module.grouped_matmul

    def counting(h, kernel, groups):
        calls.append(h.shape[0])
        return real(h, kernel, groups)

    monkeypatch.setattr(made_module, "grouped_matmul", counting)
    return calls


def _pair(dtype, context_dims, **kw):
    made_kw = dict(params=3, event_shape=[12], hidden_units=[40, 30], activation="tanh", dtype=dtype,
                   bias_initializer="glorot_uniform", **kw)
    if context_dims:
        made_kw.update(conditional=True, conditional_event_shape=[context_dims], conditional_input_layers="first_layer")
    made = BlockMADE(**made_kw, min_entries=0)
    x = tf.constant(np.random.default_rng(2).normal(size=(9, 12)), dtype)
    c = tf.constant(np.random.default_rng(3).normal(size=(9, context_dims)), dtype) if context_dims else None
    with keras_floatx(dtype):  # as the flows build it: TFP's activation layers take Keras' floatx
        made(x, conditional_input=c)
    return made, x, c


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("context_dims", [0, 4])
def test_block_made_matches_tfp_network(dtype, context_dims, monkeypatch):
    made, x, c = _pair(dtype, context_dims)
    calls = _count_grouped(monkeypatch)
    assert made._grouping is not None and all(len(g) > 1 for _, g in made._grouping.plan)
    tol = 1e-12 if dtype == tf.float64 else 2e-6
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = made(x, conditional_input=c)
        with keras_floatx(dtype):
            theirs = tf.reshape(made._network([x, c] if context_dims else x), ours.shape)  # TFP's own forward
        w = tf.cast(tf.reshape(tf.range(tf.size(ours)), ours.shape) % 7 - 3, dtype)
        loss_ours, loss_theirs = tf.reduce_sum(ours * w), tf.reduce_sum(theirs * w)
    np.testing.assert_allclose(ours, theirs, atol=tol)
    assert calls == [9, 9, 9]  # all three layers took the grouped product
    variables = made.trainable_variables
    g_ours, g_theirs = tape.gradient(loss_ours, [x] + variables), tape.gradient(loss_theirs, [x] + variables)
    masks = {id(layer.kernel): mask for (layer, _), mask in zip(made._grouping.plan, made._masks)}
    for v, a, b in zip([x] + variables, g_ours, g_theirs):
        mask = masks.get(id(v), 1.0)
        np.testing.assert_allclose(np.asarray(a) * mask, np.asarray(b) * mask, atol=tol * 10)
    # the context reaches the output
    if context_dims:
        assert not np.allclose(made(x, conditional_input=c + 1.0), ours)


def test_block_made_keeps_tfps_checkpoint_graph(tmp_path):
    """No variable or dependency of its own: a checkpoint of TFP's network restores into it."""
    kw = dict(params=2, event_shape=[12], hidden_units=[40], dtype=tf.float64)
    theirs, ours = tfb.AutoregressiveNetwork(**kw), BlockMADE(**kw, min_entries=0)
    x = tf.constant(np.random.default_rng(0).normal(size=(3, 12)))
    with keras_floatx(tf.float64):
        theirs(x), ours(x)
    path = tf.train.Checkpoint(net=theirs).write(str(tmp_path / "theirs"))
    mine = tf.train.Checkpoint(net=ours).write(str(tmp_path / "ours"))
    assert [k for k, _ in tf.train.list_variables(mine)] == [k for k, _ in tf.train.list_variables(path)]
    tf.train.Checkpoint(net=ours).read(path).assert_consumed()
    with keras_floatx(tf.float64):
        np.testing.assert_allclose(ours(x), theirs(x), atol=1e-12)


def test_other_inputs_fall_back_to_tfp():
    made, x, _ = _pair(tf.float64, 0)
    batched = tf.stack([x, 2 * x])  # [2, 9, 12]: TFP's network handles any batch shape
    np.testing.assert_allclose(made(batched)[1], made(2 * x), atol=1e-12)
    small = BlockMADE(params=2, event_shape=[8], hidden_units=[100])
    small(tf.zeros([2, 8]))
    assert small._grouping is None  # GAS-sized: TFP's products


def test_maf_flow_with_grouped_made_equals_tfps():
    """A MAF large enough to group: its density, samples' densities and gradients agree
    with the same flow computed by TFP's networks."""
    flow = MAFFlow(256, layers=2, hidden_units=[1024], batch_norm=False, seed=0)
    assert all(m._grouping is not None for m in flow.made)
    x = tf.random.stateless_normal([16, 256], seed=[1, 2])
    with tf.GradientTape() as tape:
        ours = flow.log_prob(x)
        loss = -tf.reduce_mean(ours)
    g_ours = tape.gradient(loss, flow.trainable_variables)
    saved = [m._grouping for m in flow.made]
    for m in flow.made:
        m._grouping = None
    with tf.GradientTape() as tape:
        theirs = flow.log_prob(x)
        loss = -tf.reduce_mean(theirs)
    g_theirs = tape.gradient(loss, flow.trainable_variables)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-3)
    masks = {id(layer.kernel): mask for m, g in zip(flow.made, saved) for (layer, _), mask in zip(g.plan, m._masks)}
    for v, a, b in zip(flow.trainable_variables, g_ours, g_theirs):
        mask = masks.get(id(v), 1.0)
        np.testing.assert_allclose(np.asarray(a) * mask, np.asarray(b) * mask, rtol=1e-4, atol=1e-5)
    for m, g in zip(flow.made, saved):
        m._grouping = g
    samples = flow.sample(4, seed=3)
    assert np.all(np.isfinite(flow.log_prob(samples)))


def test_batch_of_unknown_size_is_grouped_too(monkeypatch):
    """The trainer's compiled loop traces the MADEs with a batch of unknown size: the grouped
    product takes it (its zero blocks sized at run time), with the eager values and gradients."""
    made, x, _ = _pair(tf.float64, 0)

    def value_and_grads(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            out = made(v)
            loss = tf.reduce_sum(out**2)
        return out, tape.gradient(loss, [v] + made.trainable_variables)

    eager = value_and_grads(x)
    calls = _count_grouped(monkeypatch)
    traced = tf.function(value_and_grads, input_signature=[tf.TensorSpec([None, 12], tf.float64)])(x)
    assert calls == [None, None, None]
    np.testing.assert_allclose(traced[0], eager[0], atol=1e-12)
    for a, b in zip(traced[1], eager[1]):
        np.testing.assert_allclose(a, b, atol=1e-10)
