"""What the suite's config dataclasses share: every option is declared once, as a field
whose metadata says everything about it, and everything else is read from there.

Field metadata keys (all optional):

* ``help``: the option's help text (see `tfp_flows.cli.options`);
* ``choices``: the allowed values;
* ``minimum``: the least allowed integer (default 1 for int fields, and for each item of
  a list of ints); floats must be positive and finite unless ``positive`` is False;
* ``affects_results``: False for fields that do not change what a run computes (where
  its folder is, whether to show progress, where caches go): runs that differ only
  there are the same run;
* ``flag``, ``negate``, ``metavar``, ``required``, ``positional``, ``options``: how the
  command line shows the field (`tfp_flows.cli.options`).

>>> from dataclasses import dataclass, field
>>> @dataclass
... class Demo:
...     mode: str = field(default="a", metadata={"choices": ("a", "b")})
...     n: int = field(default=2, metadata={"minimum": 0})
...     out: str = field(default="x", metadata={"affects_results": False})
>>> check_fields(Demo(mode="c"))
Traceback (most recent call last):
ValueError: mode must be one of 'a', 'b', got 'c'
>>> settings_dict(Demo())
{'mode': 'a', 'n': 2}
"""

import dataclasses
import math
import numbers
import typing
from pathlib import Path

__all__ = ["as_dict", "check_fields", "choices_of", "replace", "settings_dict"]


def choices_of(cls, name):
    """The allowed values of field `name` of dataclass `cls` (from its metadata)."""
    return tuple({f.name: f for f in dataclasses.fields(cls)}[name].metadata["choices"])


def check_fields(config):
    """Raise ValueError naming the first field of `config` (nested configs included) whose
    value breaks its metadata's choices or bounds, or its type's (int, float, list of
    int, Optional); returns `config`."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            check_fields(value)
            continue
        tp, optional = _unwrap(hints[f.name])
        if value is None:
            if not optional:
                raise ValueError(f"{f.name} must be set")
            continue
        meta = f.metadata
        if "choices" in meta and value not in meta["choices"]:
            allowed = ", ".join(repr(c) for c in meta["choices"])
            raise ValueError(f"{f.name} must be one of {allowed}, got {value!r}")
        minimum = meta.get("minimum", 1)
        if tp is int:
            _check_int(f.name, value, minimum)
        elif tp is float and meta.get("positive", True):
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and 0 < value < math.inf):
                raise ValueError(f"{f.name} must be a positive number, got {value!r}")
        elif typing.get_origin(tp) in (list, typing.List) and typing.get_args(tp) == (int,):
            if not isinstance(value, (list, tuple)) or not value:
                raise ValueError(f"{f.name} must be a non-empty list of integers, got {value!r}")
            for item in value:
                _check_int(f.name, item, minimum, each=True)
    return config


def settings_dict(config):
    """What a run computes from: `as_dict(config)` without the fields whose metadata says
    ``affects_results: False`` (at any depth)."""
    out = {}
    for f in dataclasses.fields(config):
        if f.metadata.get("affects_results", True):
            value = getattr(config, f.name)
            out[f.name] = settings_dict(value) if dataclasses.is_dataclass(value) else _plain(value)
    return out


def as_dict(config):
    """A JSON-able dict of a config dataclass (Paths as strings)."""
    return _plain(dataclasses.asdict(config))


def replace(config, **changes):
    """`dataclasses.replace` that also reaches into nested configs: "train.seed" etc."""
    nested = {}
    for k in list(changes):
        if "." in k:
            outer, inner = k.split(".", 1)
            nested.setdefault(outer, {})[inner] = changes.pop(k)
    for outer, inner in nested.items():
        changes[outer] = replace(getattr(config, outer), **inner)
    return dataclasses.replace(config, **changes)


def _plain(v):
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _unwrap(tp):
    """(the type inside Optional[...], whether None is allowed)."""
    if typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(tp))
    return tp, False


def _check_int(name, value, minimum, each=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        what = f"each of {name}" if each else name
        raise ValueError(f"{what} must be {kind}, got {value!r}")
