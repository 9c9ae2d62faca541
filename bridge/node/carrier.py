"""How distribution bytes travel: the carrier a node listens and dials with.

``Node`` asks its carrier for a listening server and for outgoing connections and
never looks further: ``TCPCarrier`` is OTP's ``inet_tcp_dist`` (plain TCP, 2-byte
handshake prefix); ``bridge.tlsdist.TLSCarrier`` is ``inet_tls_dist`` (this layer
imports nothing of ``bridge.tls``, so the TLS one lives above it).

A carrier has::

    name: str                                   # "tcp" | "tls", for logs
    async listen(node, host, port) -> server    # .sockets, .close(), .wait_closed()
    async connect(node, peer, host, port, timeout) -> Connection   # transport made
"""
from __future__ import annotations

import asyncio

from .connection import Connection


class TCPCarrier:
    """Plain TCP, as ``inet_tcp_dist``."""
    name = "tcp"

    async def listen(self, node, host: str, port: int):
        loop = asyncio.get_running_loop()
        return await loop.create_server(lambda: Connection(node), host, port)

    async def connect(self, node, peer: str, host: str, port: int, timeout: float) -> Connection:
        loop = asyncio.get_running_loop()
        _t, conn = await asyncio.wait_for(
            loop.create_connection(lambda: Connection(node, initiator_for=peer), host, port),
            timeout)
        return conn
