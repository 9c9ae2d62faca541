"""The C part of the codec (bridge/etf/_speedups.c), or None: one place for whether
it is used. It is optional in the build (setup.py: no compiler, no C part), and
PYSSL_BRIDGE_PURE_ETF=1 turns it off (to compare, or to rule it out). decode.py and
encode.py each set up their half of it."""
from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Optional


def speedups() -> Optional[ModuleType]:
    """``bridge.etf._speedups``, or None when it is not built or turned off."""
    if os.environ.get("PYSSL_BRIDGE_PURE_ETF"):
        return None
    try:
        return importlib.import_module("._speedups", __package__)
    except ImportError:
        return None
