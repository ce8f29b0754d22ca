"""The flow families by name: the one place experiments, commands and run folders get a
flow class from.

A family is a `Flow` subclass registered under a short name. The families that train on
data (`DENSITY_FAMILIES`) are built by `build_flow(family, dims, options, seed)`; every
family is rebuilt from a run's record by `flow_from_record`. A new family: write its
module under `tfp_flows/flows/`, then add one line to `FAMILIES` (and to
`DENSITY_FAMILIES` when it is built from `dims` and an options dataclass).
No TensorFlow is imported here until a class is asked for.
"""

import contextlib
import importlib
from typing import Any, Dict, Optional

from tfp_flows.flows.options import FlowOptions, with_recorded_later

__all__ = ["DEFAULT_FAMILY", "DENSITY_FAMILIES", "FAMILIES", "build_flow", "family_of", "flow_class",
           "flow_from_record"]

# name -> "module:class"
FAMILIES: Dict[str, str] = {
    "maf": "tfp_flows.flows.maf:MAFFlow",
    "maf-mog": "tfp_flows.flows.mog:MAFMoGFlow",
    "made-mog": "tfp_flows.flows.mog:MADEMoGFlow",
    "nsf": "tfp_flows.flows.nsf:NSFFlow",
    "realnvp": "tfp_flows.flows.realnvp:RealNVPFlow",
    "spline-coupling": "tfp_flows.flows.coupling:SplineCouplingFlow",
    "affine-leaky-relu": "tfp_flows.flows.affine:AffineLeakyReLUFlow",
    "vi": "tfp_flows.flows.vi:VIFlow",
}
# The families `build_flow` makes from (dims, options dataclass, seed): what `--flow` offers.
DENSITY_FAMILIES = ("maf", "nsf", "realnvp", "made-mog", "maf-mog", "spline-coupling")
DEFAULT_FAMILY = "maf"  # P2's


def flow_class(family: str) -> type:
    """The `Flow` subclass registered as `family` (ValueError naming the known ones)."""
    try:
        module, name = FAMILIES[family].split(":")
    except KeyError:
        raise ValueError(f"unknown flow family {family!r} (known: {', '.join(sorted(FAMILIES))})") from None
    return getattr(importlib.import_module(module), name)


def family_of(flow: Any) -> str:
    """The registered name of `flow`'s class (ValueError for an unregistered one)."""
    cls = type(flow)
    for family, target in FAMILIES.items():
        module, name = target.split(":")
        if cls.__module__ == module and cls.__name__ == name:
            return family
    raise ValueError(f"{cls.__name__} is not a registered flow family")


def build_flow(family: str, dims: int, options: Any = None, seed: int = 0, strategy: Any = None,
               context_dims: int = 0) -> Any:
    """A fresh flow of a density family for `dims` columns, its architecture from `options`
    (a `FlowOptions`; None: the defaults), in `strategy`'s scope when given; conditional
    on a context of `context_dims` values when that is above 0."""
    if family not in DENSITY_FAMILIES:
        raise ValueError(f"flow family {family!r} does not train on data here (choose from: "
                         f"{', '.join(DENSITY_FAMILIES)})")
    cls = flow_class(family)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        if hasattr(cls, "from_options"):  # a family whose constructor does not take a FlowOptions
            return cls.from_options(dims, options or FlowOptions(), seed=seed, context_dims=context_dims)
        return cls(dims, options, seed=seed, context_dims=context_dims)


def flow_from_record(family: str, config: Dict[str, Any], strategy: Optional[Any] = None) -> Any:
    """The flow a run recorded (its family and `config`), with fresh weights (a setting
    recorded only from some version on reads, where the record lacks it, as every run
    before had it: `options.RECORDED_LATER`)."""
    cls = flow_class(family)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        return cls.from_config(with_recorded_later(config, family))
