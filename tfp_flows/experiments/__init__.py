"""Experiments as functions of a config dataclass, with no command-line parsing:
`run_gas(GasConfig(...))`, `run_speech(SpeechConfig(...))`, `run_vi(VIConfig(...))`.
Each returns its results and writes them to its run folder. The config classes live in
`tfp_flows.experiments.configs` (no TensorFlow); the experiments import it on first use."""

from tfp_flows._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "tfp_flows.flows.options": ["FlowOptions", "MAFOptions"],
    "tfp_flows.experiments.configs": ["GasConfig", "ImagesConfig", "SpeechConfig", "TableConfig", "VIConfig"],
    "tfp_flows.experiments.gas": ["run_gas"],
    "tfp_flows.experiments.images": ["run_images"],
    "tfp_flows.experiments.speech": ["run_speech"],
    "tfp_flows.experiments.table": ["run_table"],
    "tfp_flows.experiments.vi": ["run_vi"],
})

__all__ = ["FlowOptions", "GasConfig", "ImagesConfig", "MAFOptions", "SpeechConfig", "TableConfig", "VIConfig",
           "run_gas", "run_images", "run_speech", "run_table", "run_vi"]
