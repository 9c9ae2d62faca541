"""Run one Erlang body with ``Mod = ssl`` and ``Mod = pyssl`` and compare.

The body is an expression using ``Mod``; it runs in one node, once per module,
and both results go through ``pyssl_test_loop:norm/1`` (sockets, pids, refs,
ports and alert texts beyond their "TLS client"/"TLS server" prefix made
comparable) before they are compared with ``==``.
"""


def both(node, body: str, timeout=60):
    """(ssl's result, pyssl's result) of ``body``."""
    res = node.eval(f"[pyssl_test_loop:norm((fun(Mod) -> {body} end)(TheMod)) || TheMod <- [ssl, pyssl]]",
                    timeout)
    return res[0], res[1]


def same(node, body: str, timeout=60):
    """Assert both modules give the same result; returns it."""
    a, b = both(node, body, timeout)
    assert a == b, f"ssl: {a!r}\npyssl: {b!r}"
    return a
