"""bridge.node.epmd against the real epmd (and a misbehaving one for error paths)."""
import asyncio
import os
import socket
import struct
import subprocess

import pytest

from bridge.node import epmd


def run(coro):
    return asyncio.run(coro)


def _name(tag: str) -> str:
    return f"epmdtest_{tag}_{os.getpid()}_{os.urandom(3).hex()}"


def _raw_port2(name: str) -> bytes:
    """PORT_PLEASE2 by hand: the whole reply, read until epmd closes."""
    with socket.create_connection(("127.0.0.1", epmd.EPMD_PORT), timeout=5) as s:
        req = bytes([epmd.PORT_PLEASE2_REQ]) + name.encode()
        s.sendall(struct.pack(">H", len(req)) + req)
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data


def _names() -> str:
    return subprocess.run(["epmd", "-names"], capture_output=True, text=True).stdout


def test_register_lookup_and_unregister_on_close():
    name = _name("reg")

    async def go():
        reg = await epmd.register(name, 45678)
        try:
            assert reg.creation > 0 and reg.is_open()
            assert f"name {name} at port 45678" in _names()
            port, high, low = await epmd.port_please(name, "127.0.0.1")
            assert (port, high, low) == (45678, 6, 6)
            raw = _raw_port2(name)
            # 119, Result 0, Port, NodeType 72 (hidden), Protocol 0, 6, 6, name
            assert raw[:2] == b"\x77\x00"
            assert struct.unpack(">HBBHHH", raw[2:12]) == (45678, 72, 0, 6, 6, len(name))
            assert raw[12:12 + len(name)] == name.encode()
        finally:
            await reg.close()
        for _ in range(50):          # epmd notices the closed socket asynchronously
            if name not in _names():
                break
            await asyncio.sleep(0.05)
        assert name not in _names()
        with pytest.raises(epmd.EpmdError, match="not registered"):
            await epmd.port_please(name, "127.0.0.1")
    run(go())


def test_normal_node_type_when_not_hidden():
    name = _name("normal")

    async def go():
        reg = await epmd.register(name, 45679, hidden=False)
        try:
            assert _raw_port2(name)[4] == epmd.NODE_NORMAL
        finally:
            await reg.close()
    run(go())


def test_name_in_use_is_refused():
    name = _name("dup")

    async def go():
        reg = await epmd.register(name, 45680)
        try:
            with pytest.raises(epmd.EpmdError, match="refused"):
                await epmd.register(name, 45681)
        finally:
            await reg.close()
    run(go())


def test_unknown_name_lookup_fails():
    with pytest.raises(epmd.EpmdError, match="not registered"):
        run(epmd.port_please(_name("nosuch"), "127.0.0.1"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_epmd_is_a_clear_error():
    port = _free_port()
    with pytest.raises(epmd.EpmdError, match="cannot reach epmd"):
        run(epmd.port_please("x", "127.0.0.1", epmd_port=port))
    with pytest.raises(epmd.EpmdError, match="cannot reach epmd"):
        run(epmd.register("x", 1, epmd_port=port))


async def _fake_epmd(reply: bytes):
    """A server that answers any request with ``reply`` and closes."""
    async def handle(reader, writer):
        await reader.read(100)
        writer.write(reply)
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize("reply, match", [
    (b"\x99\x00", "unexpected epmd reply"),       # wrong reply tag
    (b"\x76\x00\x00", "closed"),                  # ALIVE2_X_RESP cut short
    (b"", "closed"),                              # nothing at all
    (b"\x79\x01\x00\x01", "refused"),             # ALIVE2_RESP with an error result
])
def test_bad_alive2_replies(reply, match):
    async def go():
        server, port = await _fake_epmd(reply)
        async with server:
            with pytest.raises(epmd.EpmdError, match=match):
                await epmd.register("x", 1, epmd_port=port, timeout=2)
    run(go())


def test_old_alive2_resp_with_16_bit_creation_is_accepted():
    async def go():
        server, port = await _fake_epmd(b"\x79\x00\x00\x03")
        async with server:
            reg = await epmd.register("x", 1, epmd_port=port, timeout=2)
            assert reg.creation == 3
            await reg.close()
    run(go())


@pytest.mark.parametrize("reply, match", [
    (b"\x98\x00", "unexpected epmd reply"),
    (b"\x77\x00\x12", "failed"),                  # PORT2_RESP cut short
    (b"", "failed"),
])
def test_bad_port2_replies(reply, match):
    async def go():
        server, port = await _fake_epmd(reply)
        async with server:
            with pytest.raises(epmd.EpmdError, match=match):
                await epmd.port_please("x", "127.0.0.1", epmd_port=port, timeout=2)
    run(go())


def test_ensure_epmd_with_epmd_running_is_a_no_op():
    run(epmd.ensure_epmd())
    assert subprocess.run(["epmd", "-names"], capture_output=True).returncode == 0
