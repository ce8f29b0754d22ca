"""Speech feature extraction: the tf.data + tensorflow-io pipeline against the old path.

The old path is the hand-written decoder this project had before the pipeline
(Python's `wave` per clip, `tf.audio.decode_wav`, scipy resampling, then the feature
over all clips at once), run from an earlier checkout given with --baseline-tree (make
bench-speech makes one with `git worktree` at commit cab65fe, the last one with that
decoder). The new path is `tfp_flows.datasets.speech.extract_features`: a first pass
(decode, featurise in parallel, write the cache) and a cached pass (read the cache).

Each measurement runs in its own process (TensorFlow imported before the clock
starts), the three kinds taking turns over --reps repetitions. Clips come from a
Speech-Commands-shaped folder (default: 5,010 clips spoken by espeak-ng, generated into
data/bench/ once). Prints clips/s (min, median, max), checks the goals of issue 11
(first pass at least 2x the old path; cached pass under 1 s per 5,000 clips), and
writes benchmarks/results/speech_features.json and .md.

With --stacks PINNED_PYTHON CURRENT_PYTHON (make bench-speech-stacks), it times instead the
first pass of the same pipeline on the two stacks, side by side: the pinned venv's Python
(TF 2.16, tensorflow-io decoding) and today's (TF 2.21, soundfile + SciPy), taking turns,
each in its own process with an empty cache; the goal of issue 28 is a ratio today/pinned
of at least 0.8 (median of the repetitions' ratios). Writes speech_stacks.json and .md.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _machine import machine, write_results  # noqa: E402  (one description of the machine for every benchmark)

DEFAULT_CLIPS = Path("data/bench/speech_espeak_5010")


def _worker(args):
    """One measurement; prints {"seconds", "clips", "rows"} as JSON."""
    import numpy as np
    import tensorflow as tf

    tf.constant(0)  # TensorFlow imported and started before the clock starts

    from tfp_flows.datasets import speech

    clips = speech.list_clips(args.clips)
    paths = [p for w in sorted(clips) for p in clips[w]]
    start = time.perf_counter()
    if args.worker == "old":  # the earlier checkout's API
        values = np.asarray(speech.FEATURES[args.features](speech.load_clips(args.clips, paths)))
    else:
        values, _, _ = speech.extract_features(args.clips, paths, args.features, cache_dir=args.cache)
    seconds = time.perf_counter() - start
    decoder = None
    if args.worker == "new":
        from tfp_flows.datasets.speech.audio import backend

        decoder = backend()
    print(json.dumps({"seconds": seconds, "clips": len(paths), "rows": int(values.shape[0]), "module": speech.__file__,
                      "checksum": float(np.asarray(values, np.float64).sum()), "tensorflow": tf.__version__,
                      "decoder": decoder}))


def _measure(kind, args, cache=None, python=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    script = Path(__file__).resolve()
    if kind == "old":  # the worker imports the baseline tree's tfp_flows
        env["PYTHONPATH"] = os.pathsep.join([str(args.baseline_tree.resolve()), *filter(None, [env.get("PYTHONPATH")])])
    cmd = [python or sys.executable, str(script), "--worker", "old" if kind == "old" else "new", "--clips", str(args.clips),
           "--features", args.features]
    if cache is not None:
        cmd += ["--cache", str(cache)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"the {kind} worker failed: {tail}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    tree = str(args.baseline_tree.resolve()) if args.baseline_tree else None
    if tree and (kind == "old") != result["module"].startswith(tree):
        raise RuntimeError(f"the {kind} worker imported the wrong tfp_flows: {result['module']}")
    return result


def _stats(xs):
    xs = sorted(xs)
    return {"min": xs[0], "median": xs[len(xs) // 2], "max": xs[-1]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=Path, default=DEFAULT_CLIPS,
                   help="Speech-Commands-shaped folder (default: generated with espeak-ng when missing)")
    p.add_argument("--features", choices=("p2", "logmel"), default="logmel")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--baseline-tree", type=Path, default=None, metavar="DIR",
                   help="an earlier checkout holding the hand-written decoder (required)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated clips")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--stacks", nargs=2, type=Path, metavar=("PINNED_PYTHON", "CURRENT_PYTHON"), default=None,
                   help="time the first pass on two stacks' Pythons instead (make bench-speech-stacks)")
    p.add_argument("--worker", choices=("old", "new"), help=argparse.SUPPRESS)
    p.add_argument("--cache", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return _worker(args)
    if args.reps < 1:
        print("bench_speech: --reps must be at least 1", file=sys.stderr)
        return 2
    if args.stacks:
        return _stacks(args)
    if args.baseline_tree is None or not (args.baseline_tree / "tfp_flows" / "datasets" / "speech").is_dir():
        print("bench_speech: --baseline-tree DIR must be a checkout with the old decoder "
              "(e.g. git worktree add --detach DIR cab65fe)", file=sys.stderr)
        return 2
    if not args.clips.exists():
        from tfp_flows.datasets.speech.synthetic import synthesise_speech_commands

        print(f"generating {args.clips} (5,010 clips, espeak-ng)", file=sys.stderr)
        try:
            synthesise_speech_commands(args.clips, clips_per_word=167, seed=args.seed)
        except ValueError as err:
            print(f"bench_speech: {err}", file=sys.stderr)
            return 2

    runs = {"old": [], "first": [], "cached": []}
    scratch = Path(tempfile.mkdtemp(prefix="bench-speech-"))
    try:
        for rep in range(args.reps):
            runs["old"].append(_measure("old", args))
            cache = scratch / f"cache{rep}"
            runs["first"].append(_measure("first", args, cache))
            runs["cached"].append(_measure("cached", args, cache))
            print(f"rep {rep + 1}/{args.reps}: " + ", ".join(
                f"{k} {v[-1]['seconds']:.2f} s" for k, v in runs.items()), file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    n = runs["old"][0]["clips"]
    rows = {k: v[0]["rows"] for k, v in runs.items()}
    rates = {k: _stats([r["clips"] / r["seconds"] for r in v]) for k, v in runs.items()}
    seconds = {k: _stats([r["seconds"] for r in v]) for k, v in runs.items()}
    # Ratios within a repetition (old and new back to back), so the machine's drift
    # between repetitions cancels.
    ratios = _stats([o["seconds"] / f["seconds"] for o, f in zip(runs["old"], runs["first"])])
    speedup = ratios["median"]
    cached_per_5000 = seconds["cached"]["median"] * 5000 / n
    goals = {"first pass >= 2x old path (median of the repetitions' ratios)": speedup >= 2,
             "cached pass < 1 s per 5,000 clips (median)": cached_per_5000 < 1}
    result = {"clips": n, "rows": rows, "features": args.features, "reps": args.reps, "machine": machine(),
              "cores": os.cpu_count(), "clips_per_second": rates, "seconds": seconds,
              "first_over_old": ratios, "cached_seconds_per_5000": cached_per_5000, "goals": goals,
              "baseline_tree": str(args.baseline_tree)}
    lines = [f"Speech features ({args.features}) of {n:,} clips in {args.clips}, {args.reps} repetitions, "
             f"{os.cpu_count()} cores ({machine()['cpu']})", "",
             "| path | clips/s min | median | max | seconds (median) |", "|---|---|---|---|---|"]
    names = {"old": "old: wave + scipy (baseline tree)", "first": "tf.data + tfio, first pass",
             "cached": "tf.data, cached pass"}
    for k, name in names.items():
        r = rates[k]
        lines.append(f"| {name} | {r['min']:,.0f} | {r['median']:,.0f} | {r['max']:,.0f} | "
                     f"{seconds[k]['median']:.2f} |")
    lines += ["", f"First pass / old path, within a repetition: {ratios['min']:.2f} / {speedup:.2f} / "
                  f"{ratios['max']:.2f}x (min / median / max). Cached pass: {cached_per_5000:.3f} s per 5,000 clips.",
              *[f"- goal {'met' if ok else 'NOT met'}: {g}" for g, ok in goals.items()]]
    write_results(args.out, "speech_features", result, lines)
    if len(set(rows.values())) != 1:
        print(f"bench_speech: the paths read different numbers of clips: {rows}", file=sys.stderr)
        return 1
    return 0


def _stacks(args):
    """The first pass on the pinned stack's Python and on today's, taking turns."""
    for python in args.stacks:
        if not python.exists():
            print(f"bench_speech: {python}: no such interpreter (make venv STACK=pinned / STACK=current)", file=sys.stderr)
            return 2
    if not args.clips.is_dir():
        print(f"bench_speech: {args.clips}: no such folder (a Speech-Commands-shaped folder, e.g. the spoken digits)",
              file=sys.stderr)
        return 2
    runs = {"pinned": [], "current": []}
    scratch = Path(tempfile.mkdtemp(prefix="bench-speech-stacks-"))
    try:
        for rep in range(args.reps):
            for (name, python) in zip(runs, args.stacks):
                runs[name].append(_measure("first", args, scratch / f"{name}{rep}", python=str(python)))
            print(f"rep {rep + 1}/{args.reps}: " + ", ".join(
                f"{k} {v[-1]['seconds']:.2f} s" for k, v in runs.items()), file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    n = runs["pinned"][0]["clips"]
    rates = {k: _stats([r["clips"] / r["seconds"] for r in v]) for k, v in runs.items()}
    ratios = _stats([p["seconds"] / c["seconds"] for p, c in zip(runs["pinned"], runs["current"])])
    goal = {"today's first pass >= 0.8x the pinned stack's (median of the repetitions' ratios)": ratios["median"] >= 0.8}
    about = {k: f"TF {v[0]['tensorflow']}, {v[0]['decoder']}" for k, v in runs.items()}
    result = {"clips": n, "features": args.features, "reps": args.reps, "machine": machine(), "cores": os.cpu_count(),
              "stacks": about, "pythons": [str(p) for p in args.stacks], "clips_per_second": rates,
              "current_over_pinned": ratios, "goals": goal, "rows": {k: v[0]["rows"] for k, v in runs.items()}}
    lines = [f"Speech features ({args.features}), first pass, of {n:,} clips in {args.clips}, {args.reps} repetitions, "
             f"{os.cpu_count()} cores ({machine()['cpu']})", "",
             "| stack | clips/s min | median | max |", "|---|---|---|---|"]
    for k, r in rates.items():
        lines.append(f"| {k} ({about[k]}) | {r['min']:,.0f} | {r['median']:,.0f} | {r['max']:,.0f} |")
    lines += ["", f"Today's / pinned, within a repetition: {ratios['min']:.2f} / {ratios['median']:.2f} / "
                  f"{ratios['max']:.2f}x (min / median / max).",
              *[f"- goal {'met' if ok else 'NOT met'}: {g}" for g, ok in goal.items()]]
    write_results(args.out, "speech_stacks", result, lines)
    return 0 if all(goal.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
