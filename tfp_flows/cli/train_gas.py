"""Train P2's masked autoregressive flow on the UCI GAS data (`tfp-flows-train-gas`).

Defaults are P2's configuration: recipe "blog", 10 MAF layers of 2 x 100 tanh units,
batch normalisation and reversals, Adam 1e-4, batch 100, one epoch, the test set
evaluated every 1000 batches. The run folder (--out) receives config.json,
checkpoints, metrics.jsonl, TensorBoard logs and, at the end, results.json.
"""

from tfp_flows.cli.options import config_command
from tfp_flows.experiments.configs import GasConfig

__all__ = ["build_parser", "entry_point", "main"]


build_parser, main, entry_point = config_command("train-gas", __doc__, GasConfig, "tfp_flows.experiments.gas:run_gas")

if __name__ == "__main__":
    entry_point()
