"""Pre-shared keys (TLS 1.2 PSK suites) and SRP verifiers: the caller's ``user_lookup_fun``.

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


class SrpFun(PskFun):
    """A server's SRP lookup, as OTP's ``tls_dtls_connection:handle_srp_identity/2``
    calls it: ``Fun(srp, Username, UserState)`` -> ``{ok, {SrpParams, Salt,
    DerivedKey}}`` with ``SrpParams`` one of ``srp_1024`` ... ``srp_8192``; the hook
    gives ``(bits, salt, derived_key)`` to the tlslite-ng engine, which makes the
    verifier. Anything else fails the handshake (illegal_parameter, as ssl)."""

    def __call__(self, username: Optional[bytes]) -> tuple:
        return run_on_loop(self.loop, self.lookup_srp(username), RPC_TIMEOUT + 5)

    async def lookup_srp(self, username: Optional[bytes]) -> tuple:
        arg = Atom("undefined") if username is None else username     # no SRP extension
        res = await self.node.rpc(self.where, Atom("erlang"), Atom("apply"),
                                  [self.fun, [Atom("srp"), arg, self.state]], timeout=RPC_TIMEOUT)
        if isinstance(res, tuple) and len(res) == 2 and res[0] is _OK and isinstance(res[1], tuple) \
                and len(res[1]) == 3:
            params, salt, key = res[1]
            if isinstance(params, Atom) and params.name.startswith("srp_") and params.name[4:].isdigit() \
                    and isinstance(salt, bytes) and isinstance(key, bytes):
                return int(params.name[4:]), salt, key
        raise ValueError(f"user_lookup_fun returned {res!r}")


def srp_hook_for(ssl_opts: dict, node, caller: Pid, fun_arity) -> Optional[SrpFun]:
    value = ssl_opts.get("user_lookup_fun")
    if isinstance(value, tuple) and len(value) == 2 and fun_arity(value[0]) == 3:
        return SrpFun(node, caller, value[0], value[1], asyncio.get_running_loop())
    return None


def hook_for(ssl_opts: dict, node, caller: Pid, fun_arity) -> Optional[PskFun]:
    value = ssl_opts.get("user_lookup_fun")
    if isinstance(value, tuple) and len(value) == 2 and fun_arity(value[0]) == 3:
        return PskFun(node, caller, value[0], value[1], asyncio.get_running_loop())
    return None
