"""`RunFolder`: a run's folder and its whole life, in one object.

A run folder holds ``config.json`` (written when the run starts: what it computes from,
the whole config, and figures taken before training), ``checkpoints/``, ``metrics.jsonl``,
``tensorboard/``, ``best/`` (early stopping's best weights) and, last, ``results.json``.

Only one process writes it: the only one, or the chief (worker 0) of a multi-worker
run. Saving weights is a collective step that every worker takes, so the other workers
save their copies in scratch folders (``worker<i>-<what>`` beside the chief's files),
which are deleted when the run ends.
"""

import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import tensorflow as tf

from tfp_flows.errors import UsageError
from tfp_flows.files import read_json, write_json_atomic
from tfp_flows.flows.options import RECORDED_LATER  # a setting missing from an old record reads as this
from tfp_flows.flows.registry import family_of
from tfp_flows.training import distribute  # (TensorFlow: imported only when a run is made)
from tfp_flows.training.config import NO_LONGER_RECORDED

__all__ = ["RUN_KINDS", "RunFolder", "differing_settings"]

# What results.json's "kind" may say (and which command made the run).
RUN_KINDS = ("gas", "images", "speech", "table", "vi")


def differing_settings(old: Dict[str, Any], new: Dict[str, Any], prefix: str = "") -> List[str]:
    """The dotted names of the settings that differ between two settings dicts (nested
    dicts compared key by key; a key present in one only counts as differing, but a key
    of `RECORDED_LATER` missing from `old` reads as its value there, and one of
    `NO_LONGER_RECORDED` that only `old` holds is not a setting)."""
    names = []
    for key in sorted(set(old) | set(new), key=str):
        if key in NO_LONGER_RECORDED and key not in new:
            continue
        earlier = RECORDED_LATER.get(key, _MISSING) if key in new else _MISSING
        a, b = old.get(key, earlier), new.get(key, _MISSING)
        if isinstance(a, dict) and isinstance(b, dict):
            names += differing_settings(a, b, f"{prefix}{key}.")
        elif a != b:
            names.append(f"{prefix}{key}")
    return names


_MISSING = object()


def _mismatch(path, old, new):
    names = differing_settings(old or {}, new)
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    keys = [(name, name.rsplit(".", 1)[-1]) for name in names]
    hint = "".join(f"; it was recorded before --{key.replace('_', '-')} existed, so it has {RECORDED_LATER[key]}"
                   for name, key in keys if key in RECORDED_LATER and not _recorded(old or {}, name))
    return f"{path} holds a run with other settings ({shown or 'unknown'}{hint})"


def _recorded(settings, dotted):
    """Whether the nested settings dict holds the dotted name."""
    for key in dotted.split("."):
        if not isinstance(settings, dict) or key not in settings:
            return False
        settings = settings[key]
    return True


class RunFolder:
    """The folder `path` of a run, started afresh or resumed (`resume`), written by this
    process when it is the chief of `strategy` (always without a strategy).

    >>> import tempfile
    >>> run = RunFolder(tempfile.mkdtemp())
    >>> run.check().chief, run.scratch("best") is None
    (True, True)
    >>> settings, started = run.start({"lr": 0.1}, config={"lr": 0.1}, facts=lambda: {"before": 1})
    >>> started["before"], sorted(p.name for p in run.path.iterdir())
    (1, ['config.json'])
    >>> RunFolder(run.path).check()
    Traceback (most recent call last):
    tfp_flows.errors.UsageError: ... already holds a run; pass --resume to continue it or choose another --out
    """

    @classmethod
    def open(cls, path, settings: Dict[str, Any], strategy=None, on_mismatch: str = "refuse",
             retrain: bool = False) -> Tuple["RunFolder", str]:
        """The run folder for a run of `settings` at `path`, and what to do there: "fresh"
        (nothing usable there: start), "resume" (a run of the same settings stopped before
        its end: continue from its checkpoints) or "finished" (a run of the same settings
        ended: its `results` are there, `load_weights` puts its weights into a flow).

        A folder holding a run of other settings is refused in one line naming the
        differing settings (UsageError), or with ``on_mismatch="beside"`` the run goes to
        the first free folder beside it (``<name>-b``, ``<name>-c``, ...). `retrain`
        deletes a folder of the same settings first (the chief only).
        """
        if on_mismatch not in ("refuse", "beside"):
            raise ValueError(f"on_mismatch must be 'refuse' or 'beside', got {on_mismatch!r}")
        path = Path(path)
        for suffix in [""] + [f"-{c}" for c in "bcdefghijklmnopqrstuvwxyz"]:
            here = path.with_name(path.name + suffix)
            state = cls._state(here, settings, retrain)
            if state != "other":
                run = cls(here, strategy, resume=state == "resume")
                run.state, run.results = state, (run.read("results.json") if state == "finished" else None)
                return run, state
            if on_mismatch == "refuse":
                old = read_json(here / "results.json") or read_json(here / "config.json") or {}
                raise UsageError(_mismatch(here, old.get("settings"), settings) + "; choose another --out")
        raise UsageError(f"{path}: 26 folders beside it hold runs with other settings; choose another --out")

    @staticmethod
    def _state(path, settings, retrain):
        """fresh / resume / finished / other (a run of other settings) for `settings` at `path`."""
        if not path.exists() or not any(path.iterdir()):
            return "fresh"
        done = read_json(path / "results.json")
        started = read_json(path / "config.json")
        recorded = (done or started or {}).get("settings")
        if done is None and started is None:
            raise UsageError(f"{path} holds files but no run (no config.json); choose another --out")
        if recorded is None or differing_settings(recorded, settings):
            return "other"
        if retrain:
            shutil.rmtree(path)
            return "fresh"
        if done is not None:
            return "finished"
        return "resume" if (path / "checkpoints").exists() else "fresh"

    def __init__(self, path, strategy=None, resume=False):
        self.path, self.strategy, self.resume = Path(path), strategy, bool(resume)
        self.chief = distribute.is_chief(strategy)
        self.multi_worker = distribute.is_multi_worker(strategy)
        self._worker = distribute.worker_index(strategy)
        self.state, self.results = ("resume" if self.resume else "fresh"), None
        self._restarting = False  # a run stopped before its first checkpoint, started again (check)

    # ------------------------------------------------------------------ where things are
    @property
    def checkpoints(self):
        return self.path / "checkpoints"

    @property
    def metrics(self):
        return self.path / "metrics.jsonl"

    @property
    def tensorboard(self):
        return self.path / "tensorboard"

    @property
    def best_weights(self):
        return self.path / "best" / "weights"

    def scratch(self, what):
        """Where this process saves its copy of `what` (a collective save): None for the
        chief, which saves into the run folder itself."""
        return None if self.chief else self.path / f"worker{self._worker}-{what}"

    # ------------------------------------------------------------------ its life
    def check(self):
        """Refuse (UsageError), before any data is read or anything written, to start a run
        in a folder that holds one, or to resume one without checkpoints; returns self.
        A run stopped before its first checkpoint (its folder holds only config.json) is
        resumed by starting it again from step 0, with the settings it recorded."""
        if self.chief:
            if self.path.exists() and not self.resume and any(self.path.iterdir()):
                raise UsageError(f"{self.path} already holds a run; pass --resume to continue it or choose "
                                 "another --out")
            if self.resume and not self.checkpoints.exists():
                # Stopped before its first checkpoint (Ctrl-C while the loop compiled): it
                # starts again from step 0, if its settings are the ones it recorded (start).
                alone = (self.path.is_dir() and [p.name for p in self.path.iterdir()] == ["config.json"]
                         and self.read("config.json") is not None)
                if not alone or self.multi_worker:
                    raise UsageError(f"{self.path}: nothing to resume (no checkpoints folder)")
                self.resume, self._restarting = False, True
        return self

    def start(self, settings, config=None, facts=None):
        """Start the run, or check a resumed one: returns (settings, what config.json holds).

        A fresh run records `settings` (what the run computes from), `config` (JSON-able)
        and `facts()` (e.g. figures before training) in config.json. A resumed run must
        have been started with the same settings (UsageError otherwise) and gets the facts
        recorded then. A multi-worker run's other workers write nothing but compute the
        same `facts` (evaluations are collective steps every worker must take).
        """
        if self.resume or self._restarting:
            started = self.read("config.json") or {}
            if differing_settings(started.get("settings", settings), settings):
                raise UsageError(_mismatch(self.path, started.get("settings"), settings)
                                 + "; resume it with those (see its config.json), or choose another --out")
            if self.resume:
                return settings, started
        started = {"settings": settings, **({"config": config} if config is not None else {}),
                   **(facts() if facts else {})}
        if self.chief:
            write_json_atomic(self.path / "config.json", started)
        return settings, started

    def read(self, name):
        """The JSON object in file `name` of the folder, or None when missing or unreadable."""
        return read_json(self.path / name)

    def finished(self):
        """The results of a finished run in this folder, or None."""
        return self.read("results.json")

    def write_results(self, results: Dict[str, Any], kind: str, flow=None) -> Optional[Path]:
        """Write results.json, last and atomically (the chief only); returns its path or None.

        The record always names the run's `kind` (one of `RUN_KINDS`) and, given the
        `flow`, its family (`tfp_flows.flows.registry`), class and `config`, so that the
        run can be rebuilt (`tfp_flows.experiments.export.load_run`)."""
        if kind not in RUN_KINDS:
            raise ValueError(f"kind must be one of {RUN_KINDS}, got {kind!r}")
        record = {**results, "kind": kind}
        if flow is not None:
            record.update(flow_family=family_of(flow), flow_class=type(flow).__name__, model=flow.config)
        self.results = record
        if not self.chief:
            return None
        return write_json_atomic(self.path / "results.json", record)

    def weights_path(self) -> Optional[str]:
        """The weights a finished (or stopped) run leaves: early stopping's best when saved,
        else the latest checkpoint; None when there are none."""
        if self.best_weights.with_name("weights.index").exists():
            return str(self.best_weights)
        return tf.train.latest_checkpoint(str(self.checkpoints))

    def load_weights(self, flow, path: Optional[str] = None):
        """Put the run's weights (`weights_path()`, or `path`) into `flow`; returns `flow`.
        ValueError (one line naming the folder) when there are none."""
        path = path or self.weights_path()
        if path is None:
            raise ValueError(f"{self.path}: no weights to load (no best/ or checkpoints/)")
        tf.train.Checkpoint(flow=flow).read(path).expect_partial()
        return flow

    def clear_scratch(self):
        """Delete this process's scratch folders (none for the chief)."""
        if not self.chief:
            for p in self.path.glob(f"worker{self._worker}-*"):
                shutil.rmtree(p, ignore_errors=True)
