"""The numbers the two stacks must agree on, computed by this interpreter's stack: printed
as one JSON object on the last line. Run by tests/test_stacks.py once per venv.

    python tests/stacks/stack_numbers.py OUT_DIR

P1's four sections and P2's masking (run_part.py's scripts, seed 2019 / their defaults),
a seeded GAS run (p2_gas.py --synthetic 20000, one epoch, seed 0), and the VI direction
(planar flows on U1, K = 2 and 8, 1500 steps without annealing, seed 0).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPRO = ROOT / "reproductions"


def run(cmd, env):
    proc = subprocess.run([sys.executable, *map(str, cmd)], capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode not in (0, 1):  # 1: a check failed, which the comparison reports
        sys.exit(f"{' '.join(map(str, cmd))} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")


def rows(results_json):
    data = json.loads(Path(results_json).read_text())
    return {f"{data['section']} / {r['quantity']}": {"ok": r["ok"], "reproduced": r["reproduced"],
                                                     "value": r.get("reproduced_value")} for r in data["rows"]}


def main():
    out = Path(sys.argv[1])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    import tensorflow as tf

    numbers = {"tensorflow": tf.__version__, "python": sys.version.split()[0], "rows": {}}
    run([REPRO / "run_part.py", "part1", "--results", out / "part1"], env)
    for script in ("p1_inverse_cdf", "p1_bijectors", "p1_mass_conservation", "p1_training_a_flow"):
        numbers["rows"].update(rows(out / "part1" / script / "results.json"))
    run([REPRO / "p2_masking.py", "--out", out / "p2_masking"], env)
    numbers["rows"].update(rows(out / "p2_masking" / "results.json"))
    run([REPRO / "p2_gas.py", "--synthetic", "20000", "--epochs", "1", "--seed", "0", "--no-progress",
         "--out", out / "p2_gas"], env)
    gas = json.loads((out / "p2_gas" / "results.json").read_text())
    numbers["gas"] = gas
    run(["-m", "tfp_flows.cli.train_vi", "--targets", "U1", "--K", "2", "8", "--seeds", "0", "--max-steps", "1500",
         "--kl-samples", "5000", "--no-anneal", "--no-progress", "--no-figure", "--out", out / "vi"], env)
    numbers["vi"] = json.loads((out / "vi" / "summary.json").read_text())
    print(json.dumps(numbers))


if __name__ == "__main__":
    main()
