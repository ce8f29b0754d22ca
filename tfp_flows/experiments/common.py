"""What the experiments share: the MAF's options, run folders and their settings."""

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

from tfp_flows.errors import UsageError
from tfp_flows.files import write_json_atomic

__all__ = ["as_dict", "begin_run", "check_quantile", "fit_maximum_likelihood", "replace", "MAFOptions",
           "RUN_SETTINGS_IGNORED", "check_run_folder", "data_identity", "read_json", "settings_of", "settings_key",
           "build_maf"]

# Fields that do not change what a run computes: a finished run is reused across them.
RUN_SETTINGS_IGNORED = ("out", "resume", "progress", "download", "cache")


@dataclass
class MAFOptions:
    """The architecture of P2's masked autoregressive flow (see `tfp_flows.flows.MAFFlow`)."""

    layers: int = field(default=10, metadata={"help": "MAF layers"})
    hidden_units: List[int] = field(default_factory=lambda: [100, 100], metadata={
        "help": "hidden units per MADE layer", "flag": "--hidden"})
    activation: str = field(default="tanh", metadata={
        "help": "the MADEs' activation", "choices": ("tanh", "relu", "sigmoid", "elu")})
    permutation: str = field(default="reverse", metadata={
        "help": "variable order between layers", "choices": ("reverse", "none", "random")})
    batch_norm: bool = field(default=True, metadata={"help": "leave out batch normalisation"})
    clip_log_scale: bool = field(default=False, metadata={
        "help": "clip the log-scale to [-5, 3] like P2's TF1 template"})


def build_maf(options, dims, seed, strategy=None):
    """P2's MAF as `options` say (in `strategy`'s scope when one is given)."""
    import contextlib

    from tfp_flows.flows import MAFFlow

    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        return MAFFlow(dims, layers=options.layers, hidden_units=options.hidden_units,
                       activation=options.activation, batch_norm=options.batch_norm,
                       permutation=options.permutation, clip_log_scale=options.clip_log_scale, seed=seed)


def open_run(config, out):
    """First thing in an experiment: check the training settings, start the
    `tf.distribute` strategy (before anything else runs TensorFlow), and check the
    threshold quantile and, where this process writes it, the run folder. Returns
    (strategy or None, whether this process writes the run folder)."""
    from tfp_flows.training import distribute

    config.train.validate()
    strategy, chief = distribute.start(config.train)
    check_quantile(config.threshold_quantile)
    if chief:
        check_run_folder(out, config.resume)
    return strategy, chief


def start_run(out, config, data, facts, chief):
    """`begin_run` on the process that writes the run folder. A multi-worker run's other
    workers write nothing, but compute the same `facts` (evaluations are collective
    steps every worker must take)."""
    if chief:
        return begin_run(out, config, data, facts)
    return settings_of(config, data), ({} if config.resume or facts is None else facts())


def data_identity(path):
    """What identifies a data file or folder (None when missing): `tfp_flows.files.content_identity`."""
    from tfp_flows.files import content_identity

    return content_identity(path)


def settings_of(config, data=None):
    """What a run computes from: the config without the fields that do not matter
    (`RUN_SETTINGS_IGNORED`), plus the identity of its data."""
    def strip(d):
        return {k: strip(v) if isinstance(v, dict) else v for k, v in d.items()
                if k not in RUN_SETTINGS_IGNORED}
    settings = strip(as_dict(config))
    if data is not None:
        settings["data_identity"] = data_identity(data)
    return settings


def settings_key(settings):
    """A short stable hash of a settings dict (to name run folders)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]


def read_json(path):
    """The JSON object at `path`, or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def check_quantile(value, option="--threshold-quantile"):
    """Refuse (UsageError) a flagging quantile outside (0, 1)."""
    if not 0 < value < 1:
        raise UsageError(f"{option} must be in (0, 1), got {value}")


def check_run_folder(out, resume):
    """Refuse (UsageError) to start a run in a folder that already holds one, or to
    resume one that has no checkpoints; before any data is read or anything written."""
    out = Path(out)
    if out.exists() and not resume and any(out.iterdir()):
        raise UsageError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if resume and not (out / "checkpoints").exists():
        raise UsageError(f"{out}: nothing to resume (no checkpoints folder)")


def replace(config, **changes):
    """`dataclasses.replace` that also reaches into nested configs: "train.seed" etc."""
    nested = {}
    for k in list(changes):
        if "." in k:
            outer, inner = k.split(".", 1)
            nested.setdefault(outer, {})[inner] = changes.pop(k)
    for outer, inner in nested.items():
        changes[outer] = replace(getattr(config, outer), **inner)
    return dataclasses.replace(config, **changes)


def as_dict(config):
    """A JSON-able dict of a config dataclass (Paths as strings)."""
    def convert(v):
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, dict):
            return {k: convert(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [convert(x) for x in v]
        return v
    return convert(dataclasses.asdict(config))


def begin_run(out, config, data, facts=None):
    """Start or resume the run in `out`: returns (settings, what config.json holds).

    A fresh run (``config.resume`` false) writes config.json: the settings (what the run
    computes from, data identity included), the whole config, and `facts()` (e.g.
    before-training figures). A resumed run must have been started with the same
    settings (UsageError otherwise) and gets the facts recorded then.
    """
    settings = settings_of(config, data)
    if config.resume:
        started = read_json(Path(out) / "config.json") or {}
        if started.get("settings", settings) != settings:
            raise UsageError(f"{out} was started with other settings (see its config.json); "
                             "resume it with those, or choose another --out")
        return settings, started
    started = {"settings": settings, "config": as_dict(config), **(facts() if facts else {})}
    write_json_atomic(Path(out) / "config.json", started)
    return settings, started


def fit_maximum_likelihood(flow, evaluator, train, sets, val, train_config, out, resume, log, strategy=None):
    """Train `flow` on `train` with P2's evaluation schedule over `sets` ({name: array}) and,
    with a validation set, early stopping; returns (the trainer's summary, the best
    validation log-likelihood or None). The best weights are in `flow` afterwards."""
    import shutil

    from tfp_flows.training import EarlyStopping, Evaluation, MaximumLikelihood, Trainer, distribute

    scratch = distribute.scratch_dir(Path(out), strategy, "best")
    callbacks = [Evaluation(evaluator, {**sets, **({"val": val} if val is not None else {})},
                            every=train_config.eval_every)]
    stopping = None
    if val is not None:
        stopping = EarlyStopping(evaluator, val, train_config.patience, out, write_dir=scratch)
        callbacks.append(stopping)
    trainer = Trainer(flow, MaximumLikelihood(train, train_config.batch_size, train_config.seed),
                      train_config, out, callbacks, log=log, strategy=strategy)
    try:
        fit = trainer.run(resume=resume)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return fit, (stopping.best if stopping is not None else None)
