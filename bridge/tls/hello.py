"""The peer's first handshake message read from the ciphertext, before OpenSSL sees
it (sans-IO): the hello that ssl's ``{handshake, hello}`` pauses after.

A ClientHello, and the ServerHello that answers it, travel in plaintext handshake
records (content type 22), possibly fragmented over several records
(RFC 8446 5.1, RFC 5246 6.2.1). ``HelloReader`` takes the bytes as they come and
says when the whole message is there; the bytes themselves are kept untouched
for the TLS engine, which gets them once the owner continues.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

CLIENT_HELLO = 1
SERVER_HELLO = 2
_HANDSHAKE = 22
_MAX_HELLO = 1 << 17          # no hello needs more (OTP's ?MAX_HANDSHAKE_SIZE is 256 KiB)


class HelloError(ValueError):
    """The bytes are not a hello in handshake records; ``raw``: the bytes read."""
    raw = b""


@dataclass
class Hello:
    msg_type: int                   # CLIENT_HELLO | SERVER_HELLO
    legacy_version: tuple[int, int]  # the hello's own version field, e.g. (3, 3)
    extensions: bytes               # the extensions' bytes, without their length
    raw: bytes                      # every byte read so far (for the engine)
    suites: bytes = b""             # a ClientHello's cipher suites (2 bytes each)


class HelloReader:
    def __init__(self, msg_type: int):
        self.msg_type = msg_type
        self._buf = bytearray()

    @property
    def raw(self) -> bytes:
        return bytes(self._buf)

    def feed(self, data: bytes) -> Optional[Hello]:
        """The hello once complete (None: more bytes needed). Raises HelloError."""
        self._buf += data
        if len(self._buf) > _MAX_HELLO:
            raise HelloError("hello too long")
        body = bytearray()
        buf, pos = self._buf, 0
        # records after the hello's own (a TLS 1.3 server's change_cipher_spec and
        # encrypted flight, in the same segment) are not looked at
        while len(buf) - pos >= 5:
            ctype, length = buf[pos], int.from_bytes(buf[pos + 3:pos + 5], "big")
            if ctype != _HANDSHAKE or buf[pos + 1] != 3:
                raise HelloError(f"record type {ctype} version {buf[pos + 1]}.{buf[pos + 2]}")
            if len(buf) - pos - 5 < length:
                return None
            body += buf[pos + 5:pos + 5 + length]
            pos += 5 + length
            if len(body) >= 4:
                if body[0] != self.msg_type:
                    raise HelloError(f"handshake message {body[0]}, not {self.msg_type}")
                size = int.from_bytes(body[1:4], "big")
                if len(body) >= 4 + size:
                    return _parse(self.msg_type, bytes(body[4:4 + size]), bytes(buf))
        return None


def _parse(msg_type: int, body: bytes, raw: bytes) -> Hello:
    """The version and extensions of a ClientHello or ServerHello body
    (tls_handshake:decode_handshake/3, ssl_handshake:decode_handshake/3)."""
    try:
        version = (body[0], body[1])
        pos = 2 + 32
        pos += 1 + body[pos]                                     # session id
        suites = b""
        if msg_type == CLIENT_HELLO:
            n = int.from_bytes(body[pos:pos + 2], "big")
            suites = body[pos + 2:pos + 2 + n]
            pos += 2 + n                                         # cipher suites
            pos += 1 + body[pos]                                 # compression methods
        else:
            pos += 2 + 1                                         # suite, compression
    except IndexError:
        raise HelloError("truncated hello") from None
    if pos > len(body):
        raise HelloError("truncated hello")
    exts = b""
    if len(body) >= pos + 2:
        n = int.from_bytes(body[pos:pos + 2], "big")
        exts = body[pos + 2:pos + 2 + n]
    return Hello(msg_type, version, exts, raw, suites)
