"""Flows: the `Flow` base class and the suite's four families.

* `AffineLeakyReLUFlow`: P1's low-rank affine map and leaky ReLU;
* `MAFFlow`: P2's masked autoregressive flow (TFP's MAF, MADE, batch norm, permutations);
* `SplineCouplingFlow`: rational-quadratic spline couplings (TFP's RealNVP + spline);
* `VIFlow`: planar, radial or IAF stacks for variational inference;
* `TransformedFlow`: any base and list of bijectors, for hand-made models.
"""

from tfp_flows.flows.affine import AffineLeakyReLUFlow
from tfp_flows.flows.base import Flow, TransformedFlow, fresh_log_prob, transformed
from tfp_flows.flows.coupling import SplineCouplingFlow
from tfp_flows.flows.maf import LOG_SCALE_CLIP, MAFFlow
from tfp_flows.flows.vi import VIFlow

FLOWS = {"affine_leaky_relu": AffineLeakyReLUFlow, "maf": MAFFlow,
         "spline_coupling": SplineCouplingFlow, "vi": VIFlow}

__all__ = ["FLOWS", "LOG_SCALE_CLIP", "AffineLeakyReLUFlow", "Flow", "MAFFlow", "SplineCouplingFlow",
           "TransformedFlow", "VIFlow", "fresh_log_prob", "transformed"]
