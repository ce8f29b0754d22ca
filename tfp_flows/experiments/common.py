"""What the experiments share: the flow families' options and field, opening a run folder,
a run's settings."""

import hashlib
import json
from dataclasses import field

from tfp_flows.configs import as_dict, replace, settings_dict
from tfp_flows.errors import UsageError
from tfp_flows.files import content_identity as data_identity
from tfp_flows.files import read_json
from tfp_flows.flows.options import FlowOptions, MAFOptions, fields_for
from tfp_flows.flows.registry import DEFAULT_FAMILY, DENSITY_FAMILIES

__all__ = ["FlowOptions", "as_dict", "flow_field", "check_quantile", "data_identity", "fit_maximum_likelihood", "MAFOptions",
           "open_run", "read_json", "replace", "settings_key", "settings_of"]


def flow_field():
    """The `flow` field of an experiment's config: the family trained, by its registry name."""
    return field(default=DEFAULT_FAMILY, metadata={
        "help": "flow family: P2's masked autoregressive flow, autoregressive neural splines, or Real NVP's "
                "affine couplings (tfp_flows.flows.registry)",
        "choices": DENSITY_FAMILIES})


def open_run(config, out):
    """First thing in an experiment: check the training settings, start the
    `tf.distribute` strategy (before anything else runs TensorFlow), check the threshold
    quantile and the run folder. Returns (strategy or None, the `RunFolder`)."""
    from tfp_flows.training import distribute
    from tfp_flows.training.run_folder import RunFolder

    config.train.validate()
    strategy, _ = distribute.start(config.train)
    check_quantile(config.threshold_quantile)
    return strategy, RunFolder(out, strategy, config.resume).check()


def settings_of(config, data=None):
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


def settings_key(settings):
    """A short stable hash of a settings dict (to name run folders)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]


def check_quantile(value, option="--threshold-quantile"):
    """Refuse (UsageError) a flagging quantile outside (0, 1)."""
    if not 0 < value < 1:
        raise UsageError(f"{option} must be in (0, 1), got {value}")


def fit_maximum_likelihood(flow, evaluator, train, sets, val, train_config, run, log, strategy=None, start=None):
    """Train `flow` on `train` in `run` (a `RunFolder`) with P2's evaluation schedule over
    `sets` ({name: array}; for a conditional flow `train` and each set are (x, context)
    pairs) and, with a validation set, early stopping; returns (the
    trainer's summary, the best validation log-likelihood or None, what `start()`
    returned). The best weights are in `flow` afterwards.

    `start` (optional, no arguments) is called once the trainer exists, while its
    training loop compiles in a background thread (`Trainer.compiling_in_background`):
    the place for `run.start` and the scores before training, which then cost no time of
    their own beside XLA's compilation."""
    from tfp_flows.training import EarlyStopping, Evaluation, MaximumLikelihood, Trainer

    evaluation = Evaluation(evaluator, {**sets, **({"val": val} if val is not None else {})},
                            every=train_config.eval_every)
    callbacks = [evaluation]
    stopping = None
    if val is not None:
        stopping = EarlyStopping(evaluator, val, train_config.patience, run)
        callbacks.append(stopping)
    x, context = train if isinstance(train, tuple) else (train, None)  # a conditional flow's (x, context)
    trainer = Trainer(flow, MaximumLikelihood(x, train_config.batch_size, train_config.seed, context=context),
                      train_config, run, callbacks, log=log, strategy=strategy)
    started = None
    with trainer.compiling_in_background():
        if start is not None:
            started = start()
        evaluation.prepare(trainer)  # the evaluations' copy of the flow, while XLA compiles
    try:
        fit = trainer.run(resume=run.resume)
    finally:
        run.clear_scratch()
    return fit, (stopping.best if stopping is not None else None), started
