"""Run a coroutine on the event loop from a handshake thread and wait for it.

The caller's funs (``verify_fun``, ``sni_fun``, ``user_lookup_fun``) are called
from OpenSSL callbacks; a connection with such a fun has its handshake steps on
the thread pool (``TLSConfig.blocking_hooks``), so the loop is free to carry out
the Erlang call. Waiting for the loop *on* the loop would never end: that is
refused at once instead.
"""
from __future__ import annotations

import asyncio
from typing import Any, Coroutine


def run_on_loop(loop: asyncio.AbstractEventLoop, coro: Coroutine, timeout: float) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass                                    # a worker thread: wait below
    else:
        coro.close()
        raise RuntimeError("an Erlang callback cannot be waited for on the event loop")
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)
