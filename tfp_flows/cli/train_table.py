"""Train a flow on a table of your own (`tfp-flows-train-table --data FILE`).

Reads a CSV, TSV or Parquet file with a header row (a text one may be compressed:
.csv.gz, .tsv.bz2, .txt.xz); learns the density of --columns (default: all),
conditioned on --context-columns when given (p(columns | context)), with any of the
six flow families (--flow; the MAF layers start from fan-in kernels, --init). Rows
are shuffled with --seed into 80% training, 10% validation (early stopping, the
flagging threshold) and 10% test; every column is standardised with the training
rows' mean and sd. The run folder (--out) receives config.json, checkpoints,
metrics.jsonl, TensorBoard logs and, at the end, results.json; then `tfp-flows-score
RUN new_rows.csv` scores new rows of the same columns, and `tfp-flows-export RUN --out
MODEL` writes a SavedModel.

A missing value, a non-numeric value (dates and times included), a constant column, a
value too large to standardise, a blank header cell or an unknown column name is one
line naming the row or column.
"""

from tfp_flows.cli.options import config_command
from tfp_flows.experiments.configs import TableConfig

__all__ = ["build_parser", "entry_point", "main"]


build_parser, main, entry_point = config_command("train-table", __doc__, TableConfig,
                                                 "tfp_flows.experiments.table:run_table")

if __name__ == "__main__":
    entry_point()
