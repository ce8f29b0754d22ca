"""Experiments as functions of a config dataclass, with no command-line parsing:
`run_gas(GasConfig(...))`, `run_speech(SpeechConfig(...))`, `run_vi(VIConfig(...))`.
Each returns its results and writes them to its run folder."""

from tfp_flows.experiments.common import MAFOptions
from tfp_flows.experiments.gas import GasConfig, run_gas
from tfp_flows.experiments.speech import SpeechConfig, run_speech
from tfp_flows.experiments.vi import VIConfig, run_vi

__all__ = ["GasConfig", "MAFOptions", "SpeechConfig", "VIConfig", "run_gas", "run_speech", "run_vi"]
