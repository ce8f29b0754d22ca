"""How the trainer gets GAS batches: gathered in the graph vs fed from tf.data.

Both variants run the trainer's compiled loop (`make_train_loop`, XLA, 20 steps per
call, Adam) on P2's GAS model (10 MAF layers of 2 x 100 tanh units, batch norm) over
the same batches, the order of `tfp_flows.batches.epoch_order`:
* gather: what the trainer does: the split sits in the graph and each step's input is
  its batch's row numbers (`MaximumLikelihood.inputs`), gathered inside the loop;
* dataset: `gas_dataset(...)` batches (the same rows), grouped 20 per call by
  `tf.data` and fed into the loop as float [20, batch, 8] tensors.
Data: a standardised synthetic 8-column split (--rows). The two take turns over --reps
repetitions of --steps steps after a warm-up (compilation) of each. Prints samples/s
(min, median, max) and the ratio, and writes benchmarks/results/gas_input.json/.md.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
K = 20  # steps per compiled call, the trainer's default


def _variants(data, batch, seed, layers, hidden):
    import tensorflow as tf
    import tf_keras

    from tfp_flows.datasets.gas import gas_dataset
    from tfp_flows.flows import MAFFlow
    from tfp_flows.training import MaximumLikelihood
    from tfp_flows.training.steps import make_train_loop

    out = {}
    for name in ("gather", "dataset"):
        flow = MAFFlow(data.shape[1], layers=layers, hidden_units=hidden, batch_norm=True, seed=seed)
        opt = tf_keras.optimizers.Adam(1e-4)
        opt.build(flow.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64)
        if name == "gather":
            objective = MaximumLikelihood(data, batch, seed)
            loop = make_train_loop(lambda row, t, o=objective, f=flow: o.loss(f, row, t), flow.trainable_variables,
                                   opt, step, jit_compile=True)
            state = {"in_epoch": 0, "epoch": 0}

            def call(loop=loop, objective=objective, state=state):
                if state["in_epoch"] + K > objective.steps_per_epoch - 1:  # skip the short last batch
                    state["in_epoch"], state["epoch"] = 0, state["epoch"] + 1
                inputs, n, _ = objective.inputs(state["epoch"], state["in_epoch"], K, K)
                state["in_epoch"] += n
                return loop(tf.constant(inputs), tf.constant(n, tf.int32))
        else:
            rows = len(data) - len(data) % batch  # full batches only, as above
            ds = gas_dataset(data[:rows], batch, seed=seed, repeat=True).batch(K, drop_remainder=True)
            it = iter(ds.prefetch(2))
            loop = make_train_loop(lambda x, t, f=flow: -tf.reduce_mean(f.log_prob(x, training=True)),
                                   flow.trainable_variables, opt, step, jit_compile=True,
                                   input_spec=tf.TensorSpec([None, batch, data.shape[1]], tf.float32))

            def call(loop=loop, it=it):
                return loop(next(it), tf.constant(K, tf.int32))
        out[name] = call
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--batches", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--steps", type=int, default=1000, help="steps per repetition (a multiple of 20)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layers", type=int, default=10, help="MAF layers (P2: 10)")
    p.add_argument("--hidden", type=int, nargs="+", default=[100, 100], help="hidden units (P2: 100 100)")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    if min(args.rows, args.steps, args.reps, args.layers, *args.batches, *args.hidden) < 1 or args.steps % K:
        print(f"bench_gas_input: --rows, --batches, --reps, --layers, --hidden must be positive and --steps a "
              f"positive multiple of {K}", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.random.set_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    mix = rng.normal(size=(8, 8)) / 3
    data = (rng.normal(size=(args.rows, 8)) @ mix + np.sin(rng.normal(size=(args.rows, 8)))).astype(np.float32)
    data = (data - data.mean(0)) / data.std(0)
    result = {"rows": args.rows, "steps": args.steps, "reps": args.reps, "steps_per_call": K, "batches": {}}
    lines = [f"GAS input path: {args.steps} steps x {args.reps} repetitions, MAF {args.layers} x "
             f"{'/'.join(map(str, args.hidden))}, XLA, {K} steps per call, "
             f"{os.cpu_count()} cores", "",
             "| batch | gather in graph (samples/s, median [min, max]) | tf.data fed (same) | gather / fed |",
             "|---|---|---|---|"]
    for batch in args.batches:
        calls = _variants(data, batch, args.seed, args.layers, args.hidden)
        for call in calls.values():  # warm-up: compile
            call()
        rates = {name: [] for name in calls}
        for _ in range(args.reps):
            for name, call in calls.items():
                t = time.perf_counter()
                for _ in range(args.steps // K):
                    losses, applied = call()
                float(losses[-1])
                rates[name].append(args.steps * batch / (time.perf_counter() - t))
        med = {k: sorted(v)[len(v) // 2] for k, v in rates.items()}
        result["batches"][batch] = {"samples_per_second": rates, "median": med,
                                    "gather_over_dataset": med["gather"] / med["dataset"]}
        lines.append(f"| {batch} | {med['gather']:,.0f} [{min(rates['gather']):,.0f}, {max(rates['gather']):,.0f}] | "
                     f"{med['dataset']:,.0f} [{min(rates['dataset']):,.0f}, {max(rates['dataset']):,.0f}] | "
                     f"{med['gather'] / med['dataset']:.2f} |")
        print(lines[-1], file=sys.stderr)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "gas_input.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "gas_input.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
