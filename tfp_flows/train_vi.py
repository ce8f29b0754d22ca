"""Compatibility alias: `python -m tfp_flows.train_vi` runs `tfp_flows.cli.train_vi`."""

from tfp_flows.cli.train_vi import entry_point, main

__all__ = ["entry_point", "main"]

if __name__ == "__main__":
    entry_point()
