"""GAS loading speed: tfp_flows.datasets.gas.read_gas (first parse and cached) against
pandas.read_csv(sep=r"\\s+") on a generated 4,208,261-row GAS-format file.

"First parse" is everything a first call with a cache folder does: map the file, hash
it (for the cache key), parse it, and write the .npy cache; "cached" is a second call.
Prints rows/s for each over --reps repetitions (min, median, max), checks the goals
(first parse at least 3x pandas, cached under 1 s, medians), and writes
benchmarks/results/gas_load.json and gas_load.md. The file is generated once into
data/bench/ (about 540 MB) and reused.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _machine import generated_gas, machine  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=4_208_261)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--data", type=Path, default=Path("data/bench"))
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)

    import pandas as pd

    import tfp_flows.datasets.gas.reader as gas
    from tfp_flows.datasets.gas import read_gas

    path = generated_gas(args.data / f"gas_{args.rows}.txt", args.rows)
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
    res["c_reader"] = gas._gasparse is not None
    res["cpu"] = machine()["cpu"]
    res["cpu_count"] = os.cpu_count()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gas_load.json").write_text(json.dumps(res, indent=2) + "\n")
    lines = ["| loader | seconds (min / median / max) | rows/s (median) |", "|---|---|---|"]
    for k, v in times.items():
        lines.append(f"| {k} | {min(v):.2f} / {np.median(v):.2f} / {max(v):.2f} | {res[k]['rows_per_s_median']:,.0f} |")
    ratio, cached = res["first_parse_vs_pandas_median"], float(np.median(times["read_gas_cached"]))
    lines.append(f"\n{args.rows:,} rows; {res['cpu']}, {res['cpu_count']} logical cores; "
                 f"C reader {'built' if res['c_reader'] else 'NOT built (NumPy fallback)'}")
    lines.append(f"goal: first parse >= 3x pandas (median): {ratio:.2f}x: {'MET' if ratio >= 3 else 'NOT MET'}")
    lines.append(f"goal: cached load < 1 s (median): {cached:.2f} s: {'MET' if cached < 1 else 'NOT MET'}")
    (args.out / "gas_load.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
