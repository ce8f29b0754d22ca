"""`tfp-flows-train-images` and its pieces: the schedules and the options that win over
them, the Gaussian rows against SciPy, the conditional rows' marginal log-likelihood and
classifier, a whole small table on generated IDX files (reused, not retrained, when run
again), bad input in one line, and a slice of the real Fashion-MNIST when it is there."""

import json

import numpy as np
import pytest
import scipy.stats

from conftest import ROOT, fake_set
from tfp_flows import cli
from tfp_flows.cli import train_images
from tfp_flows.experiments import images as experiment

SHARED = ROOT.parent / "shared" / "data" / "fashion_mnist"


def test_the_paper_schedule_sets_the_papers_settings_and_options_win_over_it():
    paper = train_images.config_of(["--data", "d", "--schedule", "paper"])
    assert (paper.model.hidden_units, paper.model.components) == ([1024], 10)
    assert (paper.train.learning_rate, paper.train.batch_size, paper.train.patience) == (1e-4, 100, 30)
    default = train_images.config_of(["--data", "d"])
    assert default.schedule == "default" and default.train.learning_rate != paper.train.learning_rate
    mixed = train_images.config_of(["--data", "d", "--schedule", "paper", "--hidden", "64", "--learning-rate", "0.01"])
    assert (mixed.model.hidden_units, mixed.train.learning_rate, mixed.train.patience) == ([64], 0.01, 30)


def test_the_gaussian_density_is_scipys():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(500, 4)) @ rng.normal(size=(4, 4))
    mean, chol = experiment._fit_gaussian(y)
    expected = scipy.stats.multivariate_normal(y.mean(0), np.cov(y, rowvar=False, bias=True)).logpdf(y[:7])
    np.testing.assert_allclose(experiment.gaussian_log_prob(y[:7], mean, chol), expected, rtol=1e-10)


def test_a_conditional_rows_marginal_and_classifier():
    """log p(x) = log sum_y p(x | y) / 10; the class of highest p(x | y) is predicted."""
    rng = np.random.default_rng(1)
    per_class = rng.normal(size=(6, 10)) * 5
    marginal = experiment._marginal(per_class)
    np.testing.assert_allclose(marginal, np.log(np.exp(per_class).mean(1)), rtol=1e-12)
    labels = per_class.argmax(1)
    labels[0] = (labels[0] + 1) % 10  # one wrong
    y = rng.normal(size=(6, 784))
    scores = experiment._scores(marginal, y, labels, per_class)
    assert scores["accuracy"] == pytest.approx(5 / 6)
    confusion = np.asarray(scores["confusion"])
    assert confusion.sum() == 6 and np.trace(confusion) == 5 and confusion[labels[0], per_class[0].argmax()] == 1


def test_class_log_likelihoods_give_each_class_its_own_context():
    seen = []

    def log_prob(y, context):
        seen.append(context)
        return context.argmax(1) * 10.0 + y[:, 0]

    y = np.arange(3.0)[:, None] * np.ones((3, 784))
    out = experiment.class_log_likelihoods(log_prob, y)
    assert out.shape == (3, 10) and len(seen) == 10
    np.testing.assert_allclose(out, np.arange(10)[None] * 10.0 + np.arange(3.0)[:, None])


def _small_set(tmp_path, monkeypatch, n_train=120, n_test=30):
    import tfp_flows.datasets.images as images

    _, files = fake_set(tmp_path / "data", n_train=n_train, n_test=n_test) if (tmp_path / "data").mkdir() is None else None
    monkeypatch.setattr(images, "FASHION_MNIST", files)
    return tmp_path / "data"


def test_a_small_table_trains_reports_and_is_reused_when_run_again(tmp_path, monkeypatch):
    data = _small_set(tmp_path, monkeypatch)
    argv = ["--data", str(data), "--models", "made", "realnvp-5", "--hidden", "8", "--epochs", "1",
            "--train-images", "100", "--no-progress", "--out", str(tmp_path / "runs"), "--components", "2"]
    lines = []
    assert train_images.main(argv, log=lines.append) == 0
    table = json.loads((tmp_path / "runs" / "table.json").read_text())
    assert [(r["model"], r["conditioning"]) for r in table["rows"]] == [
        ("made", "unconditional"), ("made", "conditional"), ("realnvp-5", "unconditional"),
        ("realnvp-5", "conditional")]
    for row in table["rows"]:
        ll, bpp = row["test_log_likelihood"], row["test_bits_per_pixel"]
        assert np.isfinite([ll["mean"], ll["stderr"], bpp["mean"]]).all()
        assert [e for e, _ in row["val_bits_per_pixel"]] == [0, 1]  # after the first batch, after epoch 1
        if row["conditioning"] == "conditional":
            assert np.asarray(row["confusion"]).sum() == 30 and 0 <= row["accuracy"] <= 1
    assert (tmp_path / "runs" / "made-conditional" / "results.json").exists()
    assert "| MADE | conditional |" in (tmp_path / "runs" / "table.md").read_text()

    again = []
    assert train_images.main(argv, log=again.append) == 0
    assert sum("finished run with the same settings, reported" in line for line in again) == 4
    assert not any("Epoch 1" in line for line in again)
    assert json.loads((tmp_path / "runs" / "table.json").read_text())["rows"] == table["rows"]


def test_the_bits_per_pixel_curve_is_the_validation_log_likelihood_on_the_pixel_scale(tmp_path):
    from tfp_flows.datasets.images import bits_per_pixel, logit_preprocess
    from tfp_flows.training.run_folder import RunFolder

    y, _ = logit_preprocess(np.random.default_rng(0).integers(0, 256, (50, 784)), np.random.default_rng(1))
    run = RunFolder(tmp_path)
    run.metrics.write_text(json.dumps({"step": 1, "epoch": 1, "batch": 1, "val_ll": -3000.0}) + "\n"
                           + json.dumps({"step": 9, "epoch": 1, "val_ll": -2000.0}) + "\n")
    curve = experiment._validation_curve(run, y)
    assert [e for e, _ in curve] == [0, 1]  # after the first batch, and after epoch 1
    np.testing.assert_allclose(curve[1][1], bits_per_pixel(np.full(50, -2000.0), y).mean(), rtol=1e-12)


@pytest.mark.parametrize("argv, fragment", [
    (["--data", "{tmp}/missing"], "missing: no such folder"),
    (["--models", "gaussian", "--train-images", "100"], "needs more than 784 training images of each class"),
    (["--models", "made", "made"], "must list each value once"),
    (["--train-images", "500"], "there are 108 training images"),
])
def test_bad_input_is_one_line_and_starts_no_run(tmp_path, monkeypatch, capsys, argv, fragment):
    data = _small_set(tmp_path, monkeypatch)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--data" not in argv:
        argv = ["--data", str(data)] + argv
    status = cli.run(lambda a: train_images.main(a, log=lambda *_: None), argv + ["--out", str(tmp_path / "runs")],
                     prog="t")
    err = capsys.readouterr().err.strip().splitlines()
    assert status != 0 and len(err) == 1 and fragment in err[0], err
    assert not (tmp_path / "runs").exists()


def test_an_unknown_schedule_is_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        train_images.main(["--data", "d", "--schedule", "fast"])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and "invalid choice: 'fast'" in err[0]


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent (the shared Fashion-MNIST files)")
def test_a_slice_of_the_real_fashion_mnist(tmp_path):
    """The real files end to end: a Gaussian and a one-epoch MADE on 2,000 images; the
    Gaussian's test bits per pixel is that of a fitted density (well below 8, the uniform's)."""
    config = experiment.schedule_config("default", data=SHARED, models=["gaussian", "made"],
                                        conditioning=["unconditional"], train_images=2000, out=tmp_path)
    config.model.hidden_units = [16]
    config.train.epochs, config.train.progress = 1, False
    table = experiment.run_images(config, log=lambda *_: None)
    gaussian, made = table["rows"]
    assert table["train_images"] == 2000
    assert 3 < gaussian["test_bits_per_pixel"]["mean"] < 6
    assert np.isfinite(made["test_log_likelihood"]["mean"])
