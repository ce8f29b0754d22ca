"""Figures, written atomically as PNG files (matplotlib's Agg backend, no display needed)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfp_flows.files import atomic_path  # noqa: E402

__all__ = ["samples_over_density", "save_figure"]


def save_figure(fig, path):
    """Save `fig` to `path` as PNG atomically and close it; returns the path."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def samples_over_density(samples, log_density, path, title, limits=(-6.0, 8.0), grid=200):
    """Scatter 2-D `samples` [n, 2] over the contours of `log_density` ([m, 2] -> [m]).

    Returns the path of the PNG written.
    """
    samples = np.asarray(samples)
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise ValueError(f"samples must have shape [n, 2], got {samples.shape}")
    lo, hi = limits
    axis = np.linspace(lo, hi, grid)
    xx, yy = np.meshgrid(axis, axis)
    pts = np.stack([xx.ravel(), yy.ravel()], axis=1)
    dens = np.exp(np.asarray(log_density(pts))).reshape(xx.shape)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.contour(xx, yy, dens, levels=8, cmap="viridis")
    ax.scatter(samples[:, 0], samples[:, 1], s=3, alpha=0.35, color="tab:red", label="flow samples")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="upper left")
    return save_figure(fig, path)
