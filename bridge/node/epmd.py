"""EPMD client: register this node (ALIVE2) and look up peers (PORT_PLEASE2)."""
from __future__ import annotations

import asyncio
import shutil
import struct
import subprocess

EPMD_PORT = 4369
ALIVE2_REQ = 120
ALIVE2_X_RESP = 118
ALIVE2_RESP = 121
PORT_PLEASE2_REQ = 122
PORT2_RESP = 119
NODE_HIDDEN = 72
NODE_NORMAL = 77


class EpmdError(Exception):
    pass


class Registration:
    """The open ALIVE2 connection: the node stays registered while it is open."""

    def __init__(self, reader, writer, creation: int):
        self._reader = reader
        self._writer = writer
        self.creation = creation

    def is_open(self) -> bool:
        return not self._writer.is_closing() and not self._reader.at_eof()

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (ConnectionError, OSError):
            pass


def _request(payload: bytes) -> bytes:
    return struct.pack(">H", len(payload)) + payload


async def register(alive: str, port: int, *, host: str = "127.0.0.1", epmd_port: int = EPMD_PORT,
                   hidden: bool = True, timeout: float = 5.0) -> Registration:
    name = alive.encode("utf-8")
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, epmd_port), timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        raise EpmdError(f"cannot reach epmd at {host}:{epmd_port}: {exc}") from None
    req = struct.pack(">BHBBHHH", ALIVE2_REQ, port, NODE_HIDDEN if hidden else NODE_NORMAL,
                      0, 6, 6, len(name)) + name + b"\x00\x00"
    writer.write(_request(req))
    try:
        head = await asyncio.wait_for(reader.readexactly(2), timeout)
        if head[0] == ALIVE2_X_RESP:
            result = head[1]
            creation = struct.unpack(">I", await reader.readexactly(4))[0]
        elif head[0] == ALIVE2_RESP:
            result = head[1]
            creation = struct.unpack(">H", await reader.readexactly(2))[0]
        else:
            raise EpmdError(f"unexpected epmd reply {head[0]}")
    except (asyncio.IncompleteReadError, asyncio.TimeoutError, OSError) as exc:
        writer.close()
        raise EpmdError(f"epmd closed the registration: {exc!r}") from None
    if result != 0:
        writer.close()
        raise EpmdError(f"epmd refused to register {alive!r} (result {result}; name in use?)")
    return Registration(reader, writer, creation or 1)


async def port_please(alive: str, host: str, *, epmd_port: int = EPMD_PORT,
                      timeout: float = 5.0) -> tuple[int, int, int]:
    """``(port, highest_version, lowest_version)`` of ``alive`` on ``host``."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, epmd_port), timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        raise EpmdError(f"cannot reach epmd at {host}:{epmd_port}: {exc}") from None
    try:
        writer.write(_request(bytes([PORT_PLEASE2_REQ]) + alive.encode("utf-8")))
        head = await asyncio.wait_for(reader.readexactly(2), timeout)
        if head[0] != PORT2_RESP:
            raise EpmdError(f"unexpected epmd reply {head[0]}")
        if head[1] != 0:
            raise EpmdError(f"node {alive!r} is not registered on {host}")
        port, _ntype, _proto, high, low, nlen = struct.unpack(
            ">HBBHHH", await asyncio.wait_for(reader.readexactly(10), timeout))
        return port, high, low
    except (asyncio.IncompleteReadError, asyncio.TimeoutError, OSError) as exc:
        raise EpmdError(f"epmd lookup of {alive!r} failed: {exc!r}") from None
    finally:
        writer.close()


async def ensure_epmd(host: str = "127.0.0.1", epmd_port: int = EPMD_PORT) -> None:
    """Start ``epmd -daemon`` if nothing answers on the EPMD port."""
    try:
        _r, w = await asyncio.wait_for(asyncio.open_connection(host, epmd_port), 2.0)
        w.close()
        return
    except (OSError, asyncio.TimeoutError):
        pass
    exe = shutil.which("epmd") or "/usr/lib/erlang/bin/epmd"
    try:
        subprocess.run([exe, "-daemon"], check=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        raise EpmdError(f"could not start epmd: {exc}") from None
    for _ in range(50):
        try:
            _r, w = await asyncio.wait_for(asyncio.open_connection(host, epmd_port), 1.0)
            w.close()
            return
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.1)
    raise EpmdError("epmd did not come up")
