"""Title: A log-density through the NormalCDF bijector
Source: P1, "Getting into the flow: Bijectors in TensorFlow Probability" (RStudio AI Blog,
        2019-04-05), section "Bijectors".
Expected: log N(2.01; 0, 1) = -2.938989, both directly and as log Uniform(Phi(x)) plus the
          forward log-det-Jacobian of the NormalCDF bijector at x = 2.01.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None):
    from tfp_flows import cli

    parser = cli.reproduction_parser(__doc__, HERE / "ledger.json", HERE / "results" / "p1_bijectors")
    args = parser.parse_args(argv)

    # Setup (float64 throughout: the check is about the math, not float32 rounding)
    import numpy as np
    import tensorflow_probability as tfp

    from tfp_flows import normal_cdf, seed_everything
    from tfp_flows.ledger import Report, finish, load_ledger

    tfd = tfp.distributions
    seed_everything(args.seed)  # nothing random here; kept for the common interface
    report = Report("P1 / Bijectors", load_ledger(args.ledger))
    x = np.float64(2.01)

    # Directly: the normal log-density.
    direct = tfd.Normal(np.float64(0), np.float64(1)).log_prob(x)
    report.compare("p1.bijectors.log_prob_direct", float(direct))

    # Through the bijector: map x into (0, 1), score it under the uniform, and add how much
    # the map stretches space there (the forward log-det-Jacobian).
    b = normal_cdf()
    uniform = tfd.Uniform(np.float64(0), np.float64(1))
    via = uniform.log_prob(b.forward(x)) + b.forward_log_det_jacobian(x, event_ndims=0)
    report.compare("p1.bijectors.log_prob_normal_cdf", float(via))

    return finish(report, args.out, {"seed": args.seed, "x": float(x)})


if __name__ == "__main__":
    from tfp_flows.cli import run

    sys.exit(run(main))
