"""The MAF paper's image table (its Table 2) on Fashion-MNIST (`tfp-flows-train-images`).

Trains Gaussian, MADE, MADE MoG, Real NVP (5) and (10), MAF (5) and (10) and MAF MoG (5),
each unconditional and conditioned on the one-hot class, on Fashion-MNIST prepared as
the MAF paper prepared MNIST (uniform dequantisation, /256, logit with lambda = 1e-6; the
last 10% of the training images for early stopping), and prints per row the test
log-likelihood in logit space (the paper's unit) and bits per pixel, each +- 2
standard errors, and for conditional rows the accuracy of the flow as a classifier.

--schedule sets the defaults of the model and training options: "default" finishes
every row on 2 cores in under an hour; "paper" is the paper's (1024 hidden units, Adam
1e-4, batch 100, early stopping after 30 epochs without progress). Any option given on
the command line wins over the schedule. Each row trains in <out>/<model>-<conditioning>;
a finished row is reported, not trained again, and an interrupted one resumes, so the
command can be stopped and run again. The table goes to <out>/table.md and table.json.

    tfp-flows-train-images --data /usr/share/datasets/fashion-mnist
    tfp-flows-train-images --data data/fashion_mnist --models gaussian maf-5 --conditioning conditional
"""

import argparse
import sys

from tfp_flows import cli
from tfp_flows._lazy import lazy_callable
from tfp_flows.cli.options import add_config_options, config_from_args
from tfp_flows.experiments.configs import SCHEDULES, ImagesConfig, schedule_config

run_images = lazy_callable("tfp_flows.experiments.images:run_images")  # TensorFlow: when the command runs

__all__ = ["build_parser", "config_of", "entry_point", "main"]

PROG = "tfp-flows-train-images"


def _schedule_of(argv):
    """The --schedule on the command line (default: "default"); its full check is the parser's."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--schedule", default="default")
    known, _ = pre.parse_known_args(argv)
    return known.schedule


def build_parser(schedule="default"):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = schedule_config(schedule if schedule in SCHEDULES else "default")
    return add_config_options(parser, ImagesConfig, default=default)


def config_of(argv):
    """The `ImagesConfig` the command line `argv` asks for: its schedule's settings, then
    the options it gives."""
    schedule = _schedule_of(argv)
    args = build_parser(schedule).parse_args(argv)  # an unknown schedule is refused here
    return config_from_args(ImagesConfig, args, schedule_config(schedule if schedule in SCHEDULES else "default"))


def main(argv=None, log=print):
    run_images(config_of(sys.argv[1:] if argv is None else list(argv)), log=log)
    return 0


def entry_point():
    sys.exit(cli.run(main, prog=PROG))


if __name__ == "__main__":
    entry_point()
