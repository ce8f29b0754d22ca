"""The UCI GAS data: reading (`reader`), preprocessing recipes (`recipes`) and generated
GAS-format files (`synthetic`)."""

from tfp_flows.datasets.gas.reader import GAS_COLUMNS, GAS_HEADER, GAS_URL, download_gas, read_gas
from tfp_flows.datasets.gas.recipes import (
                                            GasSplits,
                                            find_correlation_exact,
                                            gas_dataset,
                                            maf_correlation_rule,
                                            maf_split_sizes,
                                            prepare_gas,
)
from tfp_flows.datasets.gas.synthetic import SYNTHETIC_GROUPS, write_synthetic_gas

__all__ = ["GAS_COLUMNS", "GAS_HEADER", "GAS_URL", "GasSplits", "SYNTHETIC_GROUPS", "download_gas",
           "find_correlation_exact", "gas_dataset", "maf_correlation_rule", "maf_split_sizes",
           "prepare_gas", "read_gas", "write_synthetic_gas"]
