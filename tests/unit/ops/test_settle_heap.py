"""bridge.cli.settle_heap: what is alive once the bridge is set up leaves the
collector's generations, and garbage cycles made after are still collected."""
import gc

from bridge.cli import settle_heap


class _Cycle:
    def __init__(self):
        self.me = self


def test_startup_objects_are_frozen_and_later_cycles_still_collected():
    try:
        settle_heap()
        assert gc.get_freeze_count() > 1000
        gc.collect()
        before = sum(1 for o in gc.get_objects() if type(o) is _Cycle)
        for _ in range(100):
            _Cycle()
        gc.collect()
        assert sum(1 for o in gc.get_objects() if type(o) is _Cycle) == before == 0
    finally:
        gc.unfreeze()
