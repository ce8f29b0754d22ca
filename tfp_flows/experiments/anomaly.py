"""Scores to anomaly verdicts: ROC AUC, per-word comparisons, thresholds."""

from typing import Any, Dict

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["roc_auc", "anomaly_report", "threshold_from"]


def roc_auc(positive: ArrayLike, negative: ArrayLike) -> float:
    """P(a positive scores above a negative) + 0.5 P(tie): the ROC AUC of "score high means
    positive" (the Mann-Whitney statistic). Both arguments are 1-D score arrays."""
    pos = np.asarray(positive, np.float64)
    neg = np.asarray(negative, np.float64)
    if pos.size == 0 or neg.size == 0:
        raise ValueError("roc_auc needs at least one positive and one negative score")
    scores = np.concatenate([pos, neg])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks for ties
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def anomaly_report(target_scores: ArrayLike, other_scores: Dict[str, ArrayLike]) -> Dict[str, Any]:
    """Compare held-out target clips with every other word, log-likelihood as the score.

    Args:
      target_scores: log-likelihoods of held-out clips of the target word.
      other_scores: {word: log-likelihoods of that word's clips}.

    Returns:
      dict: per word its mean log-likelihood, whether it scores above the held-out target
      clips on average (P2's 7 vs 22 count), and the AUC of "target vs that word";
      the counts above and below, and the AUC of target vs all other clips together.
    """
    target = np.asarray(target_scores, np.float64)
    t_mean = float(target.mean())
    words = {}
    for word, s in sorted(other_scores.items()):
        s = np.asarray(s, np.float64)
        words[word] = {"mean_log_likelihood": float(s.mean()), "above_target": bool(s.mean() > t_mean),
                       "auc": roc_auc(target, s), "n": int(s.size)}
    everything = np.concatenate([np.asarray(s, np.float64) for s in other_scores.values()])
    above = sum(w["above_target"] for w in words.values())
    return {"target_mean_log_likelihood": t_mean, "n_target": int(target.size), "words": words,
            "n_above": int(above), "n_below": int(len(words) - above),
            "overall_auc": roc_auc(target, everything)}


def threshold_from(scores: ArrayLike, quantile: float) -> float:
    """The `quantile` of reference log-likelihoods: clips scoring below it are flagged."""
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be in (0, 1), got {quantile!r}")
    return float(np.quantile(np.asarray(scores, np.float64), quantile))
