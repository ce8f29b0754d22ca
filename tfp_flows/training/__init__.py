"""Training: one loop (`Trainer`) for every flow and objective, with callbacks.

* `TrainConfig`: the settings of a run, declared once;
* `MaximumLikelihood`, `ReverseKL`: what is minimised;
* `Trainer`: the loop (in-graph steps, checkpoints and exact resume, Ctrl-C);
* callbacks: `Evaluation`, `EarlyStopping`, `EpochLoss`, `LossLog`, `NonFiniteGuard`
  (and `Checkpointing`, `MetricsLog`, which the trainer adds for a run folder);
* `Evaluator`, `evaluate_log_likelihood`: scoring data with a flow.
"""

from tfp_flows.training.callbacks import (Callback, Checkpointing, EarlyStopping, EpochLoss, Evaluation,
                                          LossLog, MetricsLog, NonFiniteGuard)
from tfp_flows.training.config import TrainConfig
from tfp_flows.training.evaluation import Evaluator, evaluate_log_likelihood, mean_and_stderr
from tfp_flows.training.loop import Trainer
from tfp_flows.training.objectives import MaximumLikelihood, Objective, ReverseKL, annealing
from tfp_flows.training.steps import make_train_loop

__all__ = ["Callback", "Checkpointing", "EarlyStopping", "EpochLoss", "Evaluation", "Evaluator",
           "LossLog", "MaximumLikelihood", "MetricsLog", "NonFiniteGuard", "Objective", "ReverseKL",
           "TrainConfig", "Trainer", "annealing", "evaluate_log_likelihood", "make_train_loop",
           "mean_and_stderr"]
