"""One process with R logical CPUs: a distributed training loop on global batches that do
not split evenly (101 rows; 2 rows on 3 replicas leaves one replica empty) against the
one-device loop from the same weights. Prints JSON. Used by test_distribute.py.

    python uneven_split.py REPLICAS
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    replicas = int(sys.argv[1])
    from tfp_flows.training import MaximumLikelihood, TrainConfig, distribute

    strategy, _ = distribute.start(TrainConfig(distribute="mirrored", cpu_devices=replicas))

    import numpy as np
    import tensorflow as tf
    import tf_keras

    from tfp_flows.flows import MAFOptions, build_flow
    from tfp_flows.training.steps import make_distributed_train_loop, make_train_loop

    rng = np.random.default_rng(0)
    data = (rng.normal(size=(3000, 8)) @ rng.normal(size=(8, 8))).astype(np.float32)
    data = (data - data.mean(0)) / data.std(0)
    objective = MaximumLikelihood(data, 101, seed=0)
    options = MAFOptions(layers=2, hidden_units=[16], batch_norm=False)

    def setup(strategy):
        scope = strategy.scope() if strategy else tf.init_scope()
        flow = build_flow("maf", 8, options, seed=0, strategy=strategy)
        with scope:
            optimizer = tf_keras.optimizers.Adam(1e-2)
            step = tf.Variable(0, dtype=tf.int64)
        loss = lambda row, s: objective.loss(flow, row, s)  # noqa: E731
        if strategy:
            return flow, make_distributed_train_loop(loss, flow.trainable_variables, optimizer, step, strategy)
        return flow, make_train_loop(loss, flow.trainable_variables, optimizer, step)

    flow_d, run_d = setup(strategy)
    flow_1, run_1 = setup(None)
    for a, b in zip(flow_1.trainable_variables, flow_d.trainable_variables):
        a.assign(b.numpy())

    batches = rng.integers(0, len(data), size=(6, 101)).astype(np.int32)
    tiny = rng.integers(0, len(data), size=(1, 2)).astype(np.int32)
    step = tf.constant(0, tf.int64)

    def expected(row):
        """Each replica's slice of `row`: (its share times the slice's mean loss, rows)."""
        out, width = [], len(row)
        for r in range(replicas):
            rows = row[r * width // replicas:(r + 1) * width // replicas]
            loss = float(objective.loss(flow_1, tf.constant(rows), step)) if len(rows) else 0.0
            out.append([loss * len(rows) / width, len(rows)])
        return out

    report = {"contributions": run_d.contributions(tf.constant(batches[0]), step).numpy().tolist(),
              "expected": expected(batches[0]),
              "one_device_loss": float(objective.loss(flow_1, tf.constant(batches[0]), step)),
              "tiny_contributions": run_d.contributions(tf.constant(tiny[0]), step).numpy().tolist(),
              "tiny_expected": expected(tiny[0])}
    losses_d, applied_d = run_d(tf.constant(batches), 6)
    losses_1, applied_1 = run_1(tf.constant(batches), 6)
    tiny_d, _ = run_d(tf.constant(tiny), 1)
    tiny_1, _ = run_1(tf.constant(tiny), 1)
    report.update(losses=losses_d.numpy().tolist() + tiny_d.numpy().tolist(),
                  one_device_losses=losses_1.numpy().tolist() + tiny_1.numpy().tolist(),
                  applied=[int(applied_d), int(applied_1)],
                  weight_gap=max(float(np.abs(a.numpy() - b.numpy()).max())
                                 for a, b in zip(flow_1.trainable_variables, flow_d.trainable_variables)),
                  replicas=strategy.num_replicas_in_sync)
    print(json.dumps(report))


if __name__ == "__main__":
    sys.exit(main())
