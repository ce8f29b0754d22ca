"""The MAF paper's image experiments (Papamakarios et al., 2017, Table 2) on Fashion-MNIST:
`run_images(config)`.

Eight models, each unconditional and conditioned on the one-hot class: a Gaussian (full
covariance, fitted in closed form; one per class when conditional), MADE, MADE MoG, Real
NVP (5) and (10), MAF (5) and (10), MAF MoG (5). The data are prepared as the paper's
code prepares MNIST: every pixel dequantised once with uniform noise, divided by 256 and
logit-transformed with lambda = 1e-6 (`tfp_flows.datasets.images`); the last 10% of the
training images are the validation set (early stopping).

Each row trains in its own run folder (``<out>/<model>-<unconditional|conditional>``):
a finished row with the same settings is reported, not trained again, and an
interrupted one resumes from its checkpoints, so `make images` can be stopped and run
again. Reported per row, over the test images: the mean log-likelihood in logit space
(the paper's unit) and bits per pixel on the 0-255 scale (the logit Jacobian and the
/256 accounted for), each with 2 standard errors. A conditional row's log-likelihood is
the paper's log p(x) = log sum_y p(x | y) p(y) with p(y) uniform; its classifier (the
class of highest p(x | y)) is scored too, with its confusion matrix. Written last and
atomically: ``<out>/table.json`` and ``table.md``.
"""

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, Dict

import numpy as np
import scipy.linalg
from scipy.special import logsumexp

from tfp_flows.configs import settings_dict
from tfp_flows.datasets import images as image_data
from tfp_flows.datasets.images import (
    bits_per_pixel,
    load_fashion_mnist,
    logit_preprocess,
    pixel_log_det,
    split_validation,
)
from tfp_flows.errors import UsageError
from tfp_flows.experiments.configs import (
    CLASSES,
    CONDITIONINGS,
    DEFAULT_TRAIN_IMAGES,
    DIMS,
    IMAGE_MODELS,
    SCHEDULES,
    ImagesConfig,
    schedule_config,
)
from tfp_flows.experiments.fitting import fit_maximum_likelihood
from tfp_flows.files import atomic_path, content_identity, write_json_atomic
from tfp_flows.flows.options import fields_for
from tfp_flows.flows.registry import build_flow
from tfp_flows.flows.stacking import options_with
from tfp_flows.seeding import seed_everything
from tfp_flows.training import Evaluator, mean_and_stderr
from tfp_flows.training.run_folder import RunFolder

__all__ = ["CONDITIONINGS", "IMAGE_MODELS", "SCHEDULES", "ImagesConfig", "class_log_likelihoods",
           "gaussian_log_prob", "prepare_images", "run_images", "schedule_config"]

# ---------------------------------------------------------------------------------- data

def prepare_images(data, seed, train_images=None, schedule_default=False):
    """{"train", "val", "test"} -> (y float32 [n, 784], labels int64 [n]) from the folder
    `data`: the paper's preprocessing, each set dequantised once with noise from `seed`;
    the first `train_images` training images (a schedule's default: at most all of them)."""
    images = load_fashion_mnist(data)
    train_rows, val_rows = split_validation(len(images.train_images))
    if train_images is not None:
        if train_images > len(train_rows) and not schedule_default:
            raise UsageError(f"--train-images {train_images}: there are {len(train_rows)} training images "
                             "(the last 10% are the validation set)")
        train_rows = train_rows[:train_images]
    rng = np.random.default_rng(seed)
    sets = {"train": (images.train_images[train_rows], images.train_labels[train_rows]),
            "val": (images.train_images[val_rows], images.train_labels[val_rows]),
            "test": (images.test_images, images.test_labels)}
    out = {}
    for name, (pixels, labels) in sets.items():
        y, _ = logit_preprocess(pixels.reshape(len(pixels), -1), rng)
        out[name] = (y.astype(np.float32), labels)
    return out


def one_hot(labels):
    return np.eye(CLASSES, dtype=np.float32)[np.asarray(labels)]


# ------------------------------------------------------------------------------ Gaussian

def _fit_gaussian(y, what="the training images"):
    """(mean, Cholesky factor of the covariance) of rows y, by maximum likelihood, in float64."""
    y = np.asarray(y, np.float64)
    mean = y.mean(0)
    cov = np.cov(y, rowvar=False, bias=True)
    try:
        return mean, np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise UsageError(f"{what} ({len(y)}) are too few for a full-covariance Gaussian in {y.shape[1]} "
                         "dimensions (its covariance is singular); pass more --train-images") from None


def gaussian_log_prob(y, mean, chol):
    """log N(y; mean, L L^T) of rows y [n, D], in float64."""
    z = scipy.linalg.solve_triangular(chol, (np.asarray(y, np.float64) - mean).T, lower=True)
    dims = len(mean)
    return -0.5 * np.sum(z * z, 0) - np.sum(np.log(np.diag(chol))) - 0.5 * dims * np.log(2 * np.pi)


# ---------------------------------------------------------------------------- evaluation

def class_log_likelihoods(log_prob, y):
    """[n, 10]: log p(y | class k) for every row and class, from `log_prob(y, context)`."""
    return np.stack([np.asarray(log_prob(y, np.tile(one_hot([k]), (len(y), 1))), np.float64)
                     for k in range(CLASSES)], axis=1)


def _scores(ll_rows, y, labels=None, per_class=None):
    """The row's test figures from per-image log-likelihoods (and, conditional, the [n, 10]
    class log-likelihoods)."""
    ll_mean, ll_se = mean_and_stderr(ll_rows)
    bpp_mean, bpp_se = mean_and_stderr(bits_per_pixel(ll_rows, y))
    out = {"test_log_likelihood": {"mean": ll_mean, "stderr": ll_se},
           "test_bits_per_pixel": {"mean": bpp_mean, "stderr": bpp_se}}
    if per_class is not None:
        predicted = per_class.argmax(1)
        confusion = np.zeros((CLASSES, CLASSES), np.int64)
        np.add.at(confusion, (labels, predicted), 1)
        true_ll = per_class[np.arange(len(labels)), labels]
        out.update(accuracy=float(np.mean(predicted == labels)), confusion=confusion.tolist(),
                   test_log_likelihood_given_class=dict(zip(("mean", "stderr"), mean_and_stderr(true_ll))))
    return out


def _marginal(per_class):
    """log p(x) = log sum_y p(x | y) / 10, from the [n, 10] class log-likelihoods."""
    return logsumexp(per_class, axis=1) - np.log(CLASSES)


# ------------------------------------------------------------------------------- the rows

def _row_settings(cfg, model, conditioning, data_identity):
    _, family, overrides = IMAGE_MODELS[model]
    settings = {"model_name": model, "conditioning": conditioning, "data_identity": data_identity,
                "schedule": cfg.schedule, "train_images": cfg.train_images, "seed": cfg.train.seed}
    if family is not None:
        options = dataclasses.asdict(dataclasses.replace(cfg.model, **overrides))
        settings["family"] = family
        settings["options"] = {k: v for k, v in options.items() if k in fields_for(family)}
        settings["train"] = settings_dict(cfg.train)
    return settings


def _gaussian_row(sets, conditional):
    train_y, train_labels = sets["train"]
    test_y, test_labels = sets["test"]
    if not conditional:
        mean, chol = _fit_gaussian(train_y)
        return _scores(gaussian_log_prob(test_y, mean, chol), test_y)
    fits = [_fit_gaussian(train_y[train_labels == k], f"the training images of class {k}") for k in range(CLASSES)]
    per_class = np.stack([gaussian_log_prob(test_y, *fits[k]) for k in range(CLASSES)], axis=1)
    return _scores(_marginal(per_class), test_y, test_labels, per_class)


def _flow_row(cfg, sets, model, conditional, settings, run, log):
    _, family, overrides = IMAGE_MODELS[model]
    seed_everything(cfg.train.seed)
    options = options_with(model, cfg.model, dict(overrides))
    flow = build_flow(family, DIMS, options, cfg.train.seed, context_dims=CLASSES if conditional else 0)
    evaluator = Evaluator(flow, cfg.train.bn_eval, cfg.train.eval_batch_size)

    def part(name):
        y, labels = sets[name]
        return (y, one_hot(labels)) if conditional else y

    fit, best_val, _ = fit_maximum_likelihood(
        flow, evaluator, part("train"), {}, part("val"), cfg.train, run, log,
        start=lambda: run.start(settings, {"model": model, "conditioning": settings["conditioning"]}))
    test_y, test_labels = sets["test"]
    if conditional:
        per_class = class_log_likelihoods(lambda y, c: evaluator.log_prob((y, c)), test_y)
        scores = _scores(_marginal(per_class), test_y, test_labels, per_class)
    else:
        scores = _scores(evaluator.log_prob(test_y), test_y)
    return {**scores, **fit, "best_val_log_likelihood": best_val, "n_params": flow.count_params()}, flow


def _validation_curve(run, val_y):
    """[(epoch, validation bits per pixel)] of a row from its metrics.jsonl, epoch 0 being
    the evaluation after the first batch (the mean
    log-likelihood turned into bits per pixel with the validation images' mean logit
    Jacobian: bits per pixel is linear in log p)."""
    if not run.metrics.exists():
        return []
    offset = float(np.mean(pixel_log_det(val_y)))
    points = {}
    for line in run.metrics.read_text().splitlines():
        record = json.loads(line) if line.strip() else {}
        if "val_ll" in record:
            points[record["epoch"] - (1 if "batch" in record else 0)] = record["val_ll"]
    return [(e, -(ll + offset - DIMS * np.log(256.0)) / (DIMS * np.log(2.0))) for e, ll in sorted(points.items())]


def run_images(config: ImagesConfig, log: Callable[[str], Any] = print) -> Dict[str, Any]:
    """Run (or reuse) every row of `config` and return the table (also written to
    ``<out>/table.json`` and ``table.md``).

    Raises:
      ValueError: an unreadable or damaged data file (one line naming it).
      UsageError: bad settings, or a row folder holding a run of other settings.
    """
    cfg = config
    if cfg.data is None:
        raise UsageError("--data FOLDER is needed (the four Fashion-MNIST IDX files)")
    for name in ("models", "conditioning"):
        values = getattr(cfg, name)
        if not values or len(set(values)) != len(values):
            raise UsageError(f"--{name} must list each value once, got {' '.join(values) or 'nothing'}")
    cfg.train.validate()
    schedule_default = cfg.train_images is None
    if schedule_default:
        cfg = dataclasses.replace(cfg, train_images=DEFAULT_TRAIN_IMAGES[cfg.schedule])
    out = cfg.run_dir()
    # A bad file stops here, before any run.
    sets = prepare_images(cfg.data, cfg.train.seed, cfg.train_images, schedule_default)
    if "gaussian" in cfg.models:  # checked before any row starts
        labels = sets["train"][1]
        fewest = min(np.sum(labels == k) for k in range(CLASSES)) if "conditional" in cfg.conditioning else len(labels)
        if fewest <= DIMS:
            raise UsageError(f"a full-covariance Gaussian in {DIMS} dimensions needs more than {DIMS} training images"
                             f"{' of each class' if 'conditional' in cfg.conditioning else ''} (found {fewest}); "
                             "pass more --train-images or leave out --models gaussian")
    identity = {name: content_identity(Path(cfg.data) / name) for name in _present_files(cfg.data)}
    log(f"{cfg.data}: {len(sets['train'][0])} training, {len(sets['val'][0])} validation, "
        f"{len(sets['test'][0])} test images; schedule {cfg.schedule}; rows in {out}")
    rows = [(m, c) for m in cfg.models for c in CONDITIONINGS if c in cfg.conditioning]
    table = {"data": str(cfg.data), "schedule": cfg.schedule, "seed": cfg.train.seed,
             "train_images": len(sets["train"][0]), "rows": []}
    for i, (model, conditioning) in enumerate(rows, 1):
        label = f"{IMAGE_MODELS[model][0]}, {conditioning}"
        settings = _row_settings(cfg, model, conditioning, identity)
        run, state = RunFolder.open(out / f"{model}-{conditioning}", settings)  # other settings: refused
        conditional = conditioning == "conditional"
        if state == "finished":
            log(f"[{i}/{len(rows)}] {label}: finished run with the same settings, reported")
            results = run.results
        else:
            doing = "fitting" if IMAGE_MODELS[model][1] is None else "resuming" if state == "resume" else "training"
            log(f"[{i}/{len(rows)}] {label}: {doing} in {run.path}")
            if IMAGE_MODELS[model][1] is None:
                run.start(settings, {"model": model, "conditioning": conditioning})
                results = _gaussian_row(sets, conditional)
                results["n_params"] = (DIMS + DIMS * (DIMS + 1) // 2) * (CLASSES if conditional else 1)
                run.write_results({**results, "settings": settings}, "images")
            else:
                results, flow = _flow_row(cfg, sets, model, conditional, settings, run,
                                          lambda line: log(f"    {line}"))
                run.write_results({**results, "settings": settings}, "images", flow)
        row = {"model": model, "label": IMAGE_MODELS[model][0], "conditioning": conditioning,
               "run": str(run.path), "val_bits_per_pixel": _validation_curve(run, sets["val"][0]),
               **{k: results[k] for k in ("test_log_likelihood", "test_bits_per_pixel", "n_params")},
               **{k: results[k] for k in ("accuracy", "confusion", "wall_seconds", "epochs") if k in results}}
        log(f"    test log-likelihood {row['test_log_likelihood']['mean']:.1f} "
            f"+- {2 * row['test_log_likelihood']['stderr']:.1f} nats (logit space), "
            f"{row['test_bits_per_pixel']['mean']:.3f} +- {2 * row['test_bits_per_pixel']['stderr']:.3f} "
            "bits per pixel" + (f", classifier accuracy {row['accuracy']:.3f}" if "accuracy" in row else ""))
        table["rows"].append(row)

    write_json_atomic(out / "table.json", table)
    with atomic_path(out / "table.md") as tmp:
        tmp.write_text(table_markdown(table))
    log(table_markdown(table))
    return table


def _present_files(folder):
    folder = Path(folder)
    return [n if (folder / n).is_file() else n[:-3] for n in image_data.FASHION_MNIST]


def table_markdown(table):
    """The table as Markdown: per row, test log-likelihood (logit space) and bits per pixel,
    each +- 2 standard errors, and the classifier's accuracy."""
    lines = [f"Fashion-MNIST, {table['train_images']} training images, schedule {table['schedule']}, "
             f"seed {table['seed']} (+- 2 standard errors over the test images)", "",
             "| model | conditioning | test log-likelihood (logit space, nats) | bits per pixel | accuracy |",
             "|---|---|---|---|---|"]
    for r in table["rows"]:
        ll, bpp = r["test_log_likelihood"], r["test_bits_per_pixel"]
        acc = f"{r['accuracy']:.3f}" if "accuracy" in r else "-"
        lines.append(f"| {r['label']} | {r['conditioning']} | {ll['mean']:.1f} +- {2 * ll['stderr']:.1f} | "
                     f"{bpp['mean']:.3f} +- {2 * bpp['stderr']:.3f} | {acc} |")
    return "\n".join(lines) + "\n"
