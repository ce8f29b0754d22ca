"""Figures, written atomically as PNG files (matplotlib's Agg backend, no display needed)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfp_flows.files import atomic_path  # noqa: E402

__all__ = ["samples_over_density", "save_figure", "score_distributions", "vi_density_grid"]


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


def vi_density_grid(targets, ks, flows, path, kind, limit=4.0, grid=150):
    """The paper's Figure 3 layout: a row per target, the true density exp(-U) and then
    the flow's density for each K. `flows` maps (target, K) to a `VIFlow`."""
    import tensorflow as tf

    from tfp_flows.datasets.energies import energy

    axis = np.linspace(-limit, limit, grid)
    xx, yy = np.meshgrid(axis, axis)
    pts = np.stack([xx.ravel(), yy.ravel()], 1)
    fig, axes = plt.subplots(len(targets), 1 + len(ks), figsize=(2.2 * (1 + len(ks)), 2.2 * len(targets)),
                             squeeze=False)
    for i, t in enumerate(targets):
        panels = [("exp(-U)", np.exp(-energy(t, tf.constant(pts, tf.float64)).numpy()))]
        for k in ks:
            flow = flows[(t, k)]
            lp = flow.log_prob(tf.constant(pts, tf.float32)).numpy()
            panels.append((f"K = {k}", np.exp(lp)))
        for j, (title, dens) in enumerate(panels):
            ax = axes[i, j]
            ax.imshow(dens.reshape(grid, grid), origin="lower", extent=(-limit, limit, -limit, limit),
                      cmap="viridis")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title if j == 0 else f"{kind}, {title}", fontsize=9)
            if j == 0:
                ax.set_ylabel(t)
    fig.tight_layout()
    return save_figure(fig, path)


def score_distributions(target, others, word, path):
    """Histograms of log-likelihood: held-out target clips against all other words' clips,
    and a strip of each other word's mean."""
    everything = np.concatenate(list(others.values()))
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    lo, hi = np.percentile(np.concatenate([target, everything]), [1, 99])
    bins = np.linspace(lo, hi, 50)
    a.hist(everything, bins=bins, density=True, alpha=0.5, label="other words")
    a.hist(target, bins=bins, density=True, alpha=0.6, label=f"held-out {word!r}")
    a.set_xlabel("log-likelihood")
    a.legend()
    means = sorted((float(np.mean(v)), w) for w, v in others.items())
    b.barh([w for _, w in means], [m for m, _ in means], color="tab:blue")
    b.axvline(float(np.mean(target)), color="tab:orange", label=f"held-out {word!r}")
    b.tick_params(axis="y", labelsize=6)
    b.set_xlabel("mean log-likelihood")
    b.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)
