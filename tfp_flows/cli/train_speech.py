"""Train P2's MAF on one Speech Commands word and score every other word (`tfp-flows-train-speech`).

Defaults are P2's: the word "zero", P2's random 50/50 split, P2's feature, 10 MAF
layers of 2 x 512 tanh units with batch normalisation and reversals, Adam 1e-3, batch
100, 10 epochs, every word scored after each epoch. results.json gets the anomaly
evaluation (per-word AUCs, how many words beat the held-out target clips) and the
flagging threshold that `tfp-flows-score-audio` uses.
"""

from tfp_flows.cli.options import config_command
from tfp_flows.experiments.configs import SpeechConfig

__all__ = ["build_parser", "entry_point", "main"]


build_parser, main, entry_point = config_command("train-speech", __doc__, SpeechConfig,
                                                 "tfp_flows.experiments.speech:run_speech")

if __name__ == "__main__":
    entry_point()
