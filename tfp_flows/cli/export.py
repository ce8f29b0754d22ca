"""Export a finished run as a TensorFlow SavedModel: `tfp-flows-export --run RUN --out DIR`.

The SavedModel has serving signatures ``log_prob(x: float32[None, D]) -> float32[None]``
and ``sample(n: int32) -> float32[n, D]``, with batch norm in evaluation mode and the
run's standardisation baked in: `log_prob` takes raw (unstandardised) rows and returns
their log-density (the standardisation's Jacobian included); `sample` returns raw units.
TensorFlow alone loads it (``tf.saved_model.load(DIR)``, or TensorFlow Serving);
``DIR/tfp_flows.json`` records the run's kind, columns or features and flag threshold.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from tfp_flows._lazy import lazy_callable
from tfp_flows.cli.options import config_command

export_run = lazy_callable("tfp_flows.experiments.export:export_run")  # TensorFlow: when the command runs

__all__ = ["ExportConfig", "build_parser", "entry_point", "main"]


@dataclass
class ExportConfig:
    """What `tfp-flows-export` exports, and where."""

    run: Optional[Path] = field(default=None, metadata={
        "help": "a finished GAS, table, image, speech or VI run folder", "required": True})
    out: Optional[Path] = field(default=None, metadata={
        "help": "the SavedModel folder to write (must not exist)", "required": True})


def export(config, log=print):
    """Export `config.run` to `config.out`; returns the SavedModel folder."""
    path = export_run(config.run, config.out)
    log(f"SavedModel: {path}")
    return path


build_parser, main, entry_point = config_command("export", __doc__, ExportConfig, "tfp_flows.cli.export:export")

if __name__ == "__main__":
    entry_point()
