"""Small generated data sets for examples and tests."""

import numpy as np

__all__ = ["two_moons"]


def two_moons(n: int, noise: float = 0.1, seed: int = 0) -> np.ndarray:
    """n points [n, 2] (float32) on two interleaving half circles with Gaussian noise,
    standardised to mean 0 and sd 1 per coordinate."""
    rng = np.random.default_rng(seed)
    upper = rng.random(n) < 0.5
    t = rng.uniform(0, np.pi, n)
    x = np.where(upper, np.cos(t), 1 - np.cos(t))
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    pts = np.stack([x, y], 1) + noise * rng.normal(size=(n, 2))
    pts = (pts - np.array([0.5, 0.25])) / np.array([0.87, 0.5])
    return pts.astype(np.float32)
