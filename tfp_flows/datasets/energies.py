"""The 2-D target energies U1..U4 of Rezende & Mohamed (2015), with grid normalisers.

The targets are p(z) proportional to exp(-U(z)). U2, U3 and U4 leave z1 unconstrained,
so exp(-U) is not normalisable on the plane; like the paper's figures, the suite takes
every target on the box [-4, 4]^2, with a steep quadratic wall outside it
(`wall(z) = 0.5 * sum(relu(|z_i| - 4) / 0.05)^2`), and normalises exp(-U - wall) on a
fine grid over [-6, 6]^2. KL(q||p) = E_q[log q(z) + U(z) + wall(z)] + log Z is then a
proper KL divergence, estimated from draws of q.

#### References

[1]: Danilo Jimenez Rezende, Shakir Mohamed. Variational Inference with Normalizing
     Flows. ICML 2015. https://arxiv.org/abs/1505.05770
"""

import math
from typing import Tuple

import numpy as np
import tensorflow as tf

__all__ = ["BOX", "ENERGIES", "energy", "log_normaliser"]

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


def energy(name: str, z: tf.Tensor, wall: bool = True) -> tf.Tensor:
    """U(z) (+ the box wall) for a batch of points z [n, 2]; returns [n]."""
    if name not in ENERGIES:
        raise ValueError(f"unknown target {name!r}; choose from {sorted(ENERGIES)}")
    z = tf.convert_to_tensor(z)
    u = ENERGIES[name](z)
    if wall:
        over = tf.nn.relu(tf.abs(z) - BOX) / _WALL_WIDTH
        u = u + 0.5 * tf.reduce_sum(over**2, axis=-1)
    return u


def log_normaliser(name: str, n: int = 1201, limit: float = 6.0) -> Tuple[float, float]:
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
