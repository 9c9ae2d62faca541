"""What every ssl socket of the bridge shares: ``SocketBase`` (the answers a socket
gives to calls that make no sense for its kind), and the
helpers of the set-up drivers (option parsing and heavy work off the loop, the
split of setopts changes, the packet and active option values)."""
from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor

from bridge.etf.types import Atom, Pid, Reference

from . import options
from .options import SslOptionError
from .terms import ENOTCONN, OK, PYSSL, SSLSOCKET, Raise, error, heavy


def parse(fn, *args, **kw):
    """Run an option parser: its result, or the Erlang reply for a refused option list."""
    try:
        return fn(*args, **kw)
    except SslOptionError as exc:
        return exc.term
    except options.ErlangException as exc:
        raise Raise(exc.reason, exc.cls) from None


# Parsing and certificate work too big for the event loop (a 64 MiB file name, a
# huge cacertfile) runs here; its own threads, so that it never queues behind TLS
# handshake steps that wait for Erlang hooks on the default pool.
HEAVY_WORK = ThreadPoolExecutor(max_workers=2, thread_name_prefix="heavy")


async def off_loop_if(cond: bool, fn, *args, **kw):
    """``fn(*args, **kw)``, on HEAVY_WORK when ``cond``. Exceptions come back as
    raised; ``fn`` must not touch state the loop uses meanwhile."""
    if not cond:
        return fn(*args, **kw)
    return await asyncio.get_running_loop().run_in_executor(
        HEAVY_WORK, functools.partial(fn, *args, **kw))


def off_loop_if_heavy(term, fn, *args, **kw):
    """``off_loop_if`` for a parse of ``term``, what the caller sent: an absurd
    option list must not stall every other socket while it is checked."""
    return off_loop_if(heavy(term), fn, *args, **kw)


# Above this many bytes of file names and contents, a TLS config is built on
# HEAVY_WORK: PEM parsing of a large cacertfile, or errors that quote a huge name.
CONFIG_INLINE_MAX = 256 * 1024


def config_heavy(parsed, files: dict) -> bool:
    n = sum(len(p) for _, p in parsed.files)
    for data in files.values():
        if data.__class__ is bytes:
            n += len(data)
    return n > CONFIG_INLINE_MAX


def split_changes(changes: list) -> tuple[dict, dict]:
    """setopts changes: (emulated socket options, OS socket options)."""
    emulated, osopts = {}, {}
    for name, value in changes:
        if name in options.EMULATED_OPTIONS or name in ("line_delimiter", "exit_on_close",
                                                        "deliver", "send_timeout"):
            emulated[name] = value
        else:
            osopts[name] = value
    return emulated, osopts


# packet types whose length header can refuse a send smaller than a send window
SMALL_HEADERS = (1, 2)


class SocketBase:
    def __init__(self, service, owner: Pid):
        self.service = service
        self.ref: Reference = service.new_ref()
        self.term = (SSLSOCKET, PYSSL, self.ref)
        self.owner = owner

    def close(self, how):
        self.close_now()
        return OK

    # Defaults for calls that make no sense on this kind of socket.
    def send(self, data):
        return error(ENOTCONN)

    def recv(self, length, timeout):
        return error(ENOTCONN)

    def shutdown(self, how):
        return error(ENOTCONN)

    def peercert(self):
        return error(ENOTCONN)

    def connection_info(self):
        return error(ENOTCONN)

    def connection_information(self, items):
        return error(ENOTCONN)

    def negotiated_protocol(self, new_api):
        raise Raise(Atom("function_clause"))   # ssl has no clause for listen sockets

    def prf(self, secret, label, seed, length):
        return error(ENOTCONN)

    def renegotiate(self):
        return error(ENOTCONN)

    def transport_accept(self, timeout, caller):
        raise Raise(Atom("function_clause"))

    def handshake(self, opts, timeout, caller, *, new_api):
        raise Raise(Atom("function_clause"))

    def controlling_process(self, new_owner: Pid):
        self.service.change_owner(self, new_owner)
        return OK
