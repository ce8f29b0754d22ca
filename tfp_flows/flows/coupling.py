"""A coupling flow with rational-quadratic spline transforms (Durkan et al., 2019), built
from TFP's `tfb.RealNVP` (the coupling) and `tfb.RationalQuadraticSpline` (the transform).

#### References

[1]: Conor Durkan, Artur Bekasov, Iain Murray, George Papamakarios. Neural Spline Flows.
     NeurIPS 2019. https://arxiv.org/abs/1906.04032
"""

from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.flows.base import Flow, check_positive_int
from tfp_flows.flows.options import FlowOptions
from tfp_flows.flows.splines import params_per_variable, spline_from_params
from tfp_flows.flows.stacking import OnePassCouplings, conditioner_mlp

tfb, tfd = tfp.bijectors, tfp.distributions

__all__ = ["SplineCouplingFlow"]


class _SplineConditioner(tf.Module):
    """x0 -> a `tfb.RationalQuadraticSpline` for the other coordinates (a small MLP)."""

    def __init__(self, in_dims, out_dims, bins, hidden, bound, seed, dtype, name, context_dims=0):
        super().__init__(name=name)
        self.bins, self.out_dims, self.bound = bins, out_dims, bound
        self.net = conditioner_mlp(in_dims + context_dims, hidden, out_dims * params_per_variable(bins), "tanh",
                                   seed, dtype)

    def __call__(self, x0, output_units, conditional_input=None):
        params = self.net(x0 if conditional_input is None else tf.concat([x0, conditional_input], axis=-1))
        shape = tf.concat([tf.shape(x0)[:-1], [output_units, 3 * self.bins - 1]], 0)
        return spline_from_params(tf.reshape(params, shape), self.bins, self.bound)


class SplineCouplingFlow(OnePassCouplings, Flow):
    """x = f(z), z ~ N(0, I_D): `layers` spline couplings, the coordinates rotated between them.

    Each coupling keeps the first ceil(D/2) coordinates (after the rotation) and maps the
    others through a monotone rational-quadratic spline on [-bound, bound] (identity
    outside), whose bin widths, heights and knot slopes an MLP computes from the kept
    coordinates. The last layer's parameters start at zero, so the flow starts as the
    identity.

    Args:
      dims: D >= 2.
      layers: number of couplings.
      bins: spline bins.
      hidden: hidden layer sizes of each conditioner.
      bound: the spline's interval half-width.
      seed: seeds the initial weights.
      context_dims: C > 0 makes the flow conditional: each conditioner reads the context
        beside the kept coordinates.
    """

    def __init__(self, dims: int = 2, layers: int = 4, bins: int = 8, hidden: Sequence[int] = (32, 32),
                 bound: float = 4.0, seed: int = 0, dtype: tf.DType = tf.float32,
                 name: str = "spline_coupling_flow", context_dims: int = 0) -> None:
        super().__init__(name=name)
        dims = check_positive_int(dims, "dims", minimum=2)
        layers = check_positive_int(layers, "layers")
        context_dims = check_positive_int(context_dims, "context_dims", minimum=0)
        dtype = tf.as_dtype(dtype)
        self._args = dict(dims=dims, layers=layers, bins=int(bins), hidden=[int(h) for h in hidden],
                          bound=float(bound), seed=seed, dtype=dtype.name)
        if context_dims:
            self._args["context_dims"] = context_dims
        rng = np.random.default_rng(seed)
        kept = (dims + 1) // 2
        self.conditioners, bijectors = [], []
        for i in range(layers):
            cond = _SplineConditioner(kept, dims - kept, bins, hidden, bound,
                                      int(rng.integers(2**31)), dtype, f"conditioner_{i}", context_dims)
            self.conditioners.append(cond)
            bijectors.append(tfb.RealNVP(num_masked=kept, bijector_fn=cond, name=f"coupling_{i}"))
            if i < layers - 1:
                # A rotation by floor(D/2): with an odd D a reversal would keep the middle
                # coordinate in the unchanged half of every coupling; a rotation moves each
                # coordinate through the transformed half (for D = 2 it is the swap).
                bijectors.append(tfb.Permute(np.roll(np.arange(dims), dims // 2).tolist(), name=f"swap_{i}"))
        # Listed in the sampling direction above: the contract lists the data side first.
        conditioned = [f"coupling_{i}" for i in range(layers)] if context_dims else ()
        self.assemble(tfd.MultivariateNormalDiag(loc=tf.zeros(dims, dtype)), bijectors[::-1], self._args,
                      context_dims, conditioned)
        self._coupling_of = {f"coupling_{i}": cond for i, cond in enumerate(self.conditioners)}
        self._kept = kept

    @staticmethod
    def _invert_rest(spline, rest):
        """The spline's inverse and its log-det from one bin lookup."""
        return spline.inverse_and_log_det(rest, event_ndims=1)

    @classmethod
    def from_options(cls, dims: int, options: FlowOptions, seed: int = 0,
                     context_dims: int = 0) -> "SplineCouplingFlow":
        """The flow `--flow spline-coupling` trains: layers, bins, bound and the hidden
        units from a `FlowOptions` (its batch norm and permutation are not used: the
        coordinates are rotated between couplings)."""
        return cls(dims, options.layers, options.bins, options.hidden_units, options.bound, seed=seed,
                   context_dims=context_dims)
