"""Run every reproduction script of a part and end with one summary line per section.

Usage: python reproductions/run_part.py part1|part2|vi [--seed N]

Exit status: 0 when every section passes (or is skipped for want of data), 1 when any
section fails, 2 on bad usage.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

PARTS = {
    "part1": [
        "p1_inverse_cdf.py",
        "p1_bijectors.py",
        "p1_mass_conservation.py",
        "p1_training_a_flow.py",
    ],
    "part2": [
        "p2_masking.py",
        "p2_gas.py",
        "p2_audio.py",
    ],
    "vi": [
        "vi_kl.py",
        "vi_affine_chain.py",
        "nf_spline_coupling.py",
    ],
}



def main(argv=None):
    from tfp_flows import cli

    parser = cli.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=sorted(PARTS), help="which part to run")
    cli.add_seed_option(parser, None, "seed passed to every script (None: each script's own)")
    parser.add_argument("--ledger", default=None,
                        help="ledger passed to every script (default: reproductions/ledger.json)")
    parser.add_argument("--results", type=Path, default=HERE / "results",
                        help="each script writes its results.json and figures to RESULTS/<script name> "
                             "(default: reproductions/results)")
    args = parser.parse_args(argv)

    summary = []
    for script in PARTS[args.part]:
        cmd = [sys.executable, str(HERE / script)]
        if args.seed is not None:
            cmd += ["--seed", str(args.seed)]
        if args.ledger is not None:
            cmd += ["--ledger", args.ledger]
        cmd += ["--out", str(args.results / Path(script).stem)]
        print(f"\n$ python reproductions/{' '.join(cmd[1:])[len(str(HERE)) + 1:]}", flush=True)
        last = []
        # Stream the script's output as it comes, keeping its verdict line.
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, bufsize=1, env=env) as proc:
            for line in proc.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                if line.startswith(("PASS", "FAIL", "SKIP")):
                    last.append(line.rstrip("\n"))
        status = {cli.EXIT_OK: "PASS", cli.EXIT_MISMATCH: "FAIL", cli.EXIT_SKIPPED: "SKIP"}.get(proc.returncode, "ERROR")
        summary.append((status, last[-1] if last else f"{status}  {script} (exit {proc.returncode})"))

    print(f"\n== {args.part} summary")
    for _, line in summary:
        print(line)
    return cli.EXIT_MISMATCH if any(s in ("FAIL", "ERROR") for s, _ in summary) else cli.EXIT_OK


if __name__ == "__main__":
    from tfp_flows.cli import run

    sys.exit(run(main))
