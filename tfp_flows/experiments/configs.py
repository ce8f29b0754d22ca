"""What each experiment is asked to do, with no TensorFlow: its config dataclass (every
option declared once, as a field whose metadata says everything about it; see
`tfp_flows.configs`), its defaults, and the settings that identify a run. The commands
build their options and --help from these classes without loading TensorFlow; the
experiments (`gas`, `speech`, `table`, `vi`, `images`) run them.

A new option of an experiment is a field of its class here (with its ``help``); the
command and the reproduction scripts pick it up from there.
"""

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from tfp_flows.configs import settings_dict
from tfp_flows.errors import UsageError
from tfp_flows.files import content_identity as data_identity
from tfp_flows.flows.options import FlowOptions, fields_for
from tfp_flows.flows.registry import DEFAULT_FAMILY, DENSITY_FAMILIES
from tfp_flows.training.config import TrainConfig

__all__ = ["CLASSES", "CONDITIONINGS", "DEFAULT_FEATURE_CACHE", "DEFAULT_GAS_DATA", "DEFAULT_SPEECH_DATA", "DIMS",
           "GasConfig", "IMAGE_MODELS", "ImagesConfig", "SCHEDULES", "SpeechConfig", "TableConfig", "VIConfig",
           "VI_TRAIN_OPTIONS", "check_quantile", "flow_field", "schedule_config", "settings_key", "settings_of"]


# ------------------------------------------------------------------------ a run's settings

def flow_field() -> Any:
    """The `flow` field of an experiment's config: the family trained, by its registry name."""
    return field(default=DEFAULT_FAMILY, metadata={
        "help": "flow family (tfp_flows.flows.registry): maf (P2's masked autoregressive flow), nsf "
                "(autoregressive neural splines), realnvp (Real NVP's affine couplings), spline-coupling "
                "(rational-quadratic spline couplings), made-mog (the MAF paper's MADE with a mixture of "
                "Gaussians per conditional) or maf-mog (MAF layers over a MADE MoG)",
        "choices": DENSITY_FAMILIES})


def settings_of(config: Any, data: Optional[Union[str, Path]] = None) -> Dict[str, Any]:
    """What a run computes from: the config without the fields marked as not affecting
    results (`tfp_flows.configs.settings_dict`), plus the identity of its data."""
    settings = settings_dict(config)
    family, model = getattr(config, "flow", None), settings.get("model")
    if family is not None and isinstance(model, dict):
        # Only the architecture options the family reads (a MAF run's identity has no bins).
        settings["model"] = {k: v for k, v in model.items() if k in fields_for(family)}
    if data is not None:
        settings["data_identity"] = data_identity(data)
    return settings


def settings_key(settings: Dict[str, Any]) -> str:
    """A short stable hash of a settings dict (to name run folders)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]


def check_quantile(value: float, option: str = "--threshold-quantile") -> None:
    """Refuse (UsageError) a flagging quantile outside (0, 1)."""
    if not 0 < value < 1:
        raise UsageError(f"{option} must be in (0, 1), got {value}")


# ------------------------------------------------------------------------------------- GAS

DEFAULT_GAS_DATA = Path("data/gas/ethylene_CO.txt")


@dataclass
class GasConfig:
    """Settings of a GAS run: data, preprocessing, model, training, run folder."""

    data: Path = field(default=DEFAULT_GAS_DATA, metadata={
        "help": "GAS-format text file (downloaded when it is the default and missing)"})
    download: bool = field(default=True, metadata={"help": "never try to download the data",
                                                   "affects_results": False})
    recipe: str = field(default="blog", metadata={
        "help": "preprocessing: P2's ('blog') or the MAF paper's ('maf')", "choices": ("blog", "maf")})
    max_rows: Optional[int] = field(default=None, metadata={"help": "read only the first N data rows"})
    threshold_quantile: float = field(default=0.01, metadata={
        "help": "flag rows below this quantile of the held-out rows' log-density (validation rows, "
                "or test rows when the recipe has none)"})
    flow: str = flow_field()
    model: FlowOptions = field(default_factory=FlowOptions)
    train: TrainConfig = field(default_factory=TrainConfig)
    out: Optional[Path] = field(default=None, metadata={
        "help": "run folder (default: runs/gas-<recipe>-seed<seed>)", "affects_results": False})
    resume: bool = field(default=False, metadata={"help": "continue the run in --out where it stopped",
                                                  "affects_results": False})

    def run_dir(self) -> Path:
        return self.out or Path("runs") / f"gas-{self.recipe}-seed{self.train.seed}"


# ---------------------------------------------------------------------------------- speech

DEFAULT_SPEECH_DATA = Path("data/speech_commands_v0.01")
DEFAULT_FEATURE_CACHE = Path("data/speech/cache")


@dataclass
class SpeechConfig:
    """Settings of a speech run: data, word, features, split, model, training, run folder."""

    data: Path = field(default=DEFAULT_SPEECH_DATA, metadata={
        "help": "Speech Commands folder (downloaded when it is the default and missing)"})
    download: bool = field(default=True, metadata={"help": "never try to download the data",
                                                   "affects_results": False})
    word: str = field(default="zero", metadata={"help": "the target word"})
    features: str = field(default="p2", metadata={"help": "clip features", "choices": ("p2", "logmel", "mfccseg")})
    split: str = field(default="p2", metadata={
        "help": "P2's random 50/50 split or the data set's official lists", "choices": ("p2", "official")})
    threshold_quantile: float = field(default=0.05, metadata={
        "help": "flag clips below this quantile of the reference clips' log-likelihood"})
    cache: Path = field(default=DEFAULT_FEATURE_CACHE, metadata={
        "help": "folder of the features' tf.data caches (one per feature and clip list; safe to delete)",
        "affects_results": False})
    flow: str = flow_field()
    model: FlowOptions = field(default_factory=lambda: FlowOptions(hidden_units=[512, 512]))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        learning_rate=1e-3, epochs=10, eval_every=None, checkpoint_every=None))
    out: Optional[Path] = field(default=None, metadata={
        "help": "run folder (default: runs/speech-<word>-<features>-seed<seed>)", "affects_results": False})
    resume: bool = field(default=False, metadata={"help": "continue the run in --out where it stopped",
                                                  "affects_results": False})

    def run_dir(self) -> Path:
        return self.out or Path("runs") / f"speech-{self.word}-{self.features}-seed{self.train.seed}"


# ------------------------------------------------------------------------ your own table

def _table_train():
    # A table of a few thousand rows: more epochs and a larger step than P2's GAS run,
    # evaluated once an epoch, stopped early on the validation rows.
    return TrainConfig(epochs=50, learning_rate=1e-3, eval_every=None, patience=5)


def _table_model():
    # The MADEs start from PyTorch's fan-in kernels here, not P2's Glorot ones: a table of
    # the user's has no published number to match, and on generated GAS-like rows the
    # fan-in start trained closer to zuko's and nflows' flows than the Glorot one did, for
    # P2's MAF and for the conditional MAF (benchmarks/README.md, "Flow families" and
    # "2026-12-07, third session").
    return FlowOptions(layers=5, hidden_units=[64, 64], init="fan_in")


@dataclass
class TableConfig:
    """Settings of a run on a table: data, columns, model, training, run folder."""

    data: Optional[Path] = field(default=None, metadata={
        "help": "the table: .csv, .tsv (or .tab), .txt (whitespace or commas) or .parquet, with a header row",
        "required": True})
    columns: Optional[List[str]] = field(default=None, metadata={
        "help": "the columns whose density is learned (default: every column not in --context-columns)"})
    context_columns: Optional[List[str]] = field(default=None, metadata={
        "help": "columns the flow is conditioned on: it learns p(columns | context columns) (default: none)"})
    test_fraction: float = field(default=0.1, metadata={"help": "share of rows held out for the test"})
    val_fraction: float = field(default=0.1, metadata={"help": "share of rows held out for early stopping"})
    threshold_quantile: float = field(default=0.01, metadata={
        "help": "flag rows below this quantile of the validation rows' log-density"})
    flow: str = flow_field()
    model: FlowOptions = field(default_factory=_table_model)
    train: TrainConfig = field(default_factory=_table_train)
    out: Optional[Path] = field(default=None, metadata={
        "help": "run folder (default: runs/table-<file name>-<flow>-seed<seed>)", "affects_results": False})
    resume: bool = field(default=False, metadata={"help": "continue the run in --out where it stopped",
                                                  "affects_results": False})

    def run_dir(self) -> Path:
        return self.out or Path("runs") / f"table-{Path(self.data).stem}-{self.flow}-seed{self.train.seed}"


# ----------------------------------------------------------------- variational inference

# The training options that mean something for reverse KL (the rest are for data).
VI_TRAIN_OPTIONS = ("batch_size", "learning_rate", "max_steps", "checkpoint_every", "progress",
                    "xla", "steps_per_call", "max_skipped")


def _vi_train():
    # Calls sized by time, as every command's (U1, planar K = 8: 39.0-39.4 s with calls of
    # 20 steps, 37.4-39.9 s with 200, the same KL), so `--help`'s "default: auto" holds here too.
    return TrainConfig(batch_size=256, learning_rate=1e-2, max_steps=20_000, checkpoint_every=1000,
                       max_skipped=49, xla="off")


@dataclass
class VIConfig:
    """Settings of `make vi`: which targets, flows, K and seeds, and how to train them."""

    targets: List[str] = field(default_factory=lambda: ["U1", "U2", "U3", "U4"], metadata={
        "help": "energies to fit"})
    flows: List[str] = field(default_factory=lambda: ["planar"], metadata={
        "help": "flow kinds", "choices": ("planar", "radial", "iaf")})
    K: List[int] = field(default_factory=lambda: [2, 8, 32], metadata={"help": "numbers of layers"})
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2], metadata={
        "help": "seeds: one run each; KL is reported as mean and spread over them", "minimum": 0})
    iaf_hidden: List[int] = field(default_factory=lambda: [12], metadata={
        "help": "hidden units of each IAF's MADE"})
    anneal: bool = field(default=True, metadata={
        "help": "no annealing (default: beta_t = min(1, 0.01 + t/10000) as in the paper)"})
    kl_samples: int = field(default=20_000, metadata={"help": "draws of q for each KL estimate"})
    train: TrainConfig = field(default_factory=_vi_train, metadata={"options": VI_TRAIN_OPTIONS})
    out: Path = field(default=Path("runs/vi"), metadata={"help": "folder of the runs", "affects_results": False})
    figure: bool = field(default=True, metadata={"help": "draw no figure", "affects_results": False})


# ---------------------------------------------------------------------------------- images

# name -> (the paper's label, family or None for the Gaussian, the family's options)
IMAGE_MODELS = {
    "gaussian": ("Gaussian", None, {}),
    "made": ("MADE", "maf", {"layers": 1, "batch_norm": False}),
    "made-mog": ("MADE MoG", "made-mog", {}),
    "realnvp-5": ("Real NVP (5)", "realnvp", {"layers": 5}),
    "realnvp-10": ("Real NVP (10)", "realnvp", {"layers": 10}),
    "maf-5": ("MAF (5)", "maf", {"layers": 5}),
    "maf-10": ("MAF (10)", "maf", {"layers": 10}),
    "maf-mog-5": ("MAF MoG (5)", "maf-mog", {"layers": 5}),
}
CONDITIONINGS = ("unconditional", "conditional")
CLASSES = 10
DIMS = 784


def _paper_schedule():
    # The paper's image settings: one hidden layer of 1024 units per MADE (and per coupling
    # network), 10 components per MoG conditional, Adam at 1e-4, batches of 100, training
    # until 30 epochs bring no better validation log-likelihood.
    return (FlowOptions(hidden_units=[1024], activation="relu", components=10),
            TrainConfig(epochs=1000, learning_rate=1e-4, batch_size=100, patience=30, eval_every=None))


def _default_schedule():
    # Every row on 2 CPU cores in under an hour (README, "Images"): a quarter of the
    # paper's hidden units, half its components, a 10x larger step, 5 epochs.
    return (FlowOptions(hidden_units=[256], activation="relu", components=5),
            TrainConfig(epochs=5, learning_rate=1e-3, batch_size=100, patience=2, eval_every=None))


SCHEDULES = {"default": _default_schedule, "paper": _paper_schedule}
DEFAULT_TRAIN_IMAGES = {"default": None, "paper": None}  # None: all 54,000


@dataclass
class ImagesConfig:
    """Settings of the image table: data, rows, schedule, model, training, run folder."""

    data: Optional[Path] = field(default=None, metadata={
        "help": "folder of the four Fashion-MNIST IDX files (gzip or plain), as apt-get install "
                "dataset-fashion-mnist puts them in /usr/share/datasets/fashion-mnist", "required": True})
    models: List[str] = field(default_factory=lambda: list(IMAGE_MODELS), metadata={
        "help": "the table's models", "choices": tuple(IMAGE_MODELS)})
    conditioning: List[str] = field(default_factory=lambda: list(CONDITIONINGS), metadata={
        "help": "unconditional rows, class-conditional rows, or both", "choices": CONDITIONINGS})
    schedule: str = field(default="default", metadata={
        "help": "default: every row on 2 cores in under an hour (256 hidden units, 5 components, Adam 1e-3, "
                "batch 100, 5 epochs); paper: the MAF paper's (1024 units, 10 components, Adam 1e-4, batch 100, "
                "up to 1000 epochs, early stopping after 30 without progress); both on all 54,000 training "
                "images; options given on the command line win over either",
        "choices": tuple(SCHEDULES)})
    train_images: Optional[int] = field(default=None, metadata={
        "help": "train on the first N training images (default: all 54,000)"})
    samples_per_class: int = field(default=8, metadata={"help": "samples drawn per class for the figure"})
    model: FlowOptions = field(default_factory=lambda: _default_schedule()[0], metadata={
        "options": ("hidden_units", "activation", "components", "made_kernels")})
    train: TrainConfig = field(default_factory=lambda: _default_schedule()[1], metadata={
        "options": ("epochs", "learning_rate", "batch_size", "patience", "eval_batch_size", "seed", "progress",
                    "xla", "steps_per_call", "max_steps")})
    out: Optional[Path] = field(default=None, metadata={
        "help": "folder of the rows' runs and the table (default: runs/images-<schedule>-seed<seed>)",
        "affects_results": False})

    def run_dir(self) -> Path:
        return self.out or Path("runs") / f"images-{self.schedule}-seed{self.train.seed}"


def schedule_config(schedule: str, **fields: Any) -> "ImagesConfig":
    """An `ImagesConfig` of `schedule`'s model and training settings, then `fields`."""
    if schedule not in SCHEDULES:
        raise UsageError(f"unknown schedule {schedule!r} (choose from: {', '.join(SCHEDULES)})")
    model, train = SCHEDULES[schedule]()
    return dataclasses.replace(ImagesConfig(schedule=schedule, model=model, train=train), **fields)
