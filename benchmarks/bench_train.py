"""Training throughput of P2's GAS model: tfp_flows' trainer against zuko and nflows.

P2's model, built three ways: 10 MAF layers with MADEs of 2 x 100 tanh units, reversals
between layers, Adam 1e-4, D = 8; with batch normalisation after every MAF in tfp_flows
and nflows (zuko has no batch-norm transform, so its model has none and 10 x 2 x 8
fewer parameters; the parameter counts are checked). All train on the same generated
GAS-like data (P2's recipe applied to `write_synthetic_gas` output).

How it is timed. Every library (and every tfp_flows variant) runs in its own worker
process, so one library's idle thread pools cannot take cycles from another's; the
workers take turns, one at a time, in an order rotated every repetition. Each worker
first warms up (tracing, XLA compilation, first allocations: reported, not timed);
then each repetition trains `--samples-per-rep` samples, picking its batches from a
shuffled epoch order inside the timed loop. Ratios are taken within a repetition and
summarised as min / median / max.

What is compared:
  tfp_flows          `Trainer.train_steps`, the trainer's own training path, with the
                     settings its default (`xla="auto"`) picks for runs of 20,000 steps
                     or more: XLA on, 20 steps per compiled call
  tfp_flows_xla_off  the same with XLA off, as "auto" picks for shorter runs (where a
                     compilation of about 20 s would not pay for itself)
  tfp_plain_step     one compiled step per batch called from Python, densities through
                     TFP's generic bijector calls (which run each MADE twice), no XLA:
                     the set-up of the first measurement, kept as the baseline
  zuko, nflows       a plain PyTorch loop: zero_grad, -log_prob.mean(), backward, step
  products_alone     the ceiling: the model's dense products with almost nothing else
                     (`ProductsAlone`), timed by the tfp_flows worker in the same turns;
                     its ratio to zuko is the most any implementation multiplying the
                     kernels that way could reach here, and each goal's verdict says
                     whether the goal lies within it (--no-products-alone: not timed)

With --quality, every library also trains a fresh model (its initial weights restored)
for --quality-epochs epochs at batch 100 and reports the test log-likelihood.

Writes benchmarks/results/train.json and train.md.
"""

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _machine import load_warning, machine, matmul_gflops, nominal_peak_gflops  # noqa: E402

TFP_KINDS = ("tfp_flows", "tfp_flows_xla_off", "tfp_plain_step")
TORCH_KINDS = ("zuko", "nflows")
BASELINE = "tfp_flows_baseline"  # tfp_flows as an earlier checkout has it (--baseline-tree)
CEILING = "products_alone"  # the model's products alone (ProductsAlone), timed by the tfp_flows worker
GOALS = {100: 4.0, 1000: 2.0}  # tfp_flows / zuko, medians (issue 17's goals: the pinned stack, TF 2.16)
EVAL_GOAL = 2.0  # tfp_flows / zuko, log_prob rows/s on the test split (issue 17)
# Today's stack (TF 2.21) passes those by upgrading alone, so issue 28 raised them there.
GOALS_CURRENT = {100: 6.0, 1000: 3.0}
EVAL_GOAL_CURRENT = 5.0


def goals_for(versions):
    """(training goals by batch, evaluation goal) for the TensorFlow the run used."""
    tf_version = tuple(int(x) for x in versions.get("tensorflow", "2.16").split(".")[:2])
    return (GOALS_CURRENT, EVAL_GOAL_CURRENT) if tf_version >= (2, 17) else (GOALS, EVAL_GOAL)
EVAL_BATCH = 20_000  # the trainer's evaluation batch size (TrainConfig.eval_batch_size)


# ----------------------------------------------------------------------------- workers
class TFPWorker:
    """tfp_flows' MAF, trained by the Trainer (or by the plain-step baseline)."""

    def __init__(self, kind, batch, data, layers, hidden, seed):
        import tensorflow as tf
        import tf_keras

        from tfp_flows.flows import MAFFlow
        from tfp_flows.seeding import seed_everything
        from tfp_flows.training import MaximumLikelihood, TrainConfig, Trainer

        self.tf, self.kind, self.batch = tf, kind, batch
        self.train, self.test = data["train"], data["test"]
        seed_everything(seed)
        self.flow = MAFFlow(self.train.shape[1], layers=layers, hidden_units=hidden, seed=seed)
        self.rng = np.random.default_rng(seed)
        if kind == "tfp_plain_step":
            self.xla = False
            self.optimizer = tf_keras.optimizers.Adam(1e-4)
            self.optimizer.build(self.flow.trainable_variables)
            self.data = tf.constant(self.train)
            self.step = self._plain_step()
            self.order, self.pos = self.rng.permutation(len(self.train)), 0
        else:
            # The trainer's default, xla="auto", picks XLA for runs of 20,000 steps or more
            # (tfp_flows here) and no XLA for shorter ones (tfp_flows_xla_off).
            cfg = TrainConfig(batch_size=batch, learning_rate=1e-4, epochs=1, progress=False,
                              seed=seed, xla="on" if kind == "tfp_flows" else "off")
            self.trainer = Trainer(self.flow, MaximumLikelihood(self.train, batch, seed), cfg)
            self.optimizer, self.xla = self.trainer.optimizer, self.trainer.xla
        self.initial = [v.numpy() for v in self._all_variables()]

    def _plain_step(self):
        """The baseline: one compiled step per batch, called from Python, applying only
        finite updates (what the first trainer did)."""
        tf, variables = self.tf, self.flow.trainable_variables

        @tf.function
        def step(batch):
            with tf.GradientTape() as tape:
                loss = -tf.reduce_mean(self._generic_log_prob(batch))
            grads = tape.gradient(loss, variables)
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
            if finite:
                self.optimizer.apply_gradients(zip(grads, variables))
            return loss, finite
        return step

    def _generic_log_prob(self, x):
        """Densities through TFP's generic bijector calls (each MADE runs twice), in
        training mode (the flow's layers with batch norm in training mode)."""
        y, total = self.tf.identity(x), 0.0
        for b in self.flow.training_bijectors:
            total += b.inverse_log_det_jacobian(y, event_ndims=1)
            y = b.inverse(y)
        return self.flow.base.log_prob(y) + total

    def _all_variables(self):
        extra = list(self.trainer.state.values()) if hasattr(self, "trainer") else []
        return list(self.flow.variables) + list(self.optimizer.variables()) + extra

    def params(self):
        total = self.flow.count_params()
        bn = sum(int(np.prod(v.shape)) for layer in self.flow.batch_norms for v in layer.trainable_variables)
        return total, total - bn

    def train_steps(self, n):
        if self.kind != "tfp_plain_step":
            return float(self.trainer.train_steps(n)[-1])
        for _ in range(n):
            if self.pos + self.batch > len(self.order):
                self.order, self.pos = self.rng.permutation(len(self.train)), 0
            idx = self.order[self.pos:self.pos + self.batch]
            self.pos += self.batch
            loss, _ = self.step(self.tf.gather(self.data, idx))
        return float(loss)

    def reset(self):
        for v, value in zip(self._all_variables(), self.initial):
            v.assign(value)
        self.rng = np.random.default_rng(0)
        if self.kind == "tfp_plain_step":
            self.order, self.pos = self.rng.permutation(len(self.train)), 0

    def test_ll(self):
        from tfp_flows.training import evaluate_log_likelihood

        return evaluate_log_likelihood(lambda c: self.flow.log_prob(c, training=False), self.test)

    def score_test(self):
        """The test split's per-row log-likelihoods through the trainer's evaluation path."""
        if not hasattr(self, "evaluator"):
            from tfp_flows.training import Evaluator

            self.evaluator = Evaluator(self.flow, "moving", EVAL_BATCH)
        return self.evaluator.log_prob(self.test)

    def flops_per_sample(self):
        """Floating-point operations of the dense layers (the MADEs' products, masked weights
        included as XLA computes them) per sample: 2 per multiply-add in a forward pass,
        three passes' worth in training (forward, and the gradients with respect to the
        inputs and to the weights). Element-wise work is not counted: a lower bound."""
        macs = sum(int(np.prod(v.shape)) for v in self.flow.trainable_variables if len(v.shape) == 2)
        return {"train": 3 * 2 * macs, "eval": 2 * macs}

    def products_alone(self):
        """The model's products alone, built on first use (`ProductsAlone`)."""
        if not hasattr(self, "_products"):
            shapes = [[tuple(k.shape) for k in made.whole_kernels()] for made in self.flow.made]
            self._products = ProductsAlone(shapes, self.train, self.batch, self.test, EVAL_BATCH)
        return self._products

    def threads(self):
        cfg = self.tf.config.threading
        return {"tf_intra_op": cfg.get_intra_op_parallelism_threads() or f"default ({os.cpu_count()})",
                "tf_inter_op": cfg.get_inter_op_parallelism_threads() or "default", "xla": self.xla}


class ProductsAlone:
    """P2's model cut down to its dense products: the ceiling for this machine.

    Each MADE's kernels (their whole shapes, masked entries included, as TFP, zuko and
    nflows all multiply them) are applied in turn with a relu between them, and each
    MADE's output is folded into the next one's input, so the products stay a chain that
    XLA can neither reorder nor drop. Training runs a plain gradient step (w -= 1e-6 g)
    in an XLA loop of up to 100 steps per call; evaluation scores the test split in the
    evaluator's chunks, each split into the evaluator's parts. What the real model adds
    (tanh, batch norm, the affine maps and their log-determinants, the base density,
    Adam, clipping, permutations) is left out, so no implementation of this model that
    multiplies its kernels this way runs faster here: the report's "products alone" row
    and its ratio to zuko show how far a goal is from what the machine allows."""

    STEPS_PER_CALL = 100

    def __init__(self, shapes, train, batch, test, eval_batch, seed=0):
        import tensorflow as tf

        from tfp_flows.training import Evaluator

        self.tf, self.batch, self.test, self.eval_batch = tf, batch, test, eval_batch
        rng = np.random.default_rng(seed)
        self.dims = shapes[0][0][0]
        self.weights = [tf.constant(rng.normal(0, 0.05, s).astype(np.float32)) for layer in shapes for s in layer]
        self.layout = [len(layer) for layer in shapes]
        rows = max(len(train) // batch, 1) * batch
        self.data = tf.constant(train[:rows])
        self.batches = rows // batch
        self.train_loop = tf.function(self._train_loop, jit_compile=True)
        parts = Evaluator.PARTS

        def score(x):
            n = tf.shape(x)[0]
            cuts = [n * i // parts for i in range(parts + 1)]
            return tf.concat([self._chain(x[a:b], self.weights) for a, b in zip(cuts, cuts[1:])], 0)
        self.score = tf.function(score, input_signature=[tf.TensorSpec([None, self.dims], tf.float32)],
                                 jit_compile=True)
        self.first = 0

    def _chain(self, x, weights):
        tf, total, w = self.tf, 0.0, iter(weights)
        for count in self.layout:
            h = x
            for i in range(count):
                h = h @ next(w)
                if i + 1 < count:
                    h = tf.nn.relu(h)
            folded = tf.reduce_sum(tf.reshape(h, [-1, self.dims, h.shape[-1] // self.dims]), -1)
            x = x + 1e-3 * folded
            total += tf.reduce_sum(folded, -1)
        return total

    def _train_loop(self, first, steps):
        tf, batch = self.tf, self.batch

        def body(i, loss, weights):
            start = ((first + i) % self.batches) * batch
            x = tf.gather(self.data, start + tf.range(batch))
            with tf.GradientTape() as tape:
                tape.watch(weights)
                loss = tf.reduce_mean(self._chain(x, weights))
            grads = tape.gradient(loss, weights)
            return i + 1, loss, [w - 1e-6 * g for w, g in zip(weights, grads)]
        return tf.while_loop(lambda i, *_: i < steps, body, (tf.constant(0), tf.constant(0.0), self.weights))[1]

    def train_steps(self, n):
        """Run n steps in calls of up to STEPS_PER_CALL (one compilation: the step count is an input)."""
        loss = None
        while n > 0:
            k = min(n, self.STEPS_PER_CALL)
            loss = self.train_loop(self.tf.constant(self.first), self.tf.constant(k))
            self.first, n = self.first + k, n - k
        return float(loss)

    def score_test(self):
        return np.concatenate([self.score(self.tf.constant(self.test[s:s + self.eval_batch])).numpy()
                               for s in range(0, len(self.test), self.eval_batch)])


class TorchWorker:
    """zuko's MAF or nflows' masked affine autoregressive flow, trained by a plain loop."""

    def __init__(self, kind, batch, data, layers, hidden, seed):
        import torch

        self.torch, self.kind, self.batch, self.seed = torch, kind, batch, seed
        self.layers, self.hidden = layers, hidden
        torch.set_num_threads(os.cpu_count())
        self.train = torch.from_numpy(data["train"])
        self.test = torch.from_numpy(data["test"])
        self.reset()

    def _build(self):
        torch, dims = self.torch, self.train.shape[1]
        torch.manual_seed(self.seed)
        if self.kind == "zuko":
            import zuko

            flow = zuko.flows.MAF(dims, transforms=self.layers, hidden_features=tuple(self.hidden),
                                  activation=torch.nn.Tanh)
            return flow, lambda x: flow().log_prob(x)
        from nflows.distributions.normal import StandardNormal
        from nflows.flows.base import Flow
        from nflows.transforms.autoregressive import MaskedAffineAutoregressiveTransform
        from nflows.transforms.base import CompositeTransform
        from nflows.transforms.normalization import BatchNorm
        from nflows.transforms.permutations import ReversePermutation

        if len(set(self.hidden)) != 1:
            raise ValueError("nflows' MADE takes one hidden width for all its layers")
        parts = []
        for i in range(self.layers):
            parts.append(MaskedAffineAutoregressiveTransform(
                features=dims, hidden_features=self.hidden[0], num_blocks=len(self.hidden) - 1,
                use_residual_blocks=False, activation=torch.tanh))
            parts.append(BatchNorm(dims))
            if i < self.layers - 1:
                parts.append(ReversePermutation(dims))
        flow = Flow(CompositeTransform(parts), StandardNormal([dims]))
        return flow, flow.log_prob

    def reset(self):
        self.flow, self.log_prob = self._build()
        self.opt = self.torch.optim.Adam(self.flow.parameters(), lr=1e-4)
        self.gen = self.torch.Generator().manual_seed(self.seed)
        self.order, self.pos = self.torch.randperm(len(self.train), generator=self.gen), 0

    def params(self):
        total = sum(p.numel() for p in self.flow.parameters())
        bn = sum(p.numel() for m in self.flow.modules() if type(m).__name__ == "BatchNorm"
                 for p in m.parameters())
        return int(total), int(total - bn)

    def train_steps(self, n):
        torch = self.torch
        self.flow.train()
        for _ in range(n):
            if self.pos + self.batch > len(self.order):
                self.order, self.pos = torch.randperm(len(self.train), generator=self.gen), 0
            batch = self.train[self.order[self.pos:self.pos + self.batch]]
            self.pos += self.batch
            self.opt.zero_grad()
            loss = -self.log_prob(batch).mean()
            loss.backward()
            self.opt.step()
        return float(loss.detach())

    def test_ll(self):
        self.flow.eval()
        with self.torch.no_grad():
            ll = self.log_prob(self.test).double().numpy()
        return float(ll.mean()), float(ll.std(ddof=1) / np.sqrt(len(ll)))

    def score_test(self):
        """The test split's per-row log-likelihoods in chunks of the trainer's evaluation
        batch, in evaluation mode under torch.no_grad()."""
        torch = self.torch
        self.flow.eval()
        with torch.no_grad():
            ll = torch.cat([self.log_prob(self.test[s:s + EVAL_BATCH]) for s in range(0, len(self.test), EVAL_BATCH)])
        self.flow.train()
        return ll.double().numpy()

    def threads(self):
        return {"torch": self.torch.get_num_threads(), "torch_interop": self.torch.get_num_interop_threads()}


def worker_main(args):
    """Serve one library over stdin/stdout: one JSON request per line, one answer per line."""
    data = dict(np.load(args.data))
    cls = TorchWorker if args.worker in TORCH_KINDS else TFPWorker
    w = cls(args.worker, args.batch, data, args.layers, args.hidden, args.seed)
    total, no_bn = w.params()
    flops = w.flops_per_sample() if hasattr(w, "flops_per_sample") else None
    print(json.dumps({"params": total, "params_without_batch_norm": no_bn, "threads": w.threads(),
                      "versions": versions(args.worker), "flops_per_sample": flops}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req["cmd"] == "quit":
            break
        if req["cmd"] in ("warmup", "time"):
            t = time.perf_counter()
            (w.products_alone() if req.get("products_alone") else w).train_steps(req["steps"])
            dt = time.perf_counter() - t
            print(json.dumps({"seconds": dt, "samples_per_s": req["steps"] * args.batch / dt}), flush=True)
        elif req["cmd"] == "peak":
            print(json.dumps({"gflops": matmul_gflops()}), flush=True)
        elif req["cmd"] == "eval":
            t = time.perf_counter()
            ll = (w.products_alone() if req.get("products_alone") else w).score_test()
            dt = time.perf_counter() - t
            print(json.dumps({"seconds": dt, "rows_per_s": len(ll) / dt, "mean_ll": float(np.mean(ll))}), flush=True)
        elif req["cmd"] == "quality":
            w.reset()
            steps = req["epochs"] * (len(data["train"]) // args.batch)
            loss = w.train_steps(steps)
            mean, se = w.test_ll()
            print(json.dumps({"test_ll": mean, "test_ll_stderr": se, "steps": steps, "last_loss": loss}), flush=True)
    return 0


def versions(kind):
    out = {"python": platform.python_version(), "numpy": np.__version__}
    if kind in TORCH_KINDS:
        import torch

        out["torch"] = torch.__version__
        if kind == "zuko":
            import zuko
            out["zuko"] = zuko.__version__
        else:
            from importlib.metadata import version
            out["nflows"] = version("nflows")
    else:
        import tensorflow as tf
        import tensorflow_probability as tfp

        out.update(tensorflow=tf.__version__, tensorflow_probability=tfp.__version__)
    return out


# ----------------------------------------------------------------------------- parent
class Worker:
    def __init__(self, kind, batch, data_path, args, log_dir):
        self.kind = kind
        self.log = log_dir / f"{kind}-{batch}.log"
        script, worker_kind = Path(__file__).resolve(), kind
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        if kind == BASELINE:  # the earlier checkout's own worker, importing its own tfp_flows
            tree = args.baseline_tree.resolve()
            script, worker_kind = tree / "benchmarks" / "bench_train.py", "tfp_flows"
            env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [env.get("PYTHONPATH")])])
        cmd = [sys.executable, str(script), "--worker", worker_kind, "--batch", str(batch),
               "--data", str(data_path), "--layers", str(args.layers), "--seed", str(args.seed),
               "--hidden", *map(str, args.hidden)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(self.log, "w"), text=True, env=env)
        self.info = None

    def read(self):
        line = self.proc.stdout.readline()
        if not line:
            tail = self.log.read_text().strip().splitlines()[-1:] if self.log.exists() else []
            raise RuntimeError(f"the {self.kind} worker stopped: {tail[0] if tail else 'no message'}"
                               f" (log: {self.log})")
        return json.loads(line)

    def send(self, **req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()

    def ask(self, **req):
        self.send(**req)
        return self.read()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send(cmd="quit")
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


def stats(values):
    v = np.asarray(values, dtype=float)
    return {"min": float(v.min()), "median": float(np.median(v)), "max": float(v.max())}


def gas_like(rows, seed, path):
    from tfp_flows.datasets.gas import prepare_gas, read_gas, write_synthetic_gas

    with tempfile.TemporaryDirectory() as d:
        write_synthetic_gas(Path(d) / "gas.txt", rows, seed=seed)
        splits = prepare_gas(read_gas(Path(d) / "gas.txt"), "blog", seed=seed)
    np.savez(path, train=splits.train.astype(np.float32), test=splits.test.astype(np.float32))
    return splits


def check_params(entry):
    """The three models must be the same model: tfp_flows == nflows, and zuko equal
    to both once the batch norms (absent in zuko) are left out."""
    p = entry["params"]
    totals = {k: v["total"] for k, v in p.items()}
    no_bn = {k: v["without_batch_norm"] for k, v in p.items()}
    problems = []
    if len({totals[k] for k in totals if k != "zuko"}) > 1:
        problems.append(f"total parameters differ: {totals}")
    if len(set(no_bn.values())) > 1:
        problems.append(f"parameters without batch norm differ: {no_bn}")
    return problems


def run_benchmark(args):
    kinds = [k for k in args.libraries if k in TFP_KINDS]
    torch_kinds = [k for k in args.libraries if k in TORCH_KINDS]
    if torch_kinds and any(importlib.util.find_spec(m) is None for m in ("torch", "zuko", "nflows")):
        print("torch, zuko or nflows is not installed: timing tfp_flows only "
              "(pip install -r requirements-bench.txt, or make bench)", flush=True)
        torch_kinds = []
    if args.baseline_tree is not None:
        kinds.append(BASELINE)
    kinds += torch_kinds
    timed = kinds + ([CEILING] if args.products_alone and "tfp_flows" in kinds else [])
    warning = load_warning()
    if warning:
        print(warning, flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench_train_"))
    data_path = work / "data.npz"
    splits = gas_like(args.rows, args.seed, data_path)
    results = {"machine": machine(), "load_warning": warning, "rows_train": len(splits.train), "rows_test": len(splits.test),
               "model": {"layers": args.layers, "hidden": args.hidden}, "samples_per_rep": args.samples_per_rep,
               "reps": args.reps, "batches": {}}
    print(f"data: {len(splits.train):,} training rows, {len(splits.test):,} test rows, D = {splits.dims}; "
          f"workers in {work}", flush=True)
    for batch in args.batch_sizes:
        steps = max(1, args.samples_per_rep // batch)
        workers = {k: Worker(k, batch, data_path, args, work) for k in kinds}
        try:
            for w in workers.values():
                w.info = w.read()
            warmup = {k: ask(workers, k, cmd="warmup", steps=args.warmup_steps)["seconds"]
                      for k in timed}  # one at a time (compilations are not timed)
            if "tfp_flows" in workers and "peak" not in results:  # the physical limit, measured once, alone
                results["peak"] = {"matmul_gflops": workers["tfp_flows"].ask(cmd="peak")["gflops"],
                                   "nominal_gflops": nominal_peak_gflops(),
                                   "flops_per_sample": workers["tfp_flows"].info["flops_per_sample"]}
            speeds = {k: [] for k in timed}
            for rep in range(args.reps):
                order = timed[rep % len(timed):] + timed[:rep % len(timed)]
                for k in order:
                    speeds[k].append(ask(workers, k, cmd="time", steps=steps)["samples_per_s"])
                print(f"batch {batch}, repetition {rep + 1}: " +
                      ", ".join(f"{k} {speeds[k][-1]:,.0f}/s" for k in timed), flush=True)
            entry = {"steps_per_rep": steps,
                     "params": {k: {"total": w.info["params"], "without_batch_norm": w.info["params_without_batch_norm"]}
                                for k, w in workers.items()},
                     "threads": {k: w.info["threads"] for k, w in workers.items()},
                     "warmup_seconds": warmup,
                     "samples_per_s": speeds, "samples_per_s_summary": {k: stats(v) for k, v in speeds.items()},
                     "ratios": {}}
            for k in [k for k in timed if k in TFP_KINDS or k in (BASELINE, CEILING)]:
                for lib in torch_kinds:
                    entry["ratios"][f"{k}/{lib}"] = stats(np.array(speeds[k]) / np.array(speeds[lib]))
            if BASELINE in speeds and "tfp_flows" in speeds:
                entry["ratios"][f"tfp_flows/{BASELINE}"] = stats(np.array(speeds["tfp_flows"]) /
                                                                 np.array(speeds[BASELINE]))
            if args.eval_reps and batch == args.batch_sizes[0]:
                results["eval"] = time_evaluation(workers, timed, args.eval_reps, len(splits.test))
            if args.quality and batch == 100:
                entry["quality"] = {}
                for k, w in workers.items():
                    q = w.ask(cmd="quality", epochs=args.quality_epochs)
                    entry["quality"][k] = q
                    print(f"quality: {k}: test log-likelihood {q['test_ll']:.4f} +- {2 * q['test_ll_stderr']:.4f} after "
                          f"{args.quality_epochs} epochs ({q['steps']} steps at batch 100)", flush=True)
            results.setdefault("versions", {}).update({k: v for w in workers.values() for k, v in w.info["versions"].items()})
        finally:
            for w in workers.values():
                w.close()
        problems = check_params(entry)
        entry["params_check"] = "ok" if not problems else problems
        results["batches"][str(batch)] = entry
    shutil.rmtree(work, ignore_errors=True)  # kept only when a worker failed (its log names the folder)
    return results


def ask(workers, kind, **req):
    """Send a request to the worker that times `kind` (the products alone: tfp_flows')."""
    if kind == CEILING:
        return workers["tfp_flows"].ask(products_alone=True, **req)
    return workers[kind].ask(**req)


def time_evaluation(workers, kinds, reps, rows):
    """log_prob rows/s on the test split in chunks of the trainer's evaluation batch, the
    workers taking turns as in training (one untimed pass first: tracing)."""
    for k in kinds:
        ask(workers, k, cmd="eval")
    speeds = {k: [] for k in kinds}
    for rep in range(reps):
        for k in kinds[rep % len(kinds):] + kinds[:rep % len(kinds)]:
            speeds[k].append(ask(workers, k, cmd="eval")["rows_per_s"])
        print(f"evaluation, repetition {rep + 1}: " + ", ".join(f"{k} {speeds[k][-1]:,.0f} rows/s" for k in kinds),
              flush=True)
    out = {"rows": rows, "batch": EVAL_BATCH, "rows_per_s": speeds, "summary": {k: stats(v) for k, v in speeds.items()},
           "ratios": {}}
    for k in kinds:
        for lib in TORCH_KINDS:
            if lib in speeds and k not in TORCH_KINDS:
                out["ratios"][f"{k}/{lib}"] = stats(np.array(speeds[k]) / np.array(speeds[lib]))
    return out


def ceiling_note(ratio, goal):
    """A goal's verdict's note on the products alone: how far this machine lets any
    implementation of the model go against zuko (empty when they were not timed)."""
    if not ratio:
        return ""
    if ratio["median"] >= goal:
        return f"; the model's products alone reach {ratio['median']:.2f}x zuko here (the goal is within reach)"
    return (f"; the model's products alone reach only {ratio['median']:.2f}x zuko here (the goal is out of reach on "
            "this machine for any implementation that multiplies the kernels whole)")


def report(results, out):
    lines = [f"Machine: {results['machine']['cpu']}, {results['machine']['logical_cores']} logical cores; "
             + ", ".join(f"{k} {v}" for k, v in results["versions"].items()),
             f"Model: {results['model']['layers']} MAF layers, hidden {results['model']['hidden']}; "
             f"{results['rows_train']:,} training rows; {results['reps']} repetitions of "
             f"{results['samples_per_rep']:,} samples after a warm-up.", "",
             "| batch | library | params (without BN) | XLA | warm-up s | samples/s min / median / max "
             "| vs zuko min / median / max | vs nflows min / median / max |",
             "|---|---|---|---|---|---|---|---|"]
    verdicts = []
    goals, eval_goal = goals_for(results.get("versions", {}))
    for batch, e in results["batches"].items():
        for k, s in e["samples_per_s_summary"].items():
            def rr(lib, e=e, k=k):
                r = e["ratios"].get(f"{k}/{lib}")
                return f"{r['min']:.2f} / {r['median']:.2f} / {r['max']:.2f}" if r else "-"
            p = e["params"].get(k)  # none for the ceiling, which the tfp_flows worker runs under XLA
            params = f"{p['total']:,} ({p['without_batch_norm']:,})" if p else "-"
            xla = e["threads"].get(k, {"xla": True}).get("xla", "-")
            name = f"{k} (ceiling)" if k == CEILING else k
            lines.append(f"| {batch} | {name} | {params} | {xla} | "
                         f"{e['warmup_seconds'][k]:.1f} | {s['min']:,.0f} / {s['median']:,.0f} / {s['max']:,.0f} "
                         f"| {rr('zuko')} | {rr('nflows')} |")
        goal = goals.get(int(batch))
        r = e["ratios"].get("tfp_flows/zuko")
        if goal and r:
            verdicts.append(f"goal at batch {batch}: tfp_flows/zuko median {r['median']:.2f}x "
                            f"(goal {goal}x): {'MET' if r['median'] >= goal else 'NOT MET'}"
                            + ceiling_note(e["ratios"].get(f"{CEILING}/zuko"), goal))
        b = e["ratios"].get(f"tfp_flows/{BASELINE}")
        if b:
            verdicts.append(f"batch {batch}: tfp_flows / the baseline tree's tfp_flows, same repetitions: "
                            f"{b['min']:.2f} / {b['median']:.2f} / {b['max']:.2f} (min / median / max)")
        if e["params_check"] != "ok":
            verdicts.append(f"PARAMETER CHECK FAILED at batch {batch}: {e['params_check']}")
    threads = {k: v for e in results["batches"].values() for k, v in e["threads"].items()}
    lines += ["", "Threads: " + "; ".join(f"{k}: {v}" for k, v in threads.items())]
    ev = results.get("eval")
    if ev:
        lines += ["", f"Evaluation: log_prob of the {ev['rows']:,}-row test split in chunks of {ev['batch']:,} "
                  "(tfp_flows: the trainer's Evaluator; PyTorch: eval mode under torch.no_grad())", "",
                  "| library | rows/s min / median / max | vs zuko min / median / max |", "|---|---|---|"]
        for k, v in ev["summary"].items():
            r = ev["ratios"].get(f"{k}/zuko")
            lines.append(f"| {k} | {v['min']:,.0f} / {v['median']:,.0f} / {v['max']:,.0f} | "
                         + (f"{r['min']:.2f} / {r['median']:.2f} / {r['max']:.2f} |" if r else "- |"))
        r = ev["ratios"].get("tfp_flows/zuko")
        if r:
            verdicts.append(f"goal for evaluation: tfp_flows/zuko median {r['median']:.2f}x (goal {eval_goal}x): "
                            f"{'MET' if r['median'] >= eval_goal else 'NOT MET'}"
                            + ceiling_note(ev["ratios"].get(f"{CEILING}/zuko"), eval_goal))
    peak = results.get("peak")
    if peak and peak.get("flops_per_sample"):
        fl = peak["flops_per_sample"]
        nominal = peak.get("nominal_gflops")
        lines += ["", f"Arithmetic: {fl['train']:,} FLOP per training sample and {fl['eval']:,} per scored row in the "
                  "dense layers (element-wise work not counted). Peak: a 2048 x 2048 float32 product runs at "
                  f"{peak['matmul_gflops']:.0f} GFLOP/s here"
                  + (f"; nominal {nominal['gflops']:.0f} GFLOP/s ({nominal['how']})" if nominal else "") + ".", "",
                  "| work | tfp_flows GFLOP/s (median) | share of the measured product peak |"
                  + (" share of nominal |" if nominal else ""), "|---|---|---|" + ("---|" if nominal else "")]
        rows = [(f"training, batch {batch}", e["samples_per_s_summary"], fl["train"])
                for batch, e in results["batches"].items()]
        rows += [("evaluation", ev["summary"], fl["eval"])] if ev else []
        for work, summary, flop in rows:
            for k, label in (("tfp_flows", ""), (CEILING, ", products alone")):
                if k in summary:
                    g = summary[k]["median"] * flop / 1e9
                    lines.append(f"| {work}{label} | {g:.1f} | {g / peak['matmul_gflops']:.0%} |"
                                 + (f" {g / nominal['gflops']:.0%} |" if nominal else ""))
    q = next((e["quality"] for e in results["batches"].values() if "quality" in e), None)
    if q:
        lines += ["", "| library | test log-likelihood after equal epochs at batch 100 (+- 2 se) |", "|---|---|"]
        lines += [f"| {k} | {v['test_ll']:.4f} +- {2 * v['test_ll_stderr']:.4f} |" for k, v in q.items()]
    lines += [""] + verdicts + ([results["load_warning"]] if results.get("load_warning") else [])
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "train.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all("FAILED" not in v for v in verdicts) else 1


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=200_000, help="generated GAS rows (default: %(default)s)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[100, 1000], help="(default: 100 1000)")
    p.add_argument("--samples-per-rep", type=int, default=60_000,
                   help="samples trained per timed repetition (default: %(default)s)")
    p.add_argument("--reps", type=int, default=5, help="timed repetitions (default: %(default)s)")
    p.add_argument("--warmup-steps", type=int, default=30, help="(default: %(default)s)")
    p.add_argument("--libraries", nargs="+", choices=TFP_KINDS + TORCH_KINDS, default=list(TFP_KINDS + TORCH_KINDS))
    p.add_argument("--layers", type=int, default=10, help="MAF layers (default: P2's %(default)s)")
    p.add_argument("--hidden", type=int, nargs="+", default=[100, 100], help="(default: P2's 100 100)")
    p.add_argument("--eval-reps", type=int, default=5,
                   help="timed passes of log_prob over the test split (0: none; default: %(default)s)")
    p.add_argument("--no-products-alone", dest="products_alone", action="store_false",
                   help="do not time the model's products alone (the ceiling row; see ProductsAlone)")
    p.add_argument("--quality", action="store_true", help="also compare test log-likelihood at equal epochs")
    p.add_argument("--quality-epochs", type=int, default=3, help="(default: %(default)s)")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--baseline-tree", type=Path, default=None, metavar="DIR",
                   help="also time tfp_flows as the checkout in DIR has it (e.g. `git worktree add DIR "
                        "HEAD~5`), side by side in the same repetitions, to check a change for slow-downs")
    p.add_argument("--worker", choices=TFP_KINDS + TORCH_KINDS, help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.worker:
        return worker_main(args)
    if args.eval_reps < 0:
        print("bench_train: --eval-reps must be at least 0", file=sys.stderr)
        return 2
    for name in ("rows", "samples_per_rep", "reps", "warmup_steps", "layers", "quality_epochs"):
        if getattr(args, name) < 1:
            print(f"bench_train: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    if args.baseline_tree is not None and not (args.baseline_tree / "benchmarks" / "bench_train.py").exists():
        print(f"bench_train: {args.baseline_tree} has no benchmarks/bench_train.py (not a checkout of this project)",
              file=sys.stderr)
        return 2
    for name in ("batch_sizes", "hidden"):
        if min(getattr(args, name)) < 1:
            print(f"bench_train: every --{name.replace('_', '-')} value must be at least 1", file=sys.stderr)
            return 2
    return report(run_benchmark(args), args.out)


if __name__ == "__main__":
    sys.exit(main())
