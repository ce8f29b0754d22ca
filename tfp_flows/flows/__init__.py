"""Flows: the `Flow` base class and the suite's families.

* `AffineLeakyReLUFlow`: P1's low-rank affine map and leaky ReLU;
* `MAFFlow`: P2's masked autoregressive flow (TFP's MAF, MADE, batch norm, permutations);
* `NSFFlow`: autoregressive neural spline flow (TFP's MAF with rational-quadratic splines);
* `RealNVPFlow`: affine couplings (TFP's RealNVP), batch norm and permutations;
* `MADEMoGFlow`, `MAFMoGFlow`: the MAF paper's MADE MoG, alone or as a MAF's base;
* `SplineCouplingFlow`: rational-quadratic spline couplings (TFP's RealNVP + spline);
* `VIFlow`: planar, radial or IAF stacks for variational inference;
* `TransformedFlow`: any base and list of bijectors, for hand-made models;
* `registry`: the families by name (`build_flow("maf", dims, options, seed)`).

The density families (maf, nsf, realnvp, made-mog, maf-mog) take ``context_dims=C`` to be conditional:
``flow.log_prob(x, context=c)``, ``flow.sample(n, context=c)``.
"""

from tfp_flows._lazy import lazy_exports

# Imported on first use: `flows.options` (what the commands' options are made from)
# does not need TensorFlow.
__getattr__, __dir__ = lazy_exports(__name__, {
    "tfp_flows.flows.affine": ["AffineLeakyReLUFlow"],
    "tfp_flows.flows.base": ["Flow", "TransformedFlow", "fresh_log_prob", "transformed"],
    "tfp_flows.flows.coupling": ["SplineCouplingFlow"],
    "tfp_flows.flows.maf": ["LOG_SCALE_CLIP", "MAFFlow"],
    "tfp_flows.flows.mog": ["MADEMixture", "MADEMoGFlow", "MAFMoGFlow"],
    "tfp_flows.flows.nsf": ["NSFFlow"],
    "tfp_flows.flows.options": ["FlowOptions", "MAFOptions"],
    "tfp_flows.flows.realnvp": ["RealNVPFlow"],
    "tfp_flows.flows.registry": ["DEFAULT_FAMILY", "DENSITY_FAMILIES", "FAMILIES", "build_flow", "family_of",
                                 "flow_class", "flow_from_record"],
    "tfp_flows.flows.vi": ["VIFlow"],
})

__all__ = ["DEFAULT_FAMILY", "DENSITY_FAMILIES", "FAMILIES", "LOG_SCALE_CLIP", "AffineLeakyReLUFlow", "Flow",
           "FlowOptions", "MADEMixture", "MADEMoGFlow", "MAFFlow", "MAFMoGFlow", "MAFOptions", "NSFFlow", "RealNVPFlow",
           "SplineCouplingFlow", "TransformedFlow", "VIFlow", "build_flow", "family_of", "flow_class",
           "flow_from_record", "fresh_log_prob", "transformed"]
