"""Train P2's masked autoregressive flow on the UCI GAS data (`make train-gas`).

Defaults are P2's configuration: recipe "blog", 10 MAF layers of 2 x 100 tanh units,
batch normalisation and reversals, Adam 1e-4, batch 100, one epoch, the test set
evaluated every 1000 batches. The run folder (``--out``) receives config.json,
checkpoints, metrics.jsonl, TensorBoard logs and, at the end, results.json.
"""

import argparse
import sys
from pathlib import Path

from tfp_flows import cli

__all__ = ["main", "build_parser"]

DEFAULT_DATA = Path("data/gas/ethylene_CO.txt")


def build_parser():
    p = cli.ArgumentParser(prog="train-gas", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="GAS-format text file (default: %(default)s; downloaded when missing)")
    p.add_argument("--no-download", action="store_true", help="never try to download the data")
    p.add_argument("--recipe", choices=("blog", "maf"), default="blog",
                   help="preprocessing: P2's ('blog') or the MAF paper's ('maf') (default: %(default)s)")
    p.add_argument("--max-rows", type=cli.positive_int, default=None,
                   help="read only the first N data rows")
    p.add_argument("--epochs", type=cli.positive_int, default=1, help="(default: %(default)s)")
    p.add_argument("--max-steps", type=cli.positive_int, default=None, help="stop after N batches")
    p.add_argument("--batch-size", type=cli.positive_int, default=100, help="(default: %(default)s)")
    p.add_argument("--learning-rate", type=cli.positive_float, default=1e-4, help="(default: %(default)s)")
    p.add_argument("--layers", type=cli.positive_int, default=10, help="MAF layers (default: %(default)s)")
    p.add_argument("--hidden", type=cli.positive_int, nargs="+", default=[100, 100],
                   help="hidden units per MADE layer (default: 100 100)")
    p.add_argument("--activation", default="tanh", choices=("tanh", "relu", "sigmoid", "elu"),
                   help="(default: %(default)s)")
    p.add_argument("--permutation", choices=("reverse", "none", "random"), default="reverse",
                   help="(default: %(default)s)")
    p.add_argument("--no-batch-norm", action="store_true", help="leave out batch normalisation")
    p.add_argument("--clip-log-scale", action="store_true",
                   help="clip the log-scale to [-5, 3] like P2's TF1 template (default: no clip)")
    p.add_argument("--bn-eval", choices=("moving", "batch"), default="moving",
                   help="evaluate batch norm with moving statistics (correct) or, as P2 did, "
                        "with the statistics of the evaluated set as one batch (default: %(default)s)")
    p.add_argument("--xla", choices=("auto", "on", "off"), default="auto",
                   help="compile the training loop with XLA; auto = on for runs of 20,000 steps "
                        "or more at batches up to 1000 (faster on CPU, but the first compilation "
                        "takes 30-70 s); see README, Performance (default: %(default)s)")
    p.add_argument("--steps-per-call", type=cli.positive_int, default=20,
                   help="training steps per compiled call (default: %(default)s)")
    p.add_argument("--eval-every", type=cli.positive_int, default=1000,
                   help="evaluate the test set every N batches (default: %(default)s)")
    p.add_argument("--checkpoint-every", type=cli.positive_int, default=1000,
                   help="checkpoint every N batches (default: %(default)s)")
    p.add_argument("--patience", type=cli.positive_int, default=30,
                   help="early-stopping patience in epochs, with a validation set (default: %(default)s)")
    p.add_argument("--out", type=Path, default=None,
                   help="run folder (default: runs/gas-<recipe>-seed<seed>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    p.add_argument("--seed", type=cli.nonnegative_int, default=0, help="(default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv=None, log=print):
    args = build_parser().parse_args(argv)
    out = args.out or Path("runs") / f"gas-{args.recipe}-seed{args.seed}"
    cli.check_run_folder(out, args.resume)

    from tfp_flows.gas import download_gas, prepare_gas, read_gas
    from tfp_flows.maf import MAFFlow
    from tfp_flows.seeding import seed_everything
    from tfp_flows.trainer import TrainConfig, Trainer

    data = args.data
    if not data.exists() and not args.no_download and data == DEFAULT_DATA:
        log(f"{data} is missing; downloading the UCI archive")
        data = download_gas(data.parent, progress=not args.no_progress)
    # Everything that can fail on the data happens before the run folder is created.
    values = read_gas(data, max_rows=args.max_rows, cache_dir=Path("data/gas/cache"))
    splits = prepare_gas(values, args.recipe, seed=args.seed)
    log(f"{data}: {len(values)} rows; recipe {args.recipe!r} keeps {' '.join(splits.columns_kept)}; "
        f"{splits.sizes()}")
    seed_everything(args.seed)
    flow = MAFFlow(splits.dims, layers=args.layers, hidden_units=args.hidden,
                   activation=args.activation, batch_norm=not args.no_batch_norm,
                   permutation=args.permutation, clip_log_scale=args.clip_log_scale, seed=args.seed)
    config = TrainConfig(batch_size=args.batch_size, learning_rate=args.learning_rate,
                         epochs=args.epochs, max_steps=args.max_steps, eval_every=args.eval_every,
                         checkpoint_every=args.checkpoint_every, patience=args.patience,
                         bn_eval=args.bn_eval, seed=args.seed, progress=not args.no_progress,
                         xla=args.xla, steps_per_call=args.steps_per_call)
    meta = {"data": str(data), "recipe": args.recipe, "columns_kept": splits.columns_kept,
            "model": flow.config, "n_params": flow.count_params()}
    trainer = Trainer(flow, splits.train, splits.test, config, out, val=splits.val, meta=meta)
    if not args.resume:
        from tfp_flows.trainer import evaluate_log_likelihood

        before = {"flow_train": trainer.log_likelihood(splits.train)[0],
                  "flow_test": trainer.log_likelihood(splits.test)[0],
                  "base_train": evaluate_log_likelihood(flow.base.log_prob, splits.train)[0],
                  "base_test": evaluate_log_likelihood(flow.base.log_prob, splits.test)[0]}
        trainer.meta["before_training"] = before
        log("before training: base train {base_train:.5f} test {base_test:.5f}; "
            "flow train {flow_train:.5f} test {flow_test:.5f}".format(**before))
    trainer.meta["n_rows"] = int(len(values))
    trainer.run(resume=args.resume, log=log)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main, prog="train-gas"))
