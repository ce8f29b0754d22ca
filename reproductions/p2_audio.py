"""Title: Analysing audio data with MAF
Source: P2, "Experimenting with autoregressive flows in TensorFlow Probability" (RStudio AI
        Blog, 2019-04-24), section "Analysing audio data with MAF".
Expected: a MAF trained on the word "zero" (P2's feature, 10 MAFs of 2 x 512 tanh units,
          batch norm and reversals, Adam 1e-3, batch 100, 10 epochs) scores the test clips
          and the words cat, bird, wow as in P2's table, and 7 of the 29 other words score
          above held-out "zero": the model is no anomaly detector. The same run with the
          corrected feature (--features logmel) is reported beside it.

With the full data set (data/speech_commands_v0.01) it trains and compares. With the
300-clip sample (--data ../shared/data/speech_commands_v0.01_sample) the pipeline runs end
to end and says the sample is too small to compare. Without data it says how to get it
and exits with status 3 (skipped).
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL_ZERO_CLIPS = 2000  # the full data set has 2,376 clips of "zero"; the sample has 10


def main(argv=None):
    from tfp_flows import cli

    parser = cli.reproduction_parser(__doc__, HERE / "ledger.json", HERE / "results" / "p2_audio", seed=0)
    parser.add_argument("--data", type=Path, default=Path("data/speech_commands_v0.01"))
    parser.add_argument("--features", choices=("p2", "logmel"), default="p2")
    parser.add_argument("--epochs", type=cli.positive_int, default=10)
    parser.add_argument("--layers", type=cli.positive_int, default=10)
    parser.add_argument("--hidden", type=cli.positive_int, nargs="+", default=[512, 512])
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    from tfp_flows import train_speech
    from tfp_flows.reporting import EXIT_SKIPPED, Report, finish, load_ledger
    from tfp_flows.speech import list_clips

    if not args.data.is_dir():
        print(f"SKIP  P2 / Audio with MAF: no Speech Commands folder at {args.data}. Get it with "
              "`make train-speech` (downloads the v0.01 tarball), or pass --data to a copy; the "
              "300-clip sample in ../shared/data/speech_commands_v0.01_sample runs the pipeline.")
        return EXIT_SKIPPED
    clips = list_clips(args.data)
    full = len(clips.get("zero", [])) >= FULL_ZERO_CLIPS
    title = "P2 / Audio with MAF" + ("" if full else " [sample: too small to compare numbers]")
    report = Report(title, load_ledger(args.ledger))
    if not full:
        print(f"{args.data} holds {len(clips.get('zero', []))} clips of 'zero': the pipeline runs end "
              "to end, but the sample is too small to compare any number with P2's.")

    run = args.out / f"run-{'full' if full else 'sample'}-{args.features}-seed{args.seed}"
    if args.retrain and run.exists():
        import shutil
        shutil.rmtree(run)
    if not (run / "results.json").exists() or "anomaly" not in json.loads((run / "results.json").read_text()):
        cmd = ["--data", str(args.data), "--features", args.features, "--epochs", str(args.epochs),
               "--layers", str(args.layers), "--hidden", *map(str, args.hidden), "--seed", str(args.seed),
               "--out", str(run), "--no-download"]
        if args.no_progress:
            cmd.append("--no-progress")
        if (run / "checkpoints").exists():
            cmd.append("--resume")
        train_speech.main(cmd)
    res = json.loads((run / "results.json").read_text())
    log = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x]

    # P2's table beside ours.
    published = {}
    for part in report.entry("p2.audio.table").published_text.split("|"):
        epoch, values = part.split(":")
        published[int(epoch)] = [float(v) for v in values.split()]
    ours = {r["epoch"]: r for r in log if "test_ll" in r}
    cols = ("first_batch_ll", "test_ll", "cat_ll", "bird_ll", "wow_ll")
    print(f"\nmean log-likelihood per epoch ({res['features']} features); P2 | ours")
    print("epoch | " + " | ".join(f"{c[:-3]:>17}" for c in cols))
    for epoch in range(1, max(10, len(ours)) + 1):
        p = published.get(epoch, [float("nan")] * 5)
        r = ours.get(epoch, {})
        cells = [f"{pv:8.1f} {r.get(c, float('nan')):8.1f}" for pv, c in zip(p, cols)]
        print(f"{epoch:5d} | " + " | ".join(cells))
    print()

    anomaly = res["anomaly"]
    check = full and res["features"] == "p2"
    report.compare("p2.audio.words_above", anomaly["n_above"], enforce=check)
    report.verdict("p2.audio.no_detector", f"{anomaly['n_above']} above, {anomaly['n_below']} below",
                   anomaly["n_above"] >= 1, enforce=check)
    report.info("overall AUC, held-out target vs all other words", anomaly["overall_auc"])
    worst = sorted(anomaly["words"].items(), key=lambda kv: kv[1]["auc"])[:3]
    report.info("lowest per-word AUCs (" + ", ".join(w for w, _ in worst) + ")", [v["auc"] for _, v in worst])
    return finish(report, args.out, {"seed": args.seed, "full_data": full, "run": str(run),
                                     "features": res["features"], "anomaly": anomaly})


if __name__ == "__main__":
    from tfp_flows.cli import run

    sys.exit(run(main))
