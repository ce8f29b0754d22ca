"""tfp-flows: normalizing flows with TensorFlow Probability, checked against published numbers.

The public names live in small modules (`bijectors`, `distributions`, `flows`,
`training`, `reporting`, `cli`, ...) and are re-exported here.
"""

import os as _os

# TensorFlow's C++ start-up chatter (CUDA plugin registration errors on a CPU build,
# oneDNN notices) is noise for this project's users; a caller may still override.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tfp_flows._version import __version__  # noqa: E402
from tfp_flows.bijectors import (  # noqa: E402
    affine_scalar,
    leaky_relu,
    low_rank_affine,
    normal_cdf,
    positive_slope,
    scale,
    shift,
)
from tfp_flows.distributions import fresh_log_prob, transformed  # noqa: E402
from tfp_flows.flows import AffineLeakyReLUFlow  # noqa: E402
from tfp_flows.seeding import seed_everything  # noqa: E402
from tfp_flows.training import fit_maximum_likelihood  # noqa: E402

__all__ = [
    "__version__",
    "AffineLeakyReLUFlow",
    "affine_scalar",
    "fit_maximum_likelihood",
    "fresh_log_prob",
    "leaky_relu",
    "low_rank_affine",
    "normal_cdf",
    "positive_slope",
    "scale",
    "seed_everything",
    "shift",
    "transformed",
]
