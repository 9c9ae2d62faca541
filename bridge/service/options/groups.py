"""``eccs`` / ``supported_groups`` as one OpenSSL groups list."""
from __future__ import annotations

from bridge.service import ciphers

from .base import _ERROR, _OPTIONS, A, SslOptionError


def openssl_list(o: dict, role: str, versions, given):
    """The OpenSSL groups list for eccs / supported_groups (None: the engine's default).

    ssl offers and accepts ``supported_groups`` in TLS 1.3 and ``eccs`` below it: a
    client sends one of them by its highest version (ssl_handshake:add_common_extensions),
    a server picks a TLS 1.3 group from the first and a TLS 1.2 curve from the second
    (ssl_handshake:select_curve). OpenSSL has one list per context
    (SSL_CTX_set1_groups_list), so a server with TLS 1.3 and an older version gets
    supported_groups (or ssl's default groups) followed by the eccs given. Names libssl
    lacks are left out, as tls_v1:ecc_curves/2 and groups/2 leave out what crypto lacks."""
    groups = o.get("supported_groups") if "supported_groups" in given else None
    eccs = o.get("eccs") if "eccs" in given else None
    groups = groups if isinstance(groups, list) else None
    eccs = eccs if isinstance(eccs, list) else None
    if groups is None and eccs is None:
        return None
    has13 = "tlsv1.3" in versions
    older = any(v != "tlsv1.3" for v in versions)
    if role == "client" or not (has13 and older):
        if versions[0] == "tlsv1.3":
            names, opt = groups, "supported_groups"
        else:
            names, opt = eccs, "eccs"
        if names is None:
            return None
    else:
        names = (groups if groups is not None else list(map(A, ciphers.DEFAULT_GROUPS))) + (eccs or [])
        opt = "eccs" if groups is None else "supported_groups"
    have = ciphers.openssl_groups()
    usable = [n.name for n in dict.fromkeys(names) if isinstance(n, A) and n.name in have]
    if not usable:
        # an empty list is one OpenSSL does not take (SSL_CTX_set1_groups_list fails)
        raise SslOptionError((_ERROR, (_OPTIONS, (A("not_supported_by_pyssl"), (A(opt), o.get(opt))))))
    return ":".join(usable)
