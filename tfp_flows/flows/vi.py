"""Flows for variational inference: K planar, radial or IAF layers on a standard normal."""

from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfp_flows.bijectors import Planar, Radial
from tfp_flows.flows.base import Flow, check_positive_int

tfb, tfd = tfp.bijectors, tfp.distributions

__all__ = ["VIFlow"]


class VIFlow(Flow):
    """q(z): K planar, radial or IAF layers on a standard normal base in D dimensions.

    Args:
      kind: "planar", "radial" or "iaf" (TFP's `tfb.MaskedAutoregressiveFlow` used as an
        inverse autoregressive flow: sampling is one pass, the natural VI direction).
      layers: K >= 1.
      dims: D.
      hidden: hidden units of each IAF's MADE (ignored otherwise).
      seed: seeds the initial values.

    For training use `sample_and_log_prob(n, seed)`: it computes q's density in the
    sampling direction, which never inverts a planar layer (no closed form).
    """

    def __init__(self, kind: str = "planar", layers: int = 8, dims: int = 2, hidden: Sequence[int] = (16,),
                 seed: int = 0, dtype: tf.DType = tf.float32) -> None:
        super().__init__(name=f"{kind}_flow")
        if kind not in ("planar", "radial", "iaf"):
            raise ValueError(f"kind must be 'planar', 'radial' or 'iaf', got {kind!r}")
        layers = check_positive_int(layers, "layers (K)")
        dtype = tf.as_dtype(dtype)
        self._args = dict(kind=kind, layers=layers, dims=int(dims), hidden=[int(h) for h in hidden],
                          seed=seed, dtype=dtype.name)
        rng = np.random.default_rng(seed)
        self.kind, self.layers_count = kind, layers

        def var(x, name):
            return tf.Variable(np.asarray(x), dtype=dtype, name=name)

        bijectors = []
        self.made = []
        for k in range(layers):
            if kind == "planar":
                bijectors.append(Planar(var(rng.normal(0, 0.1, dims), f"u{k}"),
                                        var(rng.normal(0, 0.1, dims), f"w{k}"), var(0.0, f"b{k}")))
            elif kind == "radial":
                bijectors.append(Radial(var(rng.normal(0, 1.0, dims), f"z0_{k}"),
                                        var(rng.normal(0, 0.1), f"a{k}"), var(rng.normal(0, 0.1), f"braw{k}")))
            else:
                made = tfb.AutoregressiveNetwork(
                    params=2, event_shape=[dims], hidden_units=list(hidden), activation="tanh",
                    kernel_initializer=tf_keras.initializers.RandomNormal(0, 0.01, seed=int(rng.integers(2**31))),
                    dtype=dtype)
                self.made.append(made)
                bijectors.append(tfb.Invert(tfb.MaskedAutoregressiveFlow(made)))
                if k < layers - 1:
                    bijectors.append(tfb.Permute(list(range(dims))[::-1]))
        # Built in the sampling direction: the contract lists the data side first.
        self.assemble(tfd.MultivariateNormalDiag(loc=tf.zeros(dims, dtype)), bijectors[::-1], self._args)
        self.sample_and_log_prob(2, seed=(0, 0))  # build every variable now
