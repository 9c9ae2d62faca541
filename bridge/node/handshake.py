"""Distribution handshake, protocol version 6 (OTP 23+), as a sans-IO state machine.

Feed the peer's bytes to ``receive()``; send what ``data_to_send()`` returns. When
``done`` is true the connection switches to 4-byte framing and any bytes that came
after the handshake are in ``leftover``. A failure raises ``HandshakeError``.
"""
from __future__ import annotations

import hashlib
import secrets
import struct
from typing import Callable, Optional

# Distribution flags (lib/kernel/include/dist.hrl)
PUBLISHED = 0x1
EXTENDED_REFERENCES = 0x4
DIST_MONITOR = 0x8
FUN_TAGS = 0x10
DIST_MONITOR_NAME = 0x20
NEW_FUN_TAGS = 0x80
EXTENDED_PIDS_PORTS = 0x100
EXPORT_PTR_TAG = 0x200
BIT_BINARIES = 0x400
NEW_FLOATS = 0x800
UNICODE_IO = 0x1000
SMALL_ATOM_TAGS = 0x4000
UTF8_ATOMS = 0x10000
MAP_TAG = 0x20000
BIG_CREATION = 0x40000
HANDSHAKE_23 = 0x1000000
UNLINK_ID = 0x2000000
MANDATORY_25_DIGEST = 0x4000000
SPAWN = 1 << 32
V4_NC = 1 << 34
ALIAS = 1 << 35

MANDATORY_25 = (EXTENDED_REFERENCES | FUN_TAGS | NEW_FUN_TAGS | EXTENDED_PIDS_PORTS
                | EXPORT_PTR_TAG | BIT_BINARIES | NEW_FLOATS | UTF8_ATOMS | MAP_TAG
                | BIG_CREATION | HANDSHAKE_23)

# What the bridge offers: the OTP 25 mandatory set, monitors, small atoms, UNLINK_ID,
# SPAWN (for erpc) and ALIAS (replies to a gen call's alias, Node.reply); hidden, so
# no PUBLISHED; no atom cache, no fragments.
OUR_FLAGS = (MANDATORY_25 | DIST_MONITOR | DIST_MONITOR_NAME | SMALL_ATOM_TAGS
             | UNICODE_IO | UNLINK_ID | SPAWN | V4_NC | ALIAS)


# No handshake message comes near this (a node name is at most 255 characters, 1020
# bytes of UTF-8, plus 19); a 4-byte prefix could otherwise make us buffer 4 GiB
# from an unauthenticated peer.
MAX_MESSAGE = 4096


class HandshakeError(Exception):
    pass


def digest(challenge: int, cookie: str) -> bytes:
    return hashlib.md5(cookie.encode("latin-1") + str(challenge & 0xFFFFFFFF).encode()).digest()


def _name_msg(flags: int, creation: int, name: bytes) -> bytes:
    return b"N" + struct.pack(">QIH", flags, creation, len(name)) + name


class Handshake:
    """Common machinery: length-prefixed messages in (``header`` bytes), a queue of
    bytes out."""

    def __init__(self, our_name: str, cookie: str, creation: int, flags: int = OUR_FLAGS,
                 header: int = 2):
        self.our_name = our_name.encode("utf-8")
        # length prefix of a handshake message: 2 bytes over TCP (inet_tcp_dist's
        # {packet, 2}), 4 over TLS (inet_tls_dist runs it all on a {packet, 4} socket)
        self.header = header
        self._hfmt = ">H" if header == 2 else ">I"
        self.cookie = cookie
        self.creation = creation
        self.our_flags = flags
        self._in = bytearray()
        self._out: list[bytes] = []
        self.done = False
        self.peer_name: Optional[str] = None
        self.peer_flags = 0
        self.peer_creation = 0
        self.flags = 0                  # negotiated: AND of both sides
        self.leftover = b""
        self._challenge = secrets.randbits(32)

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def _send(self, payload: bytes) -> None:
        self._out.append(struct.pack(self._hfmt, len(payload)) + payload)

    def receive(self, data: bytes) -> None:
        if self.done:
            self.leftover += data
            return
        self._in += data
        h = self.header
        while not self.done and len(self._in) >= h:
            n = struct.unpack_from(self._hfmt, self._in)[0]
            if n > MAX_MESSAGE:
                raise HandshakeError(f"handshake message of {n} bytes")
            if len(self._in) < h + n:
                break
            msg = bytes(self._in[h:h + n])
            del self._in[:h + n]
            if not msg:
                raise HandshakeError("empty handshake message")
            self._message(msg)
        if self.done:
            self.leftover = bytes(self._in)
            self._in.clear()

    def _message(self, msg: bytes) -> None:
        raise NotImplementedError

    def _check_flags(self, flags: int) -> None:
        if not flags & MANDATORY_25_DIGEST and (flags & MANDATORY_25) != MANDATORY_25:
            raise HandshakeError(f"peer lacks mandatory distribution flags ({flags:#x})")
        self.peer_flags = flags
        self.flags = flags & self.our_flags

    @staticmethod
    def _parse_challenge_or_name(msg: bytes, with_challenge: bool):
        if msg[:1] != b"N":
            raise HandshakeError(f"expected 'N' message, got {msg[:1]!r}")
        try:
            if with_challenge:
                flags, challenge, creation, nlen = struct.unpack_from(">QIIH", msg, 1)
                name = msg[19:19 + nlen]
                if len(name) != nlen:
                    raise HandshakeError("truncated challenge")
            else:
                flags, creation, nlen = struct.unpack_from(">QIH", msg, 1)
                challenge = None
                name = msg[15:15 + nlen]
                if len(name) != nlen:
                    raise HandshakeError("truncated name message")
        except struct.error:
            raise HandshakeError("truncated handshake message") from None
        return flags, challenge, creation, name.decode("utf-8", "replace")


class Initiator(Handshake):
    """We dialled ``peer_name``. ``on_alive`` answers the acceptor's 'alive' status."""

    def __init__(self, our_name, cookie, creation, peer_name: str, flags: int = OUR_FLAGS,
                 header: int = 2):
        super().__init__(our_name, cookie, creation, flags, header)
        self.expected = peer_name
        self.state = "status"
        self.status: Optional[str] = None
        self._send(_name_msg(self.our_flags, creation, self.our_name))

    def _message(self, msg: bytes) -> None:
        if self.state == "status":
            if msg[:1] != b"s":
                raise HandshakeError(f"expected status, got {msg[:1]!r}")
            status = msg[1:].decode("latin-1")
            self.status = status
            if status in ("ok", "ok_simultaneous"):
                self.state = "challenge"
            elif status == "alive":
                # we have no other connection to this node: let it replace the old one
                self._send(b"strue")
                self.state = "challenge"
            elif status.startswith("named:"):
                raise HandshakeError("dynamic node names are not supported")
            else:
                raise HandshakeError(f"connection refused by peer: {status}")
        elif self.state == "challenge":
            flags, challenge, creation, name = self._parse_challenge_or_name(msg, True)
            if name != self.expected:
                raise HandshakeError(f"peer says it is {name}, we dialled {self.expected}")
            self._check_flags(flags)
            self.peer_name = name
            self.peer_creation = creation
            self._send(b"r" + struct.pack(">I", self._challenge) + digest(challenge, self.cookie))
            self.state = "ack"
        elif self.state == "ack":
            if msg[:1] != b"a" or len(msg) != 17:
                raise HandshakeError("expected challenge ack")
            if not secrets.compare_digest(msg[1:], digest(self._challenge, self.cookie)):
                raise HandshakeError("cookie mismatch (bad digest in challenge ack)")
            self.done = True
            self.state = "done"


class Acceptor(Handshake):
    """A peer dialled us. ``decide(peer_name) -> 'ok'|'ok_simultaneous'|'nok'|'alive'|...``
    lets the node resolve simultaneous connects and duplicates."""

    def __init__(self, our_name, cookie, creation, decide: Callable[[str], str],
                 flags: int = OUR_FLAGS, header: int = 2):
        super().__init__(our_name, cookie, creation, flags, header)
        self.decide = decide
        self.state = "name"

    def _message(self, msg: bytes) -> None:
        if self.state == "name":
            if msg[:1] == b"n":
                raise HandshakeError("peer uses the pre-OTP-23 handshake (not supported)")
            flags, _, creation, name = self._parse_challenge_or_name(msg, False)
            if "@" not in name:
                raise HandshakeError(f"bad peer node name {name!r}")
            self._check_flags(flags)
            self.peer_name = name
            self.peer_creation = creation
            status = self.decide(name)
            self._send(b"s" + status.encode())
            if status == "alive":
                self.state = "alive"
                return
            if status not in ("ok", "ok_simultaneous"):
                raise HandshakeError(f"refused connection from {name}: {status}")
            self._send_challenge()
        elif self.state == "alive":
            if msg != b"strue":
                raise HandshakeError("peer gave up its duplicate connection")
            self._send_challenge()
        elif self.state == "reply":
            if msg[:1] != b"r" or len(msg) != 21:
                raise HandshakeError("expected challenge reply")
            their_challenge = struct.unpack_from(">I", msg, 1)[0]
            if not secrets.compare_digest(msg[5:21], digest(self._challenge, self.cookie)):
                raise HandshakeError(f"cookie mismatch: {self.peer_name} sent a bad digest")
            self._send(b"a" + digest(their_challenge, self.cookie))
            self.done = True
            self.state = "done"

    def _send_challenge(self) -> None:
        self._send(b"N" + struct.pack(">QIIH", self.our_flags, self._challenge, self.creation,
                                      len(self.our_name)) + self.our_name)
        self.state = "reply"
