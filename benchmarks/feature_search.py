"""Which clip feature separates a target word on real recordings: a quick screen with a
Gaussian, before any flow is trained (issue 19, item 6).

Every candidate feature is computed for every clip of --data (decoded by the pipeline);
a full-covariance Gaussian (covariance shrunk by 1% of its mean variance) is fitted to
the z-scored features of the target word's training clips and scores the rest. Two
protocols: the data set's official lists (held-out target vs every clip of the other
words), and leave one speaker out (train on the target word of all other speakers; the
held-out speaker's target clips vs that speaker's other words: recordings of a voice the
model has not heard). A Gaussian is the flow's starting point (a MAF with identity
layers is one), so a feature it cannot separate is unlikely to be rescued by the flow.

    .venv/bin/python benchmarks/feature_search.py --data data/free_spoken_digits

Prints a table and writes benchmarks/results/feature_search.{json,md}.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# (name, feature, keyword arguments of mfccseg_features)
CANDIDATES = [
    ("p2", "p2", {}),
    ("logmel", "logmel", {}),
    ("mfccseg (13 MFCCs x 4 parts, 25 dB, 4 kHz)", "mfccseg", {}),
    ("mfccseg, 3 parts", "mfccseg", {"segments": 3}),
    ("mfccseg, 5 parts", "mfccseg", {"segments": 5}),
    ("mfccseg, 20 MFCCs", "mfccseg", {"n_mfcc": 20}),
    ("mfccseg, word within 20 dB of the peak", "mfccseg", {"top_db": 20.0}),
    ("mfccseg, word within 30 dB of the peak", "mfccseg", {"top_db": 30.0}),
    ("mfccseg, word within 40 dB of the peak", "mfccseg", {"top_db": 40.0}),
    ("mfccseg, word within 50 dB of the peak", "mfccseg", {"top_db": 50.0}),
    ("mfccseg, mel bands to 8 kHz", "mfccseg", {"f_max": 8000.0}),
]


def gaussian_scores(train, *sets, shrink=0.01):
    cov = np.cov(train, rowvar=False)
    cov = cov + shrink * np.trace(cov) / len(cov) * np.eye(len(cov))
    mean, precision = train.mean(0), np.linalg.inv(cov)
    logdet = np.linalg.slogdet(cov)[1]
    return [-0.5 * np.einsum("ij,jk,ik->i", x - mean, precision, x - mean) - 0.5 * logdet for x in sets]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder of clips in the Speech Commands layout")
    parser.add_argument("--word", default="zero", help="the target word (default: zero)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where the results go")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from _machine import write_results
    from tfp_flows.datasets import speech
    from tfp_flows.datasets.speech.features import FEATURES
    from tfp_flows.datasets.speech.pipeline import clip_dataset
    from tfp_flows.experiments.anomaly import roc_auc

    clips = speech.list_clips(args.data)
    if args.word not in clips:
        print(f"feature_search: no clips of {args.word!r} under {args.data}", file=sys.stderr)
        return 1
    paths = [p for w in sorted(clips) for p in clips[w]]
    audio = np.zeros((len(paths), 16_000), np.float32)
    read = np.zeros(len(paths), bool)
    for i, x in clip_dataset([args.data / p for p in paths]):
        audio[int(i)], read[int(i)] = x.numpy(), True
    paths, audio = [p for p, r in zip(paths, read) if r], audio[read]
    word = np.array([p.split("/")[0] for p in paths])
    speaker = np.array([p.split("/")[1].split("_")[0] for p in paths])
    target = word == args.word
    try:  # the experiments' own official split of the target's clips
        train_p, _, test_p = speech.split_clips(args.data, clips, args.word, "official")
        lists = True
    except ValueError:  # no lists (or they leave no training or test clips): that protocol is skipped
        train_p, test_p, lists = [], [], False
    in_train, test = np.isin(paths, train_p), np.isin(paths, test_p)

    rows = []
    for name, feature, kwargs in CANDIDATES:
        fn = FEATURES[feature]
        values = np.concatenate([np.asarray(fn(tf.constant(audio[i:i + 500]), **kwargs))
                                 for i in range(0, len(audio), 500)])
        row = {"candidate": name, "values": int(values.shape[1])}
        if lists:
            train = in_train
            m, s = values[train].mean(0), values[train].std(0) + 1e-6
            z = (values - m) / s
            held, others = gaussian_scores(z[train], z[target & test], z[~target])
            row["official_auc"] = roc_auc(held, others)
            row["official_lowest_word_auc"] = min(roc_auc(held, others[word[~target] == w])
                                                  for w in sorted(set(word[~target])))
        per_speaker = {}
        for spk in sorted(set(speaker[target])):
            train = target & (speaker != spk)
            m, s = values[train].mean(0), values[train].std(0) + 1e-6
            z = (values - m) / s
            if not np.any(~target & (speaker == spk)):
                continue
            held, others = gaussian_scores(z[train], z[target & (speaker == spk)], z[~target & (speaker == spk)])
            per_speaker[spk] = roc_auc(held, others)
        row["speaker_out_auc"] = per_speaker
        row["speaker_out_mean"] = float(np.mean(list(per_speaker.values()))) if per_speaker else None
        rows.append(row)
        print(f"{name}: {row}", file=sys.stderr, flush=True)

    lines = [f"Features for {args.word!r} on {args.data} ({len(paths)} clips): a Gaussian on the z-scored features "
             "of the target's training clips", "",
             "| candidate | values | official lists: AUC | lowest word | leave one speaker out: mean AUC | per speaker |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        spk = (" ".join(f"{v:.2f}" for v in r["speaker_out_auc"].values()) if len(r["speaker_out_auc"]) <= 12
               else f"{len(r['speaker_out_auc'])} speakers")
        lines.append(f"| {r['candidate']} | {r['values']} | {r.get('official_auc', float('nan')):.3f} | "
                     f"{r.get('official_lowest_word_auc', float('nan')):.2f} | "
                     f"{r['speaker_out_mean'] if r['speaker_out_mean'] is not None else float('nan'):.3f} | {spk} |")
    write_results(args.out, "feature_search", {"data": str(args.data), "word": args.word, "rows": rows}, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
