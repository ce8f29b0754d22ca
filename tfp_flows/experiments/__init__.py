"""Experiments as functions of a config dataclass, with no command-line parsing:
`run_gas(GasConfig(...))`, `run_speech(SpeechConfig(...))`, `run_vi(VIConfig(...))`.
Each returns its results and writes them to its run folder."""

from tfp_flows._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "tfp_flows.experiments.common": ["FlowOptions", "MAFOptions"],
    "tfp_flows.experiments.gas": ["GasConfig", "run_gas"],
    "tfp_flows.experiments.speech": ["SpeechConfig", "run_speech"],
    "tfp_flows.experiments.vi": ["VIConfig", "run_vi"],
})

__all__ = ["FlowOptions", "GasConfig", "MAFOptions", "SpeechConfig", "VIConfig", "run_gas", "run_speech", "run_vi"]
