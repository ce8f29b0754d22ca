"""Autoregressive neural spline flows (Durkan et al., 2019): P2's MAF with each affine
step replaced by a monotone rational-quadratic spline, built from TFP's pieces.

Each layer is a `tfb.MaskedAutoregressiveFlow` whose `bijector_fn` turns the outputs of
a `tfb.AutoregressiveNetwork` (MADE, 3K - 1 per variable) into a
`tfb.RationalQuadraticSpline` per variable (`tfp_flows.flows.splines`): variable i's
spline depends only on variables before it, so the Jacobian is triangular and the
density direction is one network pass. Batch normalisation and permutations sit between
the layers as in `MAFFlow`.

#### References

[1]: Conor Durkan, Artur Bekasov, Iain Murray, George Papamakarios. Neural Spline Flows.
     NeurIPS 2019. https://arxiv.org/abs/1906.04032
"""

from typing import Any, Optional

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfp_flows.flows.base import Flow, check_positive_int
from tfp_flows.flows.made import BlockMADE
from tfp_flows.flows.options import FlowOptions
from tfp_flows.flows.splines import params_per_variable, spline_from_params
from tfp_flows.flows.stacking import batch_norm_layers, conditional_made, interleave, keras_floatx, options_with, permutations

tfb, tfd = tfp.bijectors, tfp.distributions

__all__ = ["NSFFlow"]


class NSFFlow(Flow):
    """x = f(z), z ~ N(0, I_D), with f a chain of autoregressive spline layers.

    Layers, data side first: ``[NSF_1, BN_1, P_1, ..., NSF_L, BN_L]`` (as `MAFFlow`).
    Each spline acts on [-bound, bound] and is the identity outside it (log-det 0
    there), so data beyond the bound passes through a layer unchanged; batch norm keeps
    most of it inside. The MADEs' output layers start at zero, so every spline starts as
    the identity.

    Args:
      dims: event size D.
      options: a `FlowOptions` (layers, hidden_units, activation, permutation,
        batch_norm, bins K, bound).
      seed: seeds the initial weights and any random permutations.
      dtype: float dtype.
      context_dims: C > 0 makes the flow conditional: every MADE reads the context.
      **overrides: fields of `options` to change, e.g. ``NSFFlow(8, bins=16)``.
    """

    def __init__(self, dims: int, options: Optional[FlowOptions] = None, seed: int = 0, dtype: tf.DType = tf.float32,
                 name: str = "nsf_flow", context_dims: int = 0, **overrides: Any) -> None:
        super().__init__(name=name)
        dims = check_positive_int(dims, "dims")
        context_dims = check_positive_int(context_dims, "context_dims", minimum=0)
        options = options_with(type(self).__name__, options, overrides)
        if not options.bins >= 2:
            raise ValueError(f"bins must be at least 2, got {options.bins}")
        if not 0 < options.bound < float("inf"):
            raise ValueError(f"bound must be a positive number, got {options.bound}")
        self.options = options
        dtype = tf.as_dtype(dtype)
        self._args = dict(dims=dims, layers=options.layers, hidden_units=[int(h) for h in options.hidden_units],
                          activation=options.activation, batch_norm=bool(options.batch_norm),
                          permutation=options.permutation, bins=int(options.bins), bound=float(options.bound),
                          made_kernels=options.made_kernels, seed=seed, dtype=dtype.name)
        if context_dims:
            self._args["context_dims"] = context_dims
        rng = np.random.default_rng(seed)
        k = params_per_variable(options.bins)
        with self.name_scope:
            self.made = [
                BlockMADE(
                    params=k, event_shape=[dims], hidden_units=list(options.hidden_units),
                    activation=options.activation, dtype=dtype,
                    kernel_initializer=tf_keras.initializers.GlorotUniform(seed=int(rng.integers(2**31))),
                    kernels=options.made_kernels, name=f"made_{i}", **conditional_made(context_dims))
                for i in range(options.layers)]
            self.batch_norms = batch_norm_layers(options.layers if options.batch_norm else 0, dtype)
        self.permutations = permutations(options.permutation, dims, options.layers, rng)
        self._splines = {f"nsf_{i}": self._spline_fn(made) for i, made in enumerate(self.made)}
        steps = [tfb.MaskedAutoregressiveFlow(bijector_fn=fn, name=name) for name, fn in self._splines.items()]
        bijectors = interleave(steps, self.batch_norms, self.permutations)
        base = tfd.MultivariateNormalDiag(loc=tf.zeros(dims, dtype=dtype))
        self.assemble(base, bijectors, self._args, context_dims, conditioned=self._splines if context_dims else ())
        # Build the weights, then zero each MADE's output layer: every spline starts as the identity.
        with keras_floatx(dtype):
            self.log_prob(tf.zeros([2, dims], dtype), context=tf.zeros([2, context_dims], dtype) if context_dims else None)
        for made in self.made:
            _zero_output_layers(made, dims * k)

    def _spline_fn(self, made):
        bins, bound = self._args["bins"], self._args["bound"]

        def fn(x, conditional_input=None):
            return spline_from_params(made(x, conditional_input=conditional_input), bins, bound)
        return fn

    def _inverse_step(self, bijector, y, event_ndims, context=None):
        """A spline layer's inverse and its log-det from one MADE pass and one bin lookup
        (TFP's generic calls would run the network twice); any other layer through TFP."""
        fn = self._splines.get(bijector.name)
        if fn is None:
            return super()._inverse_step(bijector, y, event_ndims, context)
        spline = fn(y, **self._context_kwargs(bijector.name, context))
        return spline.inverse_and_log_det(y, event_ndims=1)


def _zero_output_layers(made, units):
    """Set to zero the dense layers of a built `tfb.AutoregressiveNetwork` that write its
    output (`units` = D x params wide: the masked one, and the context's when conditional).
    TFP offers no initializer for the output layer alone, so its Keras model is read."""
    for layer in made._network.layers:
        if isinstance(layer, tf_keras.layers.Dense) and layer.units == units:
            for v in layer.trainable_variables:
                v.assign(tf.zeros_like(v))
