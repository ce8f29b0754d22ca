"""The options of P2's masked autoregressive flow, declared once (no TensorFlow here, so the
commands' options are made from them without importing it)."""

from dataclasses import dataclass, field
from typing import List

__all__ = ["MAFOptions"]


@dataclass
class MAFOptions:
    """The architecture of a `tfp_flows.flows.MAFFlow` (defaults: P2's GAS model)."""

    layers: int = field(default=10, metadata={"help": "MAF layers"})
    hidden_units: List[int] = field(default_factory=lambda: [100, 100], metadata={
        "help": "hidden units per MADE layer", "flag": "--hidden"})
    activation: str = field(default="tanh", metadata={
        "help": "the MADEs' activation", "choices": ("tanh", "relu", "sigmoid", "elu")})
    permutation: str = field(default="reverse", metadata={
        "help": "variable order between layers: reversed (P2), kept, or a fixed random order per layer",
        "choices": ("reverse", "none", "random")})
    batch_norm: bool = field(default=True, metadata={"help": "leave out batch normalisation"})
    init: str = field(default="glorot", metadata={
        "help": "the MADEs' initial kernels: Glorot-uniform (P2's TF template) or uniform in +-1/sqrt(fan-in), "
                "PyTorch's default for a linear layer (biases start at zero either way; see benchmarks/README.md)",
        "choices": ("glorot", "fan_in")})
    clip_log_scale: bool = field(default=False, metadata={
        "help": "clip the log-scale to [-5, 3] like P2's TF1 template"})
