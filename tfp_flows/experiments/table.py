"""A flow on a table of your own, as a function: `run_table(config)`.

Reads a CSV, TSV or Parquet file (`tfp_flows.datasets.table`), shuffles its rows with
the seed into training, validation and test rows (80/10/10 by default), standardises
every column (and every context column) with the training rows' mean and sd, and
trains a flow family (`--flow`, conditional on the context columns when there are
any) with the suite's trainer, evaluation schedule, early stopping on the validation
rows and run folder. results.json records the columns, the standardisation and a
flagging threshold, so `tfp-flows-score` and `tfp-flows-export` take the run as they
take a GAS run.
"""

from typing import Any, Callable, Dict

import numpy as np

from tfp_flows.configs import as_dict
from tfp_flows.datasets.table import read_table, split_rows, standardise
from tfp_flows.errors import UsageError
from tfp_flows.experiments.anomaly import threshold_from
from tfp_flows.experiments.configs import TableConfig, settings_of
from tfp_flows.experiments.fitting import fit_maximum_likelihood, open_run
from tfp_flows.flows.registry import build_flow
from tfp_flows.seeding import seed_everything
from tfp_flows.training import Evaluator, mean_and_stderr

__all__ = ["TableConfig", "run_table"]


def run_table(config: TableConfig, log: Callable[[str], Any] = print) -> Dict[str, Any]:
    """Train a flow on `config.data` as `config` says; returns the results (also written,
    last and atomically, to ``<run folder>/results.json``).

    Raises:
      ValueError: a bad table (one line naming the file and the row or column).
      UsageError: bad settings, or a run folder that holds another run.
    """
    cfg = config
    if cfg.data is None:
        raise UsageError("--data FILE is needed (a CSV, TSV or Parquet table with a header row)")
    for name in ("test_fraction", "val_fraction"):
        if not 0 < getattr(cfg, name) < 0.5:
            raise UsageError(f"--{name.replace('_', '-')} must be in (0, 0.5), got {getattr(cfg, name)}")
    if cfg.flow == "realnvp" and cfg.columns is not None and len(cfg.columns) < 2:
        raise UsageError("--flow realnvp needs at least two --columns (a coupling splits the columns in two)")
    # Everything that can fail on the data happens before the run folder is opened.
    table = read_table(cfg.data, cfg.columns, cfg.context_columns or ())
    if cfg.flow == "realnvp" and table.x.shape[1] < 2:
        raise UsageError("--flow realnvp needs at least two columns (a coupling splits the columns in two)")
    train_rows, val_rows, test_rows = split_rows(len(table.x), cfg.train.seed, cfg.test_fraction, cfg.val_fraction)
    mean, std = standardise(table.x, train_rows)
    x = ((table.x - mean) / std).astype(np.float32)
    conditional = table.context is not None
    if conditional:
        c_mean, c_std = standardise(table.context, train_rows)
        c = ((table.context - c_mean) / c_std).astype(np.float32)

    def part(rows):
        return (x[rows], c[rows]) if conditional else x[rows]

    strategy, run = open_run(cfg, cfg.run_dir())
    log(f"{cfg.data}: {len(x)} rows; learning {' '.join(table.columns)}"
        + (f" given {' '.join(table.context_columns)}" if conditional else "")
        + f"; {len(train_rows)} train, {len(val_rows)} validation, {len(test_rows)} test rows")
    seed_everything(cfg.train.seed)
    flow = build_flow(cfg.flow, x.shape[1], cfg.model, cfg.train.seed, strategy,
                      context_dims=table.context.shape[1] if conditional else 0)
    evaluator = Evaluator(flow, cfg.train.bn_eval, cfg.train.eval_batch_size)
    fit, best_val, (settings, _) = fit_maximum_likelihood(
        flow, evaluator, part(train_rows), {"test": part(test_rows)}, part(val_rows), cfg.train, run, log, strategy,
        start=lambda: run.start(settings_of(cfg, cfg.data), as_dict(cfg), lambda: {}))
    test_mean, test_se = mean_and_stderr(evaluator.log_prob(part(test_rows)))
    threshold = threshold_from(evaluator.log_prob(part(val_rows)), cfg.threshold_quantile)
    results = {
        "data": str(cfg.data), "n_rows": int(len(x)), "n_params": flow.count_params(),
        "n_train": int(len(train_rows)), "n_val": int(len(val_rows)), "n_test": int(len(test_rows)),
        "test_log_likelihood": {"mean": test_mean, "stderr": test_se}, "bn_eval": cfg.train.bn_eval,
        **fit, "best_val_log_likelihood": best_val, "seed": cfg.train.seed, "settings": settings,
        # log-densities here are of the standardised columns; the raw rows' are lower by sum(log std)
        "standardisation": {"columns": table.columns, "mean": mean.tolist(), "std": std.tolist()},
        "context_standardisation": ({"columns": table.context_columns, "mean": c_mean.tolist(),
                                     "std": c_std.tolist()} if conditional else None),
        "threshold": {"value": threshold, "quantile": cfg.threshold_quantile, "reference": "validation rows"},
    }
    if run.write_results(results, "table", flow) is None:
        return run.results
    log(f"test log-likelihood {test_mean:.4f} +- {2 * test_se:.4f} (2 se, standardised columns); "
        f"results: {run.path / 'results.json'}")
    return run.results
