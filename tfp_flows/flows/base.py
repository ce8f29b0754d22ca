"""The `Flow` base class, and helpers for building flow distributions from bijectors.

A flow is x = f(z), z ~ base, with f a list of TFP bijectors. Every flow of the suite is
a `Flow`: a `tf.Module` that owns its variables, declares itself with
`assemble(base, bijectors, config)` and inherits the rest:

* `log_prob(x, training=False)`: log p(x) for x [n, D] (or [n] for scalar events);
  ``training=True`` lets batch normalisation use the batch's statistics, as in training;
* `sample(n, seed)` and `sample_and_log_prob(n, seed)`;
* `count_params()`, `moving_statistics()`, and `config`: the JSON-able constructor
  arguments, so ``type(flow)(**flow.config)`` rebuilds the same architecture (weights
  come from a checkpoint: ``tf.train.Checkpoint(flow=flow)``).

The trainer (`tfp_flows.training.Trainer`) takes a `Flow`; `tfp_flows.flows.registry`
names the families.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfb, tfd = tfp.bijectors, tfp.distributions

__all__ = ["Flow", "TransformedFlow", "fresh_log_prob", "transformed"]


def transformed(base, bijectors, name="transformed"):
    """The distribution of Y = b_n(...b_2(b_1(Z))), Z ~ base, for bijectors [b_1, ..., b_n].

    The first bijector listed acts first on base samples. (`tfb.Chain` reads the other
    way, applying its last element first; this helper reverses the list for it.)

    Args:
      base: a `tfd.Distribution`.
      bijectors: a non-empty list of bijectors, or a single bijector.

    Returns:
      `tfd.TransformedDistribution` with the event shape the bijectors give the base's.
    """
    if isinstance(bijectors, tfb.Bijector):
        bijectors = [bijectors]
    bijectors = list(bijectors)
    if not bijectors:
        raise ValueError("bijectors must hold at least one bijector")
    bad = [type(b).__name__ for b in bijectors if not isinstance(b, tfb.Bijector)]
    if bad:
        raise TypeError(f"bijectors must be tfp bijectors, got {bad}")
    chain = bijectors[0] if len(bijectors) == 1 else tfb.Chain(bijectors[::-1])
    return tfd.TransformedDistribution(base, chain, name=name)


def fresh_log_prob(distribution, x):
    """`distribution.log_prob(x)`, never answered from TFP's bijector cache.

    TFP caches each bijector's inverse keyed on the *input tensor object* (held by weak
    reference) and on the bijector, not on the values of its variables. Scoring the same
    eager tensor again after the flow's variables changed therefore reuses stale
    inverses and returns a wrong log-density. A `tf.identity` copy is a new tensor, so
    the inverse is recomputed.

    Args:
      distribution: any `tfd.Distribution`.
      x: values of shape [..., event].

    Returns:
      log p(x), shape [...].
    """
    return distribution.log_prob(tf.identity(x))


def check_positive_int(value, name, minimum=1):
    """`value` as an int, or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class Flow(tf.Module):
    """Base class of the suite's flows: x = f(z), z ~ `base`, f a list of TFP bijectors.

    The contract, for every family: a subclass builds its variables, then calls
    `assemble(base, bijectors, config)` once, with

    * `base`: the base distribution;
    * `bijectors`: the layers listed from the data side to the base side, as `tfb.Chain`
      lists them (a density meets the first one's inverse first; a sample leaves the
      first one's forward last);
    * `config`: its constructor arguments as a JSON-able dict, so that
      ``type(flow)(**flow.config)`` (or `from_config`) rebuilds the same architecture.

    The base class does the rest: it chains the bijectors, keeps a `tfb.BatchNormalization`
    listed among them in evaluation mode (moving statistics) in `distribution` and
    `bijectors`, and in training mode (the batch's statistics) in `training_bijectors`;
    `log_prob` walks the layers itself (see there), and `sample`, `count_params`,
    `moving_statistics` work for any family. A subclass may override `_inverse_step`
    for a bijector it can invert more cheaply than TFP's generic calls (MAF does).

    Attributes:
      base: the base distribution.
      bijectors: the layers in evaluation mode, data side first.
      training_bijectors: the same layers with batch norm in training mode.
      distribution: ``tfd.TransformedDistribution`` in evaluation mode: its `log_prob` is
        a correct change of variables, and it offers TFP's whole distribution API.
    """

    def __init__(self, name: str):
        super().__init__(name=name)
        self.base = None
        self.bijectors = ()
        self.training_bijectors = ()
        self._args = None
        self._chained = None

    # ------------------------------------------------------------ the one subclass call
    def assemble(self, base, bijectors, config):
        """Declare the flow: `base`, its `bijectors` (data side first) and its `config`."""
        if self._chained is not None:
            raise RuntimeError(f"{type(self).__name__}: assemble is called once, by the constructor")
        if isinstance(bijectors, tfb.Bijector):
            bijectors = [bijectors]
        bijectors = list(bijectors)
        if not bijectors:
            raise ValueError("a flow needs at least one bijector")
        bad = [type(b).__name__ for b in bijectors if not isinstance(b, tfb.Bijector)]
        if bad:
            raise TypeError(f"bijectors must be tfp bijectors, got {bad}")
        self.base = base
        self.bijectors = tuple(_in_mode(b, training=False) for b in bijectors)
        self.training_bijectors = tuple(_in_mode(b, training=True) for b in bijectors)
        self._args = dict(config or {})
        chain = self.bijectors[0] if len(self.bijectors) == 1 else tfb.Chain(list(self.bijectors),
                                                                             name=f"{self.name}_chain")
        self._chained = tfd.TransformedDistribution(base, chain)

    def _inverse_step(self, bijector, y, event_ndims):
        """(bijector's inverse at y, its inverse log-det at y): TFP's generic calls."""
        return bijector.inverse(y), bijector.inverse_log_det_jacobian(y, event_ndims=event_ndims)

    # ------------------------------------------------------------------ public API
    @property
    def config(self) -> dict:
        """The constructor arguments as a JSON-able dict: ``type(self)(**config)`` rebuilds it."""
        self._check_assembled()
        return dict(self._args)

    @classmethod
    def from_config(cls, config: dict) -> "Flow":
        """A new flow of this class with the architecture `config` describes (fresh weights)."""
        return cls(**config)

    @property
    def dims(self) -> int:
        """Event size D (1 for a scalar event)."""
        shape = self.base.event_shape
        return int(shape[0]) if shape.rank else 1

    @property
    def distribution(self):
        self._check_assembled()
        return self._chained

    def log_prob(self, x, training: bool = False):
        """log p(x) for x [n, ...event]; returns [n].

        Walks the layers from the data side, adding each one's inverse log-det at its own
        input, then the base's log-density: the exact change of variables in both modes.
        With ``training=True`` batch normalisation (where there is any) normalises with
        the statistics of `x` as one batch and updates its moving statistics. (TFP's own
        `log_prob` over a chain in training mode is not a change of variables: it takes
        batch norm's log-det from the *moving* variance; a test pins that behaviour.)
        """
        self._check_assembled()
        y = tf.identity(tf.convert_to_tensor(x, self.base.dtype))  # a new tensor: no stale TFP cache
        event_ndims = self.base.event_shape.rank
        total = tf.zeros([], y.dtype)
        for b in (self.training_bijectors if training else self.bijectors):
            y, ildj = self._inverse_step(b, y, event_ndims)
            total += ildj
        return self.base.log_prob(y) + total

    def sample(self, n, seed=None):
        """n draws [n, ...event] (batch norm, where there is any, in evaluation mode)."""
        return self.distribution.sample(n, seed=seed)

    def sample_and_log_prob(self, n, seed=None):
        """(n draws, their log-density), computed in the sampling direction only."""
        return self.distribution.experimental_sample_and_log_prob(n, seed=seed)

    def count_params(self) -> int:
        """Number of trainable scalars."""
        return int(sum(np.prod(v.shape) for v in self.trainable_variables))

    def moving_statistics(self) -> list:
        """The variables that a training-mode pass updates (batch norm's moving mean and
        variance, layer by layer from the data side); empty without batch norm."""
        return [v for b in self.bijectors if isinstance(b, tfb.BatchNormalization)
                for v in b.batchnorm.non_trainable_variables]

    def _check_assembled(self):
        if self._chained is None:
            raise RuntimeError(f"{type(self).__name__} never called assemble(base, bijectors, config)")


def _in_mode(bijector, training):
    """`bijector`, or for a `tfb.BatchNormalization` its twin in the given mode (the same
    Keras layer, so the same variables)."""
    if isinstance(bijector, tfb.BatchNormalization):
        return tfb.BatchNormalization(batchnorm_layer=bijector.batchnorm, training=training, name=bijector.name)
    return bijector


class TransformedFlow(Flow):
    """A flow from a base distribution and a list of bijectors for models assembled by
    hand, e.g. P1's chains of `shift`/`scale`. Here the list reads in the sampling
    direction, as in `transformed`: the first bijector acts first on base samples.

    The bijectors' variables become the flow's. `config` is whatever the caller passes
    (the architecture cannot be rebuilt from a list of objects).
    """

    def __init__(self, base, bijectors, config=None, name="transformed_flow"):
        super().__init__(name=name)
        steps = [bijectors] if isinstance(bijectors, tfb.Bijector) else list(bijectors)
        self.assemble(base, steps[::-1], config)
