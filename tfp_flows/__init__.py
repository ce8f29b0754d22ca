"""tfp-flows: normalizing flows with TensorFlow Probability, checked against published numbers.

Layers (see ARCHITECTURE.md): `bijectors` -> `flows` -> `training` -> `experiments` ->
`cli`, with `datasets` beside them. The public names are re-exported here.
"""

import os as _os

# TensorFlow's C++ start-up chatter (CUDA plugin registration errors on a CPU build,
# oneDNN notices) is noise for this project's users; a caller may still override.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tfp_flows._version import __version__  # noqa: E402
from tfp_flows.bijectors import (Planar, Radial, affine_scalar, leaky_relu, low_rank_affine,  # noqa: E402
                                 normal_cdf, positive_slope, scale, shift)
from tfp_flows.flows import (AffineLeakyReLUFlow, Flow, MAFFlow, SplineCouplingFlow,  # noqa: E402
                             TransformedFlow, VIFlow, fresh_log_prob, transformed)
from tfp_flows.seeding import seed_everything  # noqa: E402
from tfp_flows.training import (EarlyStopping, Evaluation, Evaluator, MaximumLikelihood,  # noqa: E402
                                ReverseKL, TrainConfig, Trainer)

__all__ = [
    "__version__",
    "AffineLeakyReLUFlow",
    "EarlyStopping",
    "Evaluation",
    "Evaluator",
    "Flow",
    "MAFFlow",
    "MaximumLikelihood",
    "Planar",
    "Radial",
    "ReverseKL",
    "SplineCouplingFlow",
    "TrainConfig",
    "Trainer",
    "TransformedFlow",
    "VIFlow",
    "affine_scalar",
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
