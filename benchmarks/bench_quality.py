"""Quality at equal training: tfp_flows' P2 model against nflows' same architecture, as a
paired difference on the same test rows, over several seeds; and the candidate causes
of a gap, tried one at a time.

Every run trains P2's GAS model (10 MAF layers, MADEs of 2 x 100 tanh units, batch norm
after every MAF, reversals, Adam 1e-4) for --epochs epochs at batch 100 on the same
generated GAS-like data (`bench_train.gas_like`), visiting the rows in the same order
(`tfp_flows.batches.epoch_order(rows, seed, epoch)`, the trainer's order, which the
nflows loop follows too), then scores the same test rows. For each tfp_flows variant
the per-row differences d = log p_tfp(x) - log p_nflows(x) give a paired mean and
standard error per seed; the seeds are pooled as independent (mean of the seed means,
standard error sqrt(sum se^2) / seeds) and their spread is shown beside it.

Variants (each a change to P2's model as tfp_flows builds it):
  tfp_flows        P2's model as the trainer runs it (Glorot-uniform kernels)
  fan_in           --init fan_in: kernels uniform in +-1/sqrt(fan-in), PyTorch's default
  bn_torch         batch norm with PyTorch's momentum (0.1, i.e. Keras' 0.9) and epsilon 1e-5
  adam_eps         Adam's epsilon 1e-8 (PyTorch's) instead of tf_keras' 1e-7
  softplus_scale   nflows 0.14's scale, softplus(u) + 1e-3, in place of exp(log-scale)
  fan_in+softplus_scale, ...: several at once

Each run is its own process (one library's thread pools never idle beside another's).
Writes benchmarks/results/quality.json and quality.md.
"""

import argparse
import json
import os
import subprocess
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _machine import machine, write_results  # noqa: E402

CHANGES = ("fan_in", "bn_torch", "adam_eps", "softplus_scale")
DEFAULT_VARIANTS = ("tfp_flows", "fan_in", "bn_torch", "adam_eps", "softplus_scale")


def check_variant(name):
    parts = name.split("+")
    if name == "nflows" or name == "tfp_flows" or all(p in CHANGES for p in parts):
        return name
    raise argparse.ArgumentTypeError(f"unknown variant {name!r} (nflows, tfp_flows, or + of {', '.join(CHANGES)})")


def train_nflows(train, test, seed, epochs, layers, hidden):
    import torch

    from bench_train import TorchWorker
    from tfp_flows.batches import epoch_order

    torch.set_num_threads(os.cpu_count())
    w = TorchWorker("nflows", 100, {"train": train, "test": test}, layers, hidden, seed)
    x = torch.from_numpy(train)
    w.flow.train()
    for e in range(epochs):
        order = torch.from_numpy(epoch_order(len(train), seed, e).astype(np.int64))
        for s in range(len(train) // 100):
            w.opt.zero_grad()
            loss = -w.log_prob(x[order[s * 100:(s + 1) * 100]]).mean()
            loss.backward()
            w.opt.step()
    w.flow.eval()
    with torch.no_grad():
        return w.log_prob(torch.from_numpy(test)).double().numpy()


def train_tfp(train, test, seed, epochs, changes, layers, hidden):
    import tensorflow as tf

    from tfp_flows.flows import MAFFlow
    from tfp_flows.seeding import seed_everything
    from tfp_flows.training import Evaluator, MaximumLikelihood, TrainConfig, Trainer

    seed_everything(seed)
    flow = MAFFlow(train.shape[1], seed=seed, layers=layers, hidden_units=hidden,
                   init="fan_in" if "fan_in" in changes else "glorot")
    if "bn_torch" in changes:
        for bn in flow.batch_norms:
            bn.momentum, bn.epsilon = 0.9, 1e-5
    if "softplus_scale" in changes:
        def softplus_scale(made):
            # nflows: z = s x + t with s = softplus(u) + 1e-3; as TFP's inverse
            # z = (x - shift) exp(-log_scale): log_scale = -log s, shift = -t / s.
            def fn(x):
                t, u = tf.unstack(made(x), num=2, axis=-1)
                s = tf.nn.softplus(u) + 1e-3
                return -t / s, -tf.math.log(s)
            return fn
        flow._shift_and_log_scale = softplus_scale  # log_prob looks it up at every call
    cfg = TrainConfig(batch_size=100, learning_rate=1e-4, epochs=epochs, progress=False, seed=seed, xla="off",
                      eval_every=None, checkpoint_every=None)
    trainer = Trainer(flow, MaximumLikelihood(train, 100, seed), cfg)
    if "adam_eps" in changes:
        trainer.optimizer.epsilon = 1e-8  # read when the step is traced, below
    trainer.train_steps(epochs * (len(train) // 100))
    return Evaluator(flow, "moving").log_prob(test)


def worker(args):
    sys.path.insert(0, str(HERE.parent))
    data = dict(np.load(args.data))
    t = time.perf_counter()
    if args.worker == "nflows":
        ll = train_nflows(data["train"], data["test"], args.seed, args.epochs, args.layers, args.hidden)
    else:
        changes = set() if args.worker == "tfp_flows" else set(args.worker.split("+"))
        ll = train_tfp(data["train"], data["test"], args.seed, args.epochs, changes, args.layers, args.hidden)
    np.save(args.out_file, ll.astype(np.float64))
    print(json.dumps({"seconds": time.perf_counter() - t}), flush=True)
    return 0


def paired(d):
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", type=check_variant, default=list(DEFAULT_VARIANTS),
                   help="tfp_flows variants compared with nflows (default: %(default)s)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="(default: 0 1 2)")
    p.add_argument("--epochs", type=int, default=3, help="epochs at batch 100 (default: %(default)s)")
    p.add_argument("--rows", type=int, default=200_000, help="generated GAS rows (default: %(default)s)")
    p.add_argument("--layers", type=int, default=10, help="MAF layers (default: P2's %(default)s)")
    p.add_argument("--hidden", type=int, nargs="+", default=[100, 100], help="(default: P2's 100 100)")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out-file", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.epochs < 1 or args.rows < 1000 or args.layers < 1 or min(args.hidden) < 1 or not args.seeds:
        print("bench_quality: --epochs, --layers and --hidden must be at least 1, --rows at least 1000, "
              "and --seeds not empty", file=sys.stderr)
        return 2
    import importlib.util

    if any(importlib.util.find_spec(m) is None for m in ("torch", "nflows")):
        print("bench_quality: torch and nflows are needed (pip install -r requirements-bench.txt, or make bench)",
              file=sys.stderr)
        return 2
    sys.path.insert(0, str(HERE.parent))
    from bench_train import gas_like

    work = Path(tempfile.mkdtemp(prefix="bench_quality_"))
    data = work / "data.npz"
    splits = gas_like(args.rows, 0, data)
    print(f"data: {len(splits.train):,} training rows, {len(splits.test):,} test rows; runs in {work}", flush=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    lls, seconds = {}, {}
    for seed in args.seeds:
        for name in ["nflows", *args.variants]:
            out = work / f"{name}-{seed}.npy"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--seed", str(seed),
                   "--data", str(data), "--epochs", str(args.epochs), "--out-file", str(out),
                   "--layers", str(args.layers), "--hidden", *map(str, args.hidden)]
            res = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if res.returncode != 0:
                print(f"bench_quality: the {name} run (seed {seed}) failed: "
                      f"{(res.stderr.strip().splitlines() or ['no message'])[-1]}", file=sys.stderr)
                return 1
            lls[name, seed] = np.load(out)
            seconds[name, seed] = json.loads(res.stdout.strip().splitlines()[-1])["seconds"]
            print(f"seed {seed}: {name}: test log-likelihood {lls[name, seed].mean():.4f} "
                  f"({seconds[name, seed]:.0f} s)", flush=True)
    results = {"machine": machine(), "rows_train": len(splits.train), "rows_test": len(splits.test),
               "model": {"layers": args.layers, "hidden": args.hidden}, "epochs": args.epochs, "seeds": args.seeds,
               "variants": {}}
    lines = [f"{args.epochs} epochs at batch 100 on {len(splits.train):,} generated GAS-like rows; "
             f"{len(splits.test):,} test rows; seeds {' '.join(map(str, args.seeds))}", "",
             "| model | test LL per seed | mean | paired difference vs nflows per seed (+- se) "
             "| pooled difference +- 2 se | spread of seed means |", "|---|---|---|---|---|---|"]
    verdicts = []
    for name in ["nflows", *args.variants]:
        per_seed = [float(lls[name, s].mean()) for s in args.seeds]
        entry = {"test_ll": per_seed, "seconds": [seconds[name, s] for s in args.seeds]}
        if name == "nflows":
            lines.append(f"| nflows | {' / '.join(f'{v:.4f}' for v in per_seed)} | {np.mean(per_seed):.4f} | | | |")
        else:
            diffs = [paired(lls[name, s] - lls["nflows", s]) for s in args.seeds]
            mean = float(np.mean([m for m, _ in diffs]))
            se = float(np.sqrt(sum(e ** 2 for _, e in diffs)) / len(diffs))
            spread = float(np.std([m for m, _ in diffs], ddof=1)) if len(diffs) > 1 else 0.0
            entry.update(paired_per_seed=[{"mean": m, "se": e} for m, e in diffs], paired_mean=mean, paired_se=se,
                         seed_spread=spread)
            lines.append(f"| {name} | {' / '.join(f'{v:.4f}' for v in per_seed)} | {np.mean(per_seed):.4f} | "
                         + " / ".join(f"{m:+.4f} +- {e:.4f}" for m, e in diffs)
                         + f" | {mean:+.4f} +- {2 * se:.4f} | {spread:.4f} |")
            verdicts.append(f"{name}: {'at least as good as nflows' if mean >= -2 * se else 'BELOW nflows'} "
                            f"(paired {mean:+.4f}, 2 se {2 * se:.4f})")
        results["variants"][name] = entry
    lines += [""] + verdicts
    write_results(args.out, "quality", results, lines)
    shutil.rmtree(work, ignore_errors=True)  # kept only when a run failed
    return 0


if __name__ == "__main__":
    sys.exit(main())
