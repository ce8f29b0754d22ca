"""Finished runs as models: load a run folder, and export it as a TensorFlow SavedModel.

A run folder (GAS, table, image, speech or VI) holds `results.json` (the model's
`config`, the run's standardisation and flagging threshold) and its weights (`best/`
when there was a validation set, else `checkpoints/`). `RunModel` turns it into two
functions of *raw* data, the run's standardisation z = (x - mean) / std baked in:

* ``log_prob(x)`` = log p_flow((x - mean) / std) - sum(log std): the log-density of the
  raw rows (the Jacobian of the standardisation included), batch norm in evaluation mode;
* ``sample(n)`` = flow draws * std + mean, in raw units;
* for a conditional run (a table with context columns), ``log_prob(x, context)`` and
  ``sample(context)`` (one draw per context row), the context standardised the same way;
* for a speech run, ``log_prob_audio(samples)``: the same of 16 kHz mono waveforms of one
  second, the run's feature computed inside the graph with core TensorFlow ops
  (`tf.signal`), so that a SavedModel scores raw audio without tensorflow-io or this
  package.

`export_run` saves them as a SavedModel with serving signatures ``log_prob(x: float32[None,
D]) -> float32[None]``, ``sample(n: int32 scalar) -> float32[n, D]`` and, for speech runs,
``log_prob_audio(samples: float32[None, 16000]) -> float32[None]``, which TensorFlow alone
can load (``tf.saved_model.load``; TensorFlow Serving), plus ``tfp_flows.json`` beside it:
the kind of run, its columns or features, and its threshold in raw units.
"""

import json
import shutil
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import tensorflow as tf

from tfp_flows.datasets.speech.audio import SAMPLE_RATE
from tfp_flows.datasets.speech.features import FEATURES
from tfp_flows.flows import registry
from tfp_flows.flows.base import Flow
from tfp_flows.training.run_folder import RUN_KINDS, RunFolder

__all__ = ["RunModel", "export_run", "load_run", "SIDECAR"]

SIDECAR = "tfp_flows.json"


def _run_kind(results):
    """The run's kind: recorded in results.json since RunFolder.write_results names it;
    read from the keys of older records."""
    if results.get("kind") in RUN_KINDS:
        return results["kind"]
    if "recipe" in results:
        return "gas"
    if "features" in results:
        return "speech"
    if "target" in results:
        return "vi"
    raise ValueError("results.json is not from a GAS, table, image, speech or VI run")


# The class names runs recorded before the family was (results.json's "flow_class").
_OLD_FAMILIES = {"MAFFlow": "maf", "VIFlow": "vi", "SplineCouplingFlow": "spline-coupling",
                 "AffineLeakyReLUFlow": "affine-leaky-relu"}


def load_run(run_dir: Union[str, Path]) -> Tuple[Flow, Dict[str, Any], str]:
    """(flow with the run's weights, results, kind) of a finished run folder.

    Raises:
      ValueError: one line naming the folder when it holds no finished run or no weights.
    """
    run = RunFolder(run_dir)
    results = run.finished()
    if results is None:
        raise ValueError(f"{run.path}: no finished run (results.json missing or unreadable)")
    try:
        kind = _run_kind(results)
    except ValueError as err:
        raise ValueError(f"{run.path}: {err}") from None
    family = results.get("flow_family") or _OLD_FAMILIES.get(results.get("flow_class", ""))
    if family is None and "flow_class" not in results:  # runs from before flow_class was recorded
        family = "vi" if kind == "vi" else "maf"
    config = results.get("model")
    if config is None and kind == "vi":  # runs from before "model" was recorded
        s = results["settings"]
        config = {"kind": results["flow"], "layers": results["K"], "hidden": s.get("iaf_hidden") or [16],
                  "seed": results["seed"]}
    if family not in registry.FAMILIES or config is None:
        raise ValueError(f"{run.path}: results.json does not say which flow it trained")
    flow = registry.flow_from_record(family, config)
    run.load_weights(flow)
    return flow, results, kind


class RunModel(tf.Module):
    """A flow with its run's standardisation: `log_prob` and `sample` in raw units.

    Args:
      flow: a `tfp_flows.flows.Flow` (its weights loaded).
      mean, std: the standardisation, [D] each (None: none).
      features: for a speech run, the name of its clip feature (`tfp_flows.datasets.speech.FEATURES`):
        adds ``log_prob_audio(samples [n, 16000])``.
      context_mean, context_std: a conditional flow's context standardisation, [C] each;
        then ``log_prob(x, context)`` and ``sample(context)``.
    """

    def __init__(self, flow: Flow, mean: Optional[np.ndarray] = None, std: Optional[np.ndarray] = None,
                 features: Optional[str] = None, name: str = "run_model", context_mean: Optional[np.ndarray] = None,
                 context_std: Optional[np.ndarray] = None) -> None:
        super().__init__(name=name)
        dims = flow.dims
        self.flow = flow
        mean = np.zeros(dims) if mean is None else np.asarray(mean, np.float64)
        std = np.ones(dims) if std is None else np.asarray(std, np.float64)
        if mean.shape != (dims,) or std.shape != (dims,) or np.any(std <= 0):
            raise ValueError(f"the standardisation must be {dims} means and {dims} positive sds")
        self.mean = tf.constant(mean, tf.float32)
        self.std = tf.constant(std, tf.float32)
        self.log_det = tf.constant(-np.log(std).sum(), tf.float32)  # d z / d x = 1 / std
        self.context_dims = flow.context_dims
        if self.context_dims:
            c = self.context_dims
            c_mean = np.zeros(c) if context_mean is None else np.asarray(context_mean, np.float64)
            c_std = np.ones(c) if context_std is None else np.asarray(context_std, np.float64)
            if c_mean.shape != (c,) or c_std.shape != (c,) or np.any(c_std <= 0):
                raise ValueError(f"the context standardisation must be {c} means and {c} positive sds")
            self.context_mean, self.context_std = tf.constant(c_mean, tf.float32), tf.constant(c_std, tf.float32)
            context_spec = tf.TensorSpec([None, c], tf.float32)
            self.log_prob = tf.function(self._log_prob, input_signature=[tf.TensorSpec([None, dims], tf.float32),
                                                                         context_spec])
            self.sample = tf.function(self._sample_given, input_signature=[context_spec])
        else:
            self.log_prob = tf.function(self._log_prob, input_signature=[tf.TensorSpec([None, dims], tf.float32)])
            self.sample = tf.function(self._sample, input_signature=[tf.TensorSpec([], tf.int32)])
        self.features = features
        if features is not None:
            featurise = FEATURES[features]
            self.log_prob_audio = tf.function(lambda samples: self._log_prob(featurise(samples)),
                                              input_signature=[tf.TensorSpec([None, SAMPLE_RATE], tf.float32)])

    def _standard_context(self, context):
        dtype = self.flow.base.dtype
        return tf.cast((context - self.context_mean) / self.context_std, dtype)

    def _log_prob(self, x, context=None):
        z = (x - self.mean) / self.std
        if context is not None:
            context = self._standard_context(context)
        return tf.cast(self.flow.log_prob(z, training=False, context=context), tf.float32) + self.log_det

    def _sample(self, n):
        return tf.cast(self.flow.sample(n), tf.float32) * self.std + self.mean

    def _sample_given(self, context):
        draws = self.flow.sample(tf.shape(context)[0], context=self._standard_context(context))
        return tf.cast(draws, tf.float32) * self.std + self.mean

    @classmethod
    def from_run(cls, run_dir: Union[str, Path]) -> Tuple["RunModel", Dict[str, Any]]:
        """(RunModel, facts for scoring) of a finished run folder."""
        flow, results, kind = load_run(run_dir)
        st = results.get("standardisation") or {}
        cst = results.get("context_standardisation") or {}
        model = cls(flow, st.get("mean"), st.get("std"), features=results.get("features") if kind == "speech" else None,
                    context_mean=cst.get("mean"), context_std=cst.get("std"))
        return model, facts_of(results, kind, float(model.log_det.numpy()))


def facts_of(results, kind, log_det):
    """What scoring needs to know of a run: kind, columns or features, the threshold in
    raw units (the run records it on the standardised scale)."""
    facts = {"kind": kind, "dims": None, "columns": None, "features": None, "threshold": None}
    st = results.get("standardisation") or {}
    facts["columns"] = st.get("columns") or results.get("columns_kept")
    facts["features"] = results.get("features")
    facts["context_columns"] = (results.get("context_standardisation") or {}).get("columns")
    t = results.get("threshold")
    if t is not None:
        facts["threshold"] = {**t, "value": t["value"] + log_det, "scale": "raw"}
    return facts


def export_run(run_dir: Union[str, Path], out_dir: Union[str, Path]) -> Path:
    """Write the run's model as a SavedModel (with `tfp_flows.json` beside it) to
    `out_dir`, atomically (a temporary folder renamed into place). Returns `out_dir`.

    Raises:
      ValueError: `out_dir` exists, or the run cannot be loaded.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise ValueError(f"{out_dir} already exists; choose another --out")
    model, facts = RunModel.from_run(run_dir)
    facts["dims"] = model.flow.dims
    facts["run"] = str(Path(run_dir).resolve())
    tmp = out_dir.with_name(f".{out_dir.name}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        signatures = {"log_prob": model.log_prob.get_concrete_function(),
                      "sample": model.sample.get_concrete_function()}
        if model.features is not None:
            signatures["log_prob_audio"] = model.log_prob_audio.get_concrete_function()
        # Saving walks every attribute of TFP's linear operators, whose deprecated
        # `graph_parents` then logs a 3-line notice twice (TF 2.16 and 2.21): nothing the
        # user can act on, so TensorFlow's Python logger is held at ERROR meanwhile.
        logger = tf.get_logger()
        level = logger.level
        logger.setLevel("ERROR")
        try:
            tf.saved_model.save(model, str(tmp), signatures=signatures)
        finally:
            logger.setLevel(level)
        (tmp / SIDECAR).write_text(json.dumps(facts, indent=2) + "\n")
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
