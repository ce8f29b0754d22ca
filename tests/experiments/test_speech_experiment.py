"""The speech experiment as a function: results written once, last; settings checked on resume."""

import json

import pytest

from tfp_flows.errors import UsageError
from tfp_flows.experiments import MAFOptions, SpeechConfig, run_speech
from tfp_flows.training import TrainConfig


def _config(root, out, **train):
    return SpeechConfig(data=root, features="logmel", split="official", out=out, cache=out.parent / "cache",
                        model=MAFOptions(layers=2, hidden_units=[16]),
                        train=TrainConfig(learning_rate=1e-3, epochs=2, eval_every=None, checkpoint_every=None,
                                          progress=False, **train))


def test_results_json_is_written_once_and_last(fake_root, tmp_path, monkeypatch):
    import tfp_flows.training.run_folder as folder  # every file of a run folder is written there

    written = []
    real = folder.write_json_atomic

    def spy(path, obj):
        written.append(path.name)
        return real(path, obj)

    monkeypatch.setattr(folder, "write_json_atomic", spy)
    res = run_speech(_config(fake_root, tmp_path / "run"), log=lambda *_: None)
    assert written.count("results.json") == 1 and written[-1] == "results.json"
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    assert on_disk["anomaly"] == json.loads(json.dumps(res["anomaly"])) and "threshold" in on_disk
    # The trainer itself never writes results.json (only the experiment does).
    assert not any(name == "results.json" for name in written[:-1])


def test_resume_with_other_settings_is_refused(fake_root, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"settings": {"word": "one"}}))
    cfg = _config(fake_root, run)
    cfg.resume = True
    with pytest.raises(UsageError, match="other settings"):
        run_speech(cfg, log=lambda *_: None)
