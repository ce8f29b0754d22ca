"""Training: one loop (`Trainer`) for every flow and objective, with callbacks.

* `TrainConfig`: the settings of a run, declared once;
* `MaximumLikelihood`, `ReverseKL`: what is minimised;
* `Trainer`: the loop (in-graph steps, checkpoints and exact resume, Ctrl-C);
* callbacks: `Evaluation`, `EarlyStopping`, `EpochLoss`, `LossLog`, `NonFiniteGuard`
  (and `Checkpointing`, `MetricsLog`, which the trainer adds for a run folder);
* `Evaluator`, `evaluate_log_likelihood`: scoring data with a flow.
"""

from tfp_flows._lazy import lazy_exports

# Imported on first use: `training.config` alone (what the commands' options are made
# from) does not need TensorFlow.
__getattr__, __dir__ = lazy_exports(__name__, {
    "tfp_flows.training.callbacks": ["Callback", "Checkpointing", "EarlyStopping", "EpochLoss", "Evaluation",
                                     "LossLog", "MetricsLog", "NonFiniteGuard"],
    "tfp_flows.training.config": ["TrainConfig"],
    "tfp_flows.training.evaluation": ["Evaluator", "evaluate_log_likelihood", "mean_and_stderr"],
    "tfp_flows.training.loop": ["Trainer"],
    "tfp_flows.training.objectives": ["MaximumLikelihood", "Objective", "ReverseKL", "annealing"],
    "tfp_flows.training.steps": ["make_train_loop"],
})

__all__ = ["Callback", "Checkpointing", "EarlyStopping", "EpochLoss", "Evaluation", "Evaluator",
           "LossLog", "MaximumLikelihood", "MetricsLog", "NonFiniteGuard", "Objective", "ReverseKL",
           "TrainConfig", "Trainer", "annealing", "evaluate_log_likelihood", "make_train_loop",
           "mean_and_stderr"]
