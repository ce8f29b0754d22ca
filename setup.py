"""Only the optional C extension lives here; everything else is in pyproject.toml.

`tfp_flows.datasets.gas._gasparse` (a fast exact GAS-file reader) is built when a C compiler and
the Python headers are present; without them the install still succeeds and
`tfp_flows.datasets.gas.reader` uses NumPy's slower parser.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("tfp_flows.datasets.gas._gasparse", sources=["tfp_flows/datasets/gas/_gasparse.c"],
                             extra_compile_args=["-O3"], optional=True)])
