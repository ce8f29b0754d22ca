"""Maximum-likelihood training of a flow distribution."""

import math
import sys

import tensorflow as tf
import tf_keras
from tqdm.auto import tqdm

from tfp_flows.distributions import fresh_log_prob

__all__ = ["fit_maximum_likelihood", "make_train_loop", "make_train_step", "mean_negative_log_likelihood"]


def mean_negative_log_likelihood(distribution, batch):
    """-mean(log p(batch)): P1's loss. `batch` has shape [n, ...event]; returns a scalar.

    Safe to call again on the same tensor after training (see `fresh_log_prob`).
    """
    return -tf.reduce_mean(fresh_log_prob(distribution, batch))


def _loss_and_gradients(loss_fn, variables, batch):
    """(loss, gradients, whether the loss and every gradient are finite)."""
    with tf.GradientTape() as tape:
        loss = loss_fn(batch)
    grads = tape.gradient(loss, variables)
    finite = tf.math.is_finite(loss)
    for g in grads:
        finite = tf.logical_and(finite, tf.reduce_all(tf.math.is_finite(g)))
    return loss, grads, finite


def make_train_step(loss_fn, variables, optimizer, jit_compile=False):
    """A compiled step: `step(batch) -> (loss, finite)`.

    Computes `loss_fn(batch)` and its gradients, and applies them with `optimizer` only
    when the loss and every gradient are finite (`finite` says whether it did). With
    ``jit_compile=True`` the step is compiled by XLA (measured on CPU: about 1.7x faster
    for P2's MAF at batch 100, slower at batch 1000; see benchmarks/).
    """

    @tf.function(jit_compile=jit_compile)
    def step(batch):
        loss, grads, finite = _loss_and_gradients(loss_fn, variables, batch)
        if finite:  # autograph: apply only an update made of finite numbers
            optimizer.apply_gradients(zip(grads, variables))
        return loss, finite

    return step


def make_train_loop(loss_fn, variables, optimizer, data, counters=(), jit_compile=False):
    """Several training steps per compiled call: `run(indices, n) -> (losses, applied)`.

    `data` [rows, ...] is held in the graph; `indices` is an int32 [k, batch] array of
    row numbers, and the call runs steps 0..n-1 (n <= k) as an in-graph loop, step i
    training on ``gather(data, indices[i])`` exactly as one `make_train_step` call would.
    A step whose loss or gradients are not all finite is not applied and ends the loop.
    `losses` [k] holds the losses of the steps run (zeros after them); `applied` counts
    the steps applied, and each variable in `counters` (int64 `tf.Variable`s, e.g. a step
    counter) is increased by it inside the same call, so a counter and the weights it
    describes are always saved together.

    Why: on CPU a step of P2's MAF takes a few milliseconds, and calling a `tf.function`
    from Python for each one costs a large share of that (measured at batch 100: 20 steps
    per call ran 1.4x faster than one per call). Pass `indices` of a fixed shape and vary
    `n`: with ``jit_compile=True`` XLA compiles once per shape. (An in-graph loop over a
    `tf.data` iterator was measured 20x slower.)
    """
    variables = list(variables)
    counters = list(counters)
    data = tf.convert_to_tensor(data)

    @tf.function(jit_compile=jit_compile, input_signature=[
        tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([], tf.int32)])
    def run(indices, n):
        losses = tf.TensorArray(data.dtype, size=tf.shape(indices)[0], element_shape=[])
        applied = tf.constant(0, tf.int32)
        i = tf.constant(0, tf.int32)
        ok = tf.constant(True)
        # A `while`, not `for i in tf.range(n)`: autograph gives a range loop
        # maximum_iterations=n, which XLA must know at compile time, so every new value
        # of n would compile the loop again (measured: 30-60 s each).
        while ok and i < n:
            loss, grads, finite = _loss_and_gradients(loss_fn, variables, tf.gather(data, indices[i]))
            losses = losses.write(i, loss)
            if finite:
                optimizer.apply_gradients(zip(grads, variables))
                applied += 1
            else:
                ok = tf.constant(False)
            i += 1
        for c in counters:
            c.assign_add(tf.cast(applied, c.dtype))
        return losses.stack(), applied

    return run


def fit_maximum_likelihood(
    distribution,
    variables,
    dataset,
    epochs,
    learning_rate,
    progress=True,
    on_epoch_end=None,
):
    """Minimise the mean negative log-likelihood of `dataset` under `distribution` with Adam.

    One compiled (`tf.function`) step per batch; the optimizer is Keras 2's Adam
    (`tf_keras`, the Keras that TFP's own layers use).

    Args:
      distribution: a distribution whose `log_prob` depends on `variables`.
      variables: the trainable `tf.Variable`s (e.g. `module.trainable_variables`).
      dataset: a `tf.data.Dataset` of batches [batch, ...event]; iterated once an epoch.
      epochs: number of passes, >= 1.
      learning_rate: Adam's step size, > 0.
      progress: show a progress bar on standard error.
      on_epoch_end: optional `f(epoch, mean_loss)` called after every epoch (1-based).

    Returns:
      A list with the mean batch loss of each epoch.

    Raises:
      ValueError: for bad `epochs`/`learning_rate`, or when the loss becomes non-finite
        (the variables then hold the values of the last finite step).
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not (isinstance(learning_rate, (int, float)) and 0 < learning_rate < math.inf):
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    variables = list(variables)
    if not variables:
        raise ValueError("variables is empty: nothing to train")
    optimizer = tf_keras.optimizers.Adam(learning_rate)

    step = make_train_step(lambda b: mean_negative_log_likelihood(distribution, b),
                           variables, optimizer)

    # One compiled step per batch, driven from Python. (Measured: moving the whole
    # epoch into one tf.function, an in-graph loop over the tf.data iterator, made a
    # step about 20x slower on CPU with TF 2.16, so it is not done.)
    history = []
    bar = tqdm(range(1, epochs + 1), desc="epochs", unit="epoch", disable=None if progress else True,
               file=sys.stderr, dynamic_ncols=True)
    for epoch in bar:
        total, count = 0.0, 0
        for batch in dataset:
            loss, finite = step(batch)
            if not bool(finite):
                bar.close()
                raise ValueError(
                    f"loss or gradient became non-finite at epoch {epoch} "
                    f"(loss {float(loss)}); variables keep the last finite step")
            total += float(loss)
            count += 1
        if count == 0:
            bar.close()
            raise ValueError("dataset yielded no batches")
        history.append(float(total / count))
        bar.set_postfix(loss=f"{history[-1]:.4f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, history[-1])
    bar.close()
    return history
