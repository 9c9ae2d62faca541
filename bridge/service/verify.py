"""``verify_fun``: the caller's Erlang fun, run on the caller's node.

A fun cannot run in Python, but its term can travel back to a node that has
its code. During the handshake the TLS engine calls the hook of
``bridge.tls.engine`` once per certificate of the peer's path (on the
handshake thread, so it may block); the hook asks the event loop to

1. decode the DER certificate with ``public_key:pkix_decode_cert(Der, otp)``
   on the caller's node (once per certificate), and
2. apply the fun there with ``erlang:apply/2``: ``Fun(OtpCert, Event, State)``
   or, for a fun of arity 4, ``Fun(OtpCert, DerCert, Event, State)``,

both as ``rpc:call`` through the caller node's ``rex``. The user state threads
through the calls of one handshake as in ssl. The fun's answer is translated
to the engine's verdicts: ``{valid, S}``/``{valid_peer, S}`` accept,
``{unknown, S}`` accepts a valid certificate and fails a bad one, ``{fail,
Reason}`` fails the handshake with the alert ssl sends for ``Reason``. An
exception in the fun, an answer of another shape or an unreachable node fail
the handshake (handshake_failure), as a crashing verify_fun fails ssl's.

The pre-R14 form, a plain fun of one argument (``fun(Errors) -> boolean()``),
is wrapped as ssl wraps it: called with ``[{bad_cert, Reason}]`` for a bad
certificate only.
"""
from __future__ import annotations

import asyncio
from typing import Any, Optional

from bridge.etf.types import Atom, Pid

from .blocking import run_on_loop

RPC_TIMEOUT = 30.0

_VALID = Atom("valid")
_VALID_PEER = Atom("valid_peer")
_UNKNOWN = Atom("unknown")
_FAIL = Atom("fail")
_BAD_CERT = Atom("bad_cert")


class VerifyFunError(Exception):
    """The fun could not be applied or gave an answer ssl would not take."""


_EXTENSION = Atom("extension")
# Extensions public_key's path validation judges itself (pubkey_cert:validate_extensions)
# or ssl does (extKeyUsage); every other one is shown to the fun as {extension, Ext}.
_BASIC_CONSTRAINTS = (2, 5, 29, 19)
_OTP_JUDGES = {_BASIC_CONSTRAINTS, (2, 5, 29, 15), (2, 5, 29, 30), (2, 5, 29, 32), (2, 5, 29, 36),
               (2, 5, 29, 37)}
_SUBJECT_ALT_NAME = (2, 5, 29, 17)


def _user_extensions(cert) -> list:
    """The ``#'Extension'{}`` records of a decoded ``#'OTPCertificate'{}`` that
    OTP hands to a verify_fun, in certificate order."""
    try:
        exts = cert[1][10]            # #'OTPCertificate'.tbsCertificate#'OTPTBSCertificate'.extensions
    except (TypeError, IndexError, KeyError):
        return []
    if not isinstance(exts, list):
        return []                     # asn1_NOVALUE: no extensions
    out = []
    for ext in exts:
        if not (isinstance(ext, tuple) and len(ext) == 4):
            continue
        oid, critical = ext[1], ext[2]
        if oid in _OTP_JUDGES or (oid == _SUBJECT_ALT_NAME and critical is True):
            continue
        out.append(ext)
    return out


def _event_term(event) -> Any:
    if isinstance(event, tuple):
        return (_BAD_CERT, Atom(event[1]))
    return Atom(event)


def _reason(term) -> Any:
    """A ``{fail, Reason}`` reason in the engine's terms."""
    if isinstance(term, tuple) and len(term) == 2 and term[0] is _BAD_CERT and isinstance(term[1], Atom):
        return ("bad_cert", term[1].name)
    return term


class VerifyFun:
    """The engine's verify hook for one connection (see the module docstring)."""

    def __init__(self, node, caller: Pid, fun, user_state, arity: int,
                 loop: asyncio.AbstractEventLoop, legacy: bool = False):
        self.node = node
        self.where = caller.node
        self.fun = fun
        self.state = user_state
        self.arity = arity
        self.loop = loop
        self.legacy = legacy
        self._certs: dict[bytes, Any] = {}

    # called on the handshake thread
    def __call__(self, der: bytes, depth: int, event):
        return run_on_loop(self.loop, self.apply(der, event, depth), 2 * RPC_TIMEOUT + 5)

    async def apply(self, der: bytes, event, depth: int = 0) -> tuple[str, Optional[object]]:
        if self.legacy:
            if not isinstance(event, tuple):
                return "valid", None
            ok = await self._rpc(Atom("erlang"), Atom("apply"), [self.fun, [[_event_term(event)]]])
            if ok is True:
                return "valid", None
            if ok is False:
                return "fail", event
            raise VerifyFunError(f"verify_fun returned {ok!r}")
        cert = await self._cert(der)
        if event in ("valid", "valid_peer") or (depth == 0 and event == ("bad_cert", "hostname_check_failed")):
            # the certificate is done with: first the extensions OTP leaves to the fun
            for ext in _user_extensions(cert):
                verdict, value = await self._call(cert, der, (_EXTENSION, ext))
                if verdict == "fail":
                    return verdict, value
                if verdict == "unknown" and ext[2] is True:
                    return "fail", ("bad_cert", "unknown_critical_extension")
        return await self._call(cert, der, _event_term(event))

    async def _call(self, cert, der: bytes, ev) -> tuple[str, Optional[object]]:
        args = [cert, der, ev, self.state] if self.arity == 4 else [cert, ev, self.state]
        res = await self._rpc(Atom("erlang"), Atom("apply"), [self.fun, args])
        if isinstance(res, tuple) and len(res) == 2:
            tag, value = res
            if tag is _VALID or tag is _VALID_PEER:
                self.state = value
                return "valid", None
            if tag is _UNKNOWN:
                self.state = value
                return "unknown", None
            if tag is _FAIL:
                return "fail", _reason(value)
        raise VerifyFunError(f"verify_fun returned {res!r}")

    async def _cert(self, der: bytes):
        cert = self._certs.get(der)
        if cert is None:
            cert = await self._rpc(Atom("public_key"), Atom("pkix_decode_cert"), [der, Atom("otp")])
            self._certs[der] = cert
        return cert

    async def _rpc(self, m: Atom, f: Atom, args: list):
        res = await self.node.rpc(self.where, m, f, args, timeout=RPC_TIMEOUT)
        if isinstance(res, tuple) and len(res) == 2 and res[0] == Atom("badrpc"):
            raise VerifyFunError(f"{m}:{f} on {self.where}: {res[1]!r}")
        return res


def hook_for(parsed_ssl: dict, node, caller: Pid, fun_arity) -> Optional[VerifyFun]:
    """The hook for a connection whose options hold a caller's ``verify_fun``, or None.

    ``fun_arity`` tells a fun term's arity (``options._fun_arity``); OTP's own
    default funs (verify_none) are not the caller's and give no hook."""
    value = parsed_ssl.get("verify_fun")
    if isinstance(value, tuple) and len(value) == 2:
        fun, state = value
        arity = fun_arity(fun)
        if arity is None or arity < 0:
            return None
        # a fun of another arity fails when applied, as it makes ssl's handshake fail
        return VerifyFun(node, caller, fun, state, arity, asyncio.get_running_loop())
    arity = fun_arity(value)
    if arity == 1:
        return VerifyFun(node, caller, value, None, 1, asyncio.get_running_loop(), legacy=True)
    return None
