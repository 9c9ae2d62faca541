"""The one reply type of the service's handlers.

Every entry of the dispatch table (``bridge.service.api``) returns a ``Reply`` or an
awaitable of one. A ``Reply`` is the term ``ssl:Fun(Args...)`` returns, plus:

* ``then``: what to do once the reply has been sent (a new socket starts
  delivering to its owner only after the owner has its ``{ok, S}``);
* ``opens``: the socket the reply hands to its owner, whose window grant the reply
  can travel with;
* ``ack``: ``then`` ends a connection, which ssl does only once its caller has the
  reply; the shim acknowledges the reply and the bridge runs ``then`` on that (or when
  the caller or its node goes), see ``SslService._run``;
* ``sync``: whether the shim must wait for its node's guard before it returns the
  reply (``None``; ``KEEP``; or the socket's reference, when the reply ends the
  socket for the caller: the guard then also drops that window). The bridge
  decides this (``bridge.service.windows``), so the shim does not restate the
  window rules.

A reply that has to wait for the network without a task (a ``recv`` or a
``transport_accept`` with nothing there yet) is a ``Pending``: resolved by a
callback, it answers in the loop step that resolved it (a future's callbacks run
one step later); it can also be awaited, by the rpc path.
"""
from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable

from bridge.etf.types import Atom

KEEP = "keep"
# Terms that are certainly not awaitable: checked before inspect.isawaitable, which
# is slow for plain values (it asks the Awaitable ABC).
_PLAIN = frozenset((tuple, list, bytes, str, int, float, bool, type(None), Atom))


class Reply:
    """A term for the caller, what to do after sending it, and the guard sync it needs."""

    __slots__ = ("ack", "credits", "opens", "sync", "then", "value")

    def __init__(self, value, then: Callable[[], None] | None = None, sync=None, opens=None,
                 ack: bool = False, credits=None):
        self.value = value
        self.then = then
        self.sync = sync
        self.ack = ack
        # the socket this reply hands to its owner (``then`` is its ``release``): the
        # shim's reply may go with the socket's window grant (bridge.service.windows)
        self.opens = opens
        # a send call's socket: the reply may go with the window bytes owed to its
        # caller's node (Windows.reply_crediting)
        self.credits = credits

    def __repr__(self) -> str:     # pragma: no cover - debugging aid
        return f"Reply({self.value!r}, then={self.then!r}, sync={self.sync!r})"


def as_reply(result) -> Reply:
    """A handler's bare term as a Reply (a Reply stays itself)."""
    return result if result.__class__ is Reply else Reply(result)


class Pending:
    """A Reply not known yet, resolved once by ``resolve`` (a term or a Reply)."""

    __slots__ = ("_callbacks", "_done", "_future", "_result")

    def __init__(self):
        self._done = False
        self._result: Reply | None = None
        self._callbacks: list = []
        self._future = None

    def resolve(self, value) -> None:
        if self._done:
            return
        self._done = True
        self._result = as_reply(value)
        callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            fn(self._result)
        if self._future is not None and not self._future.done():
            self._future.set_result(self._result)

    def add_callback(self, fn: Callable[[Reply], None]) -> None:
        """``fn(reply)`` when resolved: at once if it is already."""
        if self._done:
            fn(self._result)
        else:
            self._callbacks.append(fn)

    def __await__(self):
        if self._done:
            return self._result
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
        return (yield from self._future.__await__())


def is_pending(result) -> bool:
    """Whether a handler's result is still to come (anything awaitable)."""
    return result.__class__ is Pending or inspect.isawaitable(result)


def mapped(result, fn: Callable[[Reply], Reply]):
    """``fn`` applied to the Reply ``result`` is or will be (``result`` a Reply, a
    term, or an awaitable of either); the same kind comes back."""
    cls = result.__class__
    if cls is Reply or cls in _PLAIN:   # most replies: no awaitable check (an ABC's)
        return fn(as_reply(result))
    if cls is Pending:
        out = Pending()
        result.add_callback(lambda r: out.resolve(fn(r)))
        return out
    if inspect.isawaitable(result):
        return _mapped(result, fn)
    return fn(as_reply(result))


async def _mapped(awaitable, fn):
    return fn(as_reply(await awaitable))


def normalized(result):
    """A handler's result as a Reply, or an awaitable of one."""
    cls = result.__class__
    if cls is Reply or cls is Pending:
        return result
    if cls in _PLAIN:
        return Reply(result)
    if inspect.isawaitable(result):
        return _mapped(result, _same)
    return Reply(result)


def _same(reply: Reply) -> Reply:
    return reply


def settle(result, deliver: Callable[[Reply], None], on_error: Callable[[BaseException], None]) -> None:
    """Pass the Reply of a handler's ``result`` to ``deliver``: now, when a ``Pending``
    resolves, or when an awaitable (a coroutine runs as a task) finishes; a failure
    of the awaitable goes to ``on_error`` (``CancelledError`` included)."""
    if result.__class__ is Reply:
        deliver(result)
    elif result.__class__ is Pending:
        result.add_callback(deliver)
    elif result.__class__ not in _PLAIN and inspect.isawaitable(result):
        task = asyncio.ensure_future(result)
        task.add_done_callback(lambda t: _settled(t, deliver, on_error))
    else:
        deliver(as_reply(result))


def _settled(task, deliver, on_error) -> None:
    if task.cancelled():
        on_error(asyncio.CancelledError())
        return
    exc = task.exception()
    if exc is not None:
        on_error(exc)
    else:
        deliver(as_reply(task.result()))

