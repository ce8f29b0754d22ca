"""RunFolder.open: one decision (fresh, resume, finished) and one rule for a mismatch."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows.errors import UsageError
from tfp_flows.flows import MAFFlow
from tfp_flows.training.run_folder import RunFolder, differing_settings

SETTINGS = {"lr": 0.1, "model": {"layers": 2, "hidden": [8]}, "data_identity": {"sha256": "ab"}}


def _write(path, name, obj):
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_text(json.dumps(obj))


def test_fresh_resume_and_finished(tmp_path):
    run, state = RunFolder.open(tmp_path / "r", SETTINGS)
    assert state == "fresh" and not run.resume and run.results is None
    run.start(SETTINGS, config={"x": 1})
    (run.checkpoints).mkdir()
    again, state = RunFolder.open(tmp_path / "r", SETTINGS)
    assert state == "resume" and again.resume
    again.write_results({"answer": 42, "settings": SETTINGS}, "gas")
    done, state = RunFolder.open(tmp_path / "r", SETTINGS)
    assert state == "finished" and done.results["answer"] == 42 and done.results["kind"] == "gas"
    assert not done.resume  # a finished run is reported, never trained on from its checkpoints


def test_a_run_stopped_before_its_first_checkpoint_resumes_from_step_0_with_its_own_settings(tmp_path):
    # Ctrl-C while the training loop compiled leaves config.json alone: "--resume" starts
    # it again (rewriting config.json), other settings are refused naming them, and a
    # folder with anything else but no checkpoints still has nothing to resume.
    RunFolder(tmp_path / "r").check().start(SETTINGS, config={"x": 1}, facts=lambda: {"before": 1})
    with pytest.raises(UsageError, match="already holds a run; pass --resume"):
        RunFolder(tmp_path / "r").check()
    other = {**SETTINGS, "lr": 0.2}
    with pytest.raises(UsageError, match=r"other settings \(lr\); resume it with those"):
        RunFolder(tmp_path / "r", resume=True).check().start(other)
    assert json.loads((tmp_path / "r" / "config.json").read_text())["settings"] == SETTINGS
    run = RunFolder(tmp_path / "r", resume=True).check()
    assert not run.resume
    settings, started = run.start(SETTINGS, config={"x": 2}, facts=lambda: {"before": 2})
    assert started["before"] == 2 and json.loads((tmp_path / "r" / "config.json").read_text())["config"] == {"x": 2}
    (tmp_path / "r" / "metrics.jsonl").write_text("{}\n")
    with pytest.raises(UsageError, match="nothing to resume"):
        RunFolder(tmp_path / "r", resume=True).check()
    with pytest.raises(UsageError, match="nothing to resume"):
        RunFolder(tmp_path / "empty", resume=True).check()


def test_a_run_of_other_settings_is_refused_naming_what_differs_or_run_beside(tmp_path):
    _write(tmp_path / "r", "results.json", {"settings": {**SETTINGS, "lr": 0.2,
                                                         "model": {"layers": 3, "hidden": [8]}}})
    with pytest.raises(UsageError, match=r"r holds a run with other settings \(lr, model.layers\)"):
        RunFolder.open(tmp_path / "r", SETTINGS)
    beside, state = RunFolder.open(tmp_path / "r", SETTINGS, on_mismatch="beside")
    assert state == "fresh" and beside.path.name == "r-b"
    # A started run of other settings (config.json only) is refused too, not overwritten.
    _write(tmp_path / "s", "config.json", {"settings": {**SETTINGS, "lr": 0.3}})
    with pytest.raises(UsageError, match=r"\(lr\)"):
        RunFolder.open(tmp_path / "s", SETTINGS)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="no run"):
        RunFolder.open(tmp_path / "junk", SETTINGS)


def test_retrain_deletes_only_a_run_of_the_same_settings(tmp_path):
    _write(tmp_path / "r", "results.json", {"settings": SETTINGS})
    run, state = RunFolder.open(tmp_path / "r", SETTINGS, retrain=True)
    assert state == "fresh" and not (tmp_path / "r").exists()
    _write(tmp_path / "o", "results.json", {"settings": {**SETTINGS, "lr": 9}})
    run, state = RunFolder.open(tmp_path / "o", SETTINGS, retrain=True, on_mismatch="beside")
    assert (tmp_path / "o" / "results.json").exists() and run.path.name == "o-b"


def test_a_setting_recorded_later_reads_as_what_earlier_runs_had():
    """A MoG run recorded before `mixture_scale` existed was trained with softplus: it
    matches a new run that asks for softplus, not one that asks for exp, and a record
    without the key still matches a new one without it."""
    old = {"model": {"components": 10}, "lr": 1e-3}
    assert differing_settings(old, {"model": {"components": 10, "mixture_scale": "softplus"}, "lr": 1e-3}) == []
    assert differing_settings(old, {"model": {"components": 10, "mixture_scale": "exp"}, "lr": 1e-3}) == [
        "model.mixture_scale"]
    assert differing_settings(old, old) == []
    assert differing_settings({"model": {"mixture_scale": "softplus"}}, {"model": {}}) == ["model.mixture_scale"]


def test_a_run_recorded_before_a_setting_resumes_and_reports_with_its_earlier_value(tmp_path):
    """A run whose record lacks `made_kernels` (recorded before it existed) is the same run
    as one asking for "dense", both resumed (config.json and checkpoints) and finished
    (results.json); asking for "blocks" is refused with a line saying what it had."""
    old = {**SETTINGS, "model": {"layers": 2, "hidden": [8]}}
    dense = {**SETTINGS, "model": {"layers": 2, "hidden": [8], "made_kernels": "dense"}}
    blocks = {**SETTINGS, "model": {"layers": 2, "hidden": [8], "made_kernels": "blocks"}}
    _write(tmp_path / "r", "config.json", {"settings": old})
    (tmp_path / "r" / "checkpoints").mkdir()
    run, state = RunFolder.open(tmp_path / "r", dense)
    assert state == "resume"
    assert run.check().start(dense)[1]["settings"] == old
    with pytest.raises(UsageError, match=r"other settings \(model.made_kernels; it was recorded before "
                                         r"--made-kernels existed, so it has dense\)"):
        RunFolder.open(tmp_path / "r", blocks)
    with pytest.raises(UsageError, match="made_kernels"):
        RunFolder(tmp_path / "r", resume=True).check().start(blocks)
    _write(tmp_path / "f", "results.json", {"settings": old})
    assert RunFolder.open(tmp_path / "f", dense)[1] == "finished"


def test_a_setting_that_no_longer_counts_is_ignored_in_old_records(tmp_path):
    """Runs recorded while `steps_per_call` counted among the settings (it never changed
    the numbers) match new runs, which no longer record it; a run of other settings
    recorded beside it still differs."""
    old = {"model": {"layers": 2}, "train": {"seed": 0, "steps_per_call": 20}}
    new = {"model": {"layers": 2}, "train": {"seed": 0}}
    assert differing_settings(old, new) == []
    assert differing_settings({**old, "train": {"seed": 1, "steps_per_call": 20}}, new) == ["train.seed"]
    assert differing_settings({"train": {"seed": 0, "other": 20}}, {"train": {"seed": 0}}) == ["train.other"]
    _write(tmp_path / "r", "config.json", {"settings": old})
    (tmp_path / "r" / "checkpoints").mkdir()
    assert RunFolder.open(tmp_path / "r", new)[1] == "resume"


def test_differing_settings_names_nested_and_missing_keys():
    assert differing_settings({"a": 1, "b": {"c": 2, "d": 3}}, {"a": 1, "b": {"c": 5}, "e": 0}) == [
        "b.c", "b.d", "e"]
    assert differing_settings(SETTINGS, json.loads(json.dumps(SETTINGS))) == []


def test_results_name_the_kind_and_family_and_weights_load_back(tmp_path):
    flow = MAFFlow(2, layers=1, hidden_units=[4], seed=1)
    run = RunFolder(tmp_path / "r")
    with pytest.raises(ValueError, match="kind must be one of"):
        run.write_results({}, "mystery")
    with pytest.raises(ValueError, match="no weights"):
        run.load_weights(flow)
    tf.train.CheckpointManager(tf.train.Checkpoint(flow=flow), str(run.checkpoints), 1).save()
    run.write_results({"n": 1}, "gas", flow)
    record = json.loads((run.path / "results.json").read_text())
    assert record["kind"] == "gas" and record["flow_family"] == "maf" and record["model"]["layers"] == 1
    other = MAFFlow(2, layers=1, hidden_units=[4], seed=2)
    run.load_weights(other)
    for a, b in zip(flow.trainable_variables, other.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
