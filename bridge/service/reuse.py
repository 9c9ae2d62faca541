"""A server's ``reuse_session`` fun: may the TLS 1.2 session a client offers be resumed?

ssl (``ssl_session:is_resumable/4``) calls ``Fun(SuggestedSessionId, PeerCert,
Compression, CipherSuite)`` for a session it has in its cache, with the session's peer
certificate (DER, or ``undefined``), its compression method (0, null: ssl compresses
nothing) and its cipher suite as the two-byte binary of the hello messages; ``true``
resumes it, ``false`` makes a new session. The engine asks on the handshake thread
(``bridge.tls.engine.TLSEngine._ask_reuse_hook``); the hook applies the fun on the
caller's node, as the PSK hook does (``bridge.service.psk``). A fun that crashes or
answers anything else fails the handshake: it crashes ssl's connection process.
"""
from __future__ import annotations

import asyncio
from typing import Optional

from bridge.etf.types import Atom, Pid

from . import ciphers
from .blocking import run_on_loop

RPC_TIMEOUT = 30.0
_UNDEFINED = Atom("undefined")
_NULL_COMPRESSION = 0


class ReuseFun:
    def __init__(self, node, caller: Pid, fun, loop: asyncio.AbstractEventLoop):
        self.node = node
        self.where = caller.node
        self.fun = fun
        self.loop = loop

    # called on the handshake thread
    def __call__(self, sid: bytes, peer_cert: Optional[bytes], cipher: str) -> bool:
        return run_on_loop(self.loop, self.ask(sid, peer_cert, cipher), RPC_TIMEOUT + 5)

    async def ask(self, sid: bytes, peer_cert: Optional[bytes], cipher: str) -> bool:
        code = ciphers.openssl_str_to_code(cipher)
        suite = code.to_bytes(2, "big") if code is not None else b""
        args = [sid, _UNDEFINED if peer_cert is None else peer_cert, _NULL_COMPRESSION, suite]
        res = await self.node.rpc(self.where, Atom("erlang"), Atom("apply"), [self.fun, args],
                                  timeout=RPC_TIMEOUT)
        if res is True or res is False:
            return res
        raise ValueError(f"reuse_session fun returned {res!r}")


def hook_for(ssl_opts: dict, node, caller: Pid, fun_arity) -> Optional[ReuseFun]:
    """The hook of a server's own ``reuse_session`` fun (None for ssl's default, which
    resumes every session, and for a client's session id)."""
    value = ssl_opts.get("reuse_session")
    if fun_arity(value) == 4:
        return ReuseFun(node, caller, value, asyncio.get_running_loop())
    return None
