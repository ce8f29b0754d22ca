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

from tfp_flows.errors import UsageError
from tfp_flows.files import read_json, write_json_atomic

__all__ = ["RunFolder"]


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

    def __init__(self, path, strategy=None, resume=False):
        from tfp_flows.training import distribute  # (TensorFlow: imported only when a run is made)

        self.path, self.strategy, self.resume = Path(path), strategy, bool(resume)
        self.chief = distribute.is_chief(strategy)
        self.multi_worker = distribute.is_multi_worker(strategy)
        self._worker = distribute.worker_index(strategy)

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
        in a folder that holds one, or to resume one without checkpoints; returns self."""
        if self.chief:
            if self.path.exists() and not self.resume and any(self.path.iterdir()):
                raise UsageError(f"{self.path} already holds a run; pass --resume to continue it or choose "
                                 "another --out")
            if self.resume and not self.checkpoints.exists():
                raise UsageError(f"{self.path}: nothing to resume (no checkpoints folder)")
        return self

    def start(self, settings, config=None, facts=None):
        """Start the run, or check a resumed one: returns (settings, what config.json holds).

        A fresh run records `settings` (what the run computes from), `config` (JSON-able)
        and `facts()` (e.g. figures before training) in config.json. A resumed run must
        have been started with the same settings (UsageError otherwise) and gets the facts
        recorded then. A multi-worker run's other workers write nothing but compute the
        same `facts` (evaluations are collective steps every worker must take).
        """
        if self.resume:
            started = self.read("config.json") or {}
            if started.get("settings", settings) != settings:
                raise UsageError(f"{self.path} was started with other settings (see its config.json); "
                                 "resume it with those, or choose another --out")
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

    def write_results(self, results):
        """Write results.json, last and atomically (the chief only); returns its path or None."""
        if not self.chief:
            return None
        return write_json_atomic(self.path / "results.json", results)

    def clear_scratch(self):
        """Delete this process's scratch folders (none for the chief)."""
        if not self.chief:
            for p in self.path.glob(f"worker{self._worker}-*"):
                shutil.rmtree(p, ignore_errors=True)
