"""Information calls on a connection: connection_information/1,2, prf/5 and getstat/1,2."""
from __future__ import annotations

from bridge.etf.types import Atom, ImproperList

from .terms import BADARG, EINVAL, OK, UNDEFINED, Raise, error, iodata_to_bytes

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
    # then srp_username, on a server (the user its lookup was asked about,
    # tls_dtls_connection:handle_srp_identity/2; ssl's client reports none): an engine
    # that negotiates SRP says who (the OpenSSL engine has none),
    srp_of = getattr(eng, "srp_username", None) if sock.role == "server" else None
    srp = srp_of() if srp_of else None
    if srp:
        items.append(("srp_username", srp))
    # {ecc, {named_curve, Name}} for a TLS 1.2 (EC)DHE suite with a named curve, and
    # max_fragment_length when the extension was negotiated
    # (an engine without these facts reports neither: getattr)
    group = getattr(eng, "group_name", None)
    curve = _NAMED_CURVES.get(((group() if group else None) or "").lower())
    if curve and eng.version != "tlsv1.3" and suite_map.get(Atom("key_exchange")) in _ECC_KEX:
        items.append(("ecc", (Atom("named_curve"), Atom(curve))))
    mfl_of = getattr(eng, "max_fragment_length", None)
    mfl = mfl_of() if mfl_of else None
    if mfl is not None:
        items.append(("max_fragment_length", mfl))
    return items


# ssl_gen_statem:connection_info/1 names the curve of these key exchanges only
_ECC_KEX = frozenset(Atom(k) for k in ("ecdh_ecdsa", "ecdhe_ecdsa", "ecdh_rsa", "ecdhe_rsa", "ecdh_anon"))
# OpenSSL's group names -> pubkey_cert_records:namedCurves/1's
_NAMED_CURVES = {
    "x25519": "x25519", "x448": "x448", "secp256r1": "secp256r1", "prime256v1": "secp256r1",
    "secp384r1": "secp384r1", "secp521r1": "secp521r1", "secp256k1": "secp256k1",
    "brainpoolp256r1": "brainpoolP256r1", "brainpoolp384r1": "brainpoolP384r1",
    "brainpoolp512r1": "brainpoolP512r1",
}


def connection_information(eng, sock, items):
    # the options ssl appends are added on the caller's node (pyssl_info.erl)
    info = _core(eng, sock)
    if items is None:
        return (OK, [(Atom(k), v) for k, v in info])
    # ssl:connection_information/2 filters with lists:member/2: what is not an
    # item name matches nothing (a non-list is refused by items_list/1 first)
    wanted = [i.name for i in items if isinstance(i, Atom)]
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


def items_list(args) -> None:
    """ssl:include_security_info/1 walks the items before the socket is looked at:
    anything but a proper list raises function_clause in the caller."""
    if args[1].__class__ is not list:
        raise Raise(Atom("function_clause"))


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
    """``ssl:prf/5`` on a TLS 1.0-1.2 connection, as tls_dtls_connection:handle_call/4
    ({prf, ...}) computes it: the secret (``master_secret`` or a binary), then the seed
    (binaries, ``client_random``, ``server_random``), then ``tls_v1:prf/5`` with the
    connection's PRF (the suite's hash in TLS 1.2, MD5/SHA-1 before). Its errors are
    what that function's catch makes of them: ``{error, Reason}``."""
    if secret.__class__ is bytes:
        key = secret
    elif secret is _MASTER_SECRET:
        key = eng.master_secret() or b""
    else:
        return error((Atom("case_clause"), secret))
    if seed.__class__ is list:
        items, rest = seed, []
    elif seed.__class__ is ImproperList:
        items, rest = seed.elements, seed.tail
    else:
        items, rest = (), seed
    parts = []
    for item in items:
        if item.__class__ is bytes:
            parts.append(item)
        elif item is _CLIENT_RANDOM:
            parts.append(eng.client_random() or b"")
        elif item is _SERVER_RANDOM:
            parts.append(eng.server_random() or b"")
        else:
            return error(Atom("function_clause"))         # the fold's fun has no clause
    if rest != []:
        return error((Atom("case_clause"), rest))
    try:
        text = iodata_to_bytes([label, b"".join(parts)])  # list_to_binary([Label, Seed])
    except Raise:
        return error(BADARG)
    if isinstance(length, bool) or not isinstance(length, (int, float)):
        return error(Atom("badarith"))                    # WantedLength - byte_size(Bin)
    if length <= 0:
        return (OK, b"" if eng.version in ("tlsv1", "tlsv1.1") else [])
    if not isinstance(length, int) or length > _PRF_MAX:
        return error(BADARG)
    from . import ciphers, prf as _prf
    suite_prf = ciphers.suite_for(eng.cipher_name(), eng.version)[1].get(Atom("prf"))
    return (OK, _prf.tls_prf(eng.version, suite_prf.name if suite_prf else "default_prf",
                             key, text, length))


_MASTER_SECRET, _CLIENT_RANDOM, _SERVER_RANDOM = (
    Atom("master_secret"), Atom("client_random"), Atom("server_random"))
# a bound on what one call computes in the bridge's loop (ssl has none)
_PRF_MAX = 1 << 20


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
