"""What every benchmark shares: what it records about the machine, its warning about a busy
one, and how it writes its results."""

import json
import os
import platform
from pathlib import Path

# A run counts only on an otherwise idle machine: PyTorch slows more than XLA when other
# processes take cycles, which flatters tfp_flows (a busy run once printed 1.73x where idle
# runs print 1.3-1.4x). Above this 1-minute load average per core the benchmarks warn.
BUSY_LOAD_PER_CORE = 0.25


def machine():
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "logical_cores": os.cpu_count(), "system": platform.platform(),
            "load_average_at_start": list(load_average() or ()),
            "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
                    if k in os.environ}}


def nominal_peak_gflops():
    """The CPU's nominal float32 peak: cores x clock x FLOP per cycle from its vector units
    (AVX-512: 2 FMA units x 16 lanes x 2 = 64; AVX2 with FMA: 32; else 8), as a dict with
    how it was computed, or None where /proc/cpuinfo does not tell. An upper bound: a core
    with one AVX-512 FMA unit, or one that lowers its clock under AVX-512, reaches less."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    mhz = [float(line.split(":", 1)[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    if not mhz:
        return None
    per_cycle = 64 if "avx512f" in flags else 32 if ("avx2" in flags and "fma" in flags) else 8
    cores = os.cpu_count() or 1
    ghz = max(mhz) / 1000
    return {"gflops": cores * ghz * per_cycle, "how": f"{cores} cores x {ghz:.2f} GHz x {per_cycle} FLOP/cycle"}


def matmul_gflops(n=2048, reps=20):
    """The machine's achievable float32 rate by TensorFlow: an n x n product on all cores,
    best of 3 (TensorFlow is imported here, in the worker that asks)."""
    import time

    import tensorflow as tf

    a = tf.random.normal([n, n])

    @tf.function
    def run(a):
        out = a
        for _ in range(reps):
            out = tf.matmul(a, out) * 1e-3
        return out
    run(a).numpy()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        run(a).numpy()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 * reps / best / 1e9


def load_average():
    try:
        return os.getloadavg()
    except OSError:  # not available on this platform
        return None


def load_warning(threshold=BUSY_LOAD_PER_CORE):
    """A one-line warning when the machine is busy at the start (None when it is idle)."""
    load = load_average()
    cores = os.cpu_count() or 1
    if load is None or load[0] / cores <= threshold:
        return None
    return (f"WARNING: load average {load[0]:.2f} on {cores} cores at the start: other processes are running, so the "
            "timings are slowed and noisy, and ratios against PyTorch flattered (it slows more than XLA on a busy CPU); "
            "only runs on an otherwise idle machine count (benchmarks/README.md)")


def write_results(out, stem, results, lines):
    """<out>/<stem>.json (the results) and <stem>.md (the report `lines`), then print the report."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def generated_gas(path, rows, seed=0):
    """The generated GAS-format file at `path`, written once (`write_synthetic_gas` writes
    it atomically) and reused by every benchmark that reads it."""
    if not path.exists():
        from tfp_flows.datasets.gas import write_synthetic_gas

        print(f"writing {rows:,} generated GAS rows to {path} (once)", flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_synthetic_gas(path, rows, seed=seed)
    return path
