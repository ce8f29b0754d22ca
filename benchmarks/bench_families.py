"""The flow families beside their zuko and nflows equivalents: training speed and test
log-likelihood.

Pairs (each tfp_flows model built to match the peers' as closely as the libraries allow:
the same layers, hidden units, tanh, reversed order between layers, no batch norm,
which zuko has not); nflows' models are built from its transforms with the same layers
and hidden units (its MADE: a first masked layer, then one masked block per further
hidden layer, no residual blocks; a context enters after the first layer through its
own linear map and the activation, nflows' way); the MAF layers of maf-cond and maf-mog
start as `tfp-flows-train-table` starts them (fan-in uniform kernels, as PyTorch's
layers do; `--init glorot` for P2's):
  nsf       `--flow nsf` (TFP's MAF with rational-quadratic splines, 8 bins on [-5, 5])
            against zuko.flows.NSF (8 bins, its default bound 5) and nflows'
            MaskedPiecewiseRationalQuadraticAutoregressiveTransform (8 bins, linear tails at 5)
  maf-cond  conditional `--flow maf` (context of 4 values at each MADE's first layer) against
            zuko.flows.MAF(context=4) and nflows' MaskedAffineAutoregressiveTransform
            (context_features=4)
  realnvp   `--flow realnvp` (affine couplings, half the variables kept, reversed between
            couplings) against zuko.flows.RealNVP (alternating masks; zuko's affine
            coupling bounds its log-scale its own way, the suite's by 3 tanh(s / 3)) and
            nflows' AffineCouplingTransform (alternating masks, an MLP conditioner of the
            same hidden layers; its scale is sigmoid(s + 2) + 1e-3)
  spline-coupling
            `--flow spline-coupling` (rational-quadratic spline couplings, 8 bins on [-5, 5],
            half the variables kept, the halves swapped between couplings) against
            zuko.flows.NSF(passes=2) (zuko's coupling form of its NSF) and nflows'
            PiecewiseRationalQuadraticCouplingTransform (alternating halves, linear tails at 5,
            an MLP conditioner of the same hidden layers)
  made-mog  `--flow made-mog` (the MAF paper's MADE MoG: one MADE, 10 Gaussians per
            conditional) against nflows' MADEMoG of the same MADE (zuko has none)
  maf-mog   `--flow maf-mog` (MAF layers over a MADE MoG base) against nflows' MAF
            transforms over its MADEMoG (zuko has none)
  maf-784   the image table's MAF (5) at 784 dimensions, one hidden layer of 1024 units
            (the MAF paper's MNIST size; issue 31), against zuko.flows.MAF of that size:
            speed at --image-batches (as seconds per epoch of the 54,000 training images)
            and each worker's peak resident memory (ru_maxrss) at each batch size (zuko
            only: issue 31's comparison); and each library's dense-layer GFLOP/s beside the
            rate of a 2048 x 2048 product on this machine, the physical limit (at 784
            dimensions the products are nearly all of a step's work; the suite's count is
            of the kernel entries its grouped MADEs multiply, 62.4% of zuko's)
Data: P2's recipe on generated GAS-like rows (`gas_like`, as bench_train.py); for the
conditional pair the context is 4 of the 8 columns and the density is of the other 4;
for maf-784, Fashion-MNIST prepared as the MAF paper prepared MNIST when --images DIR
holds it, else images of random pixels prepared the same way (speed only).

Speed: each library in its own worker process (one at a time, order rotated every
repetition), warmed up first (tracing, XLA compilation: reported, not timed), then
`--steps` training steps at `--batch` timed per repetition; samples/s, median ratio
tfp_flows / each peer. Quality (`--quality-epochs`): both retrain from their initial weights
for that many epochs at batch 100, Adam 1e-3; the test rows' per-row log-likelihoods are
compared pairwise with each peer's (mean difference +- 2 standard errors; "at least the peer's" when the
difference is above -2 se).

Writes benchmarks/results/families.json and families.md. Run it alone on the machine.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _machine import load_warning, machine, matmul_gflops  # noqa: E402

FAMILIES = ("nsf", "maf-cond", "realnvp", "spline-coupling", "made-mog", "maf-mog", "maf-784")
IMAGE_LAYERS, IMAGE_HIDDEN = 5, [1024]  # MAF (5), the MAF paper's MNIST MADE size
IMAGE_EPOCH = 54_000  # training images in an epoch of the image table
CONTEXT = 4  # the conditional pair's context columns
COMPONENTS = 10  # Gaussians per conditional of made-mog and maf-mog (the suite's default)
GOAL = 2.0  # tfp_flows / zuko at batch 1000 (issue 30, today's stack)
INIT = os.environ.get("BENCH_FAMILIES_INIT", "glorot")  # the MADEs' initial kernels (--init), for the workers
# The libraries each family is timed against (the first is the one the goal names).
PEERS = {"nsf": ("zuko", "nflows"), "maf-cond": ("zuko", "nflows"), "realnvp": ("zuko", "nflows"),
         "spline-coupling": ("zuko", "nflows"), "made-mog": ("nflows",), "maf-mog": ("nflows",),
         "maf-784": ("zuko",)}


def _split(array, family):
    if family == "maf-cond":
        return array[:, CONTEXT:], array[:, :CONTEXT]
    return array, None


class TFPModel:
    def __init__(self, family, batch, data, layers, hidden, seed, lr):
        import tensorflow as tf

        from tfp_flows.flows import FlowOptions, build_flow
        from tfp_flows.seeding import seed_everything
        from tfp_flows.training import MaximumLikelihood, TrainConfig, Trainer

        self.tf = tf
        x, c = _split(data["train"], family)
        self.test_x, self.test_c = _split(data["test"], family)
        seed_everything(seed)
        name = {"maf-cond": "maf", "maf-784": "maf"}.get(family, family)
        options = FlowOptions(layers=layers, hidden_units=list(hidden), batch_norm=False, bins=8, bound=5.0,
                              components=COMPONENTS, init=INIT)
        self.flow = build_flow(name, x.shape[1], options, seed=seed, context_dims=0 if c is None else c.shape[1])
        cfg = TrainConfig(batch_size=batch, learning_rate=lr, epochs=10**6, progress=False, seed=seed, xla="on")
        self.trainer = Trainer(self.flow, MaximumLikelihood(x, batch, seed, context=c), cfg)
        self.weights_held = self.flow.count_params()
        every, _, held = self._made_kernels()
        # counted as TFP, zuko and nflows lay the model out: every kernel whole
        self.params = self.weights_held + every - sum(int(np.prod(v.deref().shape)) for v in held)

    def _made_kernels(self):
        """Over the flow's MADEs: (every kernel entry, masked ones included; the entries
        their products multiply; the variables holding the kernels, as refs). A grouped
        kernel kept as its blocks holds and multiplies only the blocks."""
        from tfp_flows.flows.made import BlockMADE

        every, multiplied, held = 0, 0, set()
        for module in self.flow.submodules:
            if isinstance(module, BlockMADE):
                for variables, entries, computed in module.kernel_entries():
                    every, multiplied = every + entries, multiplied + computed
                    held.update(v.ref() for v in variables)
        return every, multiplied, held

    def train_steps(self, n):
        return float(self.trainer.train_steps(n)[-1])

    def flops_per_sample(self):
        """A training step's dense-layer arithmetic per sample (bench_train's count: 2 per
        multiply-add, three passes' worth): (every kernel entry, masked ones included, as
        zuko multiplies them; the entries the suite's grouped MADEs multiply)."""
        every, multiplied, held = self._made_kernels()
        others = sum(int(np.prod(v.shape)) for v in self.flow.trainable_variables
                     if len(v.shape) == 2 and v.ref() not in held)
        return 6 * (every + others), 6 * (multiplied + others)

    def test_rows(self):
        from tfp_flows.training import Evaluator

        data = self.test_x if self.test_c is None else (self.test_x, self.test_c)
        return Evaluator(self.flow, "moving", 20_000).log_prob(data)


class ZukoModel:
    """zuko's equivalents; `NflowsModel` changes only `build`."""

    def __init__(self, family, batch, data, layers, hidden, seed, lr):
        import torch

        self.torch, self.batch = torch, batch
        torch.set_num_threads(os.cpu_count())
        torch.manual_seed(seed)
        x, c = _split(data["train"], family)
        self.x = torch.from_numpy(x)
        self.c = None if c is None else torch.from_numpy(c)
        tx, tc = _split(data["test"], family)
        self.tx, self.tc = torch.from_numpy(tx), None if tc is None else torch.from_numpy(tc)
        self.flow = self.build(family, x.shape[1], layers, hidden)
        self.opt = torch.optim.Adam(self.flow.parameters(), lr=lr)
        self.gen = torch.Generator().manual_seed(seed)
        self.order, self.pos = torch.randperm(len(self.x), generator=self.gen), 0
        self.params = int(sum(p.numel() for p in self.flow.parameters()))

    def build(self, family, dims, layers, hidden):
        import zuko

        common = dict(transforms=layers, hidden_features=tuple(hidden), activation=self.torch.nn.Tanh)
        if family == "nsf":
            return zuko.flows.NSF(dims, bins=8, **common)
        if family == "maf-cond":
            return zuko.flows.MAF(dims, context=CONTEXT, **common)
        if family == "maf-784":
            return zuko.flows.MAF(dims, **common)
        if family == "spline-coupling":
            return zuko.flows.NSF(dims, bins=8, passes=2, **common)
        return zuko.flows.RealNVP(dims, **common)

    def _log_prob(self, x, c):
        return self.flow(c).log_prob(x)

    def train_steps(self, n):
        torch = self.torch
        for _ in range(n):
            if self.pos + self.batch > len(self.order):
                self.order, self.pos = torch.randperm(len(self.x), generator=self.gen), 0
            idx = self.order[self.pos:self.pos + self.batch]
            self.pos += self.batch
            self.opt.zero_grad()
            loss = -self._log_prob(self.x[idx], None if self.c is None else self.c[idx]).mean()
            loss.backward()
            self.opt.step()
        return float(loss.detach())

    def test_rows(self):
        with self.torch.no_grad():
            return self._log_prob(self.tx, self.tc).double().numpy()


class NflowsModel(ZukoModel):
    """nflows' equivalents, trained by `ZukoModel`'s loop (both are PyTorch modules)."""

    def build(self, family, dims, layers, hidden):
        from nflows.distributions import MADEMoG
        from nflows.distributions.normal import StandardNormal
        from nflows.flows.base import Flow
        from nflows.nn.nets import MLP
        from nflows.transforms import (AffineCouplingTransform, CompositeTransform, IdentityTransform,
                                       MaskedAffineAutoregressiveTransform,
                                       MaskedPiecewiseRationalQuadraticAutoregressiveTransform,
                                       PiecewiseRationalQuadraticCouplingTransform, ReversePermutation)

        torch = self.torch
        if len(set(hidden)) != 1:
            raise ValueError("nflows' MADE has one hidden width: pass --hidden with equal sizes")
        made = dict(hidden_features=hidden[0], num_blocks=len(hidden) - 1, use_residual_blocks=False,
                    activation=torch.tanh)

        class Net(torch.nn.Module):  # a coupling's conditioner: an MLP (the coupling passes a context too)
            def __init__(self, n_in, n_out):
                super().__init__()
                self.mlp = MLP([n_in], [n_out], list(hidden), activation=torch.tanh)
                # nflows' spline coupling divides its bin logits by sqrt(hidden_features)
                # when the conditioner names it (its ResidualNet does), and warns otherwise.
                self.hidden_features = hidden[-1]

            def forward(self, inputs, context=None):
                return self.mlp(inputs)

        if family == "made-mog":  # one MADE MoG: the density itself, no transform
            return Flow(IdentityTransform(), MADEMoG(dims, context_features=None, num_mixture_components=COMPONENTS,
                                                     **made))
        halves = (torch.arange(dims) < dims // 2).int()  # the transformed half; swapped every coupling
        steps = []
        for i in range(layers):
            if i:
                steps.append(ReversePermutation(features=dims))
            if family == "nsf":
                steps.append(MaskedPiecewiseRationalQuadraticAutoregressiveTransform(
                    dims, num_bins=8, tails="linear", tail_bound=5.0, **made))
            elif family == "maf-cond":
                steps.append(MaskedAffineAutoregressiveTransform(dims, context_features=CONTEXT, **made))
            elif family == "maf-mog":
                steps.append(MaskedAffineAutoregressiveTransform(dims, **made))
            elif family == "spline-coupling":
                steps.append(PiecewiseRationalQuadraticCouplingTransform(
                    halves if i % 2 == 0 else 1 - halves, Net, num_bins=8, tails="linear", tail_bound=5.0))
            else:
                steps.append(AffineCouplingTransform((torch.arange(dims) + i) % 2, Net))
        base = (MADEMoG(dims, context_features=None, num_mixture_components=COMPONENTS, **made)
                if family == "maf-mog" else StandardNormal([dims]))
        return Flow(CompositeTransform(steps), base)

    def _log_prob(self, x, c):
        return self.flow.log_prob(x, context=c)


def peak_rss_mb():
    """This process's peak resident memory so far, MB (Linux reports ru_maxrss in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def image_like(path, images=None, seed=0, rows=6000):
    """784-dimensional rows for maf-784: Fashion-MNIST from the folder `images`, or random
    pixels, dequantised and logit-transformed as the MAF paper prepared MNIST."""
    from tfp_flows.datasets.images import load_fashion_mnist, logit_preprocess

    rng = np.random.default_rng(seed)
    if images is not None:
        data = load_fashion_mnist(images)
        pixels = {"train": data.train_images[:rows], "test": data.test_images[:rows // 6]}
    else:
        pixels = {"train": rng.integers(0, 256, (rows, 784)), "test": rng.integers(0, 256, (rows // 6, 784))}
    np.savez(path, **{k: logit_preprocess(v.reshape(len(v), -1), rng)[0].astype(np.float32)
                      for k, v in pixels.items()})


def worker_main(args):
    data = dict(np.load(args.data))
    cls = {"zuko": ZukoModel, "nflows": NflowsModel}.get(args.worker, TFPModel)
    start = time.perf_counter()
    model = cls(args.family, args.batch, data, args.layers, args.hidden, args.seed, args.lr)
    if args.warmup:
        model.train_steps(args.warmup)
    flops = model.flops_per_sample() if hasattr(model, "flops_per_sample") else None
    print(json.dumps({"ready": time.perf_counter() - start, "params": model.params,
                      "weights_held": getattr(model, "weights_held", model.params), "flops_per_sample": flops}),
          flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req["cmd"] == "time":
            t = time.perf_counter()
            loss = model.train_steps(req["steps"])
            print(json.dumps({"seconds": time.perf_counter() - t, "loss": loss, "peak_rss_mb": peak_rss_mb()}),
                  flush=True)
        elif req["cmd"] == "peak":
            print(json.dumps({"gflops": matmul_gflops()}), flush=True)
        elif req["cmd"] == "quality":
            steps = req["steps"]
            model.train_steps(steps)
            rows = model.test_rows()
            np.save(req["out"], rows)
            print(json.dumps({"mean": float(rows.mean())}), flush=True)
        else:
            break


class Worker:
    def __init__(self, lib, family, batch, args, data_path, lr=1e-4):
        cmd = [sys.executable, __file__, "--worker", lib, "--family", family, "--batch", str(batch),
               "--data", str(data_path), "--layers", str(args.layers), "--seed", str(args.seed),
               "--lr", str(lr), "--warmup", str(args.warmup), "--hidden", *map(str, args.hidden)]
        self.lib = lib
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        self.info = self.read()

    def read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.lib} worker stopped (run it alone with --worker to see why)")
        return json.loads(line)

    def ask(self, **req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--steps", type=int, default=100, help="timed steps per repetition")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--hidden", type=int, nargs="+", default=[100, 100])
    p.add_argument("--rows", type=int, default=100_000, help="generated GAS-like rows")
    p.add_argument("--quality-epochs", type=int, default=0, help="0: speed only (maf-784: always speed only)")
    p.add_argument("--image-batches", type=int, nargs="+", default=[100, 1000],
                   help="maf-784's batch sizes (speed and peak memory at each)")
    p.add_argument("--images", type=Path, default=None,
                   help="maf-784: a folder of the Fashion-MNIST files (default: random pixels)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", choices=("glorot", "fan_in"), default=None,
                   help="the initial kernels of tfp_flows' MAF layers (maf-cond, maf-mog; the other families have "
                        "no such option): Glorot-uniform (P2's, the GAS and speech commands' default) or PyTorch's "
                        "fan-in uniform, as zuko's and nflows' layers start (default: tfp-flows-train-table's, "
                        "the command that trains these families on a table: fan_in)")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--family", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--lr", type=float, default=1e-4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker_main(args)
    if args.init is None:
        from tfp_flows.experiments.configs import TableConfig

        args.init = TableConfig().model.init
    os.environ["BENCH_FAMILIES_INIT"] = args.init  # the workers read it
    if any(importlib.util.find_spec(m) is None for m in ("torch", "zuko", "nflows")):
        print("torch, zuko or nflows is not installed (pip install -r requirements-bench.txt, or make bench)")
        return 1
    from bench_train import gas_like

    warning = load_warning()
    if warning:
        print(warning, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    data_path = args.out / "families_data.npz"
    gas_like(args.rows, args.seed, data_path)
    results = {"machine": machine(), "init": args.init, "args": {k: str(v) for k, v in vars(args).items()}, "families": {}}
    for family in args.families:
        if family == "maf-784":
            results["families"][family] = image_benchmark(args)
            continue
        entry = {}
        libs = ("tfp_flows", *PEERS[family])
        workers = {lib: Worker(lib, family, args.batch, args, data_path) for lib in libs}
        entry["params"] = {lib: w.info["params"] for lib, w in workers.items()}
        entry["warm_up_seconds"] = {lib: w.info["ready"] for lib, w in workers.items()}
        rates = {lib: [] for lib in workers}
        for rep in range(args.reps):
            k = rep % len(libs)
            for lib in libs[k:] + libs[:k]:  # the order rotates every repetition
                rates[lib].append(args.steps * args.batch / workers[lib].ask(cmd="time", steps=args.steps)["seconds"])
        for w in workers.values():
            w.close()
        entry["samples_per_second"] = {lib: float(np.median(v)) for lib, v in rates.items()}
        entry["ratio_vs"] = {}
        for peer in PEERS[family]:
            ratios = [a / b for a, b in zip(rates["tfp_flows"], rates[peer])]
            entry["ratio_vs"][peer] = {"min": float(min(ratios)), "median": float(np.median(ratios)),
                                       "max": float(max(ratios))}
        entry["ratio"] = entry["ratio_vs"][PEERS[family][0]]  # zuko, the goal's peer, where it has the family
        speeds = ", ".join(f"{lib} {v:,.0f}" for lib, v in entry["samples_per_second"].items())
        ratios_text = ", ".join(f"{r['median']:.2f}x {peer} (min {r['min']:.2f})" for peer, r in entry["ratio_vs"].items())
        print(f"{family}: samples/s {speeds}; tfp_flows {ratios_text}; goal {GOAL}x {PEERS[family][0]}; "
              f"parameters {entry['params']}", flush=True)
        if args.quality_epochs:
            train_rows = len(np.load(data_path)["train"])
            steps = args.quality_epochs * (train_rows // 100)
            rows = {}
            for lib in libs:
                w = Worker(lib, family, 100, argparse.Namespace(**{**vars(args), "warmup": 0}), data_path, lr=1e-3)
                out = args.out / f"families_{family}_{lib}.npy"
                w.ask(cmd="quality", steps=steps, out=str(out))
                w.close()
                rows[lib] = np.load(out)
            entry["quality_vs"] = {}
            for peer in PEERS[family]:
                diff = rows["tfp_flows"] - rows[peer]
                se = float(diff.std(ddof=1) / np.sqrt(len(diff)))
                entry["quality_vs"][peer] = {
                    "epochs": args.quality_epochs, "test_ll": {"tfp_flows": float(rows["tfp_flows"].mean()),
                                                               peer: float(rows[peer].mean())},
                    "difference": float(diff.mean()), "two_se": 2 * se, "at_least_peer": bool(diff.mean() > -2 * se)}
                print(f"{family}: test log-likelihood tfp_flows {rows['tfp_flows'].mean():.4f}, {peer} "
                      f"{rows[peer].mean():.4f}; paired difference {diff.mean():+.4f} +- {2 * se:.4f}", flush=True)
            entry["quality"] = entry["quality_vs"][PEERS[family][0]]
        results["families"][family] = entry
    (args.out / "families.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


def image_benchmark(args):
    """maf-784: speed and peak memory of MAF (5) at 784 dimensions against zuko's, per batch size."""
    data_path = args.out / "families_images.npz"
    image_like(data_path, args.images, args.seed)
    shape = argparse.Namespace(**{**vars(args), "layers": IMAGE_LAYERS, "hidden": IMAGE_HIDDEN})
    entry = {"layers": IMAGE_LAYERS, "hidden": IMAGE_HIDDEN, "data": str(args.images or "random pixels"),
             "batches": {}}
    for batch in args.image_batches:
        workers = {lib: Worker(lib, "maf-784", batch, shape, data_path) for lib in ("tfp_flows", "zuko")}
        steps = max(5, args.steps * 100 // batch // 4)  # about a quarter of --steps' samples at batch 100
        rates, peaks = {lib: [] for lib in workers}, {}
        for rep in range(args.reps):
            order = list(workers)[rep % 2:] + list(workers)[:rep % 2]
            for lib in order:
                reply = workers[lib].ask(cmd="time", steps=steps)
                rates[lib].append(steps * batch / reply["seconds"])
                peaks[lib] = reply["peak_rss_mb"]
        params = {lib: w.info["params"] for lib, w in workers.items()}
        held = {lib: w.info["weights_held"] for lib, w in workers.items()}
        if "peak_gflops" not in entry:  # the machine's product rate, measured once, alone
            entry["peak_gflops"] = workers["tfp_flows"].ask(cmd="peak")["gflops"]
            entry["flops_per_sample"] = workers["tfp_flows"].info["flops_per_sample"]
        for w in workers.values():
            w.close()
        ratios = [a / b for a, b in zip(rates["tfp_flows"], rates["zuko"])]
        row = {"params": params, "weights_held": held,
               "samples_per_second": {lib: float(np.median(v)) for lib, v in rates.items()},
               "epoch_seconds": {lib: IMAGE_EPOCH / float(np.median(v)) for lib, v in rates.items()},
               "ratio": {"min": float(min(ratios)), "median": float(np.median(ratios)), "max": float(max(ratios))},
               "peak_rss_mb": peaks}
        # Both libraries hold kernels of the same shapes; zuko multiplies every entry, the
        # suite's grouped MADEs skip the masked blocks (made.BlockMADE).
        every, multiplied = entry["flops_per_sample"]
        row["gflops"] = {"tfp_flows": multiplied * row["samples_per_second"]["tfp_flows"] / 1e9,
                         "zuko": every * row["samples_per_second"]["zuko"] / 1e9}
        entry["batches"][str(batch)] = row
        print(f"maf-784, batch {batch}: an epoch of {IMAGE_EPOCH:,} images takes tfp_flows "
              f"{row['epoch_seconds']['tfp_flows']:.1f} s, zuko {row['epoch_seconds']['zuko']:.1f} s; ratio "
              f"{row['ratio']['median']:.2f}x (min {row['ratio']['min']:.2f}, goal {GOAL}x); peak memory tfp_flows "
              f"{peaks['tfp_flows']:.0f} MB, zuko {peaks['zuko']:.0f} MB; parameters {params} (weights held "
              f"{held}: the suite's MADEs store no masked block); dense-layer "
              f"arithmetic tfp_flows {row['gflops']['tfp_flows']:.0f} GFLOP/s (it multiplies "
              f"{multiplied / every:.1%} of the kernel entries zuko does), zuko {row['gflops']['zuko']:.0f} "
              f"GFLOP/s, against {entry['peak_gflops']:.0f} GFLOP/s for a 2048 x 2048 product here "
              f"({row['gflops']['tfp_flows'] / entry['peak_gflops']:.0%} and "
              f"{row['gflops']['zuko'] / entry['peak_gflops']:.0%})", flush=True)
    return entry


if __name__ == "__main__":
    sys.exit(main())
