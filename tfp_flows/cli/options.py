"""Command-line options generated from configuration dataclasses, declared once.

Each field of a config dataclass becomes an option ``--field-name`` with the field's
default, its type (int, float, str, bool, Path, Optional[...], List[int], List[str],
List[Path]) and the `help` (and optional `choices`, `minimum`, `negate`, `flag`,
`metavar`) in its metadata; ``required: True`` makes the option required, and
``positional: True`` makes a list field the command's positional arguments.
A field holding another dataclass (e.g. `train: TrainConfig`) contributes that
dataclass's options (only those its metadata "options" names, when it names any), with
the defaults of the outer config's instance. Booleans that default to True become
``--no-...`` switches, whose help the field's `help` gives.

    parser = cli.ArgumentParser(...)
    add_config_options(parser, GasConfig)
    config = config_from_args(GasConfig, parser.parse_args(argv))
"""

import argparse
import dataclasses
import sys
import typing
from pathlib import Path

from tfp_flows import cli
from tfp_flows._lazy import lazy_callable
from tfp_flows.training.config import TrainConfig

__all__ = ["add_config_options", "config_command", "config_from_args"]


def _nonneg_or_pos(minimum):
    return cli.nonnegative_int if minimum == 0 else cli.positive_int


def _or_none(parse):
    """argparse type: `parse`'s value, or None for "none" (an optional setting's help says
    what none means, e.g. --eval-every none)."""
    def parse_or_none(text):
        if text.strip().lower() == "none":
            return None
        try:
            return parse(text)
        except argparse.ArgumentTypeError as err:
            raise argparse.ArgumentTypeError(str(err).replace(", got", " or 'none', got", 1)) from None

    return parse_or_none


def _base_type(tp):
    """(inner type, is_list, is_optional) of an annotation."""
    optional = False
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp, optional = args[0], True
        origin = typing.get_origin(tp)
    if origin in (list, typing.List):
        return typing.get_args(tp)[0], True, optional
    return tp, False, optional


def _fields(cls, default, exclude, only=None):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in exclude or (only is not None and f.name not in only):
            continue
        value = getattr(default, f.name)
        if dataclasses.is_dataclass(value):
            # metadata "options": the nested fields that make sense here (default: all)
            yield from _fields(type(value), value, exclude, f.metadata.get("options"))
        else:
            yield f, hints[f.name], value


def add_config_options(parser, cls, exclude=(), default=None):
    """Add an option for every field of dataclass `cls` (recursively), except `exclude`.

    `default`: an instance whose values are the defaults (default: ``cls()``).
    """
    default = cls() if default is None else default
    for f, tp, value in _fields(cls, default, set(exclude)):
        meta = f.metadata
        flag = meta.get("flag", "--" + f.name.replace("_", "-"))
        help_text = meta.get("help", "")
        inner, is_list, optional = _base_type(tp)
        kwargs = {} if meta.get("positional") else {"dest": f.name}
        if inner is bool:
            if value:
                # (the help of a field that defaults to True describes its --no- switch)
                parser.add_argument(meta.get("negate", "--no-" + f.name.replace("_", "-")),
                                    action="store_false", help=help_text, **kwargs)
            else:
                parser.add_argument(flag, action="store_true", help=help_text, **kwargs)
            continue
        if inner is int:
            kwargs["type"] = _nonneg_or_pos(meta.get("minimum", 1))
            if optional and not is_list:
                kwargs["type"] = _or_none(kwargs["type"])
        elif inner is float:
            kwargs["type"] = cli.positive_float if meta.get("positive", True) else float
        elif inner is Path:
            kwargs["type"] = Path
        if "choices" in meta:
            kwargs["choices"] = meta["choices"]
        if is_list:
            kwargs["nargs"] = "+"
            shown = " ".join(map(str, value)) if value else "none"
        else:
            shown = "none" if value is None else value
        if "metavar" in meta:
            kwargs["metavar"] = meta["metavar"]
        if meta.get("positional"):
            parser.add_argument(f.name, help=help_text.replace("%", "%%"), **kwargs)
            continue
        if meta.get("required"):
            kwargs["required"] = True
        elif "(default" not in help_text:
            help_text = f"{help_text} (default: {shown})"
        parser.add_argument(flag, default=value, help=help_text.replace("%", "%%"), **kwargs)
    return parser


def config_from_args(cls, args, default=None, **overrides):
    """An instance of dataclass `cls` from parsed `args` (fields not on the command line
    keep `default`'s values; `overrides` win over both)."""
    default = cls() if default is None else default
    values = {}
    for f in dataclasses.fields(cls):
        current = getattr(default, f.name)
        if f.name in overrides:
            values[f.name] = overrides[f.name]
        elif dataclasses.is_dataclass(current):
            values[f.name] = config_from_args(type(current), args, current)
        elif hasattr(args, f.name):
            v = getattr(args, f.name)
            values[f.name] = list(v) if isinstance(v, tuple) else v
        else:
            values[f.name] = current
    return cls(**values)


def add_training_options(parser, defaults, only):
    """The training options named in `only` (fields of `TrainConfig`, e.g. "epochs",
    "learning_rate", "batch_size", "progress"), declared by `TrainConfig` itself with
    `defaults` (a `TrainConfig`) as their defaults: what a reproduction script offers of
    training, without writing an option again. `training_config(args, defaults)` reads
    them back (with the script's --seed)."""
    unknown = set(only) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise ValueError(f"TrainConfig has no field {', '.join(sorted(unknown))}")
    exclude = {f.name for f in dataclasses.fields(TrainConfig)} - set(only)
    return add_config_options(parser, TrainConfig, exclude=exclude, default=defaults)


def training_config(args, defaults):
    """The `TrainConfig` of parsed `args`: `defaults` with the options
    `add_training_options` declared and the script's --seed (when it has one) applied."""
    return config_from_args(TrainConfig, args, defaults).validate()


def config_command(prog, description, config_cls, run, prepare=None):
    """The three functions of a command that builds a `config_cls` from its options and
    calls `run(config, log=...)`: ``(build_parser, main, entry_point)``.

    `run` is "module:function", imported only when the command runs
    (`tfp_flows._lazy.lazy_callable`: --help stays quick and needs no TensorFlow);
    `prepare(config)` may check the config first. The command's exit status is what
    `run` returns when that is an int (e.g. 1 when some inputs could not be read), else 0.
    """
    work = lazy_callable(run)

    def build_parser():
        parser = cli.ArgumentParser(prog=prog, description=description,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        return add_config_options(parser, config_cls)

    def main(argv=None, log=print):
        config = config_from_args(config_cls, build_parser().parse_args(argv))
        if prepare is not None:
            prepare(config)
        result = work(config, log=log)
        return result if isinstance(result, int) and not isinstance(result, bool) else 0

    def entry_point():
        sys.exit(cli.run(main, prog=prog))

    return build_parser, main, entry_point
