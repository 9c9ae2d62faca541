"""The peer's first handshake message read from the ciphertext, before OpenSSL sees
it (sans-IO): the hello that ssl's ``{handshake, hello}`` pauses after.

A ClientHello, and the ServerHello that answers it, travel in plaintext handshake
records (content type 22), possibly fragmented over several records
(RFC 8446 5.1, RFC 5246 6.2.1). ``HelloReader`` takes the bytes as they come and
says when the whole message is there; the bytes themselves are kept untouched
for the TLS engine, which gets them once the owner continues.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
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
    cipher_suites: bytes = b""      # a ClientHello's suites (2 bytes each); a ServerHello's one
    # what ext_map / suite_codes read, kept: the server reads both in two places per
    # handshake (callbacks.judge_tls13_suites, callbacks.refuse_hello)
    _exts: Optional[dict] = field(default=None, repr=False, compare=False)
    _codes: Optional[list] = field(default=None, repr=False, compare=False)

    def suite_codes(self) -> list[int]:
        if self._codes is None:
            self._codes = [int.from_bytes(self.cipher_suites[i:i + 2], "big")
                           for i in range(0, len(self.cipher_suites) - 1, 2)]
        return self._codes

    def ext_map(self) -> dict[int, bytes]:
        """``extension_map`` of the hello's extensions (read once; not to be changed)."""
        if self._exts is None:
            self._exts = extension_map(self.extensions)
        return self._exts


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
            suites = body[pos + 2:pos + 2 + n]                   # cipher suites
            pos += 2 + n
            pos += 1 + body[pos]                                 # compression methods
        else:
            suites = body[pos:pos + 2]
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


# extension types (IANA TLS ExtensionType values) read by the engine
SERVER_NAME = 0
SUPPORTED_GROUPS = 10
SIGNATURE_ALGORITHMS = 13
PRE_SHARED_KEY = 41
SUPPORTED_VERSIONS = 43
SIGNATURE_ALGORITHMS_CERT = 50


def extension_map(exts: bytes) -> dict[int, bytes]:
    """Extension type -> its data (the first of a type; a truncated entry ends the
    list: OpenSSL refuses such a hello itself)."""
    out: dict[int, bytes] = {}
    pos, end = 0, len(exts)
    while pos + 4 <= end:
        etype, n = _TYPE_LEN(exts, pos)
        pos += 4
        if pos + n > end:
            break
        if etype not in out:
            out[etype] = exts[pos:pos + n]
        pos += n
    return out


_TYPE_LEN = struct.Struct(">HH").unpack_from     # an extension's type and length


def u16_list(data: Optional[bytes]) -> Optional[list[int]]:
    """A vector of 16-bit values with a 2-byte length (signature_algorithms,
    supported_groups); None if absent or malformed."""
    if data is None or len(data) < 2:
        return None
    n = int.from_bytes(data[:2], "big")
    if n % 2 or n + 2 > len(data):
        return None
    return [int.from_bytes(data[i:i + 2], "big") for i in range(2, 2 + n, 2)]


def supported_versions(data: Optional[bytes]) -> Optional[list[int]]:
    """A ClientHello's supported_versions (RFC 8446 4.2.1: a 1-byte length, then
    2-byte versions); None if absent or malformed."""
    if not data or data[0] % 2 or data[0] + 1 > len(data):
        return None
    return [int.from_bytes(data[i:i + 2], "big") for i in range(1, 1 + data[0], 2)]


def server_name(data: Optional[bytes]) -> Optional[bytes]:
    """The host_name of a server_name extension (RFC 6066 3), or None."""
    if data is None or len(data) < 2:
        return None
    end = min(len(data), 2 + int.from_bytes(data[:2], "big"))
    pos = 2
    while pos + 3 <= end:
        kind, n = data[pos], int.from_bytes(data[pos + 1:pos + 3], "big")
        if pos + 3 + n > end:
            return None
        if kind == 0:
            return bytes(data[pos + 3:pos + 3 + n]) or None
        pos += 3 + n
    return None
