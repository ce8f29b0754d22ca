"""Fit flows to the 2-D energies U1..U4 by minimising the reverse KL (`make vi`).

For every target and every K, trains K planar (or radial, or IAF) layers on a standard
normal base, writes a run folder ``<out>/<target>-<flow>-K<K>/`` (checkpoints and
results.json; a finished run is reused, an interrupted one resumed), then a summary
``<out>/summary.json`` with KL(q||p) for each, and one figure per flow kind,
``<out>/figure_<flow>.png``: the true density beside the flow's density for each K, in
the layout of the paper's Figure 3.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from tfp_flows import cli

__all__ = ["main", "build_parser", "train_one"]


def build_parser():
    p = cli.ArgumentParser(prog="train-vi", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--targets", nargs="+", default=["U1", "U2", "U3", "U4"],
                   help="energies to fit (default: U1 U2 U3 U4)")
    p.add_argument("--flows", nargs="+", default=["planar"], choices=("planar", "radial", "iaf"),
                   help="flow kinds (default: planar)")
    p.add_argument("--K", nargs="+", type=cli.positive_int, default=[2, 8, 32],
                   help="numbers of layers (default: 2 8 32)")
    p.add_argument("--iaf-hidden", type=cli.positive_int, nargs="+", default=[12],
                   help="hidden units of each IAF's MADE (default: 12)")
    p.add_argument("--steps", type=cli.positive_int, default=20_000, help="(default: %(default)s)")
    p.add_argument("--batch-size", type=cli.positive_int, default=256, help="(default: %(default)s)")
    p.add_argument("--learning-rate", type=cli.positive_float, default=1e-2, help="(default: %(default)s)")
    p.add_argument("--no-anneal", action="store_true",
                   help="no annealing (default: beta_t = min(1, 0.01 + t/10000) as in the paper)")
    p.add_argument("--kl-samples", type=cli.positive_int, default=20_000, help="(default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("runs/vi"), help="(default: %(default)s)")
    p.add_argument("--seed", type=cli.nonnegative_int, default=0, help="(default: %(default)s)")
    p.add_argument("--no-figure", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    return p


def train_one(target, kind, K, args, log_z, log=print):
    """Train (or reuse) one run; returns its results dict."""
    from tfp_flows.files import write_json_atomic
    from tfp_flows.seeding import seed_everything
    from tfp_flows.vi import VIFlow, fit_reverse_kl, kl_divergence

    run = args.out / f"{target}-{kind}-K{K}"
    seed_everything(args.seed)
    flow = VIFlow(kind, K, hidden=tuple(args.iaf_hidden), seed=args.seed)
    settings = {"steps": args.steps, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
                "anneal": not args.no_anneal, "seed": args.seed,
                "iaf_hidden": args.iaf_hidden if kind == "iaf" else None}
    if (run / "results.json").exists():
        res = json.loads((run / "results.json").read_text())
        if res.get("settings") == settings:
            log(f"{run.name}: finished run reused (KL {res['kl']['mean']:.4f})")
            import tensorflow as tf
            tf.train.Checkpoint(flow=flow).read(tf.train.latest_checkpoint(str(run / "checkpoints"))).expect_partial()
            return res, flow
        raise cli.UsageError(f"{run} holds a run with other settings; choose another --out")
    start = time.time()
    fit = fit_reverse_kl(flow, target, args.steps, batch_size=args.batch_size,
                         learning_rate=args.learning_rate, anneal=not args.no_anneal, seed=args.seed,
                         run_dir=run, progress=not args.no_progress)
    kl, se = kl_divergence(flow, target, log_z[0], n=args.kl_samples)
    res = {"target": target, "flow": kind, "K": K, "n_params": flow.count_params(),
           "kl": {"mean": kl, "stderr": se}, "log_z": {"value": log_z[0], "grid_error": log_z[1]},
           "skipped_steps": fit["skipped_steps"], "steps": fit["steps"],
           "loss_history": fit["history"], "wall_seconds": round(time.time() - start, 1),
           "settings": settings}
    write_json_atomic(run / "results.json", res)
    log(f"{run.name}: KL(q||p) = {kl:.4f} +- {2 * se:.4f} nats (2 se), {flow.count_params()} parameters")
    return res, flow


def main(argv=None, log=print):
    args = build_parser().parse_args(argv)
    from tfp_flows.vi import ENERGIES, log_normaliser

    unknown = [t for t in args.targets if t not in ENERGIES]
    if unknown:
        raise cli.UsageError(f"unknown target(s) {unknown}; choose from {sorted(ENERGIES)}")
    args.out = cli.writable_dir(str(args.out))
    summary, flows = [], {}
    for target in args.targets:
        log_z = log_normaliser(target)
        log(f"{target}: log Z = {log_z[0]:.6f} (grid 1201^2 over [-6, 6]^2; halving the grid moves it by {log_z[1]:.1e})")
        for kind in args.flows:
            for K in args.K:
                res, flow = train_one(target, kind, K, args, log_z, log=log)
                summary.append({k: res[k] for k in ("target", "flow", "K", "n_params", "kl", "log_z")})
                flows[(target, kind, K)] = flow
    from tfp_flows.files import write_json_atomic

    # Merge with runs recorded by earlier invocations (other flows or K in the same --out).
    path = args.out / "summary.json"
    merged = {}
    if path.exists():
        for r in json.loads(path.read_text()).get("runs", []):
            merged[(r["target"], r["flow"], r["K"])] = r
    for r in summary:
        merged[(r["target"], r["flow"], r["K"])] = r
    write_json_atomic(path, {"runs": list(merged.values())})
    if not args.no_figure:
        from tfp_flows.plotting import vi_density_grid

        for kind in args.flows:
            path = vi_density_grid(args.targets, args.K, {(t, k): f for (t, f_kind, k), f in flows.items() if f_kind == kind},
                                   args.out / f"figure_{kind}.png", kind)
            log(f"figure: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main, prog="train-vi"))
