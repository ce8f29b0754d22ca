"""Title: Analysing audio data with MAF
Source: P2, "Experimenting with autoregressive flows in TensorFlow Probability" (RStudio AI
        Blog, 2019-04-24), section "Analysing audio data with MAF".
Expected: a MAF trained on the word "zero" (P2's feature, 10 MAFs of 2 x 512 tanh units,
          batch norm and reversals, Adam 1e-3, batch 100, 10 epochs) scores the test clips
          and the words cat, bird, wow as in P2's table, and 7 of the 29 other words score
          above held-out "zero": the model is no anomaly detector. The same run with the
          corrected feature (--features logmel) is reported beside it.

With the full data set (data/speech_commands_v0.01) it trains and compares. With a smaller
folder in the same layout (--data DIR: word folders of WAVs, optionally the split lists;
e.g. a sample of the data set, or `tfp-flows-synth-speech --out DIR`) the pipeline runs
end to end and says the folder is too small to compare. Without data it says how to get
it and exits with status 3 (skipped).
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL_ZERO_CLIPS = 2000  # the full data set has 2,376 clips of "zero"; the sample has 10


def main(argv=None):
    from tfp_flows import cli
    from tfp_flows.cli.options import add_config_options, config_from_args
    from tfp_flows.experiments.configs import SpeechConfig

    parser = cli.reproduction_parser(__doc__, HERE / "ledger.json", HERE / "results" / "p2_audio", seed=0)
    parser.add_argument("--retrain", action="store_true",
                        help="train again even if a finished run with the same settings exists")
    # The training options are train-speech's, generated from the same config.
    add_config_options(parser, SpeechConfig, exclude=("out", "resume", "seed", "download", "word"))
    args = parser.parse_args(argv)

    from tfp_flows.cli import EXIT_SKIPPED
    from tfp_flows.datasets.speech import list_clips
    from tfp_flows.experiments.configs import settings_key
    from tfp_flows.experiments.speech import run_speech, speech_settings
    from tfp_flows.ledger import Report, finish, load_ledger
    from tfp_flows.training.run_folder import RunFolder

    config = config_from_args(SpeechConfig, args, download=False)
    if not config.data.is_dir():
        print(f"SKIP  P2 / Audio with MAF: no Speech Commands folder at {config.data}. Get it with "
              "`make train-speech` (downloads the v0.01 tarball, 1.4 GB), or pass --data DIR of a copy "
              "or of any folder in its layout (one folder of WAVs per word); without a network, "
              "`tfp-flows-synth-speech --out DIR` writes one with synthetic voices (needs espeak-ng).")
        return EXIT_SKIPPED
    clips = list_clips(config.data)
    full = len(clips.get("zero", [])) >= FULL_ZERO_CLIPS
    title = "P2 / Audio with MAF" + ("" if full else " [sample: too small to compare numbers]")
    report = Report(title, load_ledger(args.ledger))
    if not full:
        print(f"{config.data} holds {len(clips.get('zero', []))} clips of 'zero': the pipeline runs end "
              "to end, but the sample is too small to compare any number with P2's.")

    # Reuse a finished run only when every setting (and the data folder) is the same.
    settings = speech_settings(config, config.data)
    run_folder, state = RunFolder.open(args.out / f"run-{'full' if full else 'sample'}-{settings_key(settings)}",
                                       settings, on_mismatch="beside", retrain=args.retrain)
    run = config.out = run_folder.path
    if state == "finished":
        print(f"reporting the finished run in {run}: same settings (pass --retrain to train again)")
        res = run_folder.results
    else:
        config.resume = state == "resume"
        res = run_speech(config)
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
    from tfp_flows.experiments import plotting

    names = [c[:-3] for c in cols]
    picture = plotting.epoch_table_chart({e: {n: r[c] for n, c in zip(names, cols) if c in r} for e, r in ours.items()},
                                         published if res["features"] == "p2" else {}, names,
                                         args.out / "audio_table.png",
                                         f"P2's audio table, ours ({res['features']} features)"
                                         + (" beside P2's (dashed)" if res["features"] == "p2" else ""))
    print(f"picture: {picture}")

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
