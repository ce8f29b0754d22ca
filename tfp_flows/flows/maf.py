"""Masked autoregressive flows (MAF) built from TFP's own pieces.

A stack of `tfb.MaskedAutoregressiveFlow` bijectors, each with a
`tfb.AutoregressiveNetwork` (MADE) computing shift and log-scale, optionally followed
by `tfb.BatchNormalization` and a `tfb.Permute`, over a standard normal base.
"""

from typing import Any, Optional

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfp_flows.flows.base import Flow, check_positive_int
from tfp_flows.flows.made import BlockMADE
from tfp_flows.flows.options import FlowOptions, MAFOptions
from tfp_flows.flows.stacking import batch_norm_layers, conditional_made, interleave, keras_floatx, options_with, permutations

tfb, tfd = tfp.bijectors, tfp.distributions

__all__ = ["MAFFlow", "MAFOptions", "LOG_SCALE_CLIP"]

# The TF1-era `masked_autoregressive_default_template` P2 used clipped the log-scale to
# this range (forward value clipped, gradient passed through).
LOG_SCALE_CLIP = (-5.0, 3.0)


def _kernel_initializer(init, seed):
    """Glorot-uniform (P2's) or U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default for a
    linear layer (kaiming_uniform with a = sqrt(5)): variance scaling with scale 1/3, as
    the uniform limit is sqrt(3 scale / fan_in). TFP masks what the initializer draws."""
    if init == "fan_in":
        return tf_keras.initializers.VarianceScaling(scale=1 / 3, mode="fan_in", distribution="uniform", seed=seed)
    return tf_keras.initializers.GlorotUniform(seed=seed)


class MAFFlow(Flow):
    """x = f(z), z ~ N(0, I_D), with f a chain of MAF layers (P2's GAS and audio model).

    The layers are listed as P2 listed them and chained as `tfb.Chain` chains them:
    ``[MAF_1, BN_1, P_1, MAF_2, BN_2, P_2, ..., MAF_L, BN_L]`` (the last permutation
    dropped). Computing a density runs the inverse, so data meets MAF_1's inverse
    first, in the data's own variable order.

    Args:
      dims: event size D.
      options: a `MAFOptions` (layers L, hidden_units of each MADE, activation,
        batch_norm after every MAF, permutation "reverse" (P2) / "none" / "random",
        clip_log_scale to [-5, 3] as P2's TF1 template did, init of the MADEs' kernels:
        "glorot" as P2's template or "fan_in" as PyTorch's linear layers); its defaults
        are P2's.
      seed: seeds the networks' initial weights and any random permutations.
      dtype: float dtype.
      context_dims: C > 0 makes the flow conditional, p(x | c): every MADE reads the
        context at its first layer (TFP's ``conditional=True``, ``"first_layer"``), and `log_prob`,
        `sample` take ``context=[n, C]``.
      **overrides: fields of `options` to change, e.g. ``MAFFlow(8, layers=5)``.

    Attributes:
      distribution: the flow with batch normalisation using its moving statistics (what
        `log_prob(x)` and `sample` use).

    Use `log_prob(x, training=...)` for densities. In training mode TFP 0.24's
    `TransformedDistribution.log_prob` over a `tfb.Chain` normalises with the batch's
    statistics but takes the log-det-Jacobian of `tfb.BatchNormalization` from its
    *moving* variance (the chain computes it as minus the forward log-det, which uses
    the saved statistics). The objective is then not a change of variables, and
    training drifts or blows up. `log_prob` walks the bijectors itself, taking each
    one's inverse log-det at its own input, which is the exact change of variables;
    a test checks it against a hand computation, and another pins TFP's behaviour.
    The walk also runs each MADE once per layer: asking a `tfb.MaskedAutoregressiveFlow`
    for its inverse and then its inverse log-det runs the network twice (the
    `tfp_plain_step` row of benchmarks/bench_train.py measures the difference).
    """

    def __init__(self, dims: int, options: Optional[FlowOptions] = None, seed: int = 0, dtype: tf.DType = tf.float32,
                 name: str = "maf_flow", context_dims: int = 0, **overrides: Any) -> None:
        super().__init__(name=name)
        dims = check_positive_int(dims, "dims")
        context_dims = check_positive_int(context_dims, "context_dims", minimum=0)
        options = options_with(type(self).__name__, options, overrides)
        self.options = options
        layers, hidden_units, activation = options.layers, list(options.hidden_units), options.activation
        batch_norm, permutation, clip_log_scale = options.batch_norm, options.permutation, options.clip_log_scale
        dtype = tf.as_dtype(dtype)
        self.layers = layers
        self._args = dict(dims=dims, layers=layers, hidden_units=[int(h) for h in hidden_units],
                          activation=activation, batch_norm=bool(batch_norm),
                          permutation=permutation, clip_log_scale=bool(clip_log_scale), init=options.init,
                          made_kernels=options.made_kernels, seed=seed, dtype=dtype.name)
        if context_dims:
            self._args["context_dims"] = context_dims
        rng = np.random.default_rng(seed)
        with self.name_scope:
            self.made = [
                BlockMADE(
                    params=2, event_shape=[dims], hidden_units=hidden_units,
                    activation=activation, dtype=dtype,
                    kernel_initializer=_kernel_initializer(options.init, int(rng.integers(2**31))),
                    kernels=options.made_kernels, name=f"made_{i}", **conditional_made(context_dims))
                for i in range(layers)
            ]
            self.batch_norms = batch_norm_layers(layers if batch_norm else 0, dtype)
        self.permutations = permutations(permutation, dims, layers, rng)
        base = self._make_base(dims, dtype, rng, context_dims)
        self._one_pass = {f"maf_{i}": self._shift_and_log_scale(self.made[i]) for i in range(layers)}
        steps = [tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=fn, name=name) for name, fn in self._one_pass.items()]
        bijectors = interleave(steps, self.batch_norms, self.permutations)
        self.assemble(base, bijectors, self._args, context_dims, conditioned=self._one_pass if context_dims else (),
                      base_conditioned=bool(context_dims) and not isinstance(base, tfd.MultivariateNormalDiag))
        # Build every layer's weights now (in evaluation mode: no moving-statistics update).
        with keras_floatx(dtype):
            self.log_prob(tf.zeros([2, dims], dtype), context=tf.zeros([2, context_dims], dtype) if context_dims else None)

    def _make_base(self, dims, dtype, rng, context_dims):
        """The base distribution: N(0, I_D) (`MAFMoGFlow` puts a MADE MoG here)."""
        return tfd.MultivariateNormalDiag(loc=tf.zeros(dims, dtype=dtype))

    def _inverse_step(self, bijector, y, event_ndims, context=None):
        """A MAF layer's inverse, y -> (y - shift(y)) exp(-log_scale(y)), with one network
        pass for both the value and the log-det (tests compare it with the bijector's own
        inverse and inverse log-det); any other layer through TFP's generic calls."""
        fn = self._one_pass.get(bijector.name) if isinstance(bijector, tfb.MaskedAutoregressiveFlow) else None
        if fn is None:
            return super()._inverse_step(bijector, y, event_ndims, context)
        shift, log_scale = fn(y, **self._context_kwargs(bijector.name, context))
        return (y - shift) * tf.exp(-log_scale), -tf.reduce_sum(log_scale, axis=-1)

    def _shift_and_log_scale(self, made):
        """`x -> (shift, log_scale)` of one MADE, clipped if configured."""
        clip = self._args["clip_log_scale"]
        lo, hi = LOG_SCALE_CLIP

        def fn(x, conditional_input=None):
            shift, log_scale = tf.unstack(made(x, conditional_input=conditional_input), num=2, axis=-1)
            if clip:
                log_scale = tfp.math.clip_by_value_preserve_gradient(log_scale, lo, hi)
            return shift, log_scale
        return fn
