"""What the stacked density families (MAF, NSF, Real NVP) build alike: their options
checked, a conditional MADE's arguments, batch norm layers, the permutations between
layers, and the interleaving of steps, batch norms and permutations into one list of
bijectors (data side first, as `Flow.assemble` takes it)."""

import contextlib
import dataclasses

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfp_flows.configs import check_fields
from tfp_flows.flows.options import FlowOptions

tfb = tfp.bijectors

__all__ = ["OnePassCouplings", "batch_norm_layers", "conditional_made", "conditioner_mlp", "interleave", "keras_floatx",
           "options_with", "permutations"]


def options_with(flow_name, options, overrides):
    """`options` (a `FlowOptions`; None: the defaults) with `overrides` applied and checked
    (ValueError naming an unknown option or a bad value)."""
    if "hidden_units" in overrides and isinstance(overrides["hidden_units"], tuple):
        overrides["hidden_units"] = list(overrides["hidden_units"])
    try:
        options = dataclasses.replace(options or FlowOptions(), **overrides)
    except TypeError:
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(FlowOptions)})
        raise ValueError(f"{flow_name} has no option {', '.join(unknown)}") from None
    return check_fields(options)


def conditional_made(context_dims):
    """The keyword arguments that make a `tfb.AutoregressiveNetwork` read a context of
    `context_dims` values at its first layer (none when 0), as zuko's MADE does by
    concatenating it to the input. Not at every layer: TFP's "all_layers" also adds an
    unmasked Glorot-initialised product of the context to the output layer, so the
    shifts and log-scales start far from zero; a conditional MAF of 5 layers on 4 GAS
    columns then started at a test log-likelihood of -6,941 (against -7.03 with
    "first_layer") and was still 3 nats behind after 640 steps (benchmarks/README.md,
    "Flow families"). That start is the kind of NaN reported in tensorflow/probability
    #1203."""
    if not context_dims:
        return {}
    return dict(conditional=True, conditional_event_shape=[context_dims], conditional_input_layers="first_layer")


class OnePassCouplings:
    """Mixed into a coupling `Flow`: a coupling layer's inverse and its log-det from one
    conditioner pass (TFP's `tfb.RealNVP` runs the conditioner for its `inverse` and again
    for its `inverse_log_det_jacobian`); any other layer through the `Flow` it precedes.

    The subclass sets ``_coupling_of`` (coupling bijector name -> its conditioner, called
    as ``conditioner(kept, rest_units, conditional_input=...)``) and ``_kept`` (the
    coordinates each coupling keeps), and defines ``_invert_rest(out, rest)``: the
    conditioner's output and the transformed coordinates -> (their inverse, its log-det
    summed over them)."""

    def _inverse_step(self, bijector, y, event_ndims, context=None):
        conditioner = self._coupling_of.get(bijector.name)
        if conditioner is None:
            return super()._inverse_step(bijector, y, event_ndims, context)
        kept, rest = y[..., :self._kept], y[..., self._kept:]
        out = conditioner(kept, rest.shape[-1], **self._context_kwargs(bijector.name, context))
        inverse, log_det = self._invert_rest(out, rest)
        return tf.concat([kept, inverse], axis=-1), log_det


def conditioner_mlp(in_dims, hidden, out_units, activation, seed, dtype):
    """A coupling's conditioner: Dense layers of `hidden` units, then `out_units` outputs
    whose weights start at zero (so the coupling starts as the identity). The input layer
    carries `dtype`: a Sequential built from a bare shape would round float64 inputs to
    float32 first."""
    init = tf_keras.initializers.GlorotUniform(seed=seed)
    return tf_keras.Sequential(
        [tf_keras.Input((in_dims,), dtype=dtype)]
        + [tf_keras.layers.Dense(h, activation=activation, kernel_initializer=init, dtype=dtype) for h in hidden]
        + [tf_keras.layers.Dense(out_units, kernel_initializer="zeros", dtype=dtype)])


@contextlib.contextmanager
def keras_floatx(dtype):
    """Keras's default float type set to `dtype` while a conditional MADE is built. TFP's
    `tfb.AutoregressiveNetwork` adds its context branch with a `tf_keras.layers.Add` made
    without a dtype, which takes the default (float32) and would return float32 outputs
    from a float64 network."""
    before = tf_keras.backend.floatx()
    tf_keras.backend.set_floatx(tf.as_dtype(dtype).name)
    try:
        yield
    finally:
        tf_keras.backend.set_floatx(before)


def permutations(kind, dims, layers, rng):
    """The fixed variable orders between `layers` layers: reversed, random or none."""
    if kind == "reverse":
        return [np.arange(dims)[::-1] for _ in range(layers - 1)]
    if kind == "random":
        return [rng.permutation(dims) for _ in range(layers - 1)]
    return []


def batch_norm_layers(count, dtype):
    """`count` Keras batch norm layers as P2's (gamma kept positive), or none for 0."""
    return [tf_keras.layers.BatchNormalization(gamma_constraint=lambda g: tf.nn.relu(g) + 1e-6, dtype=dtype,
                                               name=f"batch_norm_{i}")
            for i in range(count)]


def interleave(steps, batch_norms, orders):
    """``[S_1, BN_1, P_1, ..., S_L, BN_L]``: each step followed by its batch norm (when
    there are any) and, but for the last, its permutation (when there are any)."""
    bijectors = []
    for i, step in enumerate(steps):
        bijectors.append(step)
        if batch_norms:
            bijectors.append(tfb.BatchNormalization(batchnorm_layer=batch_norms[i], name=f"bn_{i}"))
        if len(orders) and i < len(steps) - 1:
            bijectors.append(tfb.Permute(orders[i].tolist(), name=f"permute_{i}"))
    return bijectors
