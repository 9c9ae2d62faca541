"""Pre-shared keys (TLS 1.2 PSK suites): the caller's ``user_lookup_fun``.

As in ssl, ``{user_lookup_fun, {Fun, UserState}}`` gives the key: a client calls
``Fun(psk, ServerHint | undefined, UserState)`` (the hint the server sent, if
any), a server ``Fun(psk, ClientIdentity, UserState)``; the answer is
``{ok, SharedSecret}`` (a binary). ``psk_identity`` is the client's identity
(``"psk_identity"`` when not given, as ssl sends) or the server's hint.

OpenSSL asks for the key from its PSK callbacks during the handshake
(``bridge.tls.callbacks``), on the handshake thread; the hook asks the event loop
to apply the fun on the caller's node (``erlang:apply/2`` through its
``rex``). Any other answer, or a fun that crashes, fails the handshake; the
bridge reports ``illegal_parameter`` as ssl does (the alert OpenSSL sends the
peer is its own: ``unknown_psk_identity`` from a server, ``internal_error`` from
a client).
"""
from __future__ import annotations

import asyncio
from typing import Optional

from bridge.etf.types import Atom, Pid

from .blocking import run_on_loop

RPC_TIMEOUT = 30.0
_OK = Atom("ok")


class PskFun:
    def __init__(self, node, caller: Pid, fun, user_state, loop: asyncio.AbstractEventLoop):
        self.node = node
        self.where = caller.node
        self.fun = fun
        self.state = user_state
        self.loop = loop

    # called on the handshake thread
    def __call__(self, identity: Optional[bytes]) -> bytes:
        return run_on_loop(self.loop, self.lookup(identity), RPC_TIMEOUT + 5)

    async def lookup(self, identity: Optional[bytes]) -> bytes:
        arg = Atom("undefined") if identity is None else identity
        res = await self.node.rpc(self.where, Atom("erlang"), Atom("apply"),
                                  [self.fun, [Atom("psk"), arg, self.state]], timeout=RPC_TIMEOUT)
        if isinstance(res, tuple) and len(res) == 2 and res[0] is _OK and isinstance(res[1], bytes):
            return res[1]
        raise ValueError(f"user_lookup_fun returned {res!r}")


def hook_for(ssl_opts: dict, node, caller: Pid, fun_arity) -> Optional[PskFun]:
    value = ssl_opts.get("user_lookup_fun")
    if isinstance(value, tuple) and len(value) == 2 and fun_arity(value[0]) == 3:
        return PskFun(node, caller, value[0], value[1], asyncio.get_running_loop())
    return None
