"""The HTTP packet types of ``erlang:decode_packet/3`` (OTP 25), sans-IO and byte-exact.

``decode_http(packet_type, data, offset=0, packet_size=0)`` does what
``erlang:decode_packet(Type, Data[offset:], [{packet_size, Size}])`` does for
``Type`` in ``http``, ``httph``, ``http_bin``, ``httph_bin``:

* ``{ok, Term, Rest}``  -> ``(term, consumed)``; ``Rest`` is ``data[offset + consumed:]``;
* ``{more, undefined}`` -> ``None`` (the HTTP types never announce a size);
* ``{error, invalid}``  -> raises ``packet.PacketError`` (the framing layer's
  exception; ssl then reports ``{invalid_packet, WholeBuffer}`` and closes).

Terms, in the project's ETF types (list-mode strings are lists of byte values,
``_bin`` types give ``bytes``):

* ``(Atom('http_request'), Method, Uri, (Major, Minor))`` — Method is one of the
  atoms ``'OPTIONS' 'GET' 'HEAD' 'POST' 'PUT' 'DELETE' 'TRACE'`` (exact case) or
  a string; Uri is ``Atom('*')``, ``(Atom('absoluteURI'), Atom('http'|'https'),
  Host, Port | Atom('undefined'), Path)``, ``(Atom('scheme'), S1, S2)``,
  ``(Atom('abs_path'), Path)`` or a plain string. A request line without a
  version gives ``(0, 9)``.
* ``(Atom('http_response'), (Major, Minor), Status, Phrase)``
* ``(Atom('http_header'), Index, Name, OriginalName, Value)`` — Index is the
  1-based position in erts' table of 52 known headers (0 for others); Name is the
  table's atom for known headers, otherwise the name as a string with erts' case
  normalisation (first letter and each letter after ``-`` upper case, the rest
  lower case; a name longer than 50 bytes is left as sent); OriginalName is the
  name exactly as sent (OTP 25 fills this field; older releases had
  ``undefined``); Value keeps continuation lines (``"a\\r\\n b"``) verbatim.
* ``Atom('http_eoh')``; ``(Atom('http_error'), Line)`` where Line is the whole
  malformed line, line terminator included.

Numbers (versions, status, port) are accumulated in a C ``int``: they wrap to
signed 32 bits, as erts gives them; a port of 0, or one followed by non-digits,
is ``undefined``.

Cutting (erts' ``packet_get_length``): a start line ends at the first ``\\n``; a
header line at the first ``\\n`` not followed by a space or tab (a continuation),
so a header needs one byte after its line end before it is complete (more data
needed otherwise). A buffer that is exactly ``\\n`` or ``\\r\\n`` is one packet
whatever the size limit. ``packet_size`` (0 = none) bounds the line, terminator
included: a longer line, or ``packet_size`` or more bytes without a line end, is
``{error, invalid}``. ``line_length`` (which ssl never passes) only serves as
the limit when ``packet_size`` is 0. ``line_delimiter`` does not apply.

What OTP 25's ssl does with these types (``ssl_gen_statem``): ``get_data``
calls ``erlang:decode_packet(Type, Buffer, [{packet_size, Size}])``; after
delivering an ``http_request``/``http_response`` on an ``http``/``http_bin``
socket it switches the socket's packet state to ``{Type, headers}`` (decoded as
``httph``/``httph_bin``) and back to ``Type`` after ``http_eoh`` —
``ssl_state_after`` below. ``httph``/``httph_bin`` never switch. The terms are
delivered as they are, in list and binary mode alike. ``http_error`` is
ordinary data (``{ssl, S, {http_error, Line}}``); only ``{error, invalid}``
becomes ``{ssl_error, S, {invalid_packet, Buffer}}`` / ``{error, {invalid_packet,
Buffer}}``.
"""
from __future__ import annotations

from typing import Optional

from bridge.etf.types import Atom
from bridge.service.packet_error import PacketError

__all__ = [
    "decode_http", "HTTP_TYPES", "HEADER_NAMES", "METHODS", "decode_type", "ssl_state_after",
    "PacketError",
]

HTTP_TYPES = ("http", "httph", "http_bin", "httph_bin")
_UINT_MAX = 0xFFFFFFFF

# erts' table (packet_parser.c, http_hdr_strings); the term's index is position + 1.
HEADER_NAMES = (
    "Cache-Control", "Connection", "Date", "Pragma", "Transfer-Encoding", "Upgrade",
    "Via", "Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language",
    "Authorization", "From", "Host", "If-Modified-Since", "If-Match", "If-None-Match",
    "If-Range", "If-Unmodified-Since", "Max-Forwards", "Proxy-Authorization", "Range",
    "Referer", "User-Agent", "Age", "Location", "Proxy-Authenticate", "Public",
    "Retry-After", "Server", "Vary", "Warning", "Www-Authenticate", "Allow",
    "Content-Base", "Content-Encoding", "Content-Language", "Content-Length",
    "Content-Location", "Content-Md5", "Content-Range", "Content-Type", "Etag",
    "Expires", "Last-Modified", "Accept-Ranges", "Set-Cookie", "Set-Cookie2",
    "X-Forwarded-For", "Cookie", "Keep-Alive", "Proxy-Connection",
)
METHODS = ("OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE")

_HEADERS = {name.encode(): (i + 1, Atom(name)) for i, name in enumerate(HEADER_NAMES)}
_METHODS = {name.encode(): Atom(name) for name in METHODS}
_MAX_NAME = 50  # HTTP_MAX_NAME_LEN: longer header names are not normalised

_HTTP_REQUEST = Atom("http_request")
_HTTP_RESPONSE = Atom("http_response")
_HTTP_HEADER = Atom("http_header")
_HTTP_EOH = Atom("http_eoh")
_HTTP_ERROR = Atom("http_error")
_ABS_PATH = Atom("abs_path")
_ABSOLUTE_URI = Atom("absoluteURI")
_SCHEME = Atom("scheme")
_STAR = Atom("*")
_HTTP = Atom("http")
_HTTPS = Atom("https")
_UNDEFINED = Atom("undefined")

# tspecials: control characters, space, >= 128, and the separators (DEL is *not* one
# in erts: its table covers 33..126 and leaves 127 zero).
_TSPECIAL = bytes(1 if (c <= 32 or c >= 128 or chr(c) in '()<>@,;:\\"/[]?={}') else 0
                  for c in range(256))
_SP = (32, 9)
_DIGITS = b"0123456789"


class _Invalid(Exception):
    """The line does not parse: it becomes ``{http_error, Line}``."""


def _int32(digits: bytes) -> int:
    """The decimal digits accumulated in a C int (wrapping modulo 2**32, signed)."""
    acc = 0
    for k in range(0, len(digits), 4000):       # int() refuses > 4300 digits at once
        chunk = digits[k:k + 4000]
        acc = (acc * 10 ** len(chunk) + int(chunk)) & 0xFFFFFFFF
    return acc - 0x100000000 if acc & 0x80000000 else acc


def _digits(line: bytes, i: int, end: int) -> int:
    """Index after the run of ASCII digits starting at i."""
    while i < end and 48 <= line[i] <= 57:
        i += 1
    return i


def _skip_sp(line: bytes, i: int, end: int) -> int:
    while i < end and line[i] in _SP:
        i += 1
    return i


def decode_type(state) -> str:
    """The ``decode_packet`` type for an ssl packet state (``ssl_gen_statem:decode_packet/3``):
    ``('http', 'headers')`` decodes as ``httph``, ``('http_bin', 'headers')`` as
    ``httph_bin``; the four plain types as themselves. Atoms are accepted too."""
    if isinstance(state, tuple):
        if len(state) == 2 and _name(state[1]) == "headers":
            base = _name(state[0])
            if base == "http":
                return "httph"
            if base == "http_bin":
                return "httph_bin"
        raise ValueError(f"not an HTTP packet state: {state!r}")
    name = _name(state)
    if name not in HTTP_TYPES:
        raise ValueError(f"not an HTTP packet type: {state!r}")
    return name


def ssl_state_after(state, term):
    """The socket's packet state after ssl delivered ``term`` (``ssl_gen_statem:deliver_app_data``).

    ``http``/``http_bin`` become ``(type, 'headers')`` after an ``http_request`` or
    ``http_response``; ``(type, 'headers')`` goes back to ``type`` after
    ``http_eoh``; everything else (``httph*``, headers, ``http_error``) keeps the
    state. States are given and returned as ``str`` / ``(str, 'headers')``.
    """
    if isinstance(state, tuple):
        base = _name(state[0])
        if term is _HTTP_EOH:
            return base
        return (base, "headers")
    name = _name(state)
    if (name in ("http", "http_bin") and isinstance(term, tuple) and len(term) == 4
            and term[0] in (_HTTP_REQUEST, _HTTP_RESPONSE)):
        return (name, "headers")
    return name


def _name(x) -> str:
    return x.name if isinstance(x, Atom) else x


def _check_limit(value, what: str) -> int:
    if type(value) is not int or not 0 <= value <= _UINT_MAX:
        raise ValueError(f"{what} must be an integer 0..4294967295, not {value!r}")
    return value


def decode_http(packet_type, data, offset: int = 0, packet_size: int = 0, *,
                line_length: int = 0) -> Optional[tuple]:
    """One HTTP packet from ``data[offset:]``: ``(term, consumed)``, or None for more data.

    ``packet_type``: ``'http'``, ``'httph'``, ``'http_bin'``, ``'httph_bin'`` (or the
    Atom). Raises ``PacketError`` where ``decode_packet`` answers ``{error, invalid}``,
    ValueError for an unknown type or a limit outside 0..2**32-1 (decode_packet's
    badarg), TypeError for data that is not bytes-like. Never raises anything
    else, whatever the bytes. A ``bytearray`` is read in place (no copy of the
    buffer per call), so a framing layer can keep one buffer and move ``offset``.
    """
    ptype = _name(packet_type)
    if ptype not in HTTP_TYPES:
        raise ValueError(f"not an HTTP packet type: {packet_type!r}")
    max_plen = _check_limit(packet_size, "packet_size") or _check_limit(line_length, "line_length")
    if isinstance(data, memoryview):
        data = data.tobytes()
    elif not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"data must be bytes, bytearray or memoryview, not {type(data).__name__}")
    if not 0 <= offset <= len(data):
        raise ValueError(f"offset {offset} outside the data ({len(data)} bytes)")
    headers = ptype in ("httph", "httph_bin")
    plen = _packet_length(data, offset, max_plen, headers)
    if plen is None:
        return None
    line = bytes(data[offset:offset + plen])
    as_bin = ptype.endswith("_bin")
    try:
        term = _parse_header(line, as_bin) if headers else _parse_start(line, as_bin)
    except _Invalid:
        term = (_HTTP_ERROR, line if as_bin else list(line))
    return term, plen


def _packet_length(data: bytes, off: int, max_plen: int, headers: bool) -> Optional[int]:
    n = len(data) - off
    if (n == 1 and data[off] == 10) or (n == 2 and data[off] == 13 and data[off + 1] == 10):
        return n                               # a lone blank line: no size check
    end = len(data)
    start = off
    while True:
        i = data.find(b"\n", start, end)
        if i < 0:
            if max_plen and n >= max_plen:
                raise PacketError()
            return None
        plen = i - off + 1
        if not headers:
            if max_plen and plen > max_plen:
                raise PacketError()
            return plen
        if plen < n:
            if data[i + 1] in _SP and plen > 2:   # continuation line
                start = i + 1
                continue
            if max_plen and plen > max_plen:
                raise PacketError()
            return plen
        if max_plen and plen > max_plen:
            raise PacketError()
        return None                            # can't tell yet whether a continuation follows


def _strip(line: bytes) -> int:
    """Length without the line end (``\\r\\n`` or ``\\n``), as erts strips it."""
    n = len(line)
    if n >= 2 and line[n - 2] == 13:
        return n - 2
    if n >= 1 and line[n - 1] == 10:
        return n - 1
    return n


def _parse_start(line: bytes, as_bin: bool):
    s = bytes if as_bin else list
    end = _strip(line)
    if end >= 5 and line.startswith(b"HTTP/"):
        major, minor, i = _version(line, 5, end)
        j = _skip_sp(line, i, end)
        if j == i:
            raise _Invalid
        k = _digits(line, j, end)
        status = _int32(line[j:k]) if k > j else 0
        r = _skip_sp(line, k, end)
        if r == k and r < end:
            raise _Invalid
        return (_HTTP_RESPONSE, (major, minor), status, s(line[r:end]))
    # Request-Line = Method SP Request-URI [SP HTTP-Version]
    i = 0
    while i < end and not _TSPECIAL[line[i]]:
        i += 1
    if i == end or i == 0 or line[i] not in _SP:
        raise _Invalid
    meth = line[:i]
    method = _METHODS.get(meth)
    if method is None:
        method = s(meth)
    u0 = _skip_sp(line, i, end)
    u1 = u0
    while u1 < end and line[u1] not in _SP:
        u1 += 1
    if u1 == u0:
        raise _Invalid
    v = _skip_sp(line, u1, end)
    if v == end:
        version = (0, 9)
    else:
        if end - v < 8 or line[v:v + 5] != b"HTTP/":
            raise _Invalid
        major, minor, _ = _version(line, v + 5, end)
        version = (major, minor)
    return (_HTTP_REQUEST, method, _uri(line[u0:u1], s), version)


def _version(line: bytes, i: int, end: int):
    """``1*DIGIT "." 1*DIGIT`` at i: (major, minor, index after minor)."""
    j = _digits(line, i, end)
    if j == i or j == end or line[j] != 46:
        raise _Invalid
    k = _digits(line, j + 1, end)
    if k == j + 1:
        raise _Invalid
    return _int32(line[i:j]), _int32(line[j + 1:k]), k


def _uri(uri: bytes, s):
    n = len(uri)
    if uri == b"*":
        return _STAR
    if n <= 1 or uri[0] == 47:
        return (_ABS_PATH, s(uri))
    low = uri[:8].lower()
    if low.startswith(b"http://"):
        return _absolute(_HTTP, uri[7:], s)
    if low.startswith(b"https://"):
        return _absolute(_HTTPS, uri[8:], s)
    c = uri.find(b":")
    if c < 0:
        return s(uri)
    return (_SCHEME, s(uri[:c]), s(uri[c + 1:]))


def _absolute(scheme: Atom, rest: bytes, s):
    slash = rest.find(b"/")
    if slash < 0:
        hostport, path = rest, b"/"
    else:
        hostport, path = rest[:slash], rest[slash:]
    port = _UNDEFINED
    c = hostport.find(b":")
    if c < 0:
        host = hostport
    else:
        host = hostport[:c]
        digits = hostport[c + 1:]
        d = _digits(digits, 0, len(digits))
        if d == len(digits):
            value = _int32(digits) if digits else 0
            if value != 0:
                port = value
    return (_ABSOLUTE_URI, scheme, s(host), port, s(path))


def _parse_header(line: bytes, as_bin: bool):
    s = bytes if as_bin else list
    end = _strip(line)
    if end == 0:
        return _HTTP_EOH
    i = 0
    while not _TSPECIAL[line[i]]:
        i += 1
        if i == end:
            raise _Invalid
    if line[i] != 58:  # ':'
        raise _Invalid
    oname = line[:i]
    if i > _MAX_NAME:
        index, name = 0, s(oname)
    else:
        norm = _normalise(oname)
        known = _HEADERS.get(norm)
        if known is None:
            index, name = 0, s(norm)
        else:
            index, name = known
    v = _skip_sp(line, i + 1, end)
    return (_HTTP_HEADER, index, name, s(oname), s(line[v:end]))


def _normalise(name: bytes) -> bytes:
    """erts' header-name case: upper case first and after each '-', lower case elsewhere."""
    out = bytearray(name)
    up = True
    for k, c in enumerate(out):
        if up:
            if 97 <= c <= 122:
                out[k] = c - 32
            up = False
        elif 65 <= c <= 90:
            out[k] = c + 32
        elif c == 45:
            up = True
    return bytes(out)
