"""Compatibility alias: `python -m tfp_flows.synth_speech` runs `tfp_flows.cli.synth_speech`."""

from tfp_flows.cli.synth_speech import entry_point, main

__all__ = ["entry_point", "main"]

if __name__ == "__main__":
    entry_point()
