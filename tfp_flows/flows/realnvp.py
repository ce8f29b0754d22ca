"""Real NVP (Dinh et al., 2017): affine coupling layers from TFP's `tfb.RealNVP`, as the
MAF paper compared it (Papamakarios et al., 2017), with batch normalisation and a fixed
permutation between the couplings.

#### References

[1]: Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio. Density estimation using Real NVP.
     ICLR 2017. https://arxiv.org/abs/1605.08803
"""

from typing import Any, Optional

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.flows.base import Flow, check_positive_int
from tfp_flows.flows.options import FlowOptions
from tfp_flows.flows.stacking import (OnePassCouplings, batch_norm_layers, conditioner_mlp, interleave, options_with,
                                     permutations)

tfb, tfd = tfp.bijectors, tfp.distributions

__all__ = ["LOG_SCALE_BOUND", "RealNVPFlow"]

# The coupling's log-scale is soft-clamped to (-bound, bound) by bound * tanh(s / bound):
# the identity near zero, and no step can scale a variable by more than e^3.
LOG_SCALE_BOUND = 3.0


class _AffineConditioner(tf.Module):
    """(x_kept[, context]) -> (shift, log_scale) for the other variables: an MLP whose
    output layer starts at zero, so the coupling starts as the identity."""

    def __init__(self, kept, out_dims, context_dims, hidden, activation, seed, dtype, name):
        super().__init__(name=name)
        with self.name_scope:
            self.net = conditioner_mlp(kept + context_dims, hidden, 2 * out_dims, activation, seed, dtype)

    def __call__(self, x0, output_units, conditional_input=None):
        inputs = x0 if conditional_input is None else tf.concat([x0, conditional_input], axis=-1)
        shift, raw = tf.split(self.net(inputs), 2, axis=-1)
        return shift, LOG_SCALE_BOUND * tf.tanh(raw / LOG_SCALE_BOUND)


class RealNVPFlow(OnePassCouplings, Flow):
    """x = f(z), z ~ N(0, I_D), with f a chain of affine couplings.

    Layers, data side first: ``[C_1, BN_1, P_1, ..., C_L, BN_L]``. Coupling C_i keeps
    the first floor(D/2) variables and shifts and scales the others by an MLP of the
    kept ones (and of the context, for a conditional flow); the permutation between
    couplings ("reverse" or "random"; "none" would leave the same half untouched
    throughout, so it is refused) lets every variable be transformed.

    Args:
      dims: D >= 2.
      options: a `FlowOptions` (layers, hidden_units, activation, permutation, batch_norm).
      seed: seeds the initial weights and any random permutations.
      dtype: float dtype.
      context_dims: C > 0 makes the flow conditional: every coupling's MLP reads it.
      **overrides: fields of `options` to change.
    """

    def __init__(self, dims: int, options: Optional[FlowOptions] = None, seed: int = 0, dtype: tf.DType = tf.float32,
                 name: str = "realnvp_flow", context_dims: int = 0, **overrides: Any) -> None:
        super().__init__(name=name)
        dims = check_positive_int(dims, "dims", minimum=2)
        context_dims = check_positive_int(context_dims, "context_dims", minimum=0)
        options = options_with(type(self).__name__, options, overrides)
        if options.permutation == "none":
            raise ValueError("a coupling flow needs permutation reverse or random (with none, half the "
                             "variables are never transformed)")
        self.options = options
        dtype = tf.as_dtype(dtype)
        self._args = dict(dims=dims, layers=options.layers, hidden_units=[int(h) for h in options.hidden_units],
                          activation=options.activation, batch_norm=bool(options.batch_norm),
                          permutation=options.permutation, seed=seed, dtype=dtype.name)
        if context_dims:
            self._args["context_dims"] = context_dims
        rng = np.random.default_rng(seed)
        kept = dims // 2
        self.conditioners = [
            _AffineConditioner(kept, dims - kept, context_dims, list(options.hidden_units), options.activation,
                               int(rng.integers(2**31)), dtype, f"conditioner_{i}")
            for i in range(options.layers)]
        with self.name_scope:
            self.batch_norms = batch_norm_layers(options.layers if options.batch_norm else 0, dtype)
        self.permutations = permutations(options.permutation, dims, options.layers, rng)
        steps = [tfb.RealNVP(num_masked=kept, shift_and_log_scale_fn=cond, name=f"coupling_{i}")
                 for i, cond in enumerate(self.conditioners)]
        self._coupling_of = {step.name: cond for step, cond in zip(steps, self.conditioners)}
        self._kept = kept
        conditioned = [s.name for s in steps]
        bijectors = interleave(steps, self.batch_norms, self.permutations)
        base = tfd.MultivariateNormalDiag(loc=tf.zeros(dims, dtype=dtype))
        self.assemble(base, bijectors, self._args, context_dims, conditioned=conditioned if context_dims else ())
        self.log_prob(tf.zeros([2, dims], dtype), context=tf.zeros([2, context_dims], dtype) if context_dims else None)

    @staticmethod
    def _invert_rest(shift_and_log_scale, rest):
        """The affine coupling's inverse, (rest - shift) exp(-log_scale), and its log-det."""
        shift, log_scale = shift_and_log_scale
        return (rest - shift) * tf.exp(-log_scale), -tf.reduce_sum(log_scale, axis=-1)
