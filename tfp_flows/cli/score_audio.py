"""Score WAV files with a trained speech run: log-likelihood and whether each is flagged.

    tfp-flows-score-audio --run runs/speech-zero-logmel-seed0 clip1.wav clip2.wav

A clip is flagged (an anomaly, "not the target word") when its log-likelihood falls below
the run's threshold: the quantile (--threshold-quantile of training, 0.05 by default) of
the log-likelihoods of the target word's validation clips (training clips when the split
had none). Uses the weights the run's anomaly evaluation used (the best validation
weights when there was a validation set). Exit status 0 when every file was scored, 1
when any could not be read.
"""

import argparse
import json
import sys
from pathlib import Path

from tfp_flows import cli

__all__ = ["load_run", "main", "score_files"]


def load_run(run):
    """(flow, results) of a finished train-speech run folder."""
    import tensorflow as tf

    from tfp_flows.flows import MAFFlow

    run = Path(run)
    try:
        res = json.loads((run / "results.json").read_text())
    except (OSError, ValueError):
        raise ValueError(f"{run}: no finished speech run (results.json missing or unreadable)") from None
    if "threshold" not in res or "standardisation" not in res:
        raise ValueError(f"{run}: not a train-speech run (no threshold in results.json)")
    flow = MAFFlow(**res["model"])
    best = run / "best" / "weights"
    path = str(best) if (run / "best" / "weights.index").exists() else tf.train.latest_checkpoint(str(run / "checkpoints"))
    if path is None:
        raise ValueError(f"{run}: no checkpoint to load")
    tf.train.Checkpoint(flow=flow).read(path).expect_partial()
    return flow, res


def score_files(flow, res, paths):
    """[(path, log-likelihood or None, flagged or None, note)] for each path."""
    import numpy as np

    from tfp_flows.datasets import speech

    mean = np.asarray(res["standardisation"]["mean"], np.float32)
    std = np.asarray(res["standardisation"]["std"], np.float32)
    featurise = speech.FEATURES[res["features"]]
    out = []
    for p in paths:
        notes = []
        try:
            audio = speech.load_wav(p, notes)[None]
        except ValueError as err:
            out.append((p, None, None, str(err)))
            continue
        x = ((featurise(audio) - mean) / std).astype(np.float32)
        ll = float(flow.log_prob(x, training=False).numpy()[0])
        out.append((p, ll, ll < res["threshold"]["value"], "; ".join(notes)))
    return out


def main(argv=None, log=print):
    p = cli.ArgumentParser(prog="score-audio", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="a finished train-speech run folder")
    p.add_argument("wavs", type=Path, nargs="+", help="WAV files to score")
    args = p.parse_args(argv)
    flow, res = load_run(args.run)
    t = res["threshold"]
    log(f"threshold {t['value']:.3f} = {t['quantile']:g} quantile of the {t['reference']} of {res['word']!r}")
    failed = 0
    for path, ll, flagged, note in score_files(flow, res, args.wavs):
        if ll is None:
            failed += 1
            print(f"score-audio: error: {note}", file=sys.stderr)
            continue
        verdict = "FLAGGED (unlike the target word)" if flagged else "ok"
        log(f"{path}\t{ll:.3f}\t{verdict}" + (f"\t({note})" if note else ""))
    return 1 if failed else 0


def entry_point():
    sys.exit(cli.run(main, prog="score-audio"))


if __name__ == "__main__":
    entry_point()
