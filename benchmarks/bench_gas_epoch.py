"""P2's GAS protocol end to end, as users run it: one epoch of `tfp-flows-train-gas` with
the default (P2) settings on a generated 4,208,261-row GAS-format file, timed from the
command's start to its results.json (reading, preprocessing, compilation, training, the
test set scored every 1000 batches, the final evaluation).

With --baseline-tree DIR the same command runs from an earlier checkout (e.g. `git worktree
add data/bench/baseline-<commit> <commit>`) in the same repetitions, the two taking turns
in an order rotated every repetition, each a fresh process. The script then checks that
the two agree: the first evaluation's test log-likelihood to 1e-6 and the final test
log-likelihood within two standard errors.

With --baseline-python PATH the baseline runs under that interpreter, e.g. the pinned
stack's `.venv/bin/python` while this tree runs on today's (`make bench-gas-epoch
STACK=current` does so where .venv exists): the first evaluations then come from two
TensorFlows and are asked to agree to 1e-4 instead.

Writes benchmarks/results/gas_epoch.json and gas_epoch.md.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _machine import generated_gas, load_warning, machine, write_results  # noqa: E402

DEFAULT_DATA = ROOT / "data" / "bench" / "gas_4208261.txt"


def ensure_extension(tree, python=None):
    """A checkout made by `git worktree add` has no compiled GAS reader; build it in place
    (as `pip install -e .` does) so both trees read the file the same way."""
    if list((tree / "tfp_flows" / "datasets" / "gas").glob("_gasparse*.so")):
        return
    subprocess.run([python or sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree, check=True,
                   stdout=subprocess.DEVNULL)


def run_once(tree, data, work, name, seed, extra, python=None):
    """One `tfp-flows-train-gas` run from `tree`: (wall seconds, CPU seconds, results, metrics
    records, the printed lines with their times)."""
    out = work / f"run-{name}"
    shutil.rmtree(out, ignore_errors=True)
    cwd = work / f"cwd-{name}"  # the run's own data/gas/cache (kept: both trees read a cached file after rep 1)
    cwd.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(tree), "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [python or sys.executable, "-m", "tfp_flows.cli.train_gas", "--data", str(data), "--no-download",
           "--no-progress", "--seed", str(seed), "--out", str(out), *extra]
    log = work / f"{name}.log"
    used = resource.getrusage(resource.RUSAGE_CHILDREN)  # this command is the only child reaped below
    t = time.perf_counter()
    stamps = []  # (seconds since the start, line) of every line the command prints: its phases
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            stamps.append((round(time.perf_counter() - t, 2), line.rstrip()))
            f.write(line)
        status = proc.wait()
    seconds = time.perf_counter() - t
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (now.ru_utime - used.ru_utime) + (now.ru_stime - used.ru_stime)
    if status != 0:
        raise RuntimeError(f"{name}: tfp-flows-train-gas exited {status} (log: {log})")
    results = json.loads((out / "results.json").read_text())
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return seconds, cpu, results, records, stamps


def summary(seconds, cpu, results, records, stamps):
    evals = [r for r in records if "test_ll" in r]
    logged = [s for s, line in stamps if ": Batch " in line]  # P2's lines, one per evaluation during training
    gaps = [b - a for a, b in zip(logged, logged[1:])]
    phase = {"before_training_line": next((s for s, line in stamps if line.startswith("before training")), None),
             "first_evaluation_line": next((s for s, line in stamps if ": Batch 1:" in line), None)}
    return {"seconds": seconds, "cpu_seconds": cpu, "busy_share": cpu / (seconds * (os.cpu_count() or 1)),
            "seconds_between_evaluations": statistics.median(gaps) if gaps else None,
            "training_wall_seconds": results.get("wall_seconds"), "phases": phase,
            "lines": stamps, "steps": results.get("steps"), "evaluations": len(evals),
            "first_eval_test_ll": evals[0]["test_ll"] if evals else None,
            "test_ll": results["test_log_likelihood"]["mean"], "test_ll_stderr": results["test_log_likelihood"]["stderr"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="GAS-format file (default: %(default)s, generated once when missing)")
    p.add_argument("--rows", type=int, default=4_208_261, help="rows to generate (default: %(default)s)")
    p.add_argument("--baseline-tree", type=Path, default=None, metavar="DIR",
                   help="also run the command as the checkout in DIR has it, side by side")
    p.add_argument("--baseline-python", type=Path, default=None, metavar="PATH",
                   help="interpreter of the baseline's runs (default: this one)")
    p.add_argument("--reps", type=int, default=1, help="repetitions (default: %(default)s; each is 3-5 min per tree)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("extra", nargs="*", help="more tfp-flows-train-gas options, after --")
    args = p.parse_args(argv)
    if args.reps < 1 or args.rows < 1000:
        print("bench_gas_epoch: --reps must be at least 1 and --rows at least 1000", file=sys.stderr)
        return 2
    trees = {"tfp_flows": ROOT}
    if args.baseline_tree is not None:
        tree = args.baseline_tree.resolve()
        if not (tree / "tfp_flows" / "cli" / "train_gas.py").exists():
            print(f"bench_gas_epoch: {tree} is not a checkout of this project", file=sys.stderr)
            return 2
        if args.baseline_python is not None and not args.baseline_python.exists():
            print(f"bench_gas_epoch: {args.baseline_python}: no such interpreter", file=sys.stderr)
            return 2
        if args.baseline_python is not None:  # absolute (the runs start in other folders), not resolved (a venv's link)
            args.baseline_python = Path(os.path.abspath(args.baseline_python))
        ensure_extension(tree, args.baseline_python and str(args.baseline_python))
        trees["baseline"] = tree
    pythons = {"tfp_flows": sys.executable,
               "baseline": str(args.baseline_python) if args.baseline_python else sys.executable}
    warning = load_warning()
    if warning:
        print(warning, flush=True)
    sys.path.insert(0, str(ROOT))
    data = generated_gas(args.data, args.rows, args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench_gas_epoch_"))
    names = list(trees)
    runs = {k: [] for k in names}
    for rep in range(args.reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            print(f"repetition {rep + 1}: {name} ({trees[name]}) ...", flush=True)
            try:
                runs[name].append(summary(*run_once(trees[name], data, work, name, args.seed, args.extra,
                                                    pythons[name])))
            except RuntimeError as e:  # the command failed: its own message is in the log named
                print(f"bench_gas_epoch: {e}", file=sys.stderr)
                return 1
            r = runs[name][-1]
            print(f"  {r['seconds']:.1f} s; {r['steps']} steps, {r['evaluations']} evaluations; first evaluation "
                  f"{r['first_eval_test_ll']:.7f}; test log-likelihood {r['test_ll']:.5f} +- {2 * r['test_ll_stderr']:.5f}",
                  flush=True)
    results = {"machine": machine(), "load_warning": warning, "data": str(data), "seed": args.seed,
               "extra_args": args.extra, "trees": {k: str(v) for k, v in trees.items()}, "runs": runs,
               "pythons": {k: pythons[k] for k in trees}}
    lines = [f"One P2 epoch of `tfp-flows-train-gas` on {data.name}, seed {args.seed}, {args.reps} repetition(s)", "",
             "| tree | wall s (each repetition) | CPU s (share of the cores busy) | s to the before-training line "
             "| s to the first evaluation's line | s between evaluations (median) | steps | evaluations "
             "| first evaluation | final test LL +- 2 se |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        r = runs[name][-1]
        ph = r["phases"]
        gap = r["seconds_between_evaluations"]
        lines.append(f"| {name} | {' / '.join(format(x['seconds'], '.1f') for x in runs[name])} | "
                     f"{r['cpu_seconds']:.1f} ({r['busy_share']:.0%}) | "
                     f"{ph['before_training_line']} | {ph['first_evaluation_line']} | "
                     f"{'-' if gap is None else format(gap, '.2f')} | {r['steps']} | "
                     f"{r['evaluations']} | {r['first_eval_test_ll']:.7f} | "
                     f"{r['test_ll']:.5f} +- {2 * r['test_ll_stderr']:.5f} |")
    status = 0
    if "baseline" in runs:
        ratios = [b["seconds"] / a["seconds"] for a, b in zip(runs["tfp_flows"], runs["baseline"])]
        a, b = runs["tfp_flows"][-1], runs["baseline"][-1]
        first = abs(a["first_eval_test_ll"] - b["first_eval_test_ll"])
        final = abs(a["test_ll"] - b["test_ll"])
        two_se = 2 * max(a["test_ll_stderr"], b["test_ll_stderr"])
        same_stack = pythons["tfp_flows"] == pythons["baseline"]
        first_tol = 1e-6 if same_stack else 1e-4
        results.update(speedup=ratios, first_eval_difference=first, final_difference=final)
        lines += ["", f"baseline / tfp_flows wall time: {' / '.join(f'{x:.2f}' for x in ratios)}x (goal 1.5x)",
                  f"first evaluation differs by {first:.2e} (must be <= {first_tol:g}"
                  f"{'' if same_stack else ': two stacks'}): {'ok' if first <= first_tol else 'FAILED'}",
                  f"final test log-likelihood differs by {final:.5f} (2 se {two_se:.5f}): "
                  f"{'ok' if final <= two_se else 'FAILED'}"]
        if first > first_tol or final > two_se:
            status = 1
    if warning:
        lines += ["", warning]
    write_results(args.out, "gas_epoch", results, lines)
    shutil.rmtree(work, ignore_errors=True)  # kept only when a run failed (its message names the log)
    return status


if __name__ == "__main__":
    sys.exit(main())
