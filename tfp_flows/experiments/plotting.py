"""Figures, written atomically as PNG files (matplotlib's Agg backend, no display needed)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf

from tfp_flows.datasets.energies import energy
from tfp_flows.files import atomic_path  # noqa: E402

__all__ = ["epoch_table_chart", "log_likelihood_curves", "samples_over_density", "save_figure",
           "score_distributions", "vi_density_grid"]


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


def log_likelihood_curves(records, path, title, published=None):
    """Training (running mean of batch log-likelihood) and test log-likelihood against the
    step, from a run's metrics.jsonl records; `published` ({"step": [...], "train": [...],
    "test": [...]}) is drawn dashed beside them."""
    train = [(r["step"], r["train_ll_running_mean"]) for r in records if "train_ll_running_mean" in r]
    test = [(r["step"], r["test_ll"]) for r in records if "test_ll" in r]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for points, label, color in ((train, "training (running mean)", "tab:blue"), (test, "test", "tab:orange")):
        if points:
            ax.plot(*zip(*points), marker=".", color=color, label=f"ours: {label}")
    if published:
        ax.plot(published["step"], published["train"], "--", color="tab:blue", alpha=0.6, label="P2: training")
        ax.plot(published["step"], published["test"], "--", color="tab:orange", alpha=0.6, label="P2: test")
    ax.set_xlabel("step (batch)")
    ax.set_ylabel("log-likelihood (nats)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def epoch_table_chart(ours, published, columns, path, title):
    """Per-epoch values of several columns: ours ({epoch: {column: value}}) as lines,
    `published` ({epoch: [values in `columns` order]}) dashed."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, column in enumerate(columns):
        color = colors[i % len(colors)]
        epochs = sorted(e for e in ours if column in ours[e])
        if epochs:
            ax.plot(epochs, [ours[e][column] for e in epochs], marker="o", color=color, label=f"ours: {column}")
        pub = sorted(published)
        if pub:
            ax.plot(pub, [published[e][i] for e in pub], "--", color=color, alpha=0.6, label=f"P2: {column}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean log-likelihood")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return save_figure(fig, path)
