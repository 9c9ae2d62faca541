"""Information calls on a connection: connection_information/1,2, prf/5 and getstat/1,2."""
from __future__ import annotations

from bridge.etf.types import Atom

from .terms import BADARG, EINVAL, OK, UNDEFINED, error

# ssl:include_security_info/1: asking for one of these adds the secrets
_SECURITY = ("client_random", "server_random", "master_secret", "keylog")


def _core(eng, sock) -> list:
    from . import ciphers
    suite_map = ciphers.suite_for(eng.cipher_name(), eng.version)[1]
    # ssl_gen_statem:connection_info/1: session_resumption is set by TLS 1.3's PSK
    # handshake only; OTP 25 reports false for a resumed TLS 1.2 session (a resumed
    # TLS 1.2 session shows as the same session_id). session_data is pyssl's own
    # (bridge.tls.sessions): ssl's is term_to_binary of its #session{} record.
    items = [
        ("protocol", Atom(eng.version)),
        ("session_id", eng.session_id() or b""),
        ("session_data", eng.session_data()),
        ("session_resumption", bool(eng.session_reused) and eng.version == "tlsv1.3"),
        ("selected_cipher_suite", suite_map),
    ]
    sni = eng.sni if sock.role == "server" else None
    if sni:
        items.append(("sni_hostname", list(sni.encode())))
    return items


def connection_information(eng, sock, items):
    info = _core(eng, sock)
    user = getattr(sock.parsed, "info_options", None)
    if user:
        info.extend(user)
    if items is None:
        return (OK, [(Atom(k), v) for k, v in info])
    if not isinstance(items, list) or not all(isinstance(i, Atom) for i in items):
        return error(BADARG)
    wanted = [i.name for i in items]
    if any(w in _SECURITY for w in wanted):
        # ssl:include_security_info/1, then ssl_gen_statem:maybe_add_keylog/1
        info.extend(security_info(eng, sock.role))
        keylog = _keylog(eng.version, info)
        if keylog is not None:
            info.append(("keylog", keylog))
    return (OK, [(Atom(k), v) for k, v in info if k in wanted and v is not UNDEFINED and v is not None])


# TLS 1.3 secrets (with keep_secrets), ssl_gen_statem:security_info/1's names -> NSS key log labels
_LABELS = {
    "client_traffic_secret_0": "CLIENT_TRAFFIC_SECRET_0",
    "server_traffic_secret_0": "SERVER_TRAFFIC_SECRET_0",
    "client_handshake_traffic_secret": "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "server_handshake_traffic_secret": "SERVER_HANDSHAKE_TRAFFIC_SECRET",
}
# the order of ssl_gen_statem:maybe_add_keylog/1's TLS 1.3 lines
_KEYLOG_13 = ("client_handshake_traffic_secret", "server_handshake_traffic_secret",
              "client_traffic_secret_0", "server_traffic_secret_0")
# ssl forgets the TLS 1.3 master secret once the handshake is done
# (tls_handshake_1_3:forget_master_secret/1) and reports what it overwrote it with
_FORGOTTEN_MASTER_SECRET = (Atom("master_secret"), b"\x00")


def security_info(eng, role: str) -> list:
    """``ssl_gen_statem:security_info/1``: the randoms and the master secret; in TLS 1.3
    with ``keep_secrets`` the traffic secrets first (the own direction's first)."""
    if eng.version != "tlsv1.3":
        return [("client_random", eng.client_random()), ("server_random", eng.server_random()),
                ("master_secret", eng.master_secret())]
    keep = eng.cfg.keep_secrets
    out = []
    if keep:
        sec = eng.traffic_secrets()
        own, peer = ("server", "client") if role == "server" else ("client", "server")
        for name in (f"{own}_traffic_secret_0", f"{peer}_traffic_secret_0",
                     "client_handshake_traffic_secret", "server_handshake_traffic_secret"):
            out.append((name, sec.get(_LABELS[name])))
    # a TLS 1.3 ssl keeps the client random on the client, and on a server only with
    # keep_secrets (tls_handshake_1_3:set_client_random/2); the server random on the server
    out += [("client_random", eng.client_random() if role == "client" or keep else None),
            ("server_random", eng.server_random() if role == "server" else None),
            ("master_secret", _FORGOTTEN_MASTER_SECRET)]
    return out


def _keylog(version: str, info: list):
    """``ssl_gen_statem:maybe_add_keylog/1``: the NSS key log lines (charlists, hex in
    upper case as io_lib's ~.16B writes it), or None where ssl adds none (TLS 1.3
    without keep_secrets, TLS 1.1 and older)."""
    have = {k: v for k, v in info if v is not None}
    random = have.get("client_random")
    if not random:
        return None
    if version == "tlsv1.2":
        secret = have.get("master_secret")
        if not secret:
            return None
        return [_line(f"CLIENT_RANDOM {random.hex().upper()} {secret.hex().upper()}")]
    if version == "tlsv1.3":
        if not all(have.get(k) for k in _KEYLOG_13):
            return None
        return [_line(f"{_LABELS[k]} {random.hex().upper()} {have[k].hex().upper()}") for k in _KEYLOG_13]
    return None


def _line(text: str) -> list:
    return list(text.encode("ascii"))


def prf(eng, secret, label, seed, length):
    """``ssl:prf/5``: supported as RFC 5705 keying material export, i.e. with
    ``master_secret`` and the seed ``[client_random, server_random]`` — what every
    practical caller passes. Other seeds are refused with a clear error."""
    if not isinstance(label, (bytes, bytearray)) or not isinstance(length, int) or length < 0 \
            or not isinstance(seed, list):
        return error(BADARG)
    if eng.version == "tlsv1.3":
        return error(Atom("undefined"))
    if secret is not Atom("master_secret") or seed != [Atom("client_random"), Atom("server_random")]:
        return error((Atom("not_supported_by_pyssl"), Atom("prf")))
    try:
        return (OK, eng.export_keying_material(bytes(label), length, None))
    except Exception:
        return error(BADARG)


# inet:stats(): what ssl:getstat/1 asks for, in its order
STATS = ("recv_oct", "recv_cnt", "recv_max", "recv_avg", "recv_dvi",
         "send_oct", "send_cnt", "send_max", "send_avg", "send_pend")
_STAT_NAMES = frozenset(STATS)


def getstat(sock, items):
    """``ssl:getstat/2`` (``tls_socket:getstat/3``, i.e. ``inet:getstat/2`` on the TCP
    socket): the counters of the connection's TCP socket (bridge.tls.stats), zeros
    for a socket that has carried nothing (a listen socket, an accepted socket before
    its handshake); ``{error, einval}`` for an unknown name or a closed socket."""
    names = []
    for item in items:
        if not isinstance(item, Atom) or item.name not in _STAT_NAMES:
            return error(EINVAL)
        names.append(item.name)
    if getattr(sock, "closed", False):
        return error(EINVAL)
    tls = getattr(sock, "tls", None)
    if tls is None:
        return (OK, [(Atom(n), 0) for n in names])
    pend = tls.write_buffer_size()
    return (OK, [(Atom(n), tls.stats.value(n, pend)) for n in names])
