"""Compatibility alias: `python -m tfp_flows.score_audio` runs `tfp_flows.cli.score_audio`."""

from tfp_flows.cli.score_audio import entry_point, main

__all__ = ["entry_point", "main"]

if __name__ == "__main__":
    entry_point()
