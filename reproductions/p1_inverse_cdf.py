"""Title: Sampling an exponential by inverting its CDF
Source: P1, "Getting into the flow: Bijectors in TensorFlow Probability" (RStudio AI Blog,
        2019-04-05), section "Normalizing flows".
Expected: x = -log(1 - u) / 0.5 with u ~ Uniform(0, 1) follows Exponential(rate 0.5). The post
          prints no number; we check the sample mean against 1/rate = 2, a Kolmogorov-Smirnov
          test against Exp(0.5), and that TFP's own Exponential quantile gives the same map.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None):
    from tfp_flows import cli

    parser = cli.reproduction_parser(__doc__, HERE / "ledger.json", HERE / "results" / "p1_inverse_cdf")
    parser.add_argument("--n", type=cli.positive_int, default=10_000,
                        help="number of uniform draws (default: %(default)s)")
    args = parser.parse_args(argv)

    # Setup
    import numpy as np
    import scipy.stats
    import tensorflow_probability as tfp

    from tfp_flows import seed_everything
    from tfp_flows.experiments import plotting
    from tfp_flows.ledger import Report, finish, load_ledger

    report = Report("P1 / Normalizing flows: inverse-CDF sampling", load_ledger(args.ledger))
    rng = seed_everything(args.seed)
    rate = 0.5

    # Draw uniforms and push them through the inverse CDF F^-1(u) = -log(1 - u) / rate.
    u = rng.uniform(size=args.n)
    x = -np.log1p(-u) / rate

    # TFP's Exponential quantile is the same map.
    x_tfp = tfp.distributions.Exponential(np.float64(rate)).quantile(u).numpy()

    # Checks
    mean, se = x.mean(), x.std(ddof=1) / np.sqrt(args.n)
    report.compare("p1.inverse_cdf.sample_mean", mean, stderr=se)
    ks = scipy.stats.kstest(x, "expon", args=(0.0, 1.0 / rate))
    report.compare("p1.inverse_cdf.ks_pvalue", ks.pvalue)
    report.compare("p1.inverse_cdf.max_diff_tfp_quantile", np.max(np.abs(x - x_tfp)))

    # Picture: histogram against the Exp(0.5) density.
    fig, ax = plotting.plt.subplots(figsize=(5.5, 3.5))
    ax.hist(x, bins=80, density=True, alpha=0.6, label=f"{args.n} inverse-CDF draws")
    grid = np.linspace(0, np.quantile(x, 0.999), 300)
    ax.plot(grid, rate * np.exp(-rate * grid), color="black", label="Exp(0.5) density")
    ax.set_xlabel("x")
    ax.legend()
    picture = plotting.save_figure(fig, args.out / "inverse_cdf.png")
    print(f"picture: {picture}")

    return finish(report, args.out, {"seed": args.seed, "n": args.n, "ks_statistic": ks.statistic})


if __name__ == "__main__":
    from tfp_flows.cli import run

    sys.exit(run(main))
