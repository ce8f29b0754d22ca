"""P2's masked autoregressive flow on the UCI GAS data, as a function: `run_gas(config)`.

Defaults are P2's configuration: recipe "blog", 10 MAF layers of 2 x 100 tanh units,
batch normalisation and reversals, Adam 1e-4, batch 100, one epoch, the test set
evaluated every 1000 batches. The run folder receives config.json (at the start),
checkpoints/, metrics.jsonl, tensorboard/ and, last, results.json.
"""

from pathlib import Path
from typing import Any, Callable, Dict

import tensorflow as tf

from tfp_flows.configs import as_dict
from tfp_flows.datasets.gas import download_gas, prepare_gas, read_gas
from tfp_flows.experiments.anomaly import threshold_from
from tfp_flows.experiments.configs import DEFAULT_GAS_DATA, GasConfig, settings_of
from tfp_flows.experiments.fitting import fit_maximum_likelihood, open_run
from tfp_flows.flows.registry import build_flow
from tfp_flows.seeding import seed_everything
from tfp_flows.training import Evaluator, evaluate_log_likelihood, mean_and_stderr

__all__ = ["DEFAULT_GAS_DATA", "GasConfig", "run_gas"]



def run_gas(config: GasConfig, log: Callable[[str], Any] = print) -> Dict[str, Any]:
    """Train P2's MAF on a GAS file as `config` says; returns the results (also written,
    last and atomically, to ``<run folder>/results.json``).

    Raises:
      ValueError: bad data (one line naming the file and line), a non-finite loss, or a
        run folder that holds another run (`UsageError`).
    """
    cfg, out = config, config.run_dir()
    strategy, run = open_run(cfg, out)  # first: the strategy starts before anything runs TensorFlow
    data = Path(cfg.data)
    if not data.exists() and cfg.download and data == DEFAULT_GAS_DATA:
        log(f"{data} is missing; downloading the UCI archive")
        data = download_gas(data.parent, progress=cfg.train.progress)
    if not data.exists():
        hint = ("pass --download to fetch the UCI archive, or `make train-gas`" if data == DEFAULT_GAS_DATA
                else "pass --data PATH of a GAS-format file")
        raise ValueError(f"{data}: no such file ({hint}; see README, 'Data')")
    # Everything that can fail on the data happens before the run folder is created.
    values = read_gas(data, max_rows=cfg.max_rows, cache_dir=Path("data/gas/cache"))
    splits = prepare_gas(values, cfg.recipe, seed=cfg.train.seed)
    log(f"{data}: {len(values)} rows; recipe {cfg.recipe!r} keeps {' '.join(splits.columns_kept)}; "
        f"{splits.sizes()}")
    seed_everything(cfg.train.seed)
    flow = build_flow(cfg.flow, splits.dims, cfg.model, cfg.train.seed, strategy)
    evaluator = Evaluator(flow, cfg.train.bn_eval, cfg.train.eval_batch_size)

    base_log_prob = tf.function(flow.base.log_prob)

    def before_training():
        before = {"flow_train": evaluator(splits.train)[0], "flow_test": evaluator(splits.test)[0],
                  "base_train": evaluate_log_likelihood(base_log_prob, splits.train)[0],
                  "base_test": evaluate_log_likelihood(base_log_prob, splits.test)[0]}
        log("before training: base train {base_train:.5f} test {base_test:.5f}; "
            "flow train {flow_train:.5f} test {flow_test:.5f}".format(**before))
        return {"before_training": before}

    # The scores before training are taken while the training loop compiles.
    fit, best_val, (settings, started) = fit_maximum_likelihood(
        flow, evaluator, splits.train, {"test": splits.test}, splits.val, cfg.train, run, log, strategy,
        start=lambda: run.start(settings_of(cfg, data), as_dict(cfg), before_training))

    test_ll = evaluator.log_prob(splits.test)  # scored once: the figure and, without a validation set, the threshold
    test_mean, test_se = mean_and_stderr(test_ll)
    base_ll = evaluate_log_likelihood(base_log_prob, splits.test, cfg.train.eval_batch_size)[0]
    reference_ll = evaluator.log_prob(splits.val) if splits.val is not None else test_ll
    threshold = threshold_from(reference_ll, cfg.threshold_quantile)
    results = {
        "data": str(data), "recipe": cfg.recipe, "columns_kept": splits.columns_kept,
        "n_rows": int(len(values)), "n_params": flow.count_params(),
        "before_training": started.get("before_training", {}), **splits.sizes(),
        "test_log_likelihood": {"mean": test_mean, "stderr": test_se},
        "base_log_likelihood_test": base_ll, "bn_eval": cfg.train.bn_eval,
        **fit, "best_val_log_likelihood": best_val,
        "seed": cfg.train.seed, "settings": settings,
        # log-densities here are of the standardised columns; the raw rows' are lower by
        # sum(log std) (tfp_flows.experiments.export bakes that in)
        "standardisation": {"columns": splits.columns_kept, "mean": splits.mean.tolist(),
                            "std": splits.std.tolist()},
        "threshold": {"value": threshold, "quantile": cfg.threshold_quantile,
                      "reference": "validation rows" if splits.val is not None else "test rows"},
    }
    if run.write_results(results, "gas", flow) is None:  # a multi-worker run's other workers: the chief writes them
        return run.results
    log(f"test log-likelihood {test_mean:.4f} +- {2 * test_se:.4f} (2 se); base {base_ll:.4f}; "
        f"results: {out / 'results.json'}")
    return run.results
