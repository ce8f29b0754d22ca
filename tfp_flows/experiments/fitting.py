"""How the density experiments train: open the run folder (after starting the
`tf.distribute` strategy) and fit a flow by maximum likelihood with P2's evaluation
schedule and early stopping."""

from tfp_flows.experiments.configs import check_quantile
from tfp_flows.training import EarlyStopping, Evaluation, MaximumLikelihood, Trainer, distribute
from tfp_flows.training.run_folder import RunFolder

__all__ = ["fit_maximum_likelihood", "open_run"]


def open_run(config, out):
    """First thing in an experiment: check the training settings, start the
    `tf.distribute` strategy (before anything else runs TensorFlow), check the threshold
    quantile and the run folder. Returns (strategy or None, the `RunFolder`)."""
    config.train.validate()
    strategy, _ = distribute.start(config.train)
    check_quantile(config.threshold_quantile)
    return strategy, RunFolder(out, strategy, config.resume).check()


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
