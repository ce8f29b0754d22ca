"""Mixtures of Gaussians per conditional, computed by a MADE: the MAF paper's MADE MoG
(Papamakarios et al., 2017, section 3.3 and Table 2), as a TFP distribution, and the two
families built on it: `made-mog` (the density alone) and `maf-mog` (a MAF whose base is
a MADE MoG, the paper's MAF MoG).

p(x) = prod_i sum_k alpha_ik(x_<i) N(x_i; mu_ik(x_<i), sigma_ik(x_<i)^2): one
`tfb.AutoregressiveNetwork` pass gives every conditional's K weights, means and scales
(the masks make those of variable i depend on the variables before it only), so the
log-density is one pass; a sample takes D passes, one variable at a time. TFP has no
such distribution (its `tfd.Autoregressive` takes no context), so `MADEMixture` is
written here as a small `tfd.Distribution`; a conditional one reads the context at
its MADE's first layer (``conditional_input``, as the flows' MADEs do).

A component's scale is ``MIN_SCALE + exp(r / 2)`` of its network output r, r read as a
log-variance (``scale="exp"``, the default): the MAF paper's code has its MADE output log
precisions, the same up to sign, and the floor keeps a component from collapsing onto
one value. The suite's earlier form, ``MIN_SCALE + softplus(r)`` (``scale="softplus"``),
is kept for the run folders trained with it: XLA's CPU code for softplus and its
gradient made a made-mog training step about 20% slower (benchmarks/README.md, "MADE MoG
scales").
"""

from typing import Any, Optional, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfp_flows.flows.base import Flow, check_positive_int
from tfp_flows.flows.maf import MAFFlow
from tfp_flows.flows.made import BlockMADE
from tfp_flows.flows.options import FlowOptions, with_recorded_later
from tfp_flows.flows.stacking import conditional_made, keras_floatx, options_with

tfb, tfd = tfp.bijectors, tfp.distributions

__all__ = ["MADEMixture", "MADEMoGFlow", "MAFMoGFlow", "MIN_SCALE", "SCALES"]

MIN_SCALE = 1e-3  # the least standard deviation of a component
MAX_LOG_SCALE = 30.0  # exp is taken of min(r / 2, this): a runaway output gives a huge scale, never inf
SCALES = ("exp", "softplus")  # a component's scale from its output r: MIN_SCALE + exp(r / 2) or + softplus(r)
_SOFTPLUS_SHIFT = float(np.log(np.expm1(1.0)))  # softplus(r + this) = 1 at r = 0, as exp(0)
_HALF_LOG_2PI = 0.5 * float(np.log(2 * np.pi))


class MADEMixture(tfd.Distribution):
    """An autoregressive density over [D] whose conditionals are mixtures of K Gaussians.

    Args:
      dims: D.
      components: K.
      hidden_units, activation: the MADE's.
      context_dims: C > 0: conditional on a context, passed as ``conditional_input=`` to
        `log_prob` and `sample` (a `tfd.TransformedDistribution` passes it as
        ``distribution_kwargs``).
      seed: seeds the MADE's kernels and the components' initial offsets.
      dtype: float dtype.
      scale: "exp" (a component's scale MIN_SCALE + exp(r / 2) of its output r, a
        log-variance) or "softplus" (MIN_SCALE + softplus(r)); both are 1 + MIN_SCALE at r = 0.
      kernels: how the MADE keeps a kernel large enough to group ("blocks" or "dense";
        `made.BlockMADE`).
    """

    def __init__(self, dims: int, components: int, hidden_units: Sequence[int], activation: str = "tanh",
                 context_dims: int = 0, seed: int = 0, dtype: tf.DType = tf.float32,
                 name: str = "made_mixture", scale: str = "exp", kernels: str = "blocks") -> None:
        parameters = dict(locals())
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
        dtype = tf.as_dtype(dtype)
        self._dims, self._components, self._context_dims = int(dims), int(components), int(context_dims)
        self._scale_form = scale
        rng = np.random.default_rng(seed)
        with tf.name_scope(name):
            self.made = BlockMADE(
                params=3 * self._components, event_shape=[self._dims], hidden_units=list(hidden_units),
                activation=activation, dtype=dtype,
                kernel_initializer=tf_keras.initializers.GlorotUniform(seed=int(rng.integers(2**31))),
                kernels=kernels, name="made", **conditional_made(self._context_dims))
            # A learned offset per variable and component: the components start apart
            # (spread means), so their gradients differ from the first step on.
            start = np.zeros((self._dims, 3, self._components))
            start[:, 1] = rng.normal(size=(self._dims, self._components))
            self.offset = tf.Variable(start.reshape(self._dims, 3 * self._components), dtype=dtype, name="offset")
        super().__init__(dtype=dtype, reparameterization_type=tfd.NOT_REPARAMETERIZED, validate_args=False,
                         allow_nan_stats=True, parameters=parameters, name=name)
        with keras_floatx(dtype):  # build the MADE now (a conditional MADE's Add layer takes the default dtype)
            self._conditionals(tf.zeros([1, self._dims], dtype),
                               tf.zeros([1, self._context_dims], dtype) if self._context_dims else None)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return {}

    def _event_shape(self):
        return tf.TensorShape([self._dims])

    def _event_shape_tensor(self):
        return tf.constant([self._dims], tf.int32)

    def _batch_shape(self):
        return tf.TensorShape([])

    def _batch_shape_tensor(self):
        return tf.constant([], tf.int32)

    def _mixture_parameters(self, x, conditional_input=None):
        """The D conditionals' (logits, locations, scales) given x, each [..., D, K]."""
        params = self.made(x, conditional_input=conditional_input) + self.offset
        logits, loc, raw = tf.split(params, 3, axis=-1)
        if self._scale_form == "softplus":
            return logits, loc, MIN_SCALE + tf.math.softplus(raw + _SOFTPLUS_SHIFT)
        return logits, loc, MIN_SCALE + tf.exp(tf.minimum(0.5 * raw, MAX_LOG_SCALE))

    def _conditionals(self, x, conditional_input=None):
        """The D mixtures given x (each reading only the variables before its own): a
        distribution of batch shape [..., D]."""
        logits, loc, scale = self._mixture_parameters(x, conditional_input)
        return tfd.MixtureSameFamily(tfd.Categorical(logits=logits), tfd.Normal(loc, scale))

    def _log_prob(self, x, conditional_input=None):
        # The mixture's log-density written out: sum over variables of
        # logsumexp_k(logit_k - (x - loc_k)^2 / (2 scale_k^2) - log scale_k) - logsumexp_k(logit_k),
        # the same value as `_conditionals(x).log_prob(x)` summed (a test compares them), in
        # fewer element-wise passes than TFP's Categorical and Normal make (no separate
        # log-softmax, one division): 5-10% of a made-mog training step.
        logits, loc, scale = self._mixture_parameters(x, conditional_input)
        z = (x[..., None] - loc) / scale
        joint = logits - 0.5 * tf.square(z) - tf.math.log(scale)
        per_variable = tf.reduce_logsumexp(joint, axis=-1) - tf.reduce_logsumexp(logits, axis=-1)
        return tf.reduce_sum(per_variable, axis=-1) - self._dims * _HALF_LOG_2PI

    def _sample_n(self, n, seed=None, conditional_input=None):
        seeds = tfp.random.split_seed(tfp.random.sanitize_seed(seed), n=self._dims)
        x = tf.zeros([n, self._dims], self.dtype)
        for i in range(self._dims):  # variable i from its conditional given the ones before it
            draw = self._conditionals(x, conditional_input).sample(seed=seeds[i])
            x = tf.where(tf.range(self._dims) == i, draw, x)
        return x

    def _default_event_space_bijector(self):
        return tfb.Identity()


class MADEMoGFlow(Flow):
    """The MAF paper's MADE MoG as a member of the suite (`made-mog`): the density is the
    `MADEMixture` itself, the flow's one bijector the identity.

    Args:
      dims: D.
      options: a `FlowOptions` (hidden_units, activation, components; the others unused).
      seed, dtype, context_dims: as the other families.
    """

    def __init__(self, dims: int, options: Optional[FlowOptions] = None, seed: int = 0, dtype: tf.DType = tf.float32,
                 name: str = "made_mog_flow", context_dims: int = 0, **overrides: Any) -> None:
        super().__init__(name=name)
        dims = check_positive_int(dims, "dims")
        context_dims = check_positive_int(context_dims, "context_dims", minimum=0)
        options = options_with(type(self).__name__, options, overrides)
        self.options = options
        dtype = tf.as_dtype(dtype)
        self._args = dict(dims=dims, hidden_units=[int(h) for h in options.hidden_units],
                          activation=options.activation, components=int(options.components),
                          mixture_scale=options.mixture_scale, made_kernels=options.made_kernels, seed=seed,
                          dtype=dtype.name)
        if context_dims:
            self._args["context_dims"] = context_dims
        with self.name_scope:
            base = MADEMixture(dims, options.components, options.hidden_units, options.activation, context_dims,
                               seed, dtype, scale=options.mixture_scale, kernels=options.made_kernels)
        self.assemble(base, [tfb.Identity(name="identity")], self._args, context_dims, base_conditioned=bool(context_dims))

    @classmethod
    def from_config(cls, config: dict) -> "Flow":
        return cls(**with_recorded_later(config, "made-mog"))


class MAFMoGFlow(MAFFlow):
    """The MAF paper's MAF MoG (`maf-mog`): P2's MAF layers over a MADE MoG base instead of
    a standard normal, the MADE of the base as large as the layers' (`components` K)."""

    def __init__(self, dims: int, options: Optional[FlowOptions] = None, seed: int = 0, dtype: tf.DType = tf.float32,
                 name: str = "maf_mog_flow", context_dims: int = 0, **overrides: Any) -> None:
        super().__init__(dims, options, seed, dtype, name, context_dims, **overrides)

    def _make_base(self, dims, dtype, rng, context_dims):
        options = self.options
        self._args["components"] = int(options.components)
        self._args["mixture_scale"] = options.mixture_scale
        return MADEMixture(dims, options.components, options.hidden_units, options.activation, context_dims,
                           int(rng.integers(2**31)), dtype, scale=options.mixture_scale, kernels=options.made_kernels)

    @classmethod
    def from_config(cls, config: dict) -> "Flow":
        return cls(**with_recorded_later(config, "maf-mog"))
