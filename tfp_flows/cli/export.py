"""Export a finished run as a TensorFlow SavedModel: `tfp-flows-export --run RUN --out DIR`.

The SavedModel has serving signatures ``log_prob(x: float32[None, D]) -> float32[None]``
and ``sample(n: int32) -> float32[n, D]``, with batch norm in evaluation mode and the
run's standardisation baked in: `log_prob` takes raw (unstandardised) rows and returns
their log-density (the standardisation's Jacobian included); `sample` returns raw units.
TensorFlow alone loads it (``tf.saved_model.load(DIR)``, or TensorFlow Serving);
``DIR/tfp_flows.json`` records the run's kind, columns or features and flag threshold.
"""

import argparse
import sys
from pathlib import Path

from tfp_flows import cli

__all__ = ["entry_point", "main"]


def main(argv=None, log=print):
    p = cli.ArgumentParser(prog="export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="a finished GAS, speech or VI run folder")
    p.add_argument("--out", type=Path, required=True, help="the SavedModel folder to write (must not exist)")
    args = p.parse_args(argv)
    from tfp_flows.experiments.export import export_run

    log(f"SavedModel: {export_run(args.run, args.out)}")
    return 0


def entry_point():
    sys.exit(cli.run(main, prog="export"))


if __name__ == "__main__":
    entry_point()
