"""The architecture options of the density families (`--flow maf|nsf|realnvp|...`), declared
once (no TensorFlow here, so the commands' options are made from them without importing
it). One dataclass serves every family: each reads the fields it uses, and a field
that only some families read says which in its metadata ("families"), so a run's
settings record only what its family used."""

from dataclasses import dataclass, field, fields
from typing import List

__all__ = ["FlowOptions", "MAFOptions", "RECORDED_LATER", "fields_for", "with_recorded_later"]


@dataclass
class FlowOptions:
    """The architecture of a density flow (defaults: P2's GAS model for `maf`)."""

    layers: int = field(default=10, metadata={"help": "flow layers (MAF, spline or coupling steps)"})
    hidden_units: List[int] = field(default_factory=lambda: [100, 100], metadata={
        "help": "hidden units per layer of each conditioner network (a MADE for maf and nsf)", "flag": "--hidden"})
    activation: str = field(default="tanh", metadata={
        "help": "the conditioner networks' activation", "choices": ("tanh", "relu", "sigmoid", "elu")})
    permutation: str = field(default="reverse", metadata={
        "help": "variable order between layers: reversed (P2), kept, or a fixed random order per layer "
                "(a coupling flow needs reverse or random)",
        "choices": ("reverse", "none", "random")})
    batch_norm: bool = field(default=True, metadata={"help": "leave out batch normalisation"})
    init: str = field(default="glorot", metadata={
        "help": "the MADEs' initial kernels: Glorot-uniform (P2's TF template; the default of every command but "
                "the table one) or uniform in +-1/sqrt(fan-in), PyTorch's default for a linear layer (the table "
                "command's; biases start at zero either way; see benchmarks/README.md)",
        "choices": ("glorot", "fan_in"), "families": ("maf", "maf-mog")})
    clip_log_scale: bool = field(default=False, metadata={
        "help": "clip the log-scale to [-5, 3] like P2's TF1 template", "families": ("maf", "maf-mog")})
    bins: int = field(default=8, metadata={
        "help": "spline bins per variable (nsf, spline-coupling)", "families": ("nsf", "spline-coupling"), "minimum": 2})
    bound: float = field(default=4.0, metadata={
        "help": "the splines act on [-bound, bound], the identity outside (nsf, spline-coupling)",
        "families": ("nsf", "spline-coupling")})
    components: int = field(default=10, metadata={
        "help": "Gaussians per conditional of a MADE MoG (made-mog, and maf-mog's base)",
        "families": ("made-mog", "maf-mog")})
    mixture_scale: str = field(default="exp", metadata={
        "help": "each Gaussian's scale from its network output r: 1e-3 + exp(r / 2), r a log-variance (the "
                "MAF paper's code outputs log precisions), or 1e-3 + softplus(r) (the suite's earlier form: a "
                "run folder that does not record this setting was trained with it)",
        "choices": ("exp", "softplus"), "families": ("made-mog", "maf-mog")})
    made_kernels: str = field(default="blocks", metadata={
        "help": "how a MADE large enough to skip its masked blocks (2^18 kernel entries or more, e.g. the image "
                "MADEs) keeps its kernels: as those blocks only (faster; fewer weights to update) or as TFP's whole "
                "masked kernels (the layout of runs recorded before this setting existed, which resume and score "
                "with it); smaller MADEs are the same either way",
        "choices": ("blocks", "dense"), "families": ("maf", "nsf", "made-mog", "maf-mog")})


# Options recorded only from some point on, with the value every run before had: a
# record without one of them was trained with that value (rebuilt so by the families'
# `from_config`; matched so by `training.run_folder.differing_settings`).
RECORDED_LATER = {"mixture_scale": "softplus", "made_kernels": "dense"}

# The name the options had while MAF was the only density family.
MAFOptions = FlowOptions


def fields_for(family: str) -> List[str]:
    """The option fields family `family` reads."""
    return [f.name for f in fields(FlowOptions) if family in f.metadata.get("families", (family,))]


def with_recorded_later(config: dict, family: str) -> dict:
    """A flow's recorded `config`, read as it was trained: each setting of `RECORDED_LATER`
    that `family` reads and the record lacks takes its value from before it was recorded."""
    used = fields_for(family)
    return {**{k: v for k, v in RECORDED_LATER.items() if k in used}, **config}
