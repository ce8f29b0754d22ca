"""Training throughput under tf.distribute on this machine: one device, two logical CPU
devices (mirrored), two local worker processes (multi-worker).

P2's GAS model (10 MAF layers of 2 x 100 tanh units, batch norm) trained by the
trainer (`Trainer.train_steps`) on a standardised synthetic 8-column set, at global
batches of 100 and 1000. Each set-up runs in fresh processes: a warm-up of --warmup
steps (tracing, compilation), then --steps timed steps; samples/s = steps x batch /
seconds, over --reps repetitions (min, median, max). The single-device row is shown
twice: as the trainer runs it by default (XLA over the whole loop) and with XLA off
(the distributed loops compile each replica's step with XLA, not the loop around it).

The point on a 2-core CPU is the path to GPUs and machines, not a speed-up: two
replicas on two cores do the same arithmetic plus the all-reduce. Writes
benchmarks/results/distribute.json and .md.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _machine import write_results  # noqa: E402


def _worker(args):
    from tfp_flows.training import MaximumLikelihood, TrainConfig, Trainer, distribute

    mode = "none" if args.worker.startswith("none") else args.worker
    config = TrainConfig(batch_size=args.batch, learning_rate=1e-4, epochs=1000, progress=False, distribute=mode,
                         xla="on" if args.worker == "none-xla" else "off",
                         cpu_devices=2 if mode == "mirrored" else None)
    strategy, chief = distribute.start(config)
    import numpy as np

    from tfp_flows.flows import MAFOptions, build_flow

    rng = np.random.default_rng(0)
    data = (rng.normal(size=(200_000, 8)) @ rng.normal(size=(8, 8))).astype(np.float32)
    data = (data - data.mean(0)) / data.std(0)
    flow = build_flow("maf", 8, MAFOptions(layers=args.layers, hidden_units=args.hidden), seed=0, strategy=strategy)
    trainer = Trainer(flow, MaximumLikelihood(data, args.batch, seed=0), config, log=lambda *_: None,
                      strategy=strategy)
    trainer.train_steps(args.warmup)
    start = time.perf_counter()
    losses = trainer.train_steps(args.steps)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "samples_per_second": args.steps * args.batch / seconds,
                      "last_loss": float(losses[-1]), "chief": chief}))


def _measure(kind, args, batch):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--batch", str(batch),
           "--steps", str(args.steps), "--warmup", str(args.warmup), "--layers", str(args.layers),
           "--hidden", *map(str, args.hidden)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if kind != "multi-worker":
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        outs = [(proc.returncode, proc.stdout, proc.stderr)]
    else:
        from tfp_flows.training.distribute import local_cluster

        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**env, "TF_CONFIG": tf_config}) for tf_config in local_cluster(2)]
        outs = [(p.wait(timeout=1800), *p.communicate()) for p in procs]
    for code, _out, err in outs:
        if code != 0:
            raise RuntimeError(f"the {kind} run failed: {(err.strip().splitlines() or ['no message'])[-1]}")
    return json.loads(outs[0][1].strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--layers", type=int, default=10, help="MAF layers (P2: 10)")
    p.add_argument("--hidden", type=int, nargs="+", default=[100, 100], help="hidden units (P2: 100 100)")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--worker", choices=("none-xla", "none", "mirrored", "multi-worker"), help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=100, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return _worker(args)
    if min(args.steps, args.warmup, args.reps, args.layers, *args.hidden, *args.batches) < 1 or \
            any(b % 2 for b in args.batches):
        print("bench_distribute: --steps, --warmup, --reps, --layers, --hidden must be positive and --batches even",
              file=sys.stderr)
        return 2
    kinds = {"none-xla": "1 device, XLA loop (the default)", "none": "1 device, XLA off",
             "mirrored": "mirrored, 2 logical CPU devices", "multi-worker": "multi-worker, 2 local processes"}
    result = {"steps": args.steps, "warmup": args.warmup, "reps": args.reps, "cores": os.cpu_count(), "batches": {}}
    lines = [f"tf.distribute on {os.cpu_count()} cores: MAF {args.layers} x {'/'.join(map(str, args.hidden))} "
             f"(P2's: 10 x 100/100), {args.steps} timed steps after "
             f"{args.warmup}, {args.reps} repetitions (samples/s min / median / max)", "",
             "| batch | set-up | samples/s | vs 1 device, XLA off (median) |", "|---|---|---|---|"]
    for batch in args.batches:
        rates = {k: [] for k in kinds}
        for rep in range(args.reps):
            for kind in kinds:
                rates[kind].append(_measure(kind, args, batch)["samples_per_second"])
                print(f"batch {batch} rep {rep + 1}: {kind} {rates[kind][-1]:,.0f} samples/s", file=sys.stderr)
        med = {k: sorted(v)[len(v) // 2] for k, v in rates.items()}
        result["batches"][batch] = {"samples_per_second": rates, "median": med}
        for kind, name in kinds.items():
            v = sorted(rates[kind])
            lines.append(f"| {batch} | {name} | {v[0]:,.0f} / {med[kind]:,.0f} / {v[-1]:,.0f} | "
                         f"{med[kind] / med['none']:.2f} |")
    write_results(args.out, "distribute", result, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
