"""Bijectors: thin constructors over TFP for P1 (`elementary`), and the planar and radial
flows, which TFP lacks and which are written by hand (`planar`, `radial`).

The hand-written ones follow TFP's bijector contract (`_forward`, `_inverse`,
`_forward_log_det_jacobian`, `parameters`, read-only properties), so they compose with
`tfb.Chain` and `tfd.TransformedDistribution` like TFP's own. Both act on vectors (event
ndims 1): a batch [..., D] maps to [..., D].
"""

from tfp_flows.bijectors.elementary import affine_scalar, leaky_relu, low_rank_affine, normal_cdf, positive_slope, scale, shift
from tfp_flows.bijectors.planar import Planar
from tfp_flows.bijectors.radial import Radial

__all__ = ["Planar", "Radial", "affine_scalar", "leaky_relu", "low_rank_affine", "normal_cdf",
           "positive_slope", "scale", "shift"]
