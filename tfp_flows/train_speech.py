"""Train P2's MAF on one Speech Commands word and score every other word (`make train-speech`).

Defaults are P2's: the word "zero", P2's random 50/50 split, P2's feature (`p2`; see
`tfp_flows.speech.p2_features` for what it really measures), 10 MAF layers of 2 x 512
tanh units with batch normalisation and reversals, Adam 1e-3, batch 100, 10 epochs. After
every epoch (at its first batch, like P2's table) the first training batch, the held-out
target clips and every other word are scored. At the end results.json gets the anomaly
evaluation: each word's mean log-likelihood, whether it beats the held-out target clips,
the AUC of "target vs that word", an overall AUC, and the flagging threshold (a quantile
of the validation clips' log-likelihood; of the training clips when the split has no
validation set). Features are z-scored with the training clips' statistics.
"""

import argparse
import sys
from pathlib import Path

from tfp_flows import cli

__all__ = ["main", "build_parser"]

DEFAULT_DATA = Path("data/speech_commands_v0.01")


def build_parser():
    p = cli.ArgumentParser(prog="train-speech", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="Speech Commands folder (default: %(default)s; downloaded when missing)")
    p.add_argument("--no-download", action="store_true")
    p.add_argument("--word", default="zero", help="the target word (default: %(default)s)")
    p.add_argument("--features", choices=("p2", "logmel"), default="p2", help="(default: %(default)s)")
    p.add_argument("--split", choices=("p2", "official"), default="p2", help="(default: %(default)s)")
    p.add_argument("--epochs", type=cli.positive_int, default=10, help="(default: %(default)s)")
    p.add_argument("--batch-size", type=cli.positive_int, default=100, help="(default: %(default)s)")
    p.add_argument("--learning-rate", type=cli.positive_float, default=1e-3, help="(default: %(default)s)")
    p.add_argument("--layers", type=cli.positive_int, default=10, help="(default: %(default)s)")
    p.add_argument("--hidden", type=cli.positive_int, nargs="+", default=[512, 512],
                   help="hidden units per MADE layer (default: 512 512)")
    p.add_argument("--threshold-quantile", type=float, default=0.05,
                   help="flag clips below this quantile of the reference clips (default: %(default)s)")
    p.add_argument("--out", type=Path, default=None, help="run folder (default: runs/speech-<word>-<features>-seed<seed>)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--seed", type=cli.nonnegative_int, default=0, help="(default: %(default)s)")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv=None, log=print):
    args = build_parser().parse_args(argv)
    if not 0 < args.threshold_quantile < 1:
        raise cli.UsageError(f"--threshold-quantile must be in (0, 1), got {args.threshold_quantile}")
    out = args.out or Path("runs") / f"speech-{args.word}-{args.features}-seed{args.seed}"
    cli.check_run_folder(out, args.resume)

    import numpy as np

    from tfp_flows import speech
    from tfp_flows.anomaly import anomaly_report, threshold_from
    from tfp_flows.files import write_json_atomic
    from tfp_flows.maf import MAFFlow
    from tfp_flows.seeding import seed_everything
    from tfp_flows.trainer import TrainConfig, Trainer

    root = args.data
    if not root.exists() and not args.no_download and root == DEFAULT_DATA:
        log(f"{root} is missing; downloading Speech Commands v0.01 (1.4 GB)")
        root = speech.download_speech(root, progress=not args.no_progress)
    # Everything that can fail on the data happens before the run folder exists.
    clips = speech.list_clips(root)
    train_p, val_p, test_p = speech.split_clips(root, clips, args.word, args.split, seed=args.seed)
    notes = []
    featurise = speech.FEATURES[args.features]

    def feats(paths):
        return featurise(speech.load_clips(root, paths, notes)) if paths else None

    train, val, test = feats(train_p), feats(val_p), feats(test_p)
    others = {w: feats(p) for w, p in clips.items() if w != args.word}
    for n in sorted(set(notes))[:20]:
        log(f"note: {n}")
    mean, std = train.mean(0), train.std(0) + 1e-6

    def z(x):
        return None if x is None else ((x - mean) / std).astype(np.float32)

    train, val, test = z(train), z(val), z(test)
    others = {w: z(x) for w, x in others.items()}
    log(f"{root}: word {args.word!r}: {len(train)} train, {0 if val is None else len(val)} validation, "
        f"{len(test)} test clips; {len(others)} other words; features {args.features!r} ({train.shape[1]} values)")

    seed_everything(args.seed)
    flow = MAFFlow(train.shape[1], layers=args.layers, hidden_units=args.hidden, seed=args.seed)
    per_epoch = -(-len(train) // args.batch_size)
    config = TrainConfig(batch_size=args.batch_size, learning_rate=args.learning_rate, epochs=args.epochs,
                         eval_every=per_epoch, checkpoint_every=per_epoch, seed=args.seed,
                         progress=not args.no_progress)
    eval_sets = {"first_batch": train[: args.batch_size], **others}
    meta = {"data": str(root), "word": args.word, "features": args.features, "split": args.split,
            "model": flow.config, "n_params": flow.count_params()}
    trainer = Trainer(flow, train, test, config, out, val=val, eval_sets=eval_sets, meta=meta)
    res = trainer.run(resume=args.resume, log=log)

    # Anomaly evaluation with the final (or best-validation) weights.
    def scores(x):
        return flow.log_prob(x, training=False).numpy().astype(np.float64)

    target_scores = scores(test)
    other_scores = {w: scores(x) for w, x in others.items()}
    report = anomaly_report(target_scores, other_scores)
    reference = val if val is not None else train
    threshold = threshold_from(scores(reference), args.threshold_quantile)
    res["anomaly"] = report
    res["threshold"] = {"value": threshold, "quantile": args.threshold_quantile,
                        "reference": "validation clips" if val is not None else "training clips"}
    res["standardisation"] = {"mean": mean.tolist(), "std": std.tolist()}
    write_json_atomic(out / "results.json", res)
    log(f"{report['n_above']} of {len(report['words'])} other words score above held-out {args.word!r} "
        f"on average; overall AUC {report['overall_auc']:.3f}; flag threshold {threshold:.2f}")

    from tfp_flows.plotting import score_distributions

    score_distributions(target_scores, other_scores, args.word,
                        out / "scores.png")
    log(f"figure: {out / 'scores.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main, prog="train-speech"))
