"""Fit flows to the 2-D energies U1..U4 by minimising the reverse KL (`tfp-flows-train-vi`, `make vi`).

For every target, flow kind, K and seed, trains K planar (or radial, or IAF) layers on a
standard normal base in ``<out>/<target>-<flow>-K<K>-seed<seed>/`` (a finished run with
the same settings is reused, an interrupted one resumed), then writes
``<out>/summary.json`` with KL(q||p) per seed and its mean and spread over the seeds,
and one figure per flow kind, ``<out>/figure_<flow>.png``: the true density beside the
flow's density for each K, in the layout of the paper's Figure 3.
"""

from tfp_flows import cli
from tfp_flows.cli.options import config_command
from tfp_flows.experiments.configs import VIConfig

__all__ = ["build_parser", "entry_point", "main"]


def _check_out(config):
    cli.writable_dir(str(config.out))


build_parser, main, entry_point = config_command(
    "train-vi", __doc__, VIConfig, "tfp_flows.experiments.vi:run_vi", prepare=_check_out)

if __name__ == "__main__":
    entry_point()
