"""The `Flow` base class, and helpers for building flow distributions from bijectors.

A flow is x = f(z), z ~ base, with f a bijector built from TFP's pieces. Every flow of
the suite is a `Flow`: a `tf.Module` that owns its variables and offers

* `log_prob(x, training=False)`: log p(x) for x [n, D] (or [n] for scalar events);
  ``training=True`` lets batch normalisation use the batch's statistics, as in training;
* `sample(n, seed)` and `sample_and_log_prob(n, seed)`;
* `count_params()`, and `config`: the JSON-able constructor arguments, so
  ``type(flow)(**flow.config)`` rebuilds the same architecture (weights come from a
  checkpoint: ``tf.train.Checkpoint(flow=flow)``).

The trainer (`tfp_flows.training.Trainer`) takes a `Flow`.
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
    """Base class of the suite's flows: x = f(z), z ~ `base`.

    Subclasses build their variables, set `self.base` and implement `_bijector(training)`
    (the bijector from base space to data space; `training` says whether batch
    normalisation, if any, uses batch statistics) and `_config()`. They may override
    `log_prob` for speed.

    Attributes:
      base: the base distribution.
      distribution: ``tfd.TransformedDistribution`` in evaluation mode (batch norm with
        its moving statistics): its `log_prob` is a correct change of variables.
    """

    def __init__(self, name):
        super().__init__(name=name)
        self._eval_distribution = None

    # --------------------------------------------------------------- subclass hooks
    def _bijector(self, training):
        raise NotImplementedError

    def _config(self):
        raise NotImplementedError

    # ------------------------------------------------------------------ public API
    @property
    def config(self):
        """The constructor arguments as a JSON-able dict: ``type(self)(**config)`` rebuilds it."""
        return self._config()

    @property
    def dims(self):
        """Event size D (1 for a scalar event)."""
        shape = self.base.event_shape
        return int(shape[0]) if shape.rank else 1

    @property
    def distribution(self):
        if self._eval_distribution is None:
            self._eval_distribution = tfd.TransformedDistribution(self.base, self._bijector(False))
        return self._eval_distribution

    def log_prob(self, x, training=False):
        """log p(x) for x [n, ...event]; returns [n].

        With ``training=True`` batch normalisation (where there is any) normalises with
        the statistics of `x` as one batch and updates its moving statistics.
        """
        if training:
            return fresh_log_prob(self._training_distribution(), x)
        return fresh_log_prob(self.distribution, x)

    def sample(self, n, seed=None):
        """n draws [n, ...event] (batch norm, where there is any, in evaluation mode)."""
        return self.distribution.sample(n, seed=seed)

    def sample_and_log_prob(self, n, seed=None):
        """(n draws, their log-density), computed in the sampling direction only."""
        return self.distribution.experimental_sample_and_log_prob(n, seed=seed)

    def count_params(self):
        """Number of trainable scalars."""
        return int(sum(np.prod(v.shape) for v in self.trainable_variables))

    def moving_statistics(self):
        """The variables that a training-mode pass updates (batch norm's moving mean and
        variance); empty for flows without batch normalisation."""
        return []

    def _training_distribution(self):
        # Only flows with batch normalisation differ; they override log_prob as well.
        return self.distribution


class TransformedFlow(Flow):
    """A flow from a base distribution and a list of bijectors (the first acts first on
    base samples), for models assembled by hand, e.g. P1's chains of `shift`/`scale`.

    The bijectors' variables become the flow's. `config` is whatever the caller passes
    (the architecture cannot be rebuilt from a list of objects).
    """

    def __init__(self, base, bijectors, config=None, name="transformed_flow"):
        super().__init__(name=name)
        self.base = base
        self.bijectors = list(bijectors) if not isinstance(bijectors, tfb.Bijector) else [bijectors]
        self._user_config = dict(config or {})
        self._eval_distribution = transformed(base, self.bijectors)

    def _config(self):
        return dict(self._user_config)
