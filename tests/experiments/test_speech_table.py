"""`tfp-flows-speech-table`: P2's audio protocol over features x splits x seeds."""

import json

import numpy as np
import pytest

from tfp_flows.cli.speech_table import main
from tfp_flows.errors import UsageError


def _table(fake_root, out, *extra):
    lines = []
    main(["--data", str(fake_root), "--features", "logmel", "mfccseg", "--splits", "official", "--seeds", "0", "1",
          "--layers", "1", "--hidden", "8", "--epochs", "1", "--no-progress", "--cache", str(out / "cache"),
          "--out", str(out), *extra], log=lines.append)
    return lines


def test_table_summarises_each_feature_over_its_seeds_and_reuses_finished_runs(fake_root, tmp_path_factory,
                                                                              monkeypatch):
    out = tmp_path_factory.mktemp("table")  # not inside fake_root (that is the test's tmp_path): the data must not change
    lines = _table(fake_root, out)
    table = json.loads((out / "table.json").read_text())
    assert [(r["features"], r["split"]) for r in table["rows"]] == [("logmel", "official"), ("mfccseg", "official")]
    for row in table["rows"]:
        runs = [json.loads((out / f"{row['features']}-official-seed{s}" / "results.json").read_text()) for s in (0, 1)]
        assert [r["seed"] for r in runs] == [0, 1]
        assert {r["features"] for r in runs} == {row["features"]}
        ll = [r["anomaly"]["target_mean_log_likelihood"] for r in runs]
        assert row["target_ll"]["mean"] == pytest.approx(np.mean(ll))
        assert row["target_ll"]["sd"] == pytest.approx(np.std(ll, ddof=1))
        lowest = [min(w["auc"] for w in r["anomaly"]["words"].values()) for r in runs]
        assert row["lowest_auc"]["values"] == pytest.approx(lowest)
        assert row["overall_auc"]["values"] == pytest.approx([r["anomaly"]["overall_auc"] for r in runs])
        assert row["n_above"]["values"] == [r["anomaly"]["n_above"] for r in runs]
    md = (out / "table.md").read_text()
    assert "| mfccseg | official |" in md and "of 2 |" in md  # the fake folder's two other words
    assert sum("training" in line for line in lines) == 4

    again = _table(fake_root, out)  # everything finished: reported, nothing trained
    assert sum("same settings, reported" in line for line in again) == 4
    assert not any("training" in line for line in again)
    assert json.loads((out / "table.json").read_text()) == table

    with pytest.raises(ValueError, match=r"other settings \(model.hidden_units\)"):  # another model, same folder
        _table(fake_root, out, "--hidden", "4")

    # A feature's definition changed since (a new FEATURE_VERSION): the old runs are not current.
    import tfp_flows.datasets.speech.pipeline as pipeline

    monkeypatch.setattr(pipeline, "FEATURE_VERSION", pipeline.FEATURE_VERSION + 1)
    with pytest.raises(ValueError, match="other settings"):
        _table(fake_root, out)


def test_table_refuses_a_value_listed_twice(fake_root, tmp_path_factory):
    with pytest.raises(UsageError, match="--seeds lists a value twice"):
        main(["--data", str(fake_root), "--seeds", "0", "0", "--out", str(tmp_path_factory.mktemp("t"))], log=print)
