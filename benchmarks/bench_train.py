"""Training throughput of P2's GAS model: tfp_flows against zuko and nflows (PyTorch).

P2's model, built three ways: 10 MAF layers with MADEs of 2 x 100 tanh units, reversals
between layers, Adam 1e-4, D = 8; with batch normalisation after every MAF in tfp_flows
and nflows (zuko has no batch-norm transform, so its model has none). Trained on the
same generated GAS-like data (the blog recipe applied to `write_synthetic_gas` output),
in one process, libraries alternating within each repetition, after a warm-up. Prints
samples/s per library and batch size, the ratios tfp_flows/zuko and tfp_flows/nflows
(min, median, max over the repetitions), thread settings, library versions and
parameter counts; with --quality, the test log-likelihood of each after the same number
of epochs. Writes benchmarks/results/train.json and train.md.

tfp_flows variants (--tfp-variants): `step` (one tf.function call per batch, the
trainer's default), `xla` (the same with jit_compile=True), `loop<k>` (k steps per call,
an in-graph loop over k pre-batched batches).
"""

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def gas_like(rows, seed):
    from tfp_flows.gas import prepare_gas, read_gas, write_synthetic_gas

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "gas.txt"
        write_synthetic_gas(path, rows, seed=seed)
        return prepare_gas(read_gas(path), "blog", seed=seed)


# ----------------------------------------------------------------------------- tfp
class TFPTrainer:
    def __init__(self, dims, seed, variant="step"):
        import tensorflow as tf
        import tf_keras

        from tfp_flows.maf import MAFFlow

        self.tf = tf
        self.flow = MAFFlow(dims, layers=10, hidden_units=(100, 100), seed=seed)
        self.opt = tf_keras.optimizers.Adam(1e-4)
        self.variant = variant
        variables = self.flow.trainable_variables

        def one(batch):
            with tf.GradientTape() as tape:
                loss = -tf.reduce_mean(self.flow.log_prob(batch, training=True))
            self.opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return loss

        if variant.startswith("loop"):
            self.k = int(variant[4:])

            @tf.function
            def many(batches):
                loss = tf.constant(0.0)
                for i in tf.range(tf.shape(batches)[0]):
                    loss = one(batches[i])
                return loss
            self.step = many
        else:
            self.k = 1
            self.step = tf.function(one, jit_compile=(variant == "xla"))

    def n_params(self):
        return self.flow.count_params()

    def run(self, data, batch, steps):
        tf = self.tf
        n = (steps // self.k) * self.k
        idx = np.arange(n * batch) % len(data)
        chunks = tf.constant(data[idx].reshape(n // self.k, self.k, batch, -1)) if self.k > 1 else \
            [tf.constant(data[idx[i * batch:(i + 1) * batch]]) for i in range(n)]
        start = time.perf_counter()
        for c in (chunks if self.k == 1 else tf.unstack(chunks)):
            loss = self.step(c)
        float(loss)
        return n * batch / (time.perf_counter() - start)

    def test_ll(self, data):
        return float(np.mean(self.flow.log_prob(data, training=False).numpy()))


# ----------------------------------------------------------------------------- torch
class TorchTrainer:
    def __init__(self, library, dims, seed):
        import torch

        self.torch = torch
        torch.manual_seed(seed)
        if library == "zuko":
            import zuko

            self.flow = zuko.flows.MAF(dims, transforms=10, hidden_features=(100, 100),
                                       activation=torch.nn.Tanh)
            self.log_prob = lambda x: self.flow().log_prob(x)
        else:
            from nflows.distributions.normal import StandardNormal
            from nflows.flows.base import Flow
            from nflows.transforms.autoregressive import MaskedAffineAutoregressiveTransform
            from nflows.transforms.base import CompositeTransform
            from nflows.transforms.normalization import BatchNorm
            from nflows.transforms.permutations import ReversePermutation

            layers = []
            for i in range(10):
                layers.append(MaskedAffineAutoregressiveTransform(
                    features=dims, hidden_features=100, num_blocks=1, use_residual_blocks=False,
                    activation=torch.tanh))
                layers.append(BatchNorm(dims))
                if i < 9:
                    layers.append(ReversePermutation(dims))
            self.flow = Flow(CompositeTransform(layers), StandardNormal([dims]))
            self.log_prob = self.flow.log_prob
        self.opt = torch.optim.Adam(self.flow.parameters(), lr=1e-4)

    def n_params(self):
        return sum(p.numel() for p in self.flow.parameters())

    def run(self, data, batch, steps):
        torch = self.torch
        self.flow.train()
        idx = np.arange(steps * batch) % len(data)
        batches = [torch.from_numpy(data[idx[i * batch:(i + 1) * batch]]) for i in range(steps)]
        start = time.perf_counter()
        for b in batches:
            self.opt.zero_grad()
            loss = -self.log_prob(b).mean()
            loss.backward()
            self.opt.step()
        return steps * batch / (time.perf_counter() - start)

    def test_ll(self, data):
        torch = self.torch
        self.flow.eval()
        with torch.no_grad():
            return float(self.log_prob(torch.from_numpy(data)).mean())


def versions():
    import tensorflow as tf
    import tensorflow_probability as tfp

    out = {"python": platform.python_version(), "tensorflow": tf.__version__, "tfp": tfp.__version__}
    try:
        import nflows
        import torch
        import zuko

        out.update(torch=torch.__version__, zuko=zuko.__version__, nflows=getattr(nflows, "__version__", "0.14"))
    except ImportError:
        pass
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=200_000, help="generated GAS rows (default: %(default)s)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--steps", type=int, default=200, help="timed steps per repetition at batch 100 "
                   "(scaled down for larger batches)")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--tfp-variants", nargs="+", default=["step", "xla", "loop10"])
    p.add_argument("--quality", action="store_true", help="also compare test log-likelihood at equal epochs")
    p.add_argument("--quality-epochs", type=int, default=2)
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import tensorflow as tf

    try:
        import torch
        torch.set_num_threads(2)
        libraries = ["zuko", "nflows"]
    except ImportError:
        print("torch is not installed: timing tfp_flows only (pip install -r requirements-bench.txt)")
        libraries = []
    splits = gas_like(args.rows, args.seed)
    data, test = splits.train, splits.test
    threads = {"tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
               "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
               "torch": torch.get_num_threads() if libraries else None}
    results = {"versions": versions(), "threads": threads, "rows_train": len(data), "batches": {}}
    for batch in args.batch_sizes:
        steps = max(20, args.steps * 100 // batch)
        trainers = {f"tfp_{v}": TFPTrainer(data.shape[1], args.seed, v) for v in args.tfp_variants}
        trainers.update({lib: TorchTrainer(lib, data.shape[1], args.seed) for lib in libraries})
        for t in trainers.values():  # warm-up: tracing, compilation, first allocations
            t.run(data, batch, 20)
        speeds = {name: [] for name in trainers}
        for rep in range(args.reps):
            for name, t in trainers.items():
                speeds[name].append(t.run(data, batch, steps))
            print(f"batch {batch}, repetition {rep + 1}: " +
                  ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in speeds.items()), flush=True)
        entry = {"steps_per_rep": steps, "params": {k: t.n_params() for k, t in trainers.items()},
                 "samples_per_s": speeds, "ratios": {}}
        for name in [k for k in trainers if k.startswith("tfp_")]:
            for lib in libraries:
                r = np.array(speeds[name]) / np.array(speeds[lib])
                entry["ratios"][f"{name}/{lib}"] = {"min": float(r.min()), "median": float(np.median(r)),
                                                    "max": float(r.max())}
        results["batches"][str(batch)] = entry
    if args.quality:
        q = {}
        epoch_steps = len(data) // 100
        for name, t in {"tfp_step": TFPTrainer(data.shape[1], args.seed, "step"),
                        **{lib: TorchTrainer(lib, data.shape[1], args.seed) for lib in libraries}}.items():
            for _ in range(args.quality_epochs):
                t.run(np.random.default_rng(args.seed).permutation(data), 100, epoch_steps)
            q[name] = t.test_ll(test)
            print(f"quality: {name} test log-likelihood after {args.quality_epochs} epochs: {q[name]:.4f}")
        results["quality"] = {"epochs": args.quality_epochs, "test_log_likelihood": q}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [f"versions: {results['versions']}; threads: {threads}", "",
             "| batch | library | params | samples/s (median) | ratio vs zuko (min/median/max) | ratio vs nflows (min/median/max) |",
             "|---|---|---|---|---|---|"]
    for batch, e in results["batches"].items():
        for name, sp in e["samples_per_s"].items():
            def rr(lib):
                r = e["ratios"].get(f"{name}/{lib}")
                return f"{r['min']:.2f} / {r['median']:.2f} / {r['max']:.2f}" if r else "-"
            lines.append(f"| {batch} | {name} | {e['params'][name]} | {np.median(sp):,.0f} | {rr('zuko')} | {rr('nflows')} |")
    (args.out / "train.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
