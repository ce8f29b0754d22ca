"""Building flow distributions in the order a reader expects."""

import tensorflow as tf
import tensorflow_probability as tfp

tfb, tfd = tfp.bijectors, tfp.distributions

__all__ = ["transformed", "fresh_log_prob"]


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
    the inverse is recomputed. (Inside a `tf.function` each trace has its own tensors,
    but a cheap identity costs nothing there either.)

    Args:
      distribution: any `tfd.Distribution`.
      x: values of shape [..., event].

    Returns:
      log p(x), shape [...].
    """
    return distribution.log_prob(tf.identity(x))
