"""The C part of the codec (bridge/etf/_speedups.c), or None: one place for whether
it is used. It is optional in the build (setup.py: no compiler, no C part), and
PYSSL_BRIDGE_PURE_ETF=1 turns it off (to compare, or to rule it out). decode.py and
encode.py each set up their half of it."""
from __future__ import annotations

import os
from types import ModuleType
from typing import Optional


def speedups() -> Optional[ModuleType]:
    """``bridge.etf._speedups``, or None when it is not built or turned off."""
    if os.environ.get("PYSSL_BRIDGE_PURE_ETF"):
        return None
    try:
        # a C extension, not there without a compiler; named in full, not as
        # `from . import`, which reads as an import of this package itself
        import bridge.etf._speedups as _speedups
    except ImportError:
        return None
    return _speedups
