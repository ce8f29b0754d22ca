"""Compatibility alias: `python -m tfp_flows.score` runs `tfp_flows.cli.score`."""

from tfp_flows.cli.score import entry_point, main

__all__ = ["entry_point", "main"]

if __name__ == "__main__":
    entry_point()
