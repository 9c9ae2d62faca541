"""``sni_fun``: the listen caller's fun chooses a server's options by SNI name.

OTP calls ``SniFun(HostName)`` in the connection process when a client names a
host that ``sni_hosts`` does not list; it returns a list of ssl options, which
are processed over the listen socket's (as ``sni_hosts`` entries are), or
``undefined`` to keep them. Here the engine's servername callback calls the
hook on the handshake thread (the transport runs handshake steps off the loop
when a config has such a hook); the hook asks the event loop to apply the fun
on the handshake caller's node (``erlang:apply/2`` through its ``rex``), reads
any files the options name there, and returns the ``TLSConfig`` to switch to.
A fun that crashes, answers something else, or gives options the bridge
refuses ends the connection as it ends ssl's: the client sees the TCP
connection closed (``{error, closed}``); the server's ``handshake`` returns
``{error, closed}`` (ssl's caller gets the connection process's crash).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Optional

from bridge.etf.types import Atom, Pid

from . import options
from .blocking import run_on_loop

log = logging.getLogger("bridge.service.sni")

RPC_TIMEOUT = 30.0
_UNDEFINED = Atom("undefined")


class SniFun:
    def __init__(self, service, caller: Pid, fun, listen: options.ParsedOptions, files: dict,
                 loop: asyncio.AbstractEventLoop):
        self.service = service
        self.where = caller.node
        self.caller = caller
        self.fun = fun
        self.listen = listen
        self.files = files
        self.loop = loop

    # called on the handshake thread
    def __call__(self, hostname: str):
        return run_on_loop(self.loop, self.lookup(hostname), 2 * RPC_TIMEOUT + 5)

    async def lookup(self, hostname: str):
        res = await self.service.node.rpc(self.where, Atom("erlang"), Atom("apply"),
                                          [self.fun, [list(hostname.encode())]], timeout=RPC_TIMEOUT)
        if res is _UNDEFINED:
            return None
        if not isinstance(res, list):
            raise ValueError(f"sni_fun returned {res!r}")
        parsed = options.parse_handshake_options(res, self.listen)
        parsed.ssl["sni_hosts"] = []
        files = dict(self.files)
        missing = [p for _, p in parsed.files if p not in files]
        if missing:
            files.update(await self.service.read_files(self.caller, missing))
        return options.build_tls_config(parsed, "server", files, top=False)


def hook_for(parsed: options.ParsedOptions, service, caller: Pid, files: dict) -> Optional[SniFun]:
    """The hook for a server whose options hold an ``sni_fun``, or None."""
    fun = parsed.ssl.get("sni_fun")
    if options.fun_arity(fun) is None or options.fun_arity(fun) < 0:
        return None
    return SniFun(service, caller, fun, parsed, files, asyncio.get_running_loop())
