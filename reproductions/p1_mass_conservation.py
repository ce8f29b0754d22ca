"""Title: Probability mass is conserved under a bijection
Source: P1, "Getting into the flow: Bijectors in TensorFlow Probability" (RStudio AI Blog,
        2019-04-05), section "Probability mass is conserved".
Expected: for x = (0, 0.5, 1) and z = 2x, log N(x) = -0.9189385 -1.0439385 -1.4189385;
          the density of z under the stretched distribution, log N(x) + inverse
          log-det-Jacobian = -1.6120857 -1.7370857 -2.1120858 (by hand and through
          TransformedDistribution); and the CDFs agree: 0.5000000 0.6914625 0.8413447.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None):
    from tfp_flows import cli

    parser = cli.reproduction_parser(
        __doc__, HERE / "ledger.json", HERE / "results" / "p1_mass_conservation")
    args = parser.parse_args(argv)

    # Setup
    import numpy as np
    import tensorflow_probability as tfp

    from tfp_flows import affine_scalar, seed_everything, transformed
    from tfp_flows.ledger import Report, finish, load_ledger

    tfd = tfp.distributions
    seed_everything(args.seed)  # nothing random here; kept for the common interface
    report = Report("P1 / Probability mass is conserved", load_ledger(args.ledger))
    x = np.array([0.0, 0.5, 1.0])
    base = tfd.Normal(np.float64(0), np.float64(1))

    # The base log-densities.
    report.compare("p1.mass.log_prob_base", base.log_prob(x).numpy())

    # A mini-flow that doubles its input: z = 2x + 0.
    b = affine_scalar(shift=np.float64(0), scale=np.float64(2))
    z = b.forward(x)

    # Change of variables by hand: log p(z) = log p_base(inverse(z)) + log|d inverse / dz|.
    by_hand = base.log_prob(b.inverse(z)) + b.inverse_log_det_jacobian(z, event_ndims=0)
    report.compare("p1.mass.log_prob_transformed_hand", by_hand.numpy())

    # The same through TransformedDistribution.
    stretched = transformed(base, [b])
    report.compare("p1.mass.log_prob_transformed_dist", stretched.log_prob(z).numpy())

    # Mass below x under the base equals mass below z = 2x under the stretched distribution.
    report.compare("p1.mass.cdf_base", base.cdf(x).numpy())
    report.compare("p1.mass.cdf_transformed", stretched.cdf(z).numpy())

    return finish(report, args.out, {"seed": args.seed, "x": x.tolist(), "z": z.numpy().tolist()})


if __name__ == "__main__":
    from tfp_flows.cli import run

    sys.exit(run(main))
