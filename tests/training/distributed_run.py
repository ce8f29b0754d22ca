"""A training run under a strategy, in its own process (the CPU split and the
multi-worker strategy must come before TensorFlow starts): prints the loss of every
step as JSON. Used by test_distribute.py.

    python distributed_run.py MODE STEPS [--bn] [--layers L] [--hidden H ...]

MODE: none | mirrored (2 logical CPUs) | multi-worker (TF_CONFIG from the caller).
The data: 6,000 rows of an 8-column Gaussian with correlations, seeded; batch 100.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=("none", "mirrored", "multi-worker"))
    p.add_argument("steps", type=int)
    p.add_argument("--bn", action="store_true")
    p.add_argument("--layers", type=int, default=10)
    p.add_argument("--hidden", type=int, nargs="+", default=[100, 100])
    args = p.parse_args()

    from tfp_flows.training import MaximumLikelihood, TrainConfig, Trainer, distribute

    config = TrainConfig(batch_size=100, learning_rate=1e-3, epochs=100, xla="off", progress=False,
                         distribute=args.mode, cpu_devices=2 if args.mode == "mirrored" else None)
    strategy, chief = distribute.start(config)

    import numpy as np

    from tfp_flows.flows import MAFOptions, build_flow

    rng = np.random.default_rng(0)
    data = (rng.normal(size=(6000, 8)) @ rng.normal(size=(8, 8))).astype(np.float32)
    data = (data - data.mean(0)) / data.std(0)
    options = MAFOptions(layers=args.layers, hidden_units=args.hidden, batch_norm=args.bn)
    flow = build_flow("maf", 8, options, seed=0, strategy=strategy)
    trainer = Trainer(flow, MaximumLikelihood(data, 100, seed=0), config, log=lambda *_: None, strategy=strategy)
    losses = trainer.train_steps(args.steps)
    replicas = 1 if strategy is None else strategy.num_replicas_in_sync
    print(json.dumps({"losses": [float(x) for x in losses], "replicas": replicas, "chief": chief}))


if __name__ == "__main__":
    sys.exit(main())
