"""Title: Masked Autoregressive Flow on the GAS data
Source: P2, "Experimenting with autoregressive flows in TensorFlow Probability" (RStudio AI
        Blog, 2019-04-24), section "Masked Autoregressive Flow"; MAF paper (Papamakarios et
        al., NeurIPS 2017), Table 1.
Expected: P2's recipe keeps X4 X5 X8 X9 X13 X16 X17 X18 of the 4,208,261-row file; the base
          distribution scores about -11.35 on z-scored data (P2: -11.33871 / -11.36431); one
          epoch of P2's MAF (10 layers, 2 x 100 tanh, batch norm, reversals, Adam 1e-4, batch
          100) lifts the test log-likelihood to about 5 (P2's epoch-1 log is printed beside
          ours). The MAF paper's MAF (10) reaches 10.08 +- 0.02 with its own recipe, trained
          to convergence; that figure is shown beside ours, and checked with --require-maf.

Needs data/gas/ethylene_CO.txt (see README, "Data"); without it the script says how to get
it and exits with status 3 (skipped). On another file, or part of it (--max-rows), every
row is shown as info: only the real UCI file can be compared, recognised by its row count
(4,208,261) and by the first values of all 19 columns that P2 printed (its glimpse()).
--synthetic N runs the whole pipeline on a generated GAS-format file, comparing nothing.
A finished run is reused only when every setting (and the data file) is the same.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
GET_IT = ("the GAS file is not at {path}. Get it with `make train-gas` (downloads the UCI archive "
          "'Gas sensor array under dynamic gas mixtures' and extracts ethylene_CO.txt), or download "
          "it yourself and pass --data PATH; without a network, --synthetic ROWS runs the whole "
          "section on a generated GAS-format file (nothing compared)")


def main(argv=None):
    from tfp_flows import cli
    from tfp_flows.cli.options import add_config_options, config_from_args
    from tfp_flows.experiments.configs import GasConfig

    parser = cli.reproduction_parser(__doc__, HERE / "ledger.json", HERE / "results" / "p2_gas", seed=0)
    parser.add_argument("--synthetic", type=cli.positive_int, default=None, metavar="ROWS",
                        help="run on a generated GAS-format file of ROWS rows (nothing compared)")
    parser.add_argument("--require-maf", action="store_true",
                        help="check the test log-likelihood against the MAF paper's 10.08 +- 0.02")
    parser.add_argument("--retrain", action="store_true",
                        help="train again even if a finished run with the same settings exists")
    # The training options are train-gas's, generated from the same config (--seed is above).
    add_config_options(parser, GasConfig, exclude=("out", "resume", "seed", "download"))
    args = parser.parse_args(argv)

    from tfp_flows.cli import EXIT_SKIPPED
    from tfp_flows.experiments.configs import settings_key, settings_of
    from tfp_flows.experiments.gas import run_gas
    from tfp_flows.ledger import Report, finish, load_ledger
    from tfp_flows.training.run_folder import RunFolder

    config = config_from_args(GasConfig, args, download=False)
    config.train.seed = args.seed
    synthetic = args.synthetic is not None
    title = "P2 / Masked Autoregressive Flow on GAS"
    report = Report(title + (" [synthetic data: nothing compared]" if synthetic else ""),
                    load_ledger(args.ledger))
    if synthetic:
        from tfp_flows.datasets.gas import write_synthetic_gas

        config.data = args.out / f"synthetic_gas_{args.synthetic}_seed{args.seed}.txt"
        if not config.data.exists():
            write_synthetic_gas(config.data, args.synthetic, seed=args.seed)
        print(f"SYNTHETIC DATA ({config.data}): the pipeline runs end to end; no published figure applies.")
    elif not config.data.exists():
        print(f"SKIP  {report.title}: " + GET_IT.format(path=config.data))
        return EXIT_SKIPPED

    # Is it the UCI file? P2's glimpse() printed the first values of every column: they,
    # with the row count (known after reading), identify it.
    glimpse_ok = {} if synthetic else first_values_match(config.data, report)
    differing = [c for c, ok in glimpse_ok.items() if not ok]

    # Train, or reuse a finished run with exactly these settings (data file included):
    # running and reporting are separate steps, and the run folder is named by the settings.
    settings = settings_of(config, config.data)
    run_folder, state = RunFolder.open(args.out / f"run-{'synthetic' if synthetic else 'data'}-{settings_key(settings)}",
                                       settings, on_mismatch="beside", retrain=args.retrain)
    run = config.out = run_folder.path
    if state == "finished":
        print(f"reporting the finished run in {run}: same settings (pass --retrain to train again)")
        res = run_folder.results
    else:
        others = sorted(p.name for p in args.out.glob("run-*") if p != run and (p / "results.json").exists())
        if others:
            print(f"finished runs with other settings are not reused: {', '.join(others)}")
        config.resume = state == "resume"
        res = run_gas(config)
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line]
    # Checks that can fail need the real UCI file: its row count and first values identify
    # it. On any other file (or on part of it) the rows below are information only, and say why.
    n_real = report.entry("p2.gas.n_rows").value
    real = (not synthetic and res["n_rows"] == n_real and args.max_rows is None and not differing)
    if not synthetic and not real:
        why = []
        if res["n_rows"] != n_real or args.max_rows is not None:
            why.append(f"{res['n_rows']} rows read (the UCI file has {n_real:.0f})")
        if differing:
            why.append(f"its first values differ from P2's glimpse() in {' '.join(differing)}")
        print(f"NOT THE UCI FILE: {config.data}: {'; '.join(why)}; the comparisons below are shown as info.")
        report.title += " [not the UCI file: nothing compared]"
    if not synthetic:
        report.verdict("p2.gas.first_values", f"{sum(glimpse_ok.values())} of {len(glimpse_ok)} columns match"
                       + (f" (not {' '.join(differing)})" if differing else ""), not differing, enforce=real)

    # Data and preprocessing.
    if config.recipe == "blog":
        kept = " ".join(res["columns_kept"])
        report.verdict("p2.gas.columns_kept", kept,
                       kept == report.entry("p2.gas.columns_kept").published_text, enforce=real)
    report.compare("p2.gas.n_rows", res["n_rows"], enforce=real)
    before = res.get("before_training", {})
    report.compare("p2.gas.base_ll_train", before.get("base_train", float("nan")),
                   enforce=real and config.recipe == "blog")
    report.compare("p2.gas.base_ll_test", before.get("base_test", float("nan")),
                   enforce=real and config.recipe == "blog")
    report.info("flow log-likelihood before training (train, test)",
                [before.get("flow_train", float("nan")), before.get("flow_test", float("nan"))],
                published=report.entry("p2.gas.flow_ll_before").published_text)

    # P2's epoch-1 log beside ours.
    p2_train = [float(v) for v in report.entry("p2.gas.epoch1_train").published_text.split()]
    p2_test = [float(v) for v in report.entry("p2.gas.epoch1_test").published_text.split()]
    ours = {(r["epoch"], r["batch"]): r for r in log if "test_ll" in r}
    print(f"\nepoch-1 log (test scored with batch norm '{res['bn_eval']}'; P2 used one-batch statistics)")
    print(f"{'batch':>6} | {'P2 train':>10} | {'ours train':>10} | {'P2 test':>10} | {'ours test':>10}")
    for k, (a, b) in enumerate(zip(p2_train, p2_test)):
        r = ours.get((1, 1 + 1000 * k))
        tr = f"{r['train_ll_running_mean']:10.6f}" if r else f"{'-':>10}"
        te = f"{r['test_ll']:10.6f}" if r else f"{'-':>10}"
        print(f"{1 + 1000 * k:6d} | {a:10.6f} | {tr} | {b:10.6f} | {te}")
    print()
    from tfp_flows.experiments import plotting

    steps = [1 + 1000 * k for k in range(len(p2_train))]
    picture = plotting.log_likelihood_curves(
        log, args.out / "gas_curves.png", f"MAF on {'generated' if synthetic else 'GAS'} data: log-likelihood",
        published={"step": steps, "train": p2_train, "test": p2_test} if not synthetic else None)
    print(f"picture: {picture}")

    test = res["test_log_likelihood"]
    end_ok = test["mean"] > 0 and test["mean"] > res["base_log_likelihood_test"]
    if real and res["epochs"] >= 1 and config.train.max_steps is None:
        report.verdict("p2.gas.epoch1_end", f"{test['mean']:.4f} after {res['steps']} steps", end_ok)
    report.compare("maf.gas.test_ll", test["mean"], enforce=real and args.require_maf)
    report.info("test log-likelihood, 2 standard errors", 2 * test["stderr"])
    report.info("base log-likelihood on the test set", res["base_log_likelihood_test"])
    if config.recipe == "maf":
        report.compare("maf.gas.split_sizes", [res["n_train"], res["n_val"], res["n_test"]], enforce=False)
    return finish(report, args.out, {"seed": args.seed, "synthetic": synthetic, "run": str(run),
                                     "recipe": config.recipe, "bn_eval": res["bn_eval"]})


def first_values_match(path, report):
    """{column: whether the file's first values are P2's printed ones (within the ledger's
    tolerance)}, for X1..X19, from the `p2.gas.glimpse.*` ledger entries."""
    import numpy as np

    from tfp_flows.datasets.gas import GAS_COLUMNS, read_gas

    entries = {c: report.entry(f"p2.gas.glimpse.{c}") for c in GAS_COLUMNS}
    first = read_gas(path, max_rows=max(len(e.value) for e in entries.values()))
    out = {}
    for i, (c, e) in enumerate(entries.items()):
        published = np.asarray(e.value, float)
        ours = first[:len(published), i]
        out[c] = len(ours) == len(published) and bool(np.all(np.abs(ours - published) <= e.tolerance))
    return out


if __name__ == "__main__":
    from tfp_flows.cli import run

    sys.exit(run(main))
