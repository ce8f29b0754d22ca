"""GAS loading speed: tfp_flows.gas.read_gas (first parse and cached) against
pandas.read_csv(sep=r"\\s+") on a generated 4,208,261-row GAS-format file.

Prints rows/s for each, over --reps repetitions (min, median, max), and writes
benchmarks/results/gas_load.json and gas_load.md. The file is generated once into
data/bench/ (about 540 MB) and reused.
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=4_208_261)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--data", type=Path, default=Path("data/bench"))
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)

    import pandas as pd

    from tfp_flows.gas import read_gas, write_synthetic_gas

    path = args.data / f"gas_{args.rows}.txt"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        write_synthetic_gas(path, args.rows, seed=0)
    times = {"read_gas_first_parse": [], "read_gas_cached": [], "pandas_read_csv": []}
    for rep in range(args.reps):
        cache = Path(tempfile.mkdtemp())
        t = time.perf_counter()
        a = read_gas(path, cache_dir=cache)
        times["read_gas_first_parse"].append(time.perf_counter() - t)
        t = time.perf_counter()
        b = read_gas(path, cache_dir=cache)
        times["read_gas_cached"].append(time.perf_counter() - t)
        shutil.rmtree(cache)
        t = time.perf_counter()
        df = pd.read_csv(path, sep=r"\s+", skiprows=1, header=None)
        times["pandas_read_csv"].append(time.perf_counter() - t)
        assert np.array_equal(a, b) and np.allclose(df.values, a)
        print(f"repetition {rep + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    res = {k: {"seconds": v, "rows_per_s_median": args.rows / float(np.median(v))} for k, v in times.items()}
    res["first_parse_vs_pandas_median"] = float(np.median(times["pandas_read_csv"]) / np.median(times["read_gas_first_parse"]))
    res["rows"] = args.rows
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gas_load.json").write_text(json.dumps(res, indent=2) + "\n")
    lines = ["| loader | seconds (min / median / max) | rows/s (median) |", "|---|---|---|"]
    for k, v in times.items():
        lines.append(f"| {k} | {min(v):.2f} / {np.median(v):.2f} / {max(v):.2f} | {res[k]['rows_per_s_median']:,.0f} |")
    lines.append(f"\nfirst parse speed vs pandas (median): {res['first_parse_vs_pandas_median']:.2f}x")
    (args.out / "gas_load.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
