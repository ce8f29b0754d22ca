"""Flows: the `Flow` base class and the suite's four families.

* `AffineLeakyReLUFlow`: P1's low-rank affine map and leaky ReLU;
* `MAFFlow`: P2's masked autoregressive flow (TFP's MAF, MADE, batch norm, permutations);
* `SplineCouplingFlow`: rational-quadratic spline couplings (TFP's RealNVP + spline);
* `VIFlow`: planar, radial or IAF stacks for variational inference;
* `TransformedFlow`: any base and list of bijectors, for hand-made models;
* `registry`: the families by name (`build_flow("maf", dims, options, seed)`).
"""

from tfp_flows._lazy import lazy_exports

# Imported on first use: `flows.options` (what the commands' options are made from)
# does not need TensorFlow.
__getattr__, __dir__ = lazy_exports(__name__, {
    "tfp_flows.flows.affine": ["AffineLeakyReLUFlow"],
    "tfp_flows.flows.base": ["Flow", "TransformedFlow", "fresh_log_prob", "transformed"],
    "tfp_flows.flows.coupling": ["SplineCouplingFlow"],
    "tfp_flows.flows.maf": ["LOG_SCALE_CLIP", "MAFFlow"],
    "tfp_flows.flows.options": ["MAFOptions"],
    "tfp_flows.flows.registry": ["DEFAULT_FAMILY", "DENSITY_FAMILIES", "FAMILIES", "build_flow", "family_of",
                                 "flow_class", "flow_from_record"],
    "tfp_flows.flows.vi": ["VIFlow"],
})

__all__ = ["DEFAULT_FAMILY", "DENSITY_FAMILIES", "FAMILIES", "LOG_SCALE_CLIP", "AffineLeakyReLUFlow", "Flow",
           "MAFFlow", "MAFOptions", "SplineCouplingFlow", "TransformedFlow", "VIFlow", "build_flow", "family_of",
           "flow_class", "flow_from_record", "fresh_log_prob", "transformed"]
