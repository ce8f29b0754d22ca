"""Options generated from the config dataclasses: one declaration, every command."""

import dataclasses
import importlib
import re

import pytest

from conftest import ROOT
from tfp_flows import cli
from tfp_flows.cli.options import add_config_options, config_from_args
from tfp_flows.experiments import GasConfig, SpeechConfig, VIConfig
from tfp_flows.experiments.configs import TableConfig


def _parse(cls, argv=()):
    parser = add_config_options(cli.ArgumentParser(prog="t"), cls)
    return config_from_args(cls, parser.parse_args(list(argv)))


@pytest.mark.parametrize("cls", [GasConfig, SpeechConfig, VIConfig])
def test_no_options_give_the_config_defaults(cls):
    assert _parse(cls) == cls()


def test_options_reach_nested_configs_and_keep_each_experiments_defaults():
    gas = _parse(GasConfig, ["--learning-rate", "0.01", "--hidden", "8", "8", "--no-batch-norm", "--max-steps", "7"])
    assert gas.train.learning_rate == 0.01 and gas.model.hidden_units == [8, 8]
    assert gas.model.batch_norm is False and gas.train.max_steps == 7 and gas.train.batch_size == 100
    speech = _parse(SpeechConfig)
    assert speech.train.learning_rate == 1e-3 and speech.model.hidden_units == [512, 512]
    assert speech.train.eval_every is None  # once an epoch, P2's table


def test_the_table_command_takes_lists_of_column_names_and_its_own_defaults():
    table = _parse(TableConfig, ["--data", "t.csv", "--columns", "a", "b", "--context-columns", "c", "--flow", "nsf",
                                 "--bins", "12", "--bound", "6"])
    assert table.columns == ["a", "b"] and table.context_columns == ["c"] and table.flow == "nsf"
    assert table.model.bins == 12 and table.model.bound == 6.0 and table.model.layers == 5
    assert table.train.epochs == 50 and table.train.learning_rate == 1e-3
    with pytest.raises(SystemExit):
        _parse(TableConfig, ["--data", "t.csv", "--flow", "glow"])


def test_vi_gets_only_the_training_options_that_mean_something_for_it():
    parser = add_config_options(cli.ArgumentParser(prog="t"), VIConfig)
    flags = {a for action in parser._actions for a in action.option_strings}
    assert {"--max-steps", "--batch-size", "--seeds", "--no-anneal"} <= flags
    assert not {"--eval-every", "--patience", "--bn-eval", "--epochs"} & flags


def test_optional_counts_take_none_as_their_help_says():
    gas = _parse(GasConfig, ["--eval-every", "none", "--checkpoint-every", "None", "--max-steps", "none"])
    assert gas.train.eval_every is None and gas.train.checkpoint_every is None and gas.train.max_steps is None
    assert _parse(GasConfig, ["--eval-every", "50"]).train.eval_every == 50
    parser = add_config_options(cli.ArgumentParser(prog="t"), GasConfig)
    assert "(none: once an epoch" in parser.format_help()


@pytest.mark.parametrize("argv, fragment", [(["--batch-size", "0"], "--batch-size"),
                                            (["--recipe", "caret"], "--recipe"),
                                            (["--learning-rate", "-1"], "--learning-rate"),
                                            (["--eval-every", "0"], "expected a positive integer or 'none', got '0'"),
                                            (["--batch-size", "none"], "--batch-size")])
def test_bad_values_are_one_line_usage_errors(argv, fragment, capsys):
    with pytest.raises(SystemExit) as err:
        _parse(GasConfig, argv)
    assert err.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()
    assert len(message) == 1 and fragment in message[0]


def test_every_field_has_help():
    def fields(cls):
        for f in dataclasses.fields(cls):
            default = getattr(cls(), f.name)
            if dataclasses.is_dataclass(default):
                yield from fields(type(default))
            else:
                yield cls.__name__, f
    missing = [(c, f.name) for cls in (GasConfig, SpeechConfig, TableConfig, VIConfig) for c, f in fields(cls)
               if not f.metadata.get("help")]
    assert not missing


def test_declared_commands_exist():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    # One command per module of tfp_flows/cli (but the shared options module), named after it.
    modules = sorted(p.stem for p in (ROOT / "tfp_flows" / "cli").glob("*.py")
                     if p.stem not in ("__init__", "options"))
    assert {name: f"tfp_flows.cli.{name.removeprefix('tfp-flows-').replace('-', '_')}:entry_point"
            for name in scripts} == scripts
    assert sorted(name.removeprefix("tfp-flows-").replace("-", "_") for name in scripts) == modules
    for target in scripts.values():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function))


def test_reproduction_scripts_take_training_options_from_trainconfig():
    """Options once: a script's --epochs, --learning-rate, --batch-size and --no-progress
    are TrainConfig's declarations with the script's defaults, read back with its --seed."""
    from tfp_flows.cli.options import add_training_options, training_config
    from tfp_flows.training.config import TrainConfig

    defaults = TrainConfig(epochs=100, learning_rate=1e-4, batch_size=100, xla="off")
    parser = cli.reproduction_parser("t", ROOT / "reproductions" / "ledger.json", "/tmp/unused")
    add_training_options(parser, defaults, only=("epochs", "learning_rate", "batch_size", "progress"))
    flags = {a for action in parser._actions for a in action.option_strings}
    assert {"--epochs", "--learning-rate", "--batch-size", "--no-progress", "--seed"} <= flags
    assert not {"--eval-every", "--xla", "--patience"} & flags
    config = training_config(parser.parse_args(["--epochs", "3", "--no-progress", "--seed", "7"]), defaults)
    assert (config.epochs, config.progress, config.seed, config.learning_rate, config.xla) == (3, False, 7, 1e-4, "off")
    assert training_config(parser.parse_args([]), defaults).epochs == 100
    with pytest.raises(ValueError, match="no field warmup"):
        add_training_options(parser, defaults, only=("warmup",))
    for script in ("p1_training_a_flow", "nf_spline_coupling", "vi_affine_chain"):
        text = (ROOT / "reproductions" / f"{script}.py").read_text()
        assert '"--epochs"' not in text and '"--no-progress"' not in text, script


def test_seed_is_declared_in_one_place():
    """--seed is TrainConfig's field for the config-generated commands and
    cli.add_seed_option for every parser written by hand: no module spells it out."""
    sources = [*(ROOT / "tfp_flows").rglob("*.py"), *(ROOT / "reproductions").glob("*.py")]
    spelled = [p.relative_to(ROOT).as_posix() for p in sources
               if re.search(r'add_argument\(\s*"--seed"', p.read_text())]
    assert spelled == ["tfp_flows/cli/__init__.py"]
    parser = cli.ArgumentParser(prog="t")
    cli.add_seed_option(parser, None, "what the seed draws")
    assert parser.parse_args([]).seed is None and parser.parse_args(["--seed", "4"]).seed == 4
    with pytest.raises(SystemExit):
        parser.parse_args(["--seed", "-1"])
    assert "what the seed draws (default: None)" in " ".join(parser.format_help().split())
