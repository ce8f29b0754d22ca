"""A coupling flow with rational-quadratic spline transforms (Durkan et al., 2019), built
from TFP's `tfb.RealNVP` (the coupling) and `tfb.RationalQuadraticSpline` (the transform).

#### References

[1]: Conor Durkan, Artur Bekasov, Iain Murray, George Papamakarios. Neural Spline Flows.
     NeurIPS 2019. https://arxiv.org/abs/1906.04032
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfp_flows.flows.base import Flow, check_positive_int
from tfp_flows.flows.splines import spline_from_params

tfb, tfd = tfp.bijectors, tfp.distributions

__all__ = ["SplineCouplingFlow"]


class _SplineConditioner(tf.Module):
    """x0 -> a `tfb.RationalQuadraticSpline` for the other coordinates (a small MLP)."""

    def __init__(self, in_dims, out_dims, bins, hidden, bound, seed, dtype, name):
        super().__init__(name=name)
        self.bins, self.out_dims, self.bound = bins, out_dims, bound
        init = tf_keras.initializers.GlorotUniform(seed=seed)
        self.net = tf_keras.Sequential(
            [tf_keras.layers.Dense(h, activation="tanh", kernel_initializer=init, dtype=dtype) for h in hidden]
            + [tf_keras.layers.Dense(out_dims * (3 * bins - 1), kernel_initializer="zeros", dtype=dtype)])
        self.net.build((None, in_dims))

    def __call__(self, x0, output_units, **kwargs):
        params = self.net(x0)
        shape = tf.concat([tf.shape(x0)[:-1], [output_units, 3 * self.bins - 1]], 0)
        return spline_from_params(tf.reshape(params, shape), self.bins, self.bound)


class SplineCouplingFlow(Flow):
    """x = f(z), z ~ N(0, I_D): `layers` spline couplings, the coordinates swapped between them.

    Each coupling keeps the first ceil(D/2) coordinates (after the swap) and maps the
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
    """

    def __init__(self, dims=2, layers=4, bins=8, hidden=(32, 32), bound=4.0, seed=0,
                 dtype=tf.float32, name="spline_coupling_flow"):
        super().__init__(name=name)
        dims = check_positive_int(dims, "dims", minimum=2)
        layers = check_positive_int(layers, "layers")
        dtype = tf.as_dtype(dtype)
        self._args = dict(dims=dims, layers=layers, bins=int(bins), hidden=[int(h) for h in hidden],
                          bound=float(bound), seed=seed, dtype=dtype.name)
        rng = np.random.default_rng(seed)
        kept = (dims + 1) // 2
        self.conditioners, bijectors = [], []
        for i in range(layers):
            cond = _SplineConditioner(kept, dims - kept, bins, hidden, bound,
                                      int(rng.integers(2**31)), dtype, f"conditioner_{i}")
            self.conditioners.append(cond)
            bijectors.append(tfb.RealNVP(num_masked=kept, bijector_fn=cond, name=f"coupling_{i}"))
            if i < layers - 1:
                bijectors.append(tfb.Permute(list(range(dims))[::-1]))
        # Listed in the sampling direction above: the contract lists the data side first.
        self.assemble(tfd.MultivariateNormalDiag(loc=tf.zeros(dims, dtype)), bijectors[::-1], self._args)
