"""Compatibility alias: `python -m tfp_flows.train_gas` runs `tfp_flows.cli.train_gas`."""

from tfp_flows.cli.train_gas import entry_point, main

__all__ = ["entry_point", "main"]

if __name__ == "__main__":
    entry_point()
