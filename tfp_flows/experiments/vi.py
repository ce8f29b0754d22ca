"""Flows fitted to the 2-D energies U1..U4 by reverse KL, as a function: `run_vi(config)`.

For every target, flow kind, K and seed, trains K planar (or radial, or IAF) layers on
a standard normal base in a run folder ``<out>/<target>-<flow>-K<K>-seed<seed>/``
(config.json, checkpoints, metrics.jsonl, results.json; a finished run with the same
settings is reused, an interrupted one resumed), then writes ``<out>/summary.json``:
per (target, flow, K) the KL(q||p) of every seed, their mean and standard deviation
(the seed-to-seed spread is several times the Monte-Carlo error of one estimate, so a
single seed says little), and one figure per flow kind in the layout of the paper's
Figure 3 (first seed).
"""

from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np
import tensorflow as tf

from tfp_flows.configs import as_dict, replace
from tfp_flows.datasets.energies import ENERGIES, energy, log_normaliser
from tfp_flows.errors import UsageError
from tfp_flows.experiments.configs import VIConfig, settings_of
from tfp_flows.experiments.plotting import vi_density_grid
from tfp_flows.files import read_json, write_json_atomic
from tfp_flows.flows import VIFlow
from tfp_flows.seeding import seed_everything
from tfp_flows.training import LossLog, ReverseKL, Trainer
from tfp_flows.training.run_folder import RunFolder

__all__ = ["VIConfig", "kl_divergence", "run_vi", "run_vi_one"]

def kl_divergence(flow, name, log_z, n=20_000, seed=(7, 7)):
    """KL(q||p) estimated from `n` draws of q: returns (mean, standard error) in nats."""
    z, log_q = flow.sample_and_log_prob(n, seed=seed)
    terms = (log_q + tf.cast(energy(name, z), log_q.dtype)).numpy().astype(np.float64) + log_z
    return float(terms.mean()), float(terms.std(ddof=1) / np.sqrt(n))


def run_vi_one(config, target, kind, K, seed, log_z, log=print):
    """Train (or reuse, or resume) one run; returns (results, flow)."""
    path = Path(config.out) / f"{target}-{kind}-K{K}-seed{seed}"
    train = replace(config.train, seed=seed)
    seed_everything(seed)
    flow = VIFlow(kind, K, hidden=tuple(config.iaf_hidden), seed=seed)
    settings = {"target": target, "flow": kind, "K": K, "anneal": config.anneal,
                "iaf_hidden": config.iaf_hidden if kind == "iaf" else None,
                "kl_samples": config.kl_samples, "train": settings_of(train)}
    run, state = RunFolder.open(path, settings)  # another run's folder: refused, naming what differs
    if state == "finished":
        log(f"{path.name}: finished run reused (KL {run.results['kl']['mean']:.4f})")
        return run.results, run.load_weights(flow)
    if state == "resume":
        log(f"{path.name}: resuming")
    run.start(settings, as_dict(config))
    objective = ReverseKL(lambda z: energy(target, z), train.batch_size, anneal=config.anneal, seed=seed)
    trainer = Trainer(flow, objective, train, run, [LossLog(100)], log=log)
    fit = trainer.run(resume=run.resume)
    kl, se = kl_divergence(flow, target, log_z[0], n=config.kl_samples)
    res = {"target": target, "flow": kind, "K": K, "seed": seed, "n_params": flow.count_params(),
           "kl": {"mean": kl, "stderr": se}, "log_z": {"value": log_z[0], "grid_error": log_z[1]},
           "skipped_steps": fit["skipped_steps"], "steps": fit["steps"],
           "loss_history": [[r["step"], r["loss"]] for r in trainer.records if "loss" in r],
           "wall_seconds": fit["wall_seconds"], "settings": settings}
    run.write_results(res, "vi", flow)
    res = run.results  # the record as written: its kind, flow family and config added
    log(f"{path.name}: KL(q||p) = {kl:.4f} +- {2 * se:.4f} nats (2 se), {flow.count_params()} parameters")
    return res, flow


def run_vi(config: VIConfig, log: Callable[[str], Any] = print) -> List[Dict[str, Any]]:
    """Every run `config` asks for, then ``summary.json`` and the figures; returns the
    summary's runs (one entry per target, flow and K, over all seeds)."""
    unknown = [t for t in config.targets if t not in ENERGIES]
    if unknown:
        raise UsageError(f"unknown target(s) {unknown}; choose from {sorted(ENERGIES)}")
    if config.train.max_steps is None:  # checked here, before any work, rather than by the first run's trainer
        raise UsageError("--max-steps needs a number: reverse KL has no epochs to end a run")
    summary, flows = [], {}
    for target in config.targets:
        log_z = log_normaliser(target)
        log(f"{target}: log Z = {log_z[0]:.6f} (grid 1201^2 over [-6, 6]^2; halving the grid moves it by {log_z[1]:.1e})")
        for kind in config.flows:
            for K in config.K:
                per_seed = []
                for seed in config.seeds:
                    res, flow = run_vi_one(config, target, kind, K, seed, log_z, log=log)
                    per_seed.append(res)
                    flows.setdefault((target, kind, K), flow)
                kls = np.array([r["kl"]["mean"] for r in per_seed])
                entry = {"target": target, "flow": kind, "K": K, "n_params": per_seed[0]["n_params"],
                         "seeds": [r["seed"] for r in per_seed],
                         "kl_per_seed": [r["kl"] for r in per_seed],
                         "kl": {"mean": float(kls.mean()),
                                "sd_over_seeds": float(kls.std(ddof=1)) if len(kls) > 1 else None,
                                "stderr_of_mean": float(kls.std(ddof=1) / np.sqrt(len(kls))) if len(kls) > 1 else None},
                         "log_z": per_seed[0]["log_z"]}
                summary.append(entry)
                spread = (f" (sd over {len(kls)} seeds {entry['kl']['sd_over_seeds']:.4f})"
                          if len(kls) > 1 else " (one seed: no spread)")
                log(f"{target} {kind} K={K}: KL mean {entry['kl']['mean']:.4f}{spread}")

    # Merge with runs recorded by earlier invocations (other flows or K in the same --out).
    path = Path(config.out) / "summary.json"
    merged = {}
    for r in (read_json(path) or {}).get("runs", []):
        merged[(r["target"], r["flow"], r["K"])] = r
    for r in summary:
        merged[(r["target"], r["flow"], r["K"])] = r
    write_json_atomic(path, {"runs": list(merged.values())})
    if config.figure:
        for kind in config.flows:
            fig = vi_density_grid(config.targets, config.K,
                                  {(t, k): f for (t, f_kind, k), f in flows.items() if f_kind == kind},
                                  Path(config.out) / f"figure_{kind}.png", kind)
            log(f"figure: {fig}")
    return summary
