"""Session reuse options (bridge.tls.sessions does the reuse): ``reuse_sessions``
(true | false | save), ``reuse_session`` (a client's ``SessionId`` or
``{SessionId, SessionData}``; a server's fun becomes a hook, bridge.service.reuse),
TLS 1.3's ``session_tickets`` and ``early_data``. ``anti_replay`` (stateless
servers) is accepted; OpenSSL's own replay protection stands in for ssl's bloom
filters."""
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
    ed = o.get("early_data")
    if cfg.role == "client" and _is_binary(ed):
        cfg.early_data = bytes(ed)
    elif cfg.role == "server" and _is(ed, "enabled"):
        cfg.early_data = True
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
