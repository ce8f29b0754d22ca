"""The grouped MADE: TFP's network computed on fewer kernel entries, same values and gradients."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfp_flows.flows import made as made_module
from tfp_flows.flows.made import MIN_ENTRIES, BlockMADE, block_matmul, column_groups, grouped_matmul
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
    """Record the rows of every grouped product BlockMADE computes from now on (either kind)."""
    calls = []
    for name in ("grouped_matmul", "block_matmul"):
        real = getattr(made_module, name)

        def counting(h, *args, _real=real):
            calls.append(h.shape[0])
            return _real(h, *args)

        monkeypatch.setattr(made_module, name, counting)
    return calls


def _made_kw(dtype, context_dims):
    kw = dict(params=3, event_shape=[12], hidden_units=[40, 30], activation="tanh", dtype=dtype,
              bias_initializer="glorot_uniform")
    if context_dims:
        kw.update(conditional=True, conditional_event_shape=[context_dims], conditional_input_layers="first_layer")
    return kw


def _pair(dtype, context_dims, **kw):
    made = BlockMADE(**_made_kw(dtype, context_dims), min_entries=0, **kw)
    x = tf.constant(np.random.default_rng(2).normal(size=(9, 12)), dtype)
    c = tf.constant(np.random.default_rng(3).normal(size=(9, context_dims)), dtype) if context_dims else None
    with keras_floatx(dtype):  # as the flows build it: TFP's activation layers take Keras' floatx
        made(x, conditional_input=c)
    return made, x, c


def _dense_layers(network):
    """(masked Dense layers, the context's Dense layers) of a TFP MADE's Keras network."""
    dense = [layer for layer in network._network.layers if isinstance(layer, tf_keras.layers.Dense)]
    return ([layer for layer in dense if layer.kernel_constraint is not None],
            [layer for layer in dense if layer.kernel_constraint is None])


def _tfp_twin(made, dtype, context_dims, x, c):
    """TFP's own network holding `made`'s weights (its whole kernels put together)."""
    theirs = tfb.AutoregressiveNetwork(**_made_kw(dtype, context_dims))
    with keras_floatx(dtype):
        theirs(x, conditional_input=c)
    (masked_t, context_t), (masked_o, context_o) = _dense_layers(theirs), _dense_layers(made)
    for layer_t, layer_o, kernel in zip(masked_t, masked_o, made.whole_kernels()):
        layer_t.kernel.assign(kernel)
        layer_t.bias.assign(layer_o.bias)
    for layer_t, layer_o in zip(context_t, context_o):
        for w_t, w_o in zip(layer_t.weights, layer_o.weights):
            w_t.assign(w_o)
    return theirs


@pytest.mark.parametrize("kernels", ["blocks", "dense"])
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("context_dims", [0, 4])
def test_block_made_matches_tfp_network(kernels, dtype, context_dims, monkeypatch):
    """Values, the input's gradient and every weight's gradient (at the entries the masks
    keep; a kept block's masked entries get none) equal TFP's network on the same weights."""
    made, x, c = _pair(dtype, context_dims, kernels=kernels)
    theirs = _tfp_twin(made, dtype, context_dims, x, c)
    calls = _count_grouped(monkeypatch)
    assert made._grouping is not None and all(len(g) > 1 for _, g in made._grouping.plan)
    assert all(made._grouping.blocks) == (kernels == "blocks")
    tol = 1e-12 if dtype == tf.float64 else 2e-6
    masked_t, context_t = _dense_layers(theirs)
    masked_o, context_o = _dense_layers(made)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = made(x, conditional_input=c)
        with keras_floatx(dtype):
            out = theirs(x, conditional_input=c)
        w = tf.cast(tf.reshape(tf.range(tf.size(ours)), ours.shape) % 7 - 3, dtype)
        loss_ours, loss_theirs = tf.reduce_sum(ours * w), tf.reduce_sum(out * w)
    np.testing.assert_allclose(ours, out, atol=tol)
    assert calls == [9, 9, 9]  # all three layers took a grouped product
    np.testing.assert_allclose(tape.gradient(loss_ours, x), tape.gradient(loss_theirs, x), atol=tol * 10)
    # the masked kernels: ours put together (zero where a block's mask is) against TFP's, masked
    held = [variables for variables, _, _ in made.kernel_entries()]
    for variables, layer_t, mask in zip(held, masked_t, made._masks):
        grads = tape.gradient(loss_ours, variables)
        if kernels == "blocks":
            rows = mask.shape[0]
            grads = [tf.concat([tf.pad(gb, [[0, rows - gb.shape[0]], [0, 0]]) for gb in grads], axis=1)]
        np.testing.assert_allclose(np.asarray(grads[0]) * mask, np.asarray(tape.gradient(loss_theirs, layer_t.kernel)) * mask,
                                   atol=tol * 10)
        if kernels == "blocks":
            assert np.all(np.asarray(grads[0])[~np.asarray(mask, bool)] == 0)
    pairs = [(o.bias, t.bias) for o, t in zip(masked_o, masked_t)]
    pairs += [(w_o, w_t) for o, t in zip(context_o, context_t) for w_o, w_t in zip(o.weights, t.weights)]
    assert len(pairs) == 3 + (1 if context_dims else 0)
    for w_o, w_t in pairs:
        np.testing.assert_allclose(tape.gradient(loss_ours, w_o), tape.gradient(loss_theirs, w_t), atol=tol * 10)
    if context_dims:  # the context reaches the output
        assert not np.allclose(made(x, conditional_input=c + 1.0), ours)


def test_kept_blocks_are_the_only_kernel_weights_and_adam_keeps_their_masked_entries_zero():
    made, x, _ = _pair(tf.float64, 0)
    multiplied = sum(computed for _, _, computed in made.kernel_entries())
    kernels = [v for v in made.trainable_variables if len(v.shape) == 2]
    assert sum(int(np.prod(v.shape)) for v in kernels) == multiplied < sum(m.size for m in made._masks)
    before = [k.numpy() for k in made.whole_kernels()]
    optimizer = tf_keras.optimizers.Adam(0.05)
    for step in range(5):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.sin(made(x * (step + 1))))
        optimizer.apply_gradients(zip(tape.gradient(loss, made.trainable_variables), made.trainable_variables))
    for old, new, mask in zip(before, made.whole_kernels(), made._masks):
        mask = np.asarray(mask, bool)
        assert np.all(np.asarray(new)[~mask] == 0)  # exactly, with no masking constraint
        assert not np.allclose(np.asarray(new)[mask], old[mask])  # and the rest trained


def test_block_made_checkpoints_hold_blocks_and_dense_ones_tfps_layout(tmp_path):
    """"dense" keeps TFP's checkpoint graph (a checkpoint of TFP's network restores into it);
    "blocks" holds the blocks in place of each grouped kernel and round-trips."""
    kw = dict(params=2, event_shape=[12], hidden_units=[40], dtype=tf.float64)
    theirs = tfb.AutoregressiveNetwork(**kw)
    dense, blocks = BlockMADE(**kw, min_entries=0, kernels="dense"), BlockMADE(**kw, min_entries=0)
    x = tf.constant(np.random.default_rng(0).normal(size=(3, 12)))
    with keras_floatx(tf.float64):
        theirs(x), dense(x), blocks(x)
    path = tf.train.Checkpoint(net=theirs).write(str(tmp_path / "theirs"))
    keys = [k for k, _ in tf.train.list_variables(path)]
    assert [k for k, _ in tf.train.list_variables(tf.train.Checkpoint(net=dense).write(str(tmp_path / "d")))] == keys
    tf.train.Checkpoint(net=dense).read(path).assert_consumed()
    with keras_floatx(tf.float64):
        np.testing.assert_allclose(dense(x), theirs(x), atol=1e-12)
    saved = tf.train.Checkpoint(net=blocks).write(str(tmp_path / "b"))
    block_keys = [k for k, _ in tf.train.list_variables(saved)]
    assert not any("kernel/.ATTRIBUTES" in k for k in block_keys) and sum("_block_" in k for k in block_keys) == 8
    other = BlockMADE(**kw, min_entries=0)
    with keras_floatx(tf.float64):
        other(x)
        assert not np.allclose(other(x), blocks(x))
        tf.train.Checkpoint(net=other).read(saved).assert_consumed()
        np.testing.assert_allclose(other(x), blocks(x), atol=1e-12)


@pytest.mark.parametrize("kernels", ["blocks", "dense"])
def test_other_batch_shapes(kernels):
    made, x, _ = _pair(tf.float64, 0, kernels=kernels)
    batched = tf.stack([x, 2 * x])  # [2, 9, 12]: TFP's network handles any batch shape, and so does this one
    np.testing.assert_allclose(made(batched)[1], made(2 * x), atol=1e-12)
    np.testing.assert_allclose(made(x[0]), made(x)[0], atol=1e-12)
    cond, xc, c = _pair(tf.float64, 4, kernels=kernels)
    np.testing.assert_allclose(cond(xc, conditional_input=c[0]), cond(xc, conditional_input=tf.repeat(c[:1], 9, 0)),
                               atol=1e-12)
    small = BlockMADE(params=2, event_shape=[8], hidden_units=[100])
    small(tf.zeros([2, 8]))
    assert small._grouping is None  # GAS-sized: TFP's products
    with pytest.raises(ValueError, match="kernels"):
        BlockMADE(params=2, event_shape=[8], hidden_units=[100], kernels="sparse")


def test_maf_flow_with_grouped_made_equals_tfps():
    """A MAF large enough to group, its MADEs kept as blocks: its density, samples'
    densities and gradients agree with the same flow computed by TFP's networks."""
    flow = MAFFlow(256, layers=2, hidden_units=[1024], batch_norm=False, seed=0)
    tfps = MAFFlow(256, layers=2, hidden_units=[1024], batch_norm=False, seed=0, made_kernels="dense")
    assert all(m._grouping is not None and all(m._grouping.blocks) for m in flow.made)
    assert flow.config["made_kernels"] == "blocks" and tfps.config["made_kernels"] == "dense"
    for m in tfps.made:
        m._grouping = None  # TFP's own products
    x = tf.random.stateless_normal([16, 256], seed=[1, 2])
    with tf.GradientTape(persistent=True) as tape:
        ours, theirs = flow.log_prob(x), tfps.log_prob(x)
        loss_ours, loss_theirs = -tf.reduce_mean(ours), -tf.reduce_mean(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-3)
    for m_o, m_t in zip(flow.made, tfps.made):
        masked_t, _ = _dense_layers(m_t)
        for (variables, _, _), layer_t, mask in zip(m_o.kernel_entries(), masked_t, m_o._masks):
            rows = mask.shape[0]
            grad = tf.concat([tf.pad(g, [[0, rows - g.shape[0]], [0, 0]])
                              for g in tape.gradient(loss_ours, variables)], axis=1)
            np.testing.assert_allclose(grad, np.asarray(tape.gradient(loss_theirs, layer_t.kernel)) * mask,
                                       rtol=1e-4, atol=1e-5)
    samples = flow.sample(4, seed=3)
    assert np.all(np.isfinite(flow.log_prob(samples)))


@pytest.mark.parametrize("kernels", ["blocks", "dense"])
def test_batch_of_unknown_size_is_grouped_too(kernels, monkeypatch):
    """The trainer's compiled loop traces the MADEs with a batch of unknown size: the grouped
    product takes it (its zero blocks sized at run time), with the eager values and gradients."""
    made, x, _ = _pair(tf.float64, 0, kernels=kernels)

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


@pytest.mark.parametrize("mask_kind", ["staircase", "gaps"])
def test_block_matmul_values_and_gradients(mask_kind):
    """The kept-blocks product against a dense product of the whole masked kernel, with
    columns that read no row at all ("gaps") and rows no group reads."""
    rng = np.random.default_rng(4)
    rows, cols = 41, 50
    limits = np.sort(rng.integers(1, rows - 5, cols))
    if mask_kind == "gaps":
        limits[:7] = 0  # the first columns read nothing
    mask = np.arange(rows)[:, None] < limits[None]
    groups = column_groups(mask, 4, min_entries=0)
    assert len(groups) > 1 and groups[-1][2] < rows
    kernel = rng.normal(size=(rows, cols)) * mask
    blocks = [tf.constant(kernel[:read, start:end]) for start, end, read in groups]
    h = tf.constant(rng.normal(size=(6, rows)))
    weights = tf.constant(rng.normal(size=(6, cols)))
    whole = tf.constant(kernel)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([h, whole, *blocks])
        ours = block_matmul(h, blocks, groups, [limits[start:end] for start, end, _ in groups])
        dense = h @ whole
        a, b = tf.reduce_sum(ours * weights), tf.reduce_sum(dense * weights)
    np.testing.assert_allclose(ours, dense, atol=1e-12)
    np.testing.assert_allclose(tape.gradient(a, h), tape.gradient(b, h), atol=1e-12)
    d_whole = np.asarray(tape.gradient(b, whole)) * mask
    for block, (start, end, read) in zip(tape.gradient(a, blocks), groups):
        np.testing.assert_allclose(block, d_whole[:read, start:end], atol=1e-12)


def test_a_run_recorded_before_made_kernels_is_rebuilt_with_whole_kernels(tmp_path):
    """Run folders record a flow's config; one written before `made_kernels` existed holds
    TFP's whole kernels, and rebuilding it from that record (what score and export do)
    restores its weights and gives back its density; read as blocks it would not restore."""
    from tfp_flows.flows import flow_from_record

    old = MAFFlow(256, layers=1, hidden_units=[1024], batch_norm=False, seed=5, made_kernels="dense")
    record = {k: v for k, v in old.config.items() if k != "made_kernels"}
    path = tf.train.Checkpoint(flow=old).write(str(tmp_path / "weights"))
    rebuilt = flow_from_record("maf", {**record, "seed": 6})
    assert rebuilt.config["made_kernels"] == "dense"
    x = tf.random.stateless_normal([5, 256], seed=[3, 4])
    assert not np.allclose(rebuilt.log_prob(x), old.log_prob(x))
    tf.train.Checkpoint(flow=rebuilt).read(path).assert_existing_objects_matched()
    np.testing.assert_allclose(rebuilt.log_prob(x), old.log_prob(x), rtol=1e-6)
    as_blocks = flow_from_record("maf", {**record, "made_kernels": "blocks"})
    with pytest.raises(AssertionError):
        tf.train.Checkpoint(flow=as_blocks).read(path).assert_existing_objects_matched()
