"""Run one Erlang body with ``Mod = ssl`` and ``Mod = pyssl`` and compare.

The body is an expression using ``Mod``; it runs in one node, once per module,
and both results go through ``pyssl_test_loop:norm/1`` (sockets, pids, refs,
ports and alert texts beyond their "TLS client"/"TLS server" prefix made
comparable) before they are compared with ``==``.
"""


def both(node, body: str, timeout=60, norm=True):
    """(ssl's result, pyssl's result) of ``body`` (normalised unless ``norm`` is false)."""
    expr = "pyssl_test_loop:norm((fun(Mod) -> {b} end)(TheMod))" if norm else "(fun(Mod) -> {b} end)(TheMod)"
    res = node.eval("[" + expr.format(b=body) + " || TheMod <- [ssl, pyssl]]", timeout)
    return res[0], res[1]


def server_opts(pki) -> str:
    """Listen options (Erlang text): binary, passive, reuseaddr, the PKI's server certificate."""
    return (f'[binary, {{active, false}}, {{reuseaddr, true}}, {{certfile, "{pki.server.cert_path}"}}, '
            f'{{keyfile, "{pki.server.key_path}"}}]')


def same(node, body: str, timeout=60):
    """Assert both modules give the same result; returns it."""
    a, b = both(node, body, timeout)
    assert a == b, f"ssl: {a!r}\npyssl: {b!r}"
    return a
