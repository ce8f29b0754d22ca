"""Title: The MAF paper's image models (its Table 2) on Fashion-MNIST
Source: Papamakarios, Pavlakou, Murray, "Masked Autoregressive Flow for Density
        Estimation", NeurIPS 2017, Table 2 (MNIST and CIFAR-10), and its published code's
        MNIST preprocessing; here on Fashion-MNIST, which these machines can have.
Expected: no published flow log-likelihood on Fashion-MNIST was found, so values are not
          compared: the paper's MNIST values are shown beside the Fashion-MNIST ones as
          reference, and the orderings the paper's MNIST column shows (where its gap is
          larger than both stated errors) are tried on Fashion-MNIST, each reported as
          carried over or not (a finding, not a failure). Checked: every row ends with a
          finite test log-likelihood, and the best class-conditional flow classifies the
          test images at least 3x as well as chance.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The paper's MNIST orderings tried here: (A, B) means A's test log-likelihood is above
# B's; each side is (model, "unconditional" | "conditional"). The script keeps only
# those whose gap in the paper's Table 2 exceeds both stated errors (read from the ledger).
U, C = "unconditional", "conditional"
ORDERINGS = [
    (("made-mog", U), ("made", U)), (("made-mog", C), ("made", C)),
    (("maf-5", U), ("realnvp-5", U)), (("maf-5", C), ("realnvp-5", C)),
    (("maf-10", U), ("realnvp-10", U)),
    (("maf-mog-5", U), ("maf-5", U)), (("maf-mog-5", C), ("maf-5", C)),
    (("made-mog", U), ("maf-mog-5", U)),
    (("maf-5", U), ("maf-10", U)), (("realnvp-5", U), ("realnvp-10", U)),
    (("maf-5", U), ("gaussian", U)), (("gaussian", U), ("made", U)),
    (("gaussian", C), ("gaussian", U)), (("made", C), ("made", U)), (("made-mog", C), ("made-mog", U)),
    (("maf-mog-5", C), ("maf-mog-5", U)), (("maf-5", U), ("maf-5", C)), (("maf-10", U), ("maf-10", C)),
]


def _default_data():
    """Where the four files usually are: the project's data folder, or where Debian's
    package puts them."""
    for folder in (Path("data/fashion_mnist"), Path("/usr/share/datasets/fashion-mnist")):
        if any((folder / n).is_file() for n in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte")):
            return folder
    return Path("data/fashion_mnist")


def paper_orderings(ledger):
    """The ORDERINGS whose gap in the paper's MNIST column exceeds both 2-sd errors:
    [(A, B, text of the paper's values)]."""
    kept = []
    for a, b in ORDERINGS:
        (va, ea), (vb, eb) = (_mnist(ledger, *side) for side in (a, b))
        if va - vb > max(ea, eb):
            kept.append((a, b, f"MNIST {va:g}+-{ea:g} > {vb:g}+-{eb:g}"))
    return kept


def _mnist(ledger, model, conditioning):
    entry = ledger[f"maf.mnist.{model}"]
    i = 0 if conditioning == U else 1
    return entry.value[i], entry.tolerance[i]


def _name(side):
    from tfp_flows.experiments.configs import IMAGE_MODELS

    return f"{IMAGE_MODELS[side[0]][0]} ({side[1][:6]}.)"


def main(argv=None):
    from tfp_flows import cli
    from tfp_flows.cli.options import add_training_options, training_config
    from tfp_flows.experiments.configs import CONDITIONINGS, IMAGE_MODELS, SCHEDULES, schedule_config

    parser = cli.reproduction_parser(__doc__, HERE / "ledger.json", HERE / "results" / "maf_images", seed=0)
    parser.add_argument("--data", type=Path, default=None,
                        help="folder of the four Fashion-MNIST files (default: data/fashion_mnist, else "
                             "/usr/share/datasets/fashion-mnist, where apt-get install dataset-fashion-mnist puts them)")
    parser.add_argument("--schedule", choices=tuple(SCHEDULES), default="default",
                        help="default: every row on 2 cores in under an hour; paper: the MAF paper's settings "
                             "(see tfp-flows-train-images --help) (default: %(default)s)")
    parser.add_argument("--runs", type=Path, default=None,
                        help="folder of the rows' runs (default: runs/images-<schedule>-seed<seed>); a finished "
                             "row there is reported, an interrupted one resumes")
    parser.add_argument("--models", nargs="+", choices=tuple(IMAGE_MODELS), default=list(IMAGE_MODELS),
                        help="the table's models (default: all eight)")
    parser.add_argument("--train-images", type=cli.positive_int, default=None,
                        help="train on the first N training images (default: all 54,000)")
    from tfp_flows.cli.train_images import _schedule_of

    schedule = _schedule_of(sys.argv[1:] if argv is None else argv)
    defaults = schedule_config(schedule if schedule in SCHEDULES else "default").train
    add_training_options(parser, defaults, only=("epochs", "learning_rate", "progress"))
    args = parser.parse_args(argv)

    from tfp_flows.cli import EXIT_SKIPPED
    from tfp_flows.ledger import Report, finish, load_ledger

    data = args.data or _default_data()
    if not any((data / n).is_file() for n in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte")):
        print(f"SKIP  Table 2 models on Fashion-MNIST: no Fashion-MNIST files in {data}. Get them with "
              "apt-get install dataset-fashion-mnist (then --data /usr/share/datasets/fashion-mnist) or "
              "tfp_flows.datasets.images.download_fashion_mnist('data/fashion_mnist').")
        return EXIT_SKIPPED
    ledger = load_ledger(args.ledger)
    report = Report("Table 2 models on Fashion-MNIST", ledger)

    from tfp_flows.experiments.images import run_images

    config = schedule_config(args.schedule, data=data, models=args.models, conditioning=list(CONDITIONINGS),
                             train_images=args.train_images, out=args.runs,
                             train=training_config(args, schedule_config(args.schedule).train))
    table = run_images(config)
    rows = {(r["model"], r["conditioning"]): r for r in table["rows"]}

    # Every row finite.
    finite = [all(abs(r[k]["mean"]) < float("inf") for k in ("test_log_likelihood", "test_bits_per_pixel"))
              for r in rows.values()]
    report.verdict("maf.fashion.rows", f"{sum(finite)} of {len(finite)} rows finite", all(finite))

    # The paper's MNIST values beside the Fashion-MNIST ones.
    for model in args.models:
        entry = ledger[f"maf.mnist.{model}"]
        for i, conditioning in enumerate(CONDITIONINGS):
            r = rows[(model, conditioning)]
            ll = r["test_log_likelihood"]
            report.info(f"{IMAGE_MODELS[model][0]}, {conditioning}: test log-likelihood, logit space (nats); "
                        f"bits per pixel",
                        [ll["mean"], 2 * ll["stderr"], r["test_bits_per_pixel"]["mean"]],
                        published=f"MNIST {entry.value[i]:g} +- {entry.tolerance[i]:g}",
                        note="reference, not compared")

    # The orderings.
    carried = []
    for a, b, text in paper_orderings(ledger):
        if a not in rows or b not in rows:
            continue
        ra, rb = rows[a]["test_log_likelihood"], rows[b]["test_log_likelihood"]
        gap = ra["mean"] - rb["mean"]
        holds = gap > 2 * max(ra["stderr"], rb["stderr"])
        carried.append(holds)
        report.verdict("maf.fashion.ordering",
                       f"Fashion-MNIST {ra['mean']:.1f}+-{2 * ra['stderr']:.1f} vs {rb['mean']:.1f}+-"
                       f"{2 * rb['stderr']:.1f}: {'carried over' if holds else 'did not carry over'}",
                       holds, quantity=f"{_name(a)} > {_name(b)}: the paper's MNIST ordering, tried on Fashion-MNIST "
                                       f"({text})", enforce=False)
    if carried:
        report.info("orderings that carried over to Fashion-MNIST", [sum(carried), len(carried)])

    # The best conditional flow as a classifier.
    conditional = [r for r in rows.values() if r["conditioning"] == C and r["model"] != "gaussian"]
    best = max(conditional, key=lambda r: r["accuracy"]) if conditional else None
    if best is not None:
        report.compare("maf.fashion.classifier", best["accuracy"],
                       quantity=f"test accuracy of the best class-conditional flow as a classifier ({best['label']})")
    for r in sorted(rows.values(), key=lambda r: r["model"]):
        if "accuracy" in r and r is not best:
            report.info(f"{r['label']}, conditional: classifier accuracy", r["accuracy"])

    figures = _figures(table, rows, best, data, config, args.out)
    for path in figures:
        print(f"picture: {path}")
    return finish(report, args.out, {"seed": args.seed, "schedule": args.schedule, "table": table})


def _figures(table, rows, best, data, config, out):
    """Bits per pixel against epochs, the best classifier's confusion matrix, and a grid
    of samples per class beside the data."""
    import numpy as np

    from tfp_flows.datasets.images import FASHION_MNIST_CLASSES, load_fashion_mnist
    from tfp_flows.experiments import plotting
    from tfp_flows.experiments.images import one_hot

    plt, paths = plotting.plt, []
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, conditioning in zip(axes, CONDITIONINGS_ORDER):
        for r in table["rows"]:
            # From epoch 1: the evaluation after the first batch (epoch 0) reads batch norm's
            # barely started moving statistics and is tens of bits off the scale.
            points = [(e, b) for e, b in r["val_bits_per_pixel"] if e >= 1]
            if r["conditioning"] == conditioning and points:
                e, b = zip(*points)
                ax.plot(e, b, marker="o", label=r["label"])
            elif r["conditioning"] == conditioning and r["model"] == "gaussian":
                ax.axhline(r["test_bits_per_pixel"]["mean"], color="grey", linestyle="--", label="Gaussian (test)")
        ax.set_title(f"{conditioning}: validation bits per pixel")
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("bits per pixel")
    paths.append(plotting.save_figure(fig, out / "bits_per_pixel.png"))

    if best is not None:
        fig, ax = plt.subplots(figsize=(6.5, 5.5))
        confusion = np.asarray(best["confusion"])
        ax.imshow(confusion, cmap="Blues")
        for i in range(10):
            for j in range(10):
                ax.text(j, i, confusion[i, j], ha="center", va="center", fontsize=7,
                        color="white" if confusion[i, j] > confusion.max() / 2 else "black")
        ax.set_xticks(range(10), FASHION_MNIST_CLASSES, rotation=60, fontsize=7)
        ax.set_yticks(range(10), FASHION_MNIST_CLASSES, fontsize=7)
        ax.set_xlabel("predicted (argmax_y p(x | y))")
        ax.set_ylabel("true class")
        ax.set_title(f"{best['label']}, conditional: accuracy {best['accuracy']:.3f}")
        paths.append(plotting.save_figure(fig, out / "confusion.png"))

        from tfp_flows.experiments.export import load_run

        flow, _, _ = load_run(best["run"])
        n = config.samples_per_class
        context = np.repeat(one_hot(np.arange(10)), n, axis=0)
        y = flow.sample(len(context), seed=(config.train.seed, 0), context=context).numpy()  # stateless: repeatable
        pixels = np.clip((1 / (1 + np.exp(-y)) - 1e-6) / (1 - 2e-6), 0, 1).reshape(10, n, 28, 28)
        images = load_fashion_mnist(data)
        real = np.zeros((10, n, 28, 28))  # (blank where a class has fewer than n test images)
        for k in range(10):
            shown = images.test_images[images.test_labels == k][:n] / 255.0
            real[k, :len(shown)] = shown
        fig, axes = plt.subplots(1, 2, figsize=(2 * n * 0.6 + 1, 10 * 0.6))
        for ax, grid, title in ((axes[0], real, "test images"), (axes[1], pixels, f"samples: {best['label']}")):
            ax.imshow(grid.transpose(0, 2, 1, 3).reshape(10 * 28, n * 28), cmap="gray_r")
            ax.set_yticks(np.arange(10) * 28 + 14, FASHION_MNIST_CLASSES, fontsize=7)
            ax.set_xticks([])
            ax.set_title(title, fontsize=9)
        paths.append(plotting.save_figure(fig, out / "samples.png"))
    return paths


CONDITIONINGS_ORDER = (U, C)


if __name__ == "__main__":
    from tfp_flows.cli import run

    sys.exit(run(main))
