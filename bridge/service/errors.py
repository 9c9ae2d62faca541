"""``ssl:format_error/1`` as OTP 25 (ssl 10.8.7) words it, and the ``ssl:versions()`` reply.

``format_error(Reason)`` follows ``ssl.erl``: ``{error, R}`` unwraps, a string is
returned as is, ``closed``, ``{tls_alert, {_, Text}}``, the file errors of
``certfile``/``keyfile``/``cacertfile``/``dhfile``, ``{options, {socket_options, ...}}``,
``{options, X}``, then ``inet:format_error/1`` (POSIX texts) and finally
``"Unexpected error: ~p"``.

``format_term(term, pretty=True)`` is a small Erlang ``~p``/``~w`` printer for the
terms the bridge handles (atoms, numbers, strings, binaries, tuples, lists, maps,
pids/refs/ports).  Known difference: for a term longer than one 80-column line
``~p`` lays it out over several lines with its own fill rules; this printer breaks
tuples and lists one element per line, which can differ in line breaks only.

Reasons are Python values as decoded by ``bridge.etf`` (Atom, tuple, list, bytes,
bool, int).  Strings come as lists of ints; a Python ``str`` is accepted as well.
"""
from __future__ import annotations

import asyncio
import logging

from bridge.etf.types import Atom, BitString, ErlMap, ImproperList, Opaque, Pid, Port, Reference
from bridge.tls import transport
from bridge.tls.engine import VERIFY_REASONS

from .inet import posix_atom

log = logging.getLogger("bridge.service")

__all__ = ["format_error", "format_term", "versions", "posix_message", "tls_alert", "tls_alert_parts",
           "failure_reply"]

_RESERVED = frozenset(
    "after and andalso band begin bnot bor bsl bsr bxor case catch cond div end fun if "
    "let not of or orelse receive rem try when xor".split())

_ESC = {0x22: '\\"', 0x5C: "\\\\", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x0B: "\\v",
        0x08: "\\b", 0x0C: "\\f", 0x1B: "\\e"}
_ATOM_ESC = {0x27: "\\'", 0x5C: "\\\\", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x0B: "\\v",
             0x08: "\\b", 0x0C: "\\f", 0x1B: "\\e", 0x7F: "\\d", 0x20: " "}


def _atom_text(name: str) -> str:
    if (name and "a" <= name[0] <= "z" and name not in _RESERVED
            and all(c.isascii() and (c.isalnum() or c in "_@") for c in name)):
        return name
    out = []
    for ch in name:
        o = ord(ch)
        if o in _ATOM_ESC:
            out.append(_ATOM_ESC[o])
        elif o < 0x20:
            out.append("\\^" + chr(o + 64))
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


def _printable_char(c) -> bool:
    return isinstance(c, int) and not isinstance(c, bool) and (
        0x20 <= c <= 0x7E or 0xA0 <= c <= 0xFF or c in _ESC)


def _is_printable_list(lst) -> bool:
    return len(lst) > 0 and all(_printable_char(c) for c in lst)


def _quote_chars(chars) -> str:
    return '"' + "".join(_ESC.get(c, chr(c)) for c in chars) + '"'


def _float_text(f: float) -> str:
    r = repr(f)
    if "e" in r:
        mant, exp = r.split("e")
        if "." not in mant:
            mant += ".0"
        return f"{mant}e{int(exp)}"
    return r


def _map_items(term):
    items = term.items if isinstance(term, ErlMap) else list(term.items())
    return sorted(items, key=lambda kv: _order_key(kv[0]))


def _order_key(t):
    # Erlang term order: number < atom < reference < fun < port < pid < tuple < map < list < binary
    if isinstance(t, bool):
        return (1, "true" if t else "false")
    if isinstance(t, (int, float)):
        return (0, t)
    if isinstance(t, Atom):
        return (1, t.name)
    if t is None:
        return (1, "undefined")
    if isinstance(t, tuple):
        return (6, len(t), tuple(_order_key(x) for x in t))
    if isinstance(t, (list, str)):
        return (8, tuple(_order_key(x) for x in (t if isinstance(t, list) else [ord(c) for c in t])))
    if isinstance(t, (bytes, bytearray)):
        return (9, bytes(t))
    return (5, repr(t))


def _flat(term, pretty: bool) -> str:
    if term is True:
        return "true"
    if term is False:
        return "false"
    if term is None:
        return "undefined"
    if isinstance(term, Atom):
        return _atom_text(term.name)
    if isinstance(term, int):
        return str(term)
    if isinstance(term, float):
        return _float_text(term)
    if isinstance(term, str):
        term = [ord(c) for c in term]
    if isinstance(term, list):
        if pretty and _is_printable_list(term):
            return _quote_chars(term)
        return "[" + ",".join(_flat(x, pretty) for x in term) + "]"
    if isinstance(term, ImproperList):
        return ("[" + ",".join(_flat(x, pretty) for x in term.elements)
                + "|" + _flat(term.tail, pretty) + "]")
    if isinstance(term, tuple):
        return "{" + ",".join(_flat(x, pretty) for x in term) + "}"
    if isinstance(term, (bytes, bytearray, memoryview)):
        data = bytes(term)
        if pretty and data and all(_printable_char(c) for c in data):
            return "<<" + _quote_chars(data) + ">>"
        return "<<" + ",".join(str(b) for b in data) + ">>"
    if isinstance(term, BitString):
        body = [str(b) for b in term.data[:-1]]
        body.append(f"{term.data[-1] >> (8 - term.bits)}:{term.bits}")
        return "<<" + ",".join(body) + ">>"
    if isinstance(term, (dict, ErlMap)):
        return "#{" + ",".join(f"{_flat(k, pretty)} => {_flat(v, pretty)}"
                               for k, v in _map_items(term)) + "}"
    if isinstance(term, Pid):
        return f"<{term.node.name}.{term.id}.{term.serial}>"
    if isinstance(term, Reference):
        return f"#Ref<{term.node.name}.{'.'.join(str(i) for i in reversed(term.ids))}>"
    if isinstance(term, Port):
        return f"#Port<{term.node.name}.{term.id}>"
    if isinstance(term, Opaque):
        return "#Fun<>"
    return repr(term)


def _pretty(term, col: int, width: int = 80) -> str:
    flat = _flat(term, True)
    if col + len(flat) <= width or not isinstance(term, (tuple, list)) or (
            isinstance(term, list) and _is_printable_list(term)):
        return flat
    opener, closer = ("{", "}") if isinstance(term, tuple) else ("[", "]")
    inner = col + 1
    elems = list(term)
    tag = ""
    if isinstance(term, tuple) and len(elems) > 1 and isinstance(elems[0], Atom):
        # {Tag, ...}: the other elements line up after "{Tag," (io_lib_pretty's layout)
        tag = _flat(elems.pop(0), True) + ","
        inner = col + 1 + len(tag)
    parts = [_pretty(el, inner, width) for el in elems]
    body = (",\n" + " " * inner).join(parts)
    return opener + tag + body + closer


def format_term(term, pretty: bool = True, column: int = 0) -> str:
    """Erlang's ``~p`` (``pretty=True``) or ``~w`` text of ``term``."""
    if not pretty:
        return _flat(term, False)
    return _pretty(term, column)


def _chars(x) -> str | None:
    if isinstance(x, str):
        return x
    if isinstance(x, list) and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < 0x110000
                                   for c in x):
        return "".join(chr(c) for c in x)
    if isinstance(x, (bytes, bytearray)):
        return bytes(x).decode("utf-8", "replace")
    return None


def posix_message(atom) -> str:
    """``erl_posix_msg:message/1``: the text of a POSIX error atom."""
    name = atom.name if isinstance(atom, Atom) else None
    return _POSIX.get(name, "unknown POSIX error")


def _inet_format_error(reason) -> str:
    if isinstance(reason, Atom):
        special = {"exbadport": "invalid port state", "exbadseq": "bad command sequence",
                   "system_limit": "a system limit was hit, probably not enough ports"}
        if reason.name in special:
            return special[reason.name]
    return posix_message(reason)


def _file_error_format(reason) -> str:
    if isinstance(reason, tuple) and len(reason) == 2 and reason[0] is Atom("error"):
        err = reason[1]
        if isinstance(err, Atom):
            special = {"badarg": "bad argument",
                       "system_limit": "a system limit was hit, probably not enough ports",
                       "terminated": "the file server process is terminated"}
            if err.name in special:
                return special[err.name]
        text = posix_message(err)
        return "decoding error" if text == "unknown POSIX error" else text
    return "decoding error"


_FILE_DESC = {"cacertfile": "Invalid CA certificate file ", "certfile": "Invalid certificate file ",
              "keyfile": "Invalid key file ", "dhfile": "Invalid DH params file "}

_OPTIONS = Atom("options")


def format_error(reason) -> str:
    """``ssl:format_error/1`` of OTP 25 for ``reason`` (an Erlang term as decoded)."""
    if isinstance(reason, tuple) and len(reason) == 2 and reason[0] is Atom("error"):
        return format_error(reason[1])
    if isinstance(reason, (list, str)):
        text = _chars(reason)
        if text is not None:
            return text
        # a list that is not a string: OTP returns it as is (an iolist, say)
        return "".join(_chars(x) or "" for x in reason)
    if reason is Atom("closed"):
        return "TLS connection is closed"
    if (isinstance(reason, tuple) and len(reason) == 2 and reason[0] is Atom("tls_alert")
            and isinstance(reason[1], tuple) and len(reason[1]) == 2):
        text = _chars(reason[1][1])
        return text if text is not None else format_term(reason[1][1])
    if isinstance(reason, tuple) and len(reason) == 2 and reason[0] is _OPTIONS:
        inner = reason[1]
        if (isinstance(inner, tuple) and len(inner) == 3 and isinstance(inner[0], Atom)
                and inner[0].name in _FILE_DESC):
            path = _chars(inner[1])
            if path is not None:
                return _FILE_DESC[inner[0].name] + path + ": " + _file_error_format(inner[2])
        if isinstance(inner, tuple) and len(inner) == 3 and inner[0] is Atom("socket_options"):
            prefix = "Invalid transport socket option "
            opt = format_term(inner[1], column=len(prefix))
            return prefix + opt + ": " + format_error(inner[2])
        if isinstance(inner, tuple) and len(inner) == 2 and inner[0] is Atom("socket_options"):
            prefix = "Invalid socket option: "
            return prefix + format_term(inner[1], column=len(prefix))
        prefix = "Invalid TLS option: "
        return prefix + format_term(inner, column=len(prefix))
    text = _inet_format_error(reason) if isinstance(reason, Atom) else "unknown POSIX error"
    if text.startswith("unknown POSIX"):
        prefix = "Unexpected error: "
        return prefix + format_term(reason, column=len(prefix))
    return text


def versions(available=("tlsv1.3", "tlsv1.2", "tlsv1.1", "tlsv1"),
             supported=("tlsv1.3", "tlsv1.2"), app_vsn: str = "10.8.7") -> list:
    """The ``ssl:versions()`` reply shape of OTP 25, describing what the bridge offers.

    DTLS is not offered by the bridge, so its lists are empty.
    """
    imp = [Atom(v) for v in ("tlsv1.3", "tlsv1.2", "tlsv1.1", "tlsv1")]
    return [
        (Atom("ssl_app"), app_vsn),
        (Atom("supported"), [Atom(v) for v in supported]),
        (Atom("supported_dtls"), []),
        (Atom("available"), [Atom(v) for v in available]),
        (Atom("available_dtls"), []),
        (Atom("implemented"), imp),
        (Atom("implemented_dtls"), []),
    ]


_POSIX = {
    'e2big': 'argument list too long',
    'eacces': 'permission denied',
    'eaddrinuse': 'address already in use',
    'eaddrnotavail': "can't assign requested address",
    'eadv': 'advertise error',
    'eafnosupport': 'address family not supported by protocol family',
    'eagain': 'resource temporarily unavailable',
    'ealign': 'EALIGN',
    'ealready': 'operation already in progress',
    'ebade': 'bad exchange descriptor',
    'ebadf': 'bad file number',
    'ebadfd': 'file descriptor in bad state',
    'ebadmsg': 'not a data message',
    'ebadr': 'bad request descriptor',
    'ebadrpc': 'RPC structure is bad',
    'ebadrqc': 'bad request code',
    'ebadslt': 'invalid slot',
    'ebfont': 'bad font file format',
    'ebusy': 'file busy',
    'echild': 'no children',
    'echrng': 'channel number out of range',
    'ecomm': 'communication error on send',
    'econnaborted': 'software caused connection abort',
    'econnrefused': 'connection refused',
    'econnreset': 'connection reset by peer',
    'edeadlk': 'resource deadlock avoided',
    'edeadlock': 'resource deadlock avoided',
    'edestaddrreq': 'destination address required',
    'edirty': 'mounting a dirty fs w/o force',
    'edom': 'math argument out of range',
    'edotdot': 'cross mount point',
    'edquot': 'disk quota exceeded',
    'eduppkg': 'duplicate package name',
    'eexist': 'file already exists',
    'efault': 'bad address in system call argument',
    'efbig': 'file too large',
    'eftype': 'EFTYPE',
    'ehostdown': 'host is down',
    'ehostunreach': 'host is unreachable',
    'eidrm': 'identifier removed',
    'einit': 'initialization error',
    'einprogress': 'operation now in progress',
    'eintr': 'interrupted system call',
    'einval': 'invalid argument',
    'eio': 'I/O error',
    'eisconn': 'socket is already connected',
    'eisdir': 'illegal operation on a directory',
    'eisnam': 'is a name file',
    'elbin': 'ELBIN',
    'el2hlt': 'level 2 halted',
    'el2nsync': 'level 2 not synchronized',
    'el3hlt': 'level 3 halted',
    'el3rst': 'level 3 reset',
    'elibacc': 'cannot access a needed shared library',
    'elibbad': 'accessing a corrupted shared library',
    'elibexec': 'cannot exec a shared library directly',
    'elibmax': 'attempting to link in more shared libraries than system limit',
    'elibscn': '.lib section in a.out corrupted',
    'elnrng': 'link number out of range',
    'eloop': 'too many levels of symbolic links',
    'emfile': 'too many open files',
    'emlink': 'too many links',
    'emsgsize': 'message too long',
    'emultihop': 'multihop attempted',
    'enametoolong': 'file name too long',
    'enavail': 'not available',
    'enet': 'ENET',
    'enetdown': 'network is down',
    'enetreset': 'network dropped connection on reset',
    'enetunreach': 'network is unreachable',
    'enfile': 'file table overflow',
    'enoano': 'anode table overflow',
    'enobufs': 'no buffer space available',
    'enocsi': 'no CSI structure available',
    'enodata': 'no data available',
    'enodev': 'no such device',
    'enoent': 'no such file or directory',
    'enoexec': 'exec format error',
    'enolck': 'no locks available',
    'enolink': 'link has be severed',
    'enomem': 'not enough memory',
    'enomsg': 'no message of desired type',
    'enonet': 'machine is not on the network',
    'enopkg': 'package not installed',
    'enoprotoopt': 'bad proocol option',
    'enospc': 'no space left on device',
    'enosr': 'out of stream resources or not a stream device',
    'enostr': 'not a stream',
    'enosym': 'unresolved symbol name',
    'enosys': 'function not implemented',
    'enotblk': 'block device required',
    'enotconn': 'socket is not connected',
    'enotdir': 'not a directory',
    'enotempty': 'directory not empty',
    'enotnam': 'not a name file',
    'enotsock': 'socket operation on non-socket',
    'enotsup': 'operation not supported',
    'enotty': 'inappropriate device for ioctl',
    'enotuniq': 'name not unique on network',
    'enxio': 'no such device or address',
    'eopnotsupp': 'operation not supported on socket',
    'eoverflow': 'offset too large for file system',
    'eperm': 'not owner',
    'epfnosupport': 'protocol family not supported',
    'epipe': 'broken pipe',
    'eproclim': 'too many processes',
    'eprocunavail': 'bad procedure for program',
    'eprogmismatch': 'program version wrong',
    'eprogunavail': 'RPC program not available',
    'eproto': 'protocol error',
    'eprotonosupport': 'protocol not supported',
    'eprototype': 'protocol wrong type for socket',
    'erange': 'math result unrepresentable',
    'erefused': 'EREFUSED',
    'eremchg': 'remote address changed',
    'eremdev': 'remote device',
    'eremote': 'pathname hit remote file system',
    'eremoteio': 'remote i/o error',
    'eremoterelease': 'EREMOTERELEASE',
    'erofs': 'read-only file system',
    'erpcmismatch': 'RPC version is wrong',
    'erremote': 'object is remote',
    'eshutdown': "can't send after socket shutdown",
    'esocktnosupport': 'socket type not supported',
    'espipe': 'invalid seek',
    'esrch': 'no such process',
    'esrmnt': 'srmount error',
    'estale': 'stale remote file handle',
    'esuccess': 'Error 0',
    'etime': 'timer expired',
    'etimedout': 'connection timed out',
    'etoomanyrefs': "too many references: can't splice",
    'etxtbsy': 'text file or pseudo-device busy',
    'euclean': 'structure needs cleaning',
    'eunatch': 'protocol driver not attached',
    'eusers': 'too many users',
    'eversion': 'version mismatch',
    'ewouldblock': 'operation would block',
    'exdev': 'cross-domain link',
    'exfull': 'message tables full',
    'nxdomain': 'non-existing domain',
    'exbadport': 'inet_drv bad port state',
    'exbadseq': 'inet_drv bad request sequence',
}


# ---- TLS alerts: ssl_alert:reason_code/4 -------------------------------------------------

# RFC 8446 AlertDescription code -> (OTP's atom, ssl_alert:description_txt/1)
ALERTS = {
    0: ("close_notify", "Close Notify"), 10: ("unexpected_message", "Unexpected Message"),
    20: ("bad_record_mac", "Bad Record MAC"), 22: ("record_overflow", "Record Overflow"),
    30: ("decompression_failure", "Decompression Failure"),
    40: ("handshake_failure", "Handshake Failure"), 42: ("bad_certificate", "Bad Certificate"),
    43: ("unsupported_certificate", "Unsupported Certificate"),
    44: ("certificate_revoked", "Certificate Revoked"),
    45: ("certificate_expired", "Certificate Expired"),
    46: ("certificate_unknown", "Certificate Unknown"),
    47: ("illegal_parameter", "Illegal Parameter"), 48: ("unknown_ca", "Unknown CA"),
    49: ("access_denied", "Access Denied"), 50: ("decode_error", "Decode Error"),
    51: ("decrypt_error", "Decrypt Error"), 60: ("export_restriction", "Export Restriction"),
    70: ("protocol_version", "Protocol Version"),
    71: ("insufficient_security", "Insufficient Security"),
    80: ("internal_error", "Internal Error"), 86: ("inappropriate_fallback", "Inappropriate Fallback"),
    90: ("user_canceled", "User Canceled"), 100: ("no_renegotiation", "No Renegotiation"),
    109: ("missing_extension", "Missing extension"),
    110: ("unsupported_extension", "Unsupported Extension"),
    112: ("unrecognized_name", "Unrecognized Name"),
    115: ("unknown_psk_identity", "Unknown Psk Identity"),
    116: ("certificate_required", "Certificate required"),
    120: ("no_application_protocol", "No application protocol"),
}


def _tls_state(exc) -> str:
    """The ssl_gen_statem state OTP names in the text: where the handshake was."""
    if exc.handshake_done:
        return "connection"
    if exc.cert_failed:
        if exc.tls13 is False:
            return "certify"
        # tls_connection_1_3: a client waits for the server's Certificate or
        # CertificateRequest in wait_cert_cr; a server for the client's in wait_cert
        return "wait_cert_cr" if exc.role == "client" else "wait_cert"
    return "hello"


def _hook_reason_text(value) -> str:
    """A certificate failure reason in Erlang term syntax, as OTP's ~P prints it."""
    if isinstance(value, tuple):
        return "{" + ",".join(_hook_reason_text(v) for v in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_hook_reason_text(v) for v in value) + "]"
    return str(value)


def tls_alert_parts(exc) -> tuple[str, str]:
    """(alert atom name, text) of a ``bridge.tls`` ``TLSAlertError``, worded as
    ``ssl_alert:reason_code/4``: "TLS client: In state hello received SERVER ALERT:
    Fatal - Unknown CA\\n" for an alert received, "... at pyssl generated CLIENT ALERT:
    ..." for one sent (with the certificate reason after a handshake_failure)."""
    role, code = exc.role, exc.code
    state = _tls_state(exc)
    if not exc.sent:
        peer = "server" if role == "client" else "client"
        name, text = ALERTS.get(code, (f"unknown_alert_{code}", f"unsupported/unknown alert: {code}"))
        lvl = "Fatal - " if exc.level == 2 else "Warning - "
        return name, f"TLS {role}: In state {state} received {peer.upper()} ALERT: {lvl}{text}\n"
    name, text = ALERTS.get(code, ("internal_error", "Internal Error"))
    extra = ""
    if exc.cert_failed and code == 40:      # OTP prints the reason with handshake_failure
        reason = exc.reason
        known = isinstance(reason, str) and reason in VERIFY_REASONS.values()
        extra = " " + _hook_reason_text(("bad_cert", reason) if known else reason)
    elif code in (40, 71) and isinstance(exc.reason, str):
        extra = " " + exc.reason             # e.g. malformed_handshake_data, no_suitable_ciphers
    return name, (f"TLS {role}: In state {state} at pyssl generated "
                  f"{role.upper()} ALERT: Fatal - {text}\n{extra}")


def tls_alert(exc) -> tuple:
    """``{tls_alert, {Name, Text}}``, ssl's error reason for a failed TLS session."""
    name, text = tls_alert_parts(exc)
    return (Atom("tls_alert"), (Atom(name), list(text.encode())))


# ---- failures of a connect, handshake or upgrade -> ssl's reply ------------------------------

# what a TLS connect, handshake or upgrade that fails raises: failure_reply words each
HANDSHAKE_FAILURES = (transport.TLSAlertError, transport.TLSClosed, transport.ContextError,
                      asyncio.TimeoutError, TimeoutError, OSError)


def failure_reply(exc, what: str, *, connecting: bool = False):
    """``{error, Reason}`` as ssl returns it for the exception a TCP connect, a
    TLS handshake or an upgrade (``what``, for the log) raised: an alert is
    ``{tls_alert, ...}``; the peer gone, ``closed``; a configuration OpenSSL
    refused, ``{options, {pyssl_context, Text}}``; ``timeout``. An OS error is
    the posix reason while ``connecting`` (gen_tcp:connect's, e.g. econnrefused),
    else ``closed`` (the socket was there and went). Anything else (a bug, a
    cancelled request) is raised again. The one place these replies are made."""
    if isinstance(exc, transport.TLSAlertError):
        return (_ERROR, tls_alert(exc))
    if isinstance(exc, transport.TLSClosed):
        return (_ERROR, _CLOSED)
    if isinstance(exc, transport.ContextError):
        log.warning("%s: %s", what, exc)
        return (_ERROR, (_OPTIONS, (Atom("pyssl_context"), str(exc))))
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return (_ERROR, Atom("timeout"))
    if isinstance(exc, OSError):        # ConnectionError included
        return (_ERROR, posix_atom(exc) if connecting else _CLOSED)
    raise exc


_ERROR = Atom("error")
_CLOSED = Atom("closed")
