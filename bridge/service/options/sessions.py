"""Session reuse options (bridge.tls.sessions does the reuse): ``reuse_sessions``
(true | false | save), ``reuse_session`` (a client's ``SessionId`` or
``{SessionId, SessionData}``; a server's fun becomes a hook, bridge.service.reuse) and TLS 1.3's
``session_tickets``. ``anti_replay`` (stateless servers) is accepted and has
nothing to do: it guards 0-RTT early data, which pyssl refuses (``early_data``)."""
from __future__ import annotations

from .base import _is, _is_binary


def use_ticket_unsupported(v) -> bool:
    """``use_ticket`` takes the tickets pyssl handed out (binaries); ssl's ticket
    maps mean nothing to OpenSSL."""
    return isinstance(v, list) and not all(_is_binary(t) for t in v)


def session_config(o: dict, cfg) -> None:
    """``reuse_sessions`` and a client's explicit ``reuse_session`` into ``cfg``
    (``bridge.tls.config.TLSConfig``), as ``bridge.tls.engine`` offers sessions."""
    st = o.get("session_tickets")
    if _is(st, "stateless", "stateful", "auto", "manual"):
        cfg.session_tickets = st.name
    tickets = o.get("use_ticket")
    if cfg.role == "client" and isinstance(tickets, list):
        cfg.use_ticket = tuple(bytes(t) for t in tickets if _is_binary(t))
    rs = o.get("reuse_sessions")
    cfg.reuse_sessions = "save" if _is(rs, "save") else rs is not False
    explicit = o.get("reuse_session")
    if cfg.role != "client":
        return
    if _is_binary(explicit):
        cfg.reuse_session = bytes(explicit)
    elif isinstance(explicit, tuple) and len(explicit) == 2 and _is_binary(explicit[0]) \
            and _is_binary(explicit[1]):
        cfg.reuse_session = (bytes(explicit[0]), bytes(explicit[1]))
