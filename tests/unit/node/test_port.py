"""bridge.node.port over real pipes: the frames pyssl_port writes and reads
(erlang_shim/src/pyssl_port.erl), without an Erlang node."""
from __future__ import annotations

import asyncio
import os
import struct

from bridge.etf import Atom, Pid, Reference, binary_to_term, term_to_binary
from bridge.node.node import Mailbox
from bridge.node.port import READY, PortNode, port_node_name
from bridge.node.protocol import (DEMONITOR_P, MONITOR_P, MONITOR_P_EXIT, REG_SEND, SEND,
                                  parse_body)

BEAM = Atom("nonode@nohost")


def beam_pid(n: int) -> Pid:
    return Pid(BEAM, n, 0, 0)


def frame(control: tuple, payload=None) -> bytes:
    body = b"p" + term_to_binary(control)
    if payload is not None:
        body += term_to_binary(payload)
    return struct.pack(">I", len(body)) + body


class Peer:
    """The BEAM's end of the port: two pipes, frames in and out."""

    def __init__(self):
        self.to_bridge_r, self.to_bridge_w = os.pipe()
        self.from_bridge_r, self.from_bridge_w = os.pipe()
        self.buf = b""

    async def read_body(self) -> bytes:
        loop = asyncio.get_running_loop()
        while len(self.buf) < 4 or len(self.buf) < 4 + struct.unpack(">I", self.buf[:4])[0]:
            chunk = await loop.run_in_executor(None, os.read, self.from_bridge_r, 65536)
            assert chunk, "the bridge closed its end"
            self.buf += chunk
        n = struct.unpack(">I", self.buf[:4])[0]
        body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
        return body

    def write(self, data: bytes) -> None:
        os.write(self.to_bridge_w, data)


async def until(cond, timeout: float = 10) -> None:
    """Wait for ``cond()`` (the frame being read by the node's loop), bounded."""
    async def poll():
        while not cond():
            await asyncio.sleep(0.005)
    await asyncio.wait_for(poll(), timeout)


async def start() -> tuple[PortNode, Peer]:
    peer = Peer()
    node = PortNode()
    await node.serve_port(peer.to_bridge_r, peer.from_bridge_w)
    node.announce()
    return node, peer


def test_port_node_names_differ():
    assert port_node_name() != port_node_name()


def test_ready_then_messages_both_ways_and_monitors():
    async def main():
        node, peer = await start()
        ready = binary_to_term(await peer.read_body())
        assert ready == (READY, node.name, os.getpid())

        box = Mailbox()
        proc = node.spawn(box, name="echo_here")
        # REG_SEND from a process of the BEAM (any node's pids arrive through the port)
        sender = beam_pid(7)
        peer.write(frame((REG_SEND, sender, Atom(""), Atom("echo_here")), (Atom("hi"), sender)))
        msg = await asyncio.wait_for(box.receive(), 10)
        assert msg == (Atom("hi"), sender)
        # and back: a SEND to that pid goes out on the port, whatever its node
        node.send(sender, Atom("back"))
        ctl, payload = parse_body(await peer.read_body())
        assert ctl[0] == SEND and ctl[2] == sender and payload == Atom("back")
        other = Pid(Atom("elsewhere@host"), 1, 0, 1)
        node.send(other, 1)
        ctl, payload = parse_body(await peer.read_body())
        assert ctl[2] == other and payload == 1

        # a monitor of a BEAM process is a MONITOR_P for pyssl_port; its
        # MONITOR_P_EXIT comes back as a DOWN; a demonitor is a DEMONITOR_P
        ref = node.monitor(proc, sender)
        ctl, _ = parse_body(await peer.read_body())
        assert ctl == (MONITOR_P, proc.pid, sender, ref)
        peer.write(frame((MONITOR_P_EXIT, sender, proc.pid, ref, Atom("gone"))))
        down = await asyncio.wait_for(box.receive(), 10)
        assert down == (Atom("DOWN"), ref, Atom("process"), sender, Atom("gone"))
        ref2 = node.monitor(proc, beam_pid(8))
        await peer.read_body()
        node.demonitor(ref2, proc)
        ctl, _ = parse_body(await peer.read_body())
        assert ctl == (DEMONITOR_P, proc.pid, beam_pid(8), ref2)

        # the BEAM monitors one of ours: its exit is a MONITOR_P_EXIT on the port
        mref = Reference(BEAM, 0, (1, 2, 3))
        peer.write(frame((MONITOR_P, sender, proc.pid, mref)))
        await until(lambda: proc.monitored_by)
        node.exit_process(proc, Atom("done"))
        ctl, _ = parse_body(await peer.read_body())
        assert ctl == (MONITOR_P_EXIT, proc.pid, sender, mref, Atom("done"))

        # the end of the port is the end of the bridge
        os.close(peer.to_bridge_w)
        await asyncio.wait_for(node.conn.lost, 10)
        assert node.conn.closed
        await node.stop()
        os.close(peer.from_bridge_r)

    asyncio.run(main())


def test_a_broken_frame_closes_the_port():
    """As erts drops a connection that sends what does not decode."""
    async def main():
        node, peer = await start()
        await peer.read_body()
        body = b"p\x83\x68"      # a tuple header and nothing after it
        peer.write(struct.pack(">I", len(body)) + body)
        await asyncio.wait_for(node.conn.lost, 10)
        assert node.conn.closed
        # sends after the end go nowhere, and raise nothing
        node.send(beam_pid(1), Atom("late"))
        for fd in (peer.to_bridge_w, peer.from_bridge_r):
            os.close(fd)

    asyncio.run(main())
