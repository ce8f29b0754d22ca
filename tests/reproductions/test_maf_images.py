"""The image section: which of the paper's MNIST orderings it tries (read from the
ledger), its skip without data, and the whole script on small generated IDX files."""

import json

from conftest import REPRODUCTIONS, fake_set, load_script
from tfp_flows.experiments.configs import IMAGE_MODELS
from tfp_flows.ledger import load_ledger

LEDGER = load_ledger(REPRODUCTIONS / "ledger.json")


def test_the_ledger_holds_the_papers_mnist_column_for_every_model():
    for model in IMAGE_MODELS:
        entry = LEDGER[f"maf.mnist.{model}"]
        assert len(entry.value) == 2 and len(entry.tolerance) == 2 and all(v < -1000 for v in entry.value)


def test_only_orderings_whose_paper_gap_exceeds_both_errors_are_tried(monkeypatch):
    images = load_script("maf_images")
    kept = images.paper_orderings(LEDGER)
    assert len(kept) == len(images.ORDERINGS)  # the script lists only orderings the paper shows
    for a, b, _ in kept:
        (va, ea), (vb, eb) = images._mnist(LEDGER, *a), images._mnist(LEDGER, *b)
        assert va - vb > max(ea, eb)
    # Real NVP (5): -1323.2 +- 6.6 unconditional, -1326.3 +- 5.8 conditional: a gap of 3.1,
    # inside both errors, so neither direction is an ordering of the paper's.
    U, C = images.U, images.C
    monkeypatch.setattr(images, "ORDERINGS", [(("realnvp-5", U), ("realnvp-5", C)),
                                              (("realnvp-5", C), ("realnvp-5", U))])
    assert images.paper_orderings(LEDGER) == []


def test_without_the_files_the_section_says_where_to_get_them_and_skips(tmp_path, capsys):
    assert load_script("maf_images").main(["--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 3
    out = capsys.readouterr().out
    assert out.startswith("SKIP") and "apt-get install dataset-fashion-mnist" in out


def test_the_section_end_to_end_on_small_generated_files(tmp_path, monkeypatch, capsys):
    import tfp_flows.datasets.images as images

    (tmp_path / "data").mkdir()
    _, files = fake_set(tmp_path / "data", n_train=120, n_test=20)
    monkeypatch.setattr(images, "FASHION_MNIST", files)
    status = load_script("maf_images").main([
        "--data", str(tmp_path / "data"), "--models", "made", "realnvp-5", "--epochs", "1", "--train-images", "100",
        "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--no-progress"])
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    rows = {r["key"]: r for r in results["rows"] if r["key"]}
    assert rows["maf.fashion.rows"]["ok"] is True
    orderings = [r for r in results["rows"] if r["key"] == "maf.fashion.ordering"]
    assert len(orderings) == 1 and orderings[0]["ok"] is None  # MADE conditional > MADE: a finding, never a failure
    assert orderings[0]["reproduced"].endswith((": carried over", ": did not carry over"))
    accuracy = rows["maf.fashion.classifier"]
    # random pixels carry no class: the classifier check can fail here, and then the section does
    assert accuracy["ok"] == (accuracy["reproduced_value"][0] >= 0.3)
    assert status == (0 if accuracy["ok"] else 1)
    for name in ("bits_per_pixel.png", "confusion.png", "samples.png"):
        assert (tmp_path / "out" / name).stat().st_size > 1000
    assert any("MNIST -1380.8 +- 4.8" == r["published"] for r in results["rows"])
