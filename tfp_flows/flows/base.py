"""The `Flow` base class, and helpers for building flow distributions from bijectors.

A flow is x = f(z), z ~ base, with f a list of TFP bijectors. Every flow of the suite is
a `Flow`: a `tf.Module` that owns its variables, declares itself with
`assemble(base, bijectors, config)` and inherits the rest:

* `log_prob(x, training=False, context=None)`: log p(x) (or log p(x | context)) for
  x [n, D] (or [n] for scalar events); ``training=True`` lets batch normalisation use
  the batch's statistics, as in training;
* `sample(n, seed, context=None)` and `sample_and_log_prob(n, seed, context=None)`;
* `count_params()`, `moving_statistics()`, and `config`: the JSON-able constructor
  arguments, so ``type(flow)(**flow.config)`` rebuilds the same architecture (weights
  come from a checkpoint: ``tf.train.Checkpoint(flow=flow)``).

The trainer (`tfp_flows.training.Trainer`) takes a `Flow`; `tfp_flows.flows.registry`
names the families.
"""

from typing import Any, Dict, Iterable, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfb, tfd = tfp.bijectors, tfp.distributions

# What the public signatures take: anything tf.convert_to_tensor takes, and TFP's seeds
# (None, an int, or a stateless pair).
TensorLike = tf.types.experimental.TensorLike
Seed = Union[None, int, Sequence[int], tf.Tensor]

__all__ = ["Flow", "TransformedFlow", "fresh_log_prob", "transformed"]


def _bijector_list(bijectors, empty_message):
    """A bijector or a sequence of them as a non-empty list of tfp bijectors (ValueError
    with `empty_message` when empty, TypeError naming what is not a bijector)."""
    bijectors = [bijectors] if isinstance(bijectors, tfb.Bijector) else list(bijectors)
    if not bijectors:
        raise ValueError(empty_message)
    bad = [type(b).__name__ for b in bijectors if not isinstance(b, tfb.Bijector)]
    if bad:
        raise TypeError(f"bijectors must be tfp bijectors, got {bad}")
    return bijectors


def transformed(base: tfd.Distribution, bijectors: Union[tfb.Bijector, Sequence[tfb.Bijector]],
                name: str = "transformed") -> tfd.TransformedDistribution:
    """The distribution of Y = b_n(...b_2(b_1(Z))), Z ~ base, for bijectors [b_1, ..., b_n].

    The first bijector listed acts first on base samples. (`tfb.Chain` reads the other
    way, applying its last element first; this helper reverses the list for it.)

    Args:
      base: a `tfd.Distribution`.
      bijectors: a non-empty list of bijectors, or a single bijector.

    Returns:
      `tfd.TransformedDistribution` with the event shape the bijectors give the base's.
    """
    bijectors = _bijector_list(bijectors, "bijectors must hold at least one bijector")
    chain = bijectors[0] if len(bijectors) == 1 else tfb.Chain(bijectors[::-1])
    return tfd.TransformedDistribution(base, chain, name=name)


def fresh_log_prob(distribution: tfd.Distribution, x: TensorLike) -> tf.Tensor:
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
      ``type(flow)(**flow.config)`` (or `from_config`) rebuilds the same architecture;
    * for a conditional flow, `context_dims` C > 0 and `conditioned`: the names of the
      bijectors that take the context (their conditioner networks read it as
      ``conditional_input``: TFP's MADE and coupling bijectors pass such keyword
      arguments to their networks). Every other layer (batch norm, permutations) is
      handed nothing and passes the context along by leaving it alone.

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
        self.context_dims = 0
        self.conditioned = frozenset()
        self.base_conditioned = False

    # ------------------------------------------------------------ the one subclass call
    def assemble(self, base: tfd.Distribution, bijectors: Union[tfb.Bijector, Sequence[tfb.Bijector]],
                 config: Optional[Dict[str, Any]], context_dims: int = 0, conditioned: Iterable[str] = (),
                 base_conditioned: bool = False) -> None:
        """Declare the flow: `base`, its `bijectors` (data side first) and its `config`;
        a conditional flow also names its context size and the bijectors that read it,
        and whether its base distribution reads it too (``conditional_input=``)."""
        if self._chained is not None:
            raise RuntimeError(f"{type(self).__name__}: assemble is called once, by the constructor")
        bijectors = _bijector_list(bijectors, "a flow needs at least one bijector")
        names = [b.name for b in bijectors]
        conditioned = frozenset(conditioned)
        if context_dims and not (conditioned or base_conditioned):
            raise ValueError("a conditional flow must name the bijectors (or the base) that take the context")
        if (conditioned or base_conditioned) and not context_dims:
            raise ValueError("bijectors or the base take a context but context_dims is 0")
        if conditioned - set(names):
            raise ValueError(f"conditioned names no bijector of the flow: {sorted(conditioned - set(names))}")
        if conditioned and len(set(names)) != len(names):
            raise ValueError("a conditional flow's bijectors need distinct names (the context is routed by name)")
        self.context_dims = int(context_dims)
        self.conditioned = conditioned
        self.base_conditioned = bool(base_conditioned)
        self.base = base
        self.bijectors = tuple(_in_mode(b, training=False) for b in bijectors)
        self.training_bijectors = tuple(_in_mode(b, training=True) for b in bijectors)
        self._args = dict(config or {})
        # A Chain routes the context to its bijectors by name, so a conditioned flow of one
        # bijector is chained too (a bare bijector would get the name-keyed kwargs itself).
        chain = (self.bijectors[0] if len(self.bijectors) == 1 and not conditioned
                 else tfb.Chain(list(self.bijectors), name=f"{self.name}_chain"))
        self._chained = tfd.TransformedDistribution(base, chain)

    def _inverse_step(self, bijector, y, event_ndims, context=None):
        """(bijector's inverse at y, its inverse log-det at y): TFP's generic calls, with
        the context for a bijector that takes it."""
        kwargs = self._context_kwargs(bijector.name, context)
        return bijector.inverse(y, **kwargs), bijector.inverse_log_det_jacobian(y, event_ndims=event_ndims, **kwargs)

    def _context_kwargs(self, name, context):
        return {"conditional_input": context} if context is not None and name in self.conditioned else {}

    def _check_context(self, context, n):
        """`context` as a [n, C] tensor of the flow's dtype (a single [C] row is repeated
        n times); ValueError when a conditional flow gets none or a plain flow gets one."""
        if not self.context_dims:
            if context is not None:
                raise ValueError(f"{type(self).__name__} was built without a context (context_dims=0)")
            return None
        if context is None:
            raise ValueError(f"{type(self).__name__} is conditional: pass context [n, {self.context_dims}]")
        context = tf.convert_to_tensor(context, self.base.dtype)
        if context.shape.rank == 1:
            context = tf.broadcast_to(context[None], tf.stack([n, tf.shape(context)[0]]))
        if context.shape.rank != 2 or (context.shape[-1] is not None and context.shape[-1] != self.context_dims):
            raise ValueError(f"context must be [n, {self.context_dims}] or [{self.context_dims}], "
                             f"got shape {context.shape}")
        return context

    def _bijector_kwargs(self, context):
        return {name: {"conditional_input": context} for name in self.conditioned} if context is not None else {}

    def _base_kwargs(self, context):
        return {"conditional_input": context} if context is not None and self.base_conditioned else {}

    def _sampling_kwargs(self, context):
        kwargs = {"bijector_kwargs": self._bijector_kwargs(context)}
        if self.base_conditioned:
            kwargs["distribution_kwargs"] = self._base_kwargs(context)
        return kwargs

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
    def distribution(self) -> tfd.Distribution:
        self._check_assembled()
        return self._chained

    def log_prob(self, x: TensorLike, training: bool = False, context: Optional[TensorLike] = None) -> tf.Tensor:
        """log p(x) for x [n, ...event] (log p(x | context) for a conditional flow, context
        [n, C] or one row [C]); returns [n].

        Walks the layers from the data side, adding each one's inverse log-det at its own
        input, then the base's log-density: the exact change of variables in both modes.
        With ``training=True`` batch normalisation (where there is any) normalises with
        the statistics of `x` as one batch and updates its moving statistics. (TFP's own
        `log_prob` over a chain in training mode is not a change of variables: it takes
        batch norm's log-det from the *moving* variance; a test pins that behaviour.)
        """
        self._check_assembled()
        y = tf.identity(tf.convert_to_tensor(x, self.base.dtype))  # a new tensor: no stale TFP cache
        context = self._check_context(context, tf.shape(y)[0])
        event_ndims = self.base.event_shape.rank
        total = tf.zeros([], y.dtype)
        for b in (self.training_bijectors if training else self.bijectors):
            y, ildj = self._inverse_step(b, y, event_ndims, context)
            total += ildj
        return self.base.log_prob(y, **self._base_kwargs(context)) + total

    def sample(self, n: int, seed: Seed = None, context: Optional[TensorLike] = None) -> tf.Tensor:
        """n draws [n, ...event] (batch norm, where there is any, in evaluation mode); for a
        conditional flow one draw per row of `context` [n, C], or n draws given one row [C]."""
        context = self._check_context(context, n)
        return self.distribution.sample(n, seed=seed, **self._sampling_kwargs(context))

    def sample_and_log_prob(self, n: int, seed: Seed = None,
                            context: Optional[TensorLike] = None) -> Tuple[tf.Tensor, tf.Tensor]:
        """(n draws, their log-density), computed in the sampling direction only."""
        context = self._check_context(context, n)
        return self.distribution.experimental_sample_and_log_prob(n, seed=seed, **self._sampling_kwargs(context))

    def layer_inverse(self, index: int, y: TensorLike,
                      context: Optional[TensorLike] = None) -> Tuple[tf.Tensor, tf.Tensor]:
        """(layer `index`'s inverse at y, its inverse log-det) in evaluation mode, the
        layers counted from the data side as in `bijectors`; what `log_prob` adds up.
        Lets a test ask what one layer does with a context."""
        self._check_assembled()
        y = tf.convert_to_tensor(y, self.base.dtype)
        context = self._check_context(context, tf.shape(y)[0])
        return self._inverse_step(self.bijectors[index], y, self.base.event_shape.rank, context)

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

    def __init__(self, base: tfd.Distribution, bijectors: Union[tfb.Bijector, Sequence[tfb.Bijector]],
                 config: Optional[Dict[str, Any]] = None, name: str = "transformed_flow") -> None:
        super().__init__(name=name)
        steps = [bijectors] if isinstance(bijectors, tfb.Bijector) else list(bijectors)
        self.assemble(base, steps[::-1], config)
