"""Title: Autoregressivity and masking
Source: P2, "Experimenting with autoregressive flows in TensorFlow Probability" (RStudio AI
        Blog, 2019-04-24), section "Autoregressivity and masking".
Expected: TFP's MADE mask for 3 inputs and 4 units is [[0,0,0],[1,0,0],[1,1,0],[1,1,1]] before
          transposing, so the kernel mask is [[0,1,1,1],[0,0,1,1],[0,0,0,1]]; a masked dense
          layer applied to the 2x3 input 1..6 gives a first output column of exactly 0. The
          other outputs depend on the random kernel and are shown, not checked.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None):
    from tfp_flows import cli

    parser = cli.reproduction_parser(__doc__, HERE / "ledger.json", HERE / "results" / "p2_masking")
    args = parser.parse_args(argv)

    # Setup
    import numpy as np
    import tensorflow as tf
    import tensorflow_probability as tfp
    # P2 called this module's `_gen_mask` too: it is where TFP's MADE masks are made.
    from tensorflow_probability.python.bijectors import masked_autoregressive as tfp_made

    from tfp_flows import seed_everything
    from tfp_flows.ledger import Report, finish, load_ledger

    seed_everything(args.seed)
    report = Report("P2 / Autoregressivity and masking", load_ledger(args.ledger))

    # The mask: unit k of 4 may see inputs 1..k-1 of 3 (exclusive: not its own degree).
    mask = tfp_made._gen_mask(num_blocks=3, n_in=3, n_out=4, mask_type=tfp_made.MASK_EXCLUSIVE)
    print("mask (units x inputs):\n", mask)
    print("kernel mask (inputs x units):\n", mask.T)
    report.compare("p2.masking.mask", mask.ravel())
    report.compare("p2.masking.kernel_mask", mask.T.ravel())

    # TFP's masked dense layer on the toy input.
    x = tf.constant(np.arange(1, 7, dtype=np.float64).reshape(2, 3))
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tfp.bijectors.masked_dense(inputs=x, units=4, num_blocks=3, exclusive=True)
    print("output:\n", out.numpy().round(3))
    report.compare("p2.masking.first_column", out.numpy()[:, 0])
    report.info("the other outputs (first row)", out.numpy()[0, 1:],
                published=report.entry("p2.masking.random_outputs").published_text)

    # Autoregressivity, checked through gradients: output j may depend on input i only
    # where the kernel mask allows it.
    jac = tape.batch_jacobian(out, x).numpy()  # [2, 4, 3]
    report.compare("p2.masking.autoregressive", np.abs(jac * (1 - mask)[None]).max())

    return finish(report, args.out, {"seed": args.seed, "output": out.numpy().tolist()})


if __name__ == "__main__":
    from tfp_flows.cli import run

    sys.exit(run(main))
