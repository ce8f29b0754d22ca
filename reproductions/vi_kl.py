"""Title: Variational inference with planar flows on the four 2-D energies
Source: NF, Rezende & Mohamed, "Variational Inference with Normalizing Flows" (ICML 2015),
        Figure 3 and its KL comparison (published as a plot only).
Expected: for each of U1..U4, KL(q||p) falls as the number of planar flows grows from 2 to 8 to
          32. The KL values themselves are reproduced with no published number to compare,
          as the mean and standard deviation over seeds (3 by default): one seed's value
          and its Monte-Carlo error would hide the seed-to-seed spread, which is larger.
          A second table sets planar (K = 32), radial (K = 32) and IAF (K = 2) side by side with
          their parameter counts, where those runs exist.

Reads the runs of `make vi` (default runs/vi/summary.json); without them it says how to make
them and exits with status 3 (skipped).
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None):
    from tfp_flows import cli

    parser = cli.reproduction_parser(__doc__, HERE / "ledger.json", HERE / "results" / "vi_kl", seed=0)
    parser.add_argument("--runs", type=Path, default=Path("runs/vi"),
                        help="folder of `make vi` (default: %(default)s)")
    args = parser.parse_args(argv)

    from tfp_flows.cli import EXIT_SKIPPED
    from tfp_flows.ledger import Report, finish, load_ledger

    report = Report("NF / VI with planar flows: KL against K", load_ledger(args.ledger))
    summary = args.runs / "summary.json"
    if not summary.exists():
        print(f"SKIP  {report.title}: no runs at {summary}; make them with `make vi` "
              "(three seeds: about an hour on 2 cores) or `tfp-flows-train-vi --help`")
        return EXIT_SKIPPED
    runs = {(r["target"], r["flow"], r["K"]): r for r in json.loads(summary.read_text())["runs"]}
    targets = sorted({t for t, f, _ in runs if f == "planar"})
    for t in targets:
        kl = {K: runs[(t, "planar", K)]["kl"] for K in (2, 8, 32) if (t, "planar", K) in runs}
        for K, v in kl.items():
            report.compare(f"nf.vi.kl.{t}.K{K}", v["mean"],
                           quantity=f"{t}: KL of {K} planar flows, mean over {len(runs[(t, 'planar', K)]['seeds'])} seed(s)")
            report.info(f"{t}: K = {K}, sd of KL over seeds", v["sd_over_seeds"] if v.get("sd_over_seeds") is not None
                        else float("nan"), note="info (nan: one seed)")
        if len(kl) == 3:
            text = " > ".join(f"{kl[K]['mean']:.4f}" for K in (2, 8, 32))
            ok = kl[2]["mean"] > kl[8]["mean"] > kl[32]["mean"]
            report.verdict("nf.vi.kl_falls_with_K", text, ok, quantity=f"{t}: mean KL at K = 2, 8, 32")

    # Flows side by side at a similar number of parameters.
    side = [(t, f, K) for t in targets for f, K in (("planar", 32), ("radial", 32), ("iaf", 2))
            if (t, f, K) in runs]
    if side:
        print("\nKL(q||p) in nats at a similar parameter count")
        print(f"{'target':6} | {'flow':6} | {'K':>3} | {'params':>6} | {'KL mean':>8} | {'sd':>6} | seeds")
        for t, f, K in side:
            r = runs[(t, f, K)]
            sd = r["kl"].get("sd_over_seeds")
            print(f"{t:6} | {f:6} | {K:3d} | {r['n_params']:6d} | {r['kl']['mean']:8.4f} | "
                  f"{'-' if sd is None else f'{sd:6.4f}':>6} | {len(r['seeds'])}")
        print()
    # The densities (true vs fitted for K = 2, 8, 32; the paper's Figure 3), drawn by `make vi`.
    import shutil

    for figure in sorted(args.runs.glob("figure_*.png")):
        shutil.copyfile(figure, args.out / figure.name)
        print(f"picture: {args.out / figure.name}")
    return finish(report, args.out, {"runs": str(args.runs), "side_by_side": [runs[k] for k in side]})


if __name__ == "__main__":
    from tfp_flows.cli import run

    sys.exit(run(main))
