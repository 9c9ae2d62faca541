"""Huge terms without long pauses: what CPython does in one C call over a whole
object, holding the GIL, done in pieces or with the GIL released instead.

A 64 MiB charlist from a caller decodes to a list of 64 Mi ints. Three things
would then stall every thread, the event loop's included, for 100-500 ms each
(docs/architecture.md, "Robustness rules"):

* the cyclic garbage collector traverses every element of a tracked list in each
  collection of the list's generation (~260 ms per 64 Mi elements, and a young
  list is in every gen0 collection, which any thread's allocations trigger);
* freeing the list decrefs its elements in one call (~110 ms), on whichever
  thread drops the last reference: usually the loop's, when a request is done;
* copying a 128 MiB buffer into a new ``bytes`` (~200 ms into fresh pages).

So: a big frame is decoded with the collector paused, its big lists are then
frozen out of the collector's reach (``gc.freeze``) and adopted by a janitor
thread, which frees each in pieces once nothing else holds it and unfreezes when
none is left; big byte strings are joined through a memory file.

While any adopted list lives, what was alive at the freeze is out of the
collector's reach: garbage cycles among those objects wait for the unfreeze.
Nothing in the service keeps a request's big list past the request (a file name
is kept as ``service.terms.LongPath``, in pieces), so that is a request's time.
"""
from __future__ import annotations

import gc
import os
import sys
import threading

# A list this long is adopted: below it, a collection or a free costs a few ms.
BIG_LIST = 1 << 20
# Elements freed per step of the janitor (~0.1 ms each), and its pause between
# steps: freeing is nobody's hurry, and a thread that takes the GIL back-to-back
# makes the loop wait for it at every step of every request (a 64 Mi-element list
# freed in 256 Ki steps without pauses stalled an echo round trip ~40 ms).
FREE_STEP = 1 << 16
FREE_PAUSE = 0.001
# How often the janitor looks whether an adopted list is still used elsewhere.
JANITOR_PERIOD = 0.2
# Containers looked at when searching a decoded term for big lists: a term with
# more is itself what the decode paid for; its big lists past this stay ordinary.
SEARCH_MAX = 1 << 20
# Below this, bytes are joined in one C call (a few ms at most).
JOIN_OFF_GIL_MIN = 4 << 20

_lock = threading.Lock()
_paused = 0                 # decodes running with the collector paused
_was_enabled = False
_adopted: list = []         # big lists the janitor frees once only it holds them
_janitor = None


def pause_gc() -> None:
    """Stop automatic collections until the matching ``resume_gc`` (counted: two
    decodes may overlap): a collection during a big decode traverses the young
    list being built, again and again."""
    global _paused, _was_enabled
    with _lock:
        if _paused == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _paused += 1


def resume_gc() -> None:
    global _paused
    with _lock:
        _paused -= 1
        if _paused == 0 and _was_enabled:
            gc.enable()


def adopt_big_lists(term) -> int:
    """Find the lists of BIG_LIST elements or more in ``term`` and hand them to the
    janitor, out of the collector's reach; how many were found. Call it with the
    collector paused, before the term is shared with other threads."""
    found = []
    stack = [term]
    seen = 0
    while stack and seen < SEARCH_MAX:
        t = stack.pop()
        seen += 1
        cls = t.__class__
        if cls is list:
            if len(t) >= BIG_LIST:
                found.append(t)     # its elements are not searched: 64 Mi steps
            else:
                stack.extend(x for x in t if x.__class__ in _CONTAINERS)
        elif cls is tuple:
            stack.extend(x for x in t if x.__class__ in _CONTAINERS)
        elif cls is dict:
            stack.extend(x for x in t.values() if x.__class__ in _CONTAINERS)
    if found:
        _adopt(found)
    return len(found)


_CONTAINERS = {list, tuple, dict}


def _adopt(lists: list) -> None:
    global _janitor
    with _lock:
        # every object alive now leaves the collector's generations (O(1)); the
        # janitor puts them back once the big lists are gone
        gc.freeze()
        _adopted.extend(lists)
        if _janitor is None:
            _janitor = threading.Thread(target=_janitor_run, name="bigterms-janitor",
                                        daemon=True)
            _janitor.start()


def _janitor_run() -> None:
    global _janitor
    stop = threading.Event()
    while True:
        stop.wait(JANITOR_PERIOD)
        with _lock:
            free = []
            for i in range(len(_adopted) - 1, -1, -1):
                # 2: the slot in _adopted and getrefcount's argument
                if sys.getrefcount(_adopted[i]) == 2:
                    free.append(_adopted.pop(i))
        while free:
            lst = free.pop()
            while lst:
                del lst[-FREE_STEP:]
                stop.wait(FREE_PAUSE)
            del lst
        with _lock:
            if not _adopted:
                gc.unfreeze()       # O(1): into the oldest generation
                _janitor = None
                return


def adopted() -> int:
    """How many big lists the janitor holds (for tests)."""
    with _lock:
        return len(_adopted)


def join_bytes(pieces: list) -> bytes:
    """``b"".join(pieces)`` (bytes-like pieces) for a big result without holding
    the GIL over the copy: through a memory file, whose ``os.write`` and
    ``os.pread`` release it. ``pieces`` is emptied once written, so that a buffer
    held only there is let go before the copy is made. The decoder and the
    encoder's parts need one ``bytes``."""
    n = sum(map(len, pieces))
    memfd_create = getattr(os, "memfd_create", None)
    if n < JOIN_OFF_GIL_MIN or memfd_create is None:
        out = b"".join(pieces)
        pieces.clear()
        return out
    fd = memfd_create("pyssl-join", os.MFD_CLOEXEC)
    try:
        for p in pieces:
            with memoryview(p) as whole:
                pos, end = 0, len(whole)
                while pos < end:
                    with whole[pos:end] as rest:
                        pos += os.write(fd, rest)
            del p
        pieces.clear()
        return _read_all(fd, n)
    finally:
        os.close(fd)


def _read_all(fd: int, n: int) -> bytes:
    parts = []
    got = 0
    while got < n:      # one read; more only if the kernel returns it short
        more = os.pread(fd, n - got, got)
        if not more:
            raise OSError("memory file shorter than written")
        parts.append(more)
        got += len(more)
    return parts[0] if len(parts) == 1 else b"".join(parts)
