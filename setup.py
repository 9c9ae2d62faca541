"""The build's one C part: bridge.etf._speedups, ETF decoding and encoding of the
common shapes (bridge/etf/_speedups.c). Optional: without a C compiler the package
installs without it and codes terms in Python alone (bridge/etf/decode.py and
encode.py), with the same results. Everything else about the package is in
pyproject.toml."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("bridge.etf._speedups", ["bridge/etf/_speedups.c"], optional=True)])
