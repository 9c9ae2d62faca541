"""The information calls of a connected ssl socket (``peername``, ``sockname``,
``peercert``, ``connection_information``, ``negotiated_protocol``, ``prf``,
``renegotiate``...), as a part of ``ConnSocket`` (``bridge.service.conn``): they
read the TLS connection and answer as ssl does for a closed socket once it is gone."""
from __future__ import annotations

from bridge.etf.types import Atom

from . import ciphers, info, inet
from .reply import Pending
from .terms import CLOSED, EINVAL, OK, UNDEFINED, error


class ConnInfo:
    """Mixed into ``ConnSocket``, which provides ``tls``, ``closed`` and ``_raw_socket``."""

    def peername(self):
        return self._address("getpeername")

    def sockname(self):
        return self._address("getsockname")

    def _address(self, which: str):
        sock = self._raw_socket()
        if self.closed:
            return error(EINVAL)
        live = self._user_transport()
        if live is not None:
            return live.address(which)     # Mod:peername/sockname on the caller's node
        if sock is None:
            # no OS socket here (a relayed upgrade): the transport knows the addresses
            addr = None if self.tls is None else \
                (self.tls.peername() if which == "getpeername" else self.tls.sockname())
            return error(EINVAL) if addr is None else (OK, inet.address_term(addr))
        try:
            return (OK, inet.address_term(getattr(sock, which)()))
        except OSError as exc:
            return error(inet.posix_atom(exc))

    def _user_transport(self):
        """The relay transport of a user's transport (cb_info), or None."""
        rt = self._relay()
        return rt if rt is not None and getattr(rt, "cb", None) is not None else None

    def _engine(self):
        if self.closed or self.tls is None:
            return None
        return self.tls.engine

    def peercert(self):
        eng = self._engine()
        if eng is None:
            return error(CLOSED)
        der = eng.peer_cert_der()
        return (OK, der) if der else error(Atom("no_peercert"))

    def connection_info(self):
        eng = self._engine()
        if eng is None:
            return error(CLOSED)
        suite = ciphers.suite_for(eng.cipher_name(), eng.version)
        return (OK, (Atom(eng.version), suite[0]))

    def connection_information(self, items):
        eng = self._engine()
        if eng is None:
            return error(CLOSED)
        return info.connection_information(eng, self, items)

    def ssl_option_sources(self):
        """For the shim's pyssl_info: ``{ok, [{Role, Opts, Host}, {handshake, Opts, _}...]}``,
        the option lists as given (ParsedOptions.sources)."""
        sources = self.option_sources or getattr(getattr(self, "parsed", None), "sources", ())
        return (OK, [(Atom(role), opts, UNDEFINED if host is None else host)
                     for role, opts, host in sources])

    def negotiated_protocol(self, new_api):
        eng = self._engine()
        if eng is None:
            return error(CLOSED)
        # "the protocol negotiated through ALPN or NPN extensions" (OTP 19-21's
        # negotiated_protocol/1; the seed's negotiated_next_protocol/1 is NPN's):
        # NPN's choice comes from the tlslite-ng engine
        proto = eng.alpn_protocol or eng.next_protocol
        if proto:
            return (OK, proto)
        return error(Atom("protocol_not_negotiated") if new_api else Atom("next_protocol_not_negotiated"))

    def prf(self, secret, label, seed, length):
        eng = self._engine()
        if eng is None:
            return error(CLOSED)
        if eng.version == "tlsv1.3":
            # ssl 10.8.7's TLS 1.3 connection state has no {prf, ...} clause:
            # ssl_gen_statem:handle_call/4 postpones the call, so ssl:prf/5 answers
            # only when the connection ends ({error, closed}, ssl_gen_statem:call/2)
            pending = Pending()
            if self._postponed is None:
                self._postponed = []
            self._postponed.append(pending)
            return pending
        return info.prf(eng, secret, label, seed, length)

    _postponed = None       # the calls ssl's connection process would postpone
    option_sources = None   # handshake/2,3 options given: the listen socket's and those

    def release_postponed(self) -> None:
        """The socket is gone: the postponed calls get {error, closed}."""
        waiting, self._postponed = self._postponed or [], None
        for pending in waiting:
            pending.resolve(error(CLOSED))

    def renegotiate(self):
        eng = self._engine()
        if eng is None:
            return error(CLOSED)
        return _renegotiated(self.tls.renegotiate())


async def _renegotiated(running):
    """``ssl:renegotiate/1``'s reply: ok or {error, Reason}."""
    why = await running
    return OK if why is None else error(Atom(why))
