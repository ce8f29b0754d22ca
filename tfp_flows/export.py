"""Compatibility alias: `python -m tfp_flows.export` runs `tfp_flows.cli.export`."""

from tfp_flows.cli.export import entry_point, main

__all__ = ["entry_point", "main"]

if __name__ == "__main__":
    entry_point()
