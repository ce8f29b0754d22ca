"""P2's audio protocol over features x splits x seeds, as one table: `protocol_table(...)`.

Each cell of the grid is one `run_speech` run in ``<out>/<feature>-<split>-seed<seed>``;
a finished run with the same settings is reported, not trained again, and an
interrupted one resumes, so the table can be built a run at a time. Per feature and
split it reports the mean and the spread (standard deviation over the seeds) of: the
held-out target clips' mean log-likelihood, how many other words score above them on
average (P2's count), the overall AUC (held-out target vs every clip of the other
words), and the lowest and the median per-word AUC. Written last and atomically:
``<out>/table.json`` and ``table.md``.
"""

import dataclasses
from pathlib import Path

import numpy as np

from tfp_flows.experiments.speech import run_speech, speech_settings
from tfp_flows.files import atomic_path, write_json_atomic
from tfp_flows.training.run_folder import RunFolder

__all__ = ["COLUMNS", "protocol_table", "summarise"]

# (key, heading, format) of the table's columns.
COLUMNS = (("target_ll", "held-out target log-likelihood", ".1f"),
           ("n_above", "words above target", ".1f"),
           ("overall_auc", "overall AUC", ".3f"),
           ("lowest_auc", "lowest per-word AUC", ".2f"),
           ("median_auc", "median per-word AUC", ".2f"))


def _row(results):
    """The table's numbers of one finished run (its results.json)."""
    anomaly = results["anomaly"]
    aucs = [w["auc"] for w in anomaly["words"].values()]
    return {"target_ll": anomaly["target_mean_log_likelihood"], "n_above": anomaly["n_above"],
            "n_words": len(aucs), "overall_auc": anomaly["overall_auc"], "lowest_auc": float(np.min(aucs)),
            "median_auc": float(np.median(aucs)),
            "lowest_word": min(anomaly["words"], key=lambda w: anomaly["words"][w]["auc"])}


def summarise(rows):
    """{column: {"mean", "sd", "values"}} over the runs `rows` (sd over the seeds, ddof 1;
    0 with one run)."""
    out = {}
    for key, _, _ in COLUMNS:
        v = np.asarray([r[key] for r in rows], np.float64)
        out[key] = {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                    "values": v.tolist()}
    return out


def protocol_table(base, features, splits, seeds, out, log=print):
    """Run (or reuse) every (feature, split, seed) of `base` (a `SpeechConfig`) and return
    the table as a dict (also written to ``out/table.json`` and ``table.md``)."""
    out = Path(out)
    cells = [(f, s, seed) for f in features for s in splits for seed in seeds]
    runs = {}
    for i, (feature, split, seed) in enumerate(cells, 1):
        cfg = dataclasses.replace(base, features=feature, split=split,
                                  train=dataclasses.replace(base.train, seed=seed))
        cfg.out = out / f"{feature}-{split}-seed{seed}"
        run, state = RunFolder.open(cfg.out, speech_settings(cfg, cfg.data))  # other settings: refused
        if state == "finished":
            log(f"[{i}/{len(cells)}] {cfg.out}: finished run with the same settings, reported")
            res = run.results
        else:
            cfg.resume = state == "resume"
            log(f"[{i}/{len(cells)}] {cfg.out}: {'resuming' if cfg.resume else 'training'}")
            res = run_speech(cfg, log=lambda line: log(f"    {line}"))
        runs[(feature, split, seed)] = _row(res)

    table = {"data": str(base.data), "word": base.word, "seeds": list(seeds), "rows": []}
    for feature in features:
        for split in splits:
            rows = [runs[(feature, split, seed)] for seed in seeds]
            table["rows"].append({"features": feature, "split": split, "n_words": rows[0]["n_words"],
                                  "lowest_words": [r["lowest_word"] for r in rows], **summarise(rows)})
    lines = [f"P2's audio protocol on {base.data}: target {base.word!r} against the other words; "
             f"mean +- sd over seeds {', '.join(map(str, seeds))}", "",
             "| features | split | " + " | ".join(h for _, h, _ in COLUMNS) + " |",
             "|---|---|" + "---|" * len(COLUMNS)]
    for r in table["rows"]:
        cells = [f"{r[k]['mean']:{f}} +- {r[k]['sd']:{f}}" for k, _, f in COLUMNS]
        cells[1] += f" of {r['n_words']}"
        lines.append(f"| {r['features']} | {r['split']} | " + " | ".join(cells) + " |")
    write_json_atomic(out / "table.json", table)
    with atomic_path(out / "table.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    log("\n".join(lines))
    return table
