"""The caller's certificate-path options other than ``verify_fun``, run on the
caller's node: ``customize_hostname_check`` and ``partial_chain``.

Both hold funs (a ``match_fun``/``fqdn_fun``, the ``partial_chain`` fun) that only
the caller's node can run. Like ``verify_fun`` (bridge.service.verify), each becomes
a hook in the connection's ``TLSConfig`` that the engine's verify callback calls on
the handshake thread; the hook asks the event loop for an ``rpc:call`` through the
caller node's ``rex``.

* ``HostnameCheck`` reproduces ``ssl_certificate:verify_hostname/4`` (OTP 25): the
  whole check is ``public_key:pkix_verify_hostname(DerCert, [{dns_id, Host}],
  Customize)`` on the caller's node, so reference and presented ids, wildcards,
  the CN fallback and every ``match_fun``/``fqdn_fun``/``fail_callback`` answer are
  public_key's own. A fun that crashes makes ssl's ``certify`` end with
  internal_error: the hook raises and the engine does the same.
* ``PartialChain`` reproduces ``ssl_certificate:maybe_shorten_path/3``: the fun is
  called with the DER path, trust anchor side first; ``{trusted_ca, Der}`` with a
  ``Der`` of that path makes it the anchor; ``unknown_ca``, a crash, or a cert
  not in the path leave the default (ssl ignores them); another answer ends the
  handshake with internal_error (the hook raises).
"""
from __future__ import annotations

import asyncio
from typing import Optional

from bridge.etf.types import Atom, Pid

from .blocking import run_on_loop

RPC_TIMEOUT = 30.0
_BADRPC = Atom("badrpc")
_TRUSTED_CA = Atom("trusted_ca")
_UNKNOWN_CA = Atom("unknown_ca")


class CallbackFailed(Exception):
    """The caller's fun crashed, or its node could not be reached."""


class _Remote:
    def __init__(self, node, caller: Pid, loop: asyncio.AbstractEventLoop):
        self.node = node
        self.where = caller.node
        self.loop = loop

    def _wait(self, coro):
        return run_on_loop(self.loop, coro, 2 * RPC_TIMEOUT + 5)

    async def _rpc(self, m: str, f: str, args: list):
        res = await self.node.rpc(self.where, Atom(m), Atom(f), args, timeout=RPC_TIMEOUT)
        if isinstance(res, tuple) and len(res) == 2 and res[0] is _BADRPC:
            raise CallbackFailed(f"{m}:{f} on {self.where}: {res[1]!r}")
        return res


class HostnameCheck(_Remote):
    """``hook(der) -> bool``: the peer's certificate names the host (see module doc)."""

    def __init__(self, node, caller: Pid, host: list, customize: list,
                 loop: asyncio.AbstractEventLoop):
        super().__init__(node, caller, loop)
        self.host = host                  # the server name (a charlist)
        self.customize = customize

    def __call__(self, der: bytes) -> bool:
        return self._wait(self.check(der))

    async def check(self, der: bytes) -> bool:
        res = await self._rpc("public_key", "pkix_verify_hostname",
                              [der, [(Atom("dns_id"), self.host)], self.customize])
        if not isinstance(res, bool):
            raise CallbackFailed(f"pkix_verify_hostname returned {res!r}")
        return res


class PartialChain(_Remote):
    """``hook(path) -> der | None``: the anchor the caller's fun picks in ``path``
    (DER certificates, trust anchor side first), or None for ssl's default."""

    def __init__(self, node, caller: Pid, fun, loop: asyncio.AbstractEventLoop):
        super().__init__(node, caller, loop)
        self.fun = fun

    def __call__(self, path: list[bytes]) -> Optional[bytes]:
        return self._wait(self.pick(path))

    async def pick(self, path: list[bytes]) -> Optional[bytes]:
        try:
            res = await self._rpc("erlang", "apply", [self.fun, [list(path)]])
        except CallbackFailed:
            return None                   # maybe_shorten_path: catch _:_ -> Default
        if isinstance(res, tuple) and len(res) == 2 and res[0] is _TRUSTED_CA:
            der = res[1]
            if isinstance(der, (bytes, bytearray)) and bytes(der) in path:
                return bytes(der)
            return None                   # new_trusted_path/3: not in the path, ignored
        if res == _UNKNOWN_CA:
            return None
        # the `of` clauses of maybe_shorten_path's try have no catch-all: another
        # answer is a try_clause that kills the handshake (internal_error)
        raise CallbackFailed(f"partial_chain returned {res!r}")


def hostname_hook_for(parsed_ssl: dict, role: str, node, caller: Pid) -> Optional[HostnameCheck]:
    """A client's check when ``customize_hostname_check`` has entries and the
    connection verifies its peer by a server name (``[]`` is OpenSSL's own check:
    bridge.tls.engine). Without a server name (an address as host) the bridge
    checks no name, with or without entries."""
    customize = parsed_ssl.get("customize_hostname_check")
    if role != "client" or not isinstance(customize, list) or not customize:
        return None
    if getattr(parsed_ssl.get("verify"), "name", None) != "verify_peer":
        return None
    sni = parsed_ssl.get("server_name_indication")
    if not isinstance(sni, list) or not sni:
        return None
    return HostnameCheck(node, caller, sni, customize, asyncio.get_running_loop())


def partial_chain_hook_for(parsed_ssl: dict, node, caller: Pid, fun_arity) -> Optional[PartialChain]:
    fun = parsed_ssl.get("partial_chain")
    arity = fun_arity(fun)
    if arity is None or arity < 0:
        return None                       # OTP's default (unknown_ca for everything)
    # a fun of another arity crashes when applied: ssl then keeps the default
    return PartialChain(node, caller, fun, asyncio.get_running_loop())
