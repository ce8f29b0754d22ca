"""P2's MAF on one Speech Commands word, scoring every other word: `run_speech(config)`.

Defaults are P2's: the word "zero", P2's random 50/50 split, P2's feature (`p2`; see
`tfp_flows.datasets.speech.features.p2_features` for what it really measures), 10 MAF
layers of 2 x 512 tanh units with batch normalisation and reversals, Adam 1e-3, batch
100, 10 epochs. After every epoch (at its first batch, like P2's table) the first
training batch, the held-out target clips and every other word are scored. results.json
gets the anomaly evaluation: each word's mean log-likelihood, whether it beats the
held-out target clips, the AUC of "target vs that word", an overall AUC, and the
flagging threshold (a quantile of the validation clips' log-likelihood; of the training
clips when the split has no validation set). Features are z-scored with the training
clips' statistics. Clips are decoded and featurised by the `tf.data` pipeline of
`tfp_flows.datasets.speech.pipeline` (cached on disk); a clip that cannot be read gets
one line and is left out (results.json counts them).
"""

from pathlib import Path
from typing import Any, Callable, Dict

import numpy as np

from tfp_flows.configs import as_dict
from tfp_flows.datasets import speech
from tfp_flows.datasets.speech import pipeline
from tfp_flows.datasets.speech.audio import backend
from tfp_flows.experiments.anomaly import anomaly_report, threshold_from
from tfp_flows.experiments.configs import DEFAULT_SPEECH_DATA, SpeechConfig, settings_of
from tfp_flows.experiments.fitting import fit_maximum_likelihood, open_run
from tfp_flows.experiments.plotting import score_distributions
from tfp_flows.flows.registry import build_flow
from tfp_flows.seeding import seed_everything
from tfp_flows.training import Evaluator, mean_and_stderr

__all__ = ["DEFAULT_SPEECH_DATA", "SpeechConfig", "run_speech", "speech_settings"]



def speech_settings(config, root):
    """What a speech run computes from: its settings and data (`settings_of`) and the
    version of the features' definitions (`FEATURE_VERSION`) and the audio decoder (their
    resamplers differ), so a run made before a feature changed, or on the other stack, is
    neither resumed nor reused as current."""

    return {**settings_of(config, root), "feature_version": pipeline.FEATURE_VERSION, "audio_decoder": backend()}


def run_speech(config: SpeechConfig, log: Callable[[str], Any] = print) -> Dict[str, Any]:
    """Train on the target word's clips and evaluate every word as `config` says; returns
    the results (also written, last and atomically, to ``<run folder>/results.json``)."""


    cfg, out = config, config.run_dir()
    strategy, run = open_run(cfg, out)  # first: the strategy starts before anything runs TensorFlow
    root = Path(cfg.data)
    if not root.exists() and cfg.download and root == DEFAULT_SPEECH_DATA:
        log(f"{root} is missing; downloading Speech Commands v0.01 (1.4 GB)")
        root = speech.download_speech(root, progress=cfg.train.progress)
    # Everything that can fail on the data happens before the run folder exists.
    clips = speech.list_clips(root)
    train_p, val_p, test_p = speech.split_clips(root, clips, cfg.word, cfg.split, seed=cfg.train.seed)
    everything = [p for word in sorted(clips) for p in clips[word]]
    values, kept, bad = speech.extract_features(root, everything, cfg.features, cache_dir=cfg.cache,
                                                progress=cfg.train.progress)
    for line in bad:
        log(f"skipped {line}")
    row = {p: i for i, p in enumerate(kept)}

    def feats(paths):
        rows = [row[p] for p in paths if p in row]
        return values[rows] if rows else None

    train, val, test = feats(train_p), feats(val_p), feats(test_p)
    if train is None or test is None:
        raise ValueError(f"word {cfg.word!r}: no readable {'training' if train is None else 'test'} clips "
                         f"under {root}")
    others = {w: x for w, x in ((w, feats(p)) for w, p in clips.items() if w != cfg.word) if x is not None}
    mean, std = train.mean(0), train.std(0) + 1e-6

    def z(x):
        return None if x is None else ((x - mean) / std).astype(np.float32)

    train, val, test = z(train), z(val), z(test)
    others = {w: z(x) for w, x in others.items()}
    log(f"{root}: word {cfg.word!r}: {len(train)} train, {0 if val is None else len(val)} validation, "
        f"{len(test)} test clips; {len(others)} other words; features {cfg.features!r} ({train.shape[1]} values)")

    seed_everything(cfg.train.seed)
    flow = build_flow(cfg.flow, train.shape[1], cfg.model, cfg.train.seed, strategy)
    evaluator = Evaluator(flow, cfg.train.bn_eval, cfg.train.eval_batch_size)
    settings, _ = run.start(speech_settings(cfg, root), as_dict(cfg))
    sets = {"test": test, "first_batch": train[:cfg.train.batch_size], **others}
    fit, best_val, _ = fit_maximum_likelihood(flow, evaluator, train, sets, val, cfg.train, run, log, strategy)

    # Evaluation with the final (or best-validation) weights.
    target_scores = evaluator.log_prob(test)
    other_scores = {w: evaluator.log_prob(x) for w, x in others.items()}
    report = anomaly_report(target_scores, other_scores)
    reference = val if val is not None else train
    threshold = threshold_from(evaluator.log_prob(reference), cfg.threshold_quantile)
    test_mean, test_se = mean_and_stderr(target_scores)
    results = {
        "data": str(root), "word": cfg.word, "features": cfg.features, "split": cfg.split,
        "n_params": flow.count_params(),
        "n_train": len(train), "n_val": 0 if val is None else len(val), "n_test": len(test),
        "skipped_clips": bad,
        "test_log_likelihood": {"mean": test_mean, "stderr": test_se}, "bn_eval": cfg.train.bn_eval,
        **fit, "best_val_log_likelihood": best_val,
        "seed": cfg.train.seed, "settings": settings,
        "anomaly": report,
        "threshold": {"value": threshold, "quantile": cfg.threshold_quantile,
                      "reference": "validation clips" if val is not None else "training clips"},
        "standardisation": {"mean": mean.tolist(), "std": std.tolist()},
    }
    if run.write_results(results, "speech", flow) is None:  # a multi-worker run's other workers: the chief writes them
        return run.results
    log(f"{report['n_above']} of {len(report['words'])} other words score above held-out {cfg.word!r} "
        f"on average; overall AUC {report['overall_auc']:.3f}; flag threshold {threshold:.2f}")


    score_distributions(target_scores, other_scores, cfg.word, out / "scores.png")
    log(f"figure: {out / 'scores.png'}")
    return run.results
