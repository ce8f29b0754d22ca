"""Variational inference with flows: the 2-D energies of Rezende & Mohamed (2015), grid
normalising constants, and reverse-KL training of planar, radial and IAF flows.

The targets are p(z) proportional to exp(-U(z)). U2, U3 and U4 leave z1 unconstrained,
so exp(-U) is not normalisable on the plane; like the paper's figures, the suite takes
every target on the box [-4, 4]^2, with a steep quadratic wall outside it
(`wall(z) = 0.5 * sum(relu(|z_i| - 4) / 0.05)^2`), and normalises exp(-U - wall) on a
fine grid over [-6, 6]^2. KL(q||p) = E_q[log q(z) + U(z) + wall(z)] + log Z is then a
proper KL divergence, estimated from draws of q.
"""

import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfp_flows.distributions import transformed
from tfp_flows.nf_bijectors import Planar, Radial

tfb, tfd = tfp.bijectors, tfp.distributions

__all__ = ["ENERGIES", "energy", "log_normaliser", "VIFlow", "kl_divergence", "annealing", "fit_reverse_kl"]

BOX = 4.0
_WALL_WIDTH = 0.05


def _w1(z1):
    return tf.sin(2.0 * math.pi * z1 / 4.0)


def _u1(z):
    z1 = z[..., 0]
    r = tf.norm(z, axis=-1)
    return 0.5 * ((r - 2.0) / 0.4) ** 2 - tf.math.reduce_logsumexp(
        tf.stack([-0.5 * ((z1 - 2.0) / 0.6) ** 2, -0.5 * ((z1 + 2.0) / 0.6) ** 2], -1), -1)


def _u2(z):
    return 0.5 * ((z[..., 1] - _w1(z[..., 0])) / 0.4) ** 2


def _u3(z):
    z1, z2 = z[..., 0], z[..., 1]
    w2 = 3.0 * tf.exp(-0.5 * ((z1 - 1.0) / 0.6) ** 2)
    return -tf.math.reduce_logsumexp(tf.stack(
        [-0.5 * ((z2 - _w1(z1)) / 0.35) ** 2, -0.5 * ((z2 - _w1(z1) + w2) / 0.35) ** 2], -1), -1)


def _u4(z):
    z1, z2 = z[..., 0], z[..., 1]
    w3 = 3.0 * tf.sigmoid((z1 - 1.0) / 0.3)
    return -tf.math.reduce_logsumexp(tf.stack(
        [-0.5 * ((z2 - _w1(z1)) / 0.4) ** 2, -0.5 * ((z2 - _w1(z1) + w3) / 0.35) ** 2], -1), -1)


ENERGIES = {"U1": _u1, "U2": _u2, "U3": _u3, "U4": _u4}


def energy(name, z, wall=True):
    """U(z) (+ the box wall) for a batch of points z [n, 2]; returns [n]."""
    if name not in ENERGIES:
        raise ValueError(f"unknown target {name!r}; choose from {sorted(ENERGIES)}")
    z = tf.convert_to_tensor(z)
    u = ENERGIES[name](z)
    if wall:
        over = tf.nn.relu(tf.abs(z) - BOX) / _WALL_WIDTH
        u = u + 0.5 * tf.reduce_sum(over**2, axis=-1)
    return u


def log_normaliser(name, n=1201, limit=6.0):
    """log Z = log of the integral of exp(-U - wall) over [-limit, limit]^2 (midpoint rule).

    Returns (log Z, error), the error being |log Z(n) - log Z(n // 2)|, the change when
    the grid is halved (an upper estimate of the grid error at n).
    """
    def on_grid(m):
        edges = np.linspace(-limit, limit, m + 1)
        mid = (edges[1:] + edges[:-1]) / 2
        xx, yy = np.meshgrid(mid, mid)
        pts = np.stack([xx.ravel(), yy.ravel()], 1)
        neg_u = -energy(name, tf.constant(pts, tf.float64)).numpy()
        cell = (edges[1] - edges[0]) ** 2
        top = neg_u.max()
        return top + np.log(np.exp(neg_u - top).sum() * cell)

    fine = on_grid(n)
    return float(fine), float(abs(fine - on_grid(n // 2)))


def annealing(step, enabled=True):
    """The paper's inverse temperature beta_t = min(1, 0.01 + t / 10000), or 1."""
    return min(1.0, 0.01 + step / 10_000.0) if enabled else 1.0


class VIFlow(tf.Module):
    """q(z): K planar, radial or IAF layers on a standard normal base in D dimensions.

    Args:
      kind: "planar", "radial" or "iaf" (TFP's `tfb.MaskedAutoregressiveFlow` used as an
        inverse autoregressive flow: sampling is one pass, the natural VI direction).
      layers: K >= 1.
      dims: D.
      hidden: hidden units of each IAF's MADE (ignored otherwise).
      seed: seeds the initial values.

    Attributes:
      distribution: `tfd.TransformedDistribution`; use `sample_and_log_prob(n, seed)`.
    """

    def __init__(self, kind="planar", layers=8, dims=2, hidden=(16,), seed=0, dtype=tf.float32):
        super().__init__(name=f"{kind}_flow")
        if kind not in ("planar", "radial", "iaf"):
            raise ValueError(f"kind must be 'planar', 'radial' or 'iaf', got {kind!r}")
        if not isinstance(layers, int) or layers < 1:
            raise ValueError(f"layers (K) must be an integer >= 1, got {layers!r}")
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
        self.bijectors = bijectors
        self.distribution = transformed(tfd.MultivariateNormalDiag(loc=tf.zeros(dims, dtype)), bijectors)
        self.sample_and_log_prob(2, seed=(0, 0))  # build every variable now

    def sample_and_log_prob(self, n, seed):
        """n draws of q and their log-density, computed in the sampling direction only."""
        return self.distribution.experimental_sample_and_log_prob(n, seed=seed)

    def count_params(self):
        return int(sum(np.prod(v.shape) for v in self.trainable_variables))


def kl_divergence(flow, name, log_z, n=20_000, seed=(7, 7)):
    """KL(q||p) estimated from `n` draws of q: returns (mean, standard error) in nats."""
    z, log_q = flow.sample_and_log_prob(n, seed=seed)
    terms = (log_q + tf.cast(energy(name, z), log_q.dtype)).numpy().astype(np.float64) + log_z
    return float(terms.mean()), float(terms.std(ddof=1) / np.sqrt(n))


def fit_reverse_kl(flow, name, steps, batch_size=256, learning_rate=1e-3, anneal=True, seed=0,
                   run_dir=None, checkpoint_every=1000, progress=True):
    """Minimise E_q[log q(z) + beta_t (U(z) + wall(z))] over the flow's variables with Adam.

    Every step draws `batch_size` fresh points from q (stateless seeds from `seed` and the
    step number, so a resumed run draws what an uninterrupted one would). A step whose
    loss or gradient is not finite is skipped; 50 in a row stop the run with the last
    checkpoint kept. With `run_dir`, checkpoints are written every `checkpoint_every`
    steps and an existing checkpoint is resumed.

    Returns:
      dict with the loss history (every 100 steps), the number of skipped steps and
      the steps done.
    """
    import sys

    from tqdm.auto import tqdm

    from tfp_flows.training import make_train_step

    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    energy(name, tf.zeros([1, 2]))  # validates the name
    optimizer = tf_keras.optimizers.Adam(learning_rate)
    beta = tf.Variable(1.0, trainable=False, dtype=tf.float32)
    done = tf.Variable(0, dtype=tf.int64, trainable=False)
    manager = None
    if run_dir is not None:
        ckpt = tf.train.Checkpoint(flow=flow, optimizer=optimizer, done=done)
        manager = tf.train.CheckpointManager(ckpt, str(run_dir) + "/checkpoints", max_to_keep=1)
        if manager.latest_checkpoint:
            ckpt.restore(manager.latest_checkpoint)

    def loss_fn(step_seed):
        z, log_q = flow.sample_and_log_prob(batch_size, seed=step_seed)
        return tf.reduce_mean(log_q + beta * tf.cast(energy(name, z), log_q.dtype))

    step = make_train_step(loss_fn, flow.trainable_variables, optimizer)
    history, skipped, bad_run = [], 0, 0
    bar = tqdm(total=steps, initial=int(done.numpy()), disable=None if progress else True, file=sys.stderr,
               desc=f"{name} {flow.kind} K={flow.layers_count}", unit="step", dynamic_ncols=True)
    while int(done.numpy()) < steps:
        t = int(done.numpy())
        beta.assign(annealing(t, anneal))
        loss, finite = step(tf.constant([seed % 2**31, t], tf.int32))
        done.assign_add(1)
        bar.update(1)
        if not bool(finite):
            skipped += 1
            bad_run += 1
            if bad_run >= 50:
                bar.close()
                raise ValueError(f"{name}: 50 non-finite steps in a row at step {t + 1}; "
                                 f"stopped, last checkpoint kept in {run_dir}")
            continue
        bad_run = 0
        if t % 100 == 0:
            history.append((t, float(loss)))
            bar.set_postfix(loss=f"{float(loss):.3f}")
        if manager is not None and (t + 1) % checkpoint_every == 0:
            manager.save(checkpoint_number=t + 1)
    bar.close()
    if manager is not None:
        manager.save(checkpoint_number=int(done.numpy()))
    return {"history": history, "skipped_steps": skipped, "steps": int(done.numpy())}
