"""tfp-flows: normalizing flows with TensorFlow Probability, checked against published numbers.

Layers (see ARCHITECTURE.md): `bijectors` -> `flows` -> `training` -> `experiments` ->
`cli`, with `datasets` beside them. The public names are re-exported here.
"""

import os as _os

# TensorFlow's C++ start-up chatter (CUDA plugin registration errors on a CPU build,
# oneDNN notices) is noise for this project's users; a caller may still override.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tfp_flows._tflog import quiet_tensorflow_import, use_xla_cache  # noqa: E402

# From TF 2.18 on, the variable above no longer reaches the lines TensorFlow prints while
# it loads; they are filtered at the first import of TensorFlow instead (see _tflog).
quiet_tensorflow_import()
# TFP_FLOWS_XLA_CACHE=DIR: XLA's compilations are kept in DIR and reused by later runs.
use_xla_cache()

from tfp_flows._lazy import lazy_exports  # noqa: E402
from tfp_flows._version import __version__  # noqa: E402

# The public API, imported on first use (TensorFlow is not imported by `import tfp_flows`
# alone, so the commands' --help is quick).
__getattr__, __dir__ = lazy_exports(__name__, {
    "tfp_flows.bijectors": ["Planar", "Radial", "affine_scalar", "leaky_relu", "low_rank_affine", "normal_cdf",
                            "positive_slope", "scale", "shift"],
    "tfp_flows.flows": ["AffineLeakyReLUFlow", "Flow", "MAFFlow", "SplineCouplingFlow", "TransformedFlow", "VIFlow",
                        "fresh_log_prob", "transformed"],
    "tfp_flows.seeding": ["seed_everything"],
    "tfp_flows.training": ["EarlyStopping", "Evaluation", "Evaluator", "MaximumLikelihood", "ReverseKL",
                           "TrainConfig", "Trainer"],
})

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
