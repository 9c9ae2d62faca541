"""The bridge as a port program (asyncio edge): one BEAM, the one that opened
the port, is this node's only peer, reached over the port's stdin/stdout.

Each port frame (``{packet, 4}``: a 4-byte big-endian length, then the body) is
exactly what a distribution frame is after the handshake: ``'p'``, the control
tuple and the message as external terms, and an empty frame is a tick. So the
node, kernel and service layers are the ones of the hidden node, and so is the
connection code (``Connection``) with the handshake left out: the port is
private to the BEAM that opened it, which is the trust a cookie stands for.

On the Erlang side ``pyssl_port`` owns the port and acts for this node: it
delivers SEND/REG_SEND/ALIAS_SEND to its processes, monitors them for us
(MONITOR_P, answered with MONITOR_P_EXIT) and forwards what its processes send
to our pids. Every pid or name of another node is reached through the port:
pyssl_port passes messages on to processes of other nodes too.

The first frame written is not a distribution frame but the term
``{pyssl_port_ready, NodeName, OsPid}``: it tells pyssl_port the node name in
the pids and references we make, and that we serve.
"""
from __future__ import annotations

import asyncio
import logging
import os
import random

from bridge.etf.codec import term_to_binary
from bridge.etf.types import Atom

from . import kernel
from .connection import INLINE_DECODE_MAX, Connection
from .handshake import OUR_FLAGS
from .node import Node
from .protocol import Framer

log = logging.getLogger("bridge.node")

READY = Atom("pyssl_port_ready")
# The peer's name as this node knows it: pids and references carry their own
# node names, and every one of another node goes to the port (PortNode._to_node).
PEER = Atom("beam@port")


def port_node_name() -> str:
    """A node name no other bridge of this BEAM has had: the pids and references
    of a bridge that died must never reach its successor (a socket of the old one
    then answers ``{error, closed}`` at once on the Erlang side). The prefix
    ``pyssl_port_`` is how pyssl_port:is_port_name/1 knows such a name."""
    return f"pyssl_port_{os.getpid()}_{random.getrandbits(24):06x}@localhost"


class _Duplex:
    """The read end and the write end of the port as the one transport a
    ``Connection`` expects."""

    def __init__(self, reader: asyncio.ReadTransport, writer: asyncio.WriteTransport):
        self.reader = reader
        self.writer = writer

    def write(self, data) -> None:
        self.writer.write(data)

    def pause_reading(self) -> None:
        self.reader.pause_reading()

    def resume_reading(self) -> None:
        self.reader.resume_reading()

    def is_reading(self) -> bool:
        return self.reader.is_reading()

    def get_extra_info(self, name, default=None):
        return default

    def close(self) -> None:
        self.writer.close()
        self.reader.close()

    def abort(self) -> None:
        self.writer.abort()
        self.reader.close()


class PortConnection(Connection):
    """A ``Connection`` over the port: established from the start (no handshake,
    no ticks); losing the port is the end of this bridge."""

    def __init__(self, node: "PortNode"):
        super().__init__(node)
        self.peer = PEER
        self.flags = OUR_FLAGS
        self.framer = Framer(inline_max=INLINE_DECODE_MAX)
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:
        # called once for the read pipe and once for the write pipe; the node
        # sets the duplex transport itself (``PortNode.serve_port``)
        pass

    def eof_received(self):
        return False

    def connection_lost(self, exc) -> None:
        self.closed = True
        if not self.lost.done():
            self.lost.set_result(exc)


class _ViaPort(dict):
    """``Node.connections`` of a port node: whatever node a pid names, the
    connection to it is the port (unlink, demonitor, exits and DOWNs look their
    connection up with ``get``)."""

    def get(self, key, default=None):
        return dict.get(self, PEER, default)


class PortNode(Node):
    """A node whose one connection is the port; it never listens, registers with
    EPMD or connects out."""

    def __init__(self, name: str | None = None, *, busy_poll_us: int = 0):
        super().__init__(name or port_node_name(), cookie="", hidden=True,
                         busy_poll_us=busy_poll_us)
        # not 0: a creation the BEAM has never seen for this name
        self.creation = random.randint(1, 0xFFFF_FFFF)
        self.conn: PortConnection | None = None
        self.connections = _ViaPort()

    async def serve_port(self, read_fd: int, write_fd: int) -> PortConnection:
        """Take the port's pipes and install the kernel processes; returns the
        connection, whose ``lost`` future ends the bridge. Nothing comes in
        before ``announce``: pyssl_port waits for it."""
        loop = asyncio.get_running_loop()
        conn = PortConnection(self)
        rt, _ = await loop.connect_read_pipe(lambda: conn, os.fdopen(read_fd, "rb", buffering=0))
        wt, _ = await loop.connect_write_pipe(lambda: conn, os.fdopen(write_fd, "wb", buffering=0))
        conn.transport = _Duplex(rt, wt)
        self.conn = conn
        self.connections[PEER] = conn
        kernel.install(self)
        return conn

    def announce(self) -> None:
        """The first frame: ``{pyssl_port_ready, NodeName, OsPid}`` (services installed)."""
        body = term_to_binary((READY, self.name, os.getpid()))
        self.conn.transport.write(len(body).to_bytes(4, "big") + body)

    async def stop(self) -> None:
        if self.conn is not None and not self.conn.closed:
            self.conn.transport.close()

    def _to_node(self, node: Atom, control: tuple, payload=None, has_payload=True,
                 fallback=None) -> None:
        # every other node is behind the port (pyssl_port passes it on); while
        # the port is gone a message is dropped, as to a node that is down
        conn = self.conn
        if conn is not None and not conn.closed:
            conn.send_control(control, payload, has_payload=has_payload, fallback=fallback)
