"""bridge.service.inet on sockets whose transport is already closed.

A TLS 1.3 server that rejects the client's certificate closes the connection
right after the client's handshake ends; the bridge then applies the caller's
gen_tcp options to a transport that may be closed already. Under uvloop (what
the CLI runs) the socket of a closed transport raised ValueError, the connect
failed with ``pyssl_internal_error`` where ssl returns ``{ok, S}`` or the alert
(seen in repeated conformance runs: client_missing_cert_13).
"""
from __future__ import annotations

import asyncio

import pytest

from bridge.etf import Atom
from bridge.service import inet


async def _closed_transport_socket():
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await asyncio.get_running_loop().create_connection(
        asyncio.Protocol, "127.0.0.1", port)
    sock = transport.get_extra_info("socket")
    transport.close()
    await asyncio.sleep(0)          # the loop closes the file descriptor
    server.close()
    return sock


def _run(runner):
    sock = runner(_closed_transport_socket())
    assert sock.fileno() < 0
    inet.set_options(sock, {"nodelay": False, "keepalive": True, "linger": (True, 1)})
    assert inet.get_options(sock, ["nodelay", "linger", "mode"], {"mode": "binary"}) == \
        [(Atom("mode"), Atom("binary"))]


def test_closed_transport_socket_asyncio():
    _run(asyncio.run)


def test_closed_transport_socket_uvloop():
    uvloop = pytest.importorskip("uvloop")
    _run(uvloop.run)
