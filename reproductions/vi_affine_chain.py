"""Title: A chain of five affine steps is still one affine step
Source: a web article on normalizing flows in generative AI with PyTorch examples ("The
        creative potential of normalizing flows in generative AI"), its 1-D chain of five
        affine (shift, scale) steps applied to N(0, 1) samples.
Expected: fitted by maximum likelihood to bimodal 1-D data (0.5 N(-2, 0.5^2) + 0.5 N(2, 0.5^2)),
          the chain composes to a single map x = a z + c, so the fitted distribution is
          N(c, a^2) whatever the target: its density equals that normal's, its draws pass a
          normality test, its mean and sd match the data's, and it scores the data below
          the true bimodal density.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None):
    from tfp_flows import cli

    parser = cli.reproduction_parser(__doc__, HERE / "ledger.json", HERE / "results" / "vi_affine_chain", seed=0)
    parser.add_argument("--n", type=cli.positive_int, default=5000, help="data points (default: %(default)s)")
    from tfp_flows.cli.options import add_training_options, training_config
    from tfp_flows.training.config import TrainConfig

    defaults = TrainConfig(epochs=150, batch_size=100, learning_rate=0.05, xla="off")
    add_training_options(parser, defaults, only=("epochs", "progress"))
    args = parser.parse_args(argv)

    import numpy as np
    import scipy.stats
    import tensorflow as tf
    import tensorflow_probability as tfp

    from tfp_flows import TransformedFlow, scale, seed_everything, shift
    from tfp_flows.ledger import Report, finish, load_ledger
    from tfp_flows.training import MaximumLikelihood, Trainer

    tfd = tfp.distributions
    rng = seed_everything(args.seed)
    report = Report("Seed article / 1-D affine chain", load_ledger(args.ledger))

    # Data: two well separated modes.
    modes = rng.choice([-2.0, 2.0], size=args.n)
    data = (modes + 0.5 * rng.normal(size=args.n)).astype(np.float32)

    # Model: five (scale, shift) steps on N(0, 1), each with its own variables.
    steps = []
    for k in range(5):
        steps += [scale(tf.Variable(1.0 + 0.1 * rng.normal(), dtype=tf.float32, name=f"scale{k}")),
                  shift(tf.Variable(0.1 * rng.normal(), dtype=tf.float32, name=f"shift{k}"))]
    model = TransformedFlow(tfd.Normal(0.0, 1.0), steps)
    config = training_config(args, defaults)
    Trainer(model, MaximumLikelihood(data, 100, args.seed), config).run()
    flow = model.distribution

    # The composed map: x = a z + c, read off the chain at z = 0 and z = 1.
    c = float(flow.bijector.forward(tf.constant(0.0)))
    a = float(flow.bijector.forward(tf.constant(1.0))) - c
    gauss = scipy.stats.norm(c, abs(a))
    grid = np.linspace(-6, 6, 201).astype(np.float32)
    diff = np.abs(model.log_prob(grid).numpy() - gauss.logpdf(grid))
    report.compare("seed.affine_chain.collapses", diff.max())

    draws = flow.sample(5000, seed=tf.constant([args.seed, 9])).numpy()
    report.compare("seed.affine_chain.gaussian", scipy.stats.kstest(draws, gauss.cdf).pvalue)

    m, s = data.mean(), data.std(ddof=1)
    se_m, se_s = s / np.sqrt(args.n), s / np.sqrt(2 * (args.n - 1))
    ok = abs(c - m) <= 4 * se_m and abs(abs(a) - s) <= 4 * se_s
    report.verdict("seed.affine_chain.moments",
                   f"mean {c:.4f} vs {m:.4f}, sd {abs(a):.4f} vs {s:.4f}", ok)
    chain_ll = float(np.mean(model.log_prob(data).numpy()))
    true_ll = float(np.mean(np.log(0.5 * scipy.stats.norm(-2, 0.5).pdf(data)
                                   + 0.5 * scipy.stats.norm(2, 0.5).pdf(data))))
    report.verdict("seed.affine_chain.bimodal_missed", f"{chain_ll:.4f} < {true_ll:.4f}", chain_ll < true_ll)
    return finish(report, args.out, {"seed": args.seed, "composed_scale": a, "composed_shift": c,
                                     "data_mean": float(m), "data_sd": float(s)})


if __name__ == "__main__":
    from tfp_flows.cli import run

    sys.exit(run(main))
