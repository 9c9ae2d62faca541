"""prf/5's argument handling (tls_dtls_connection:handle_call/4's order and errors),
the session's max_fragment_length field, and the option sources of a socket, with a
stand-in engine: no network. The bytes themselves are checked against OTP's
tls_v1:prf/5 and an ssl peer in tests/integration/test_conn_info_prf.py."""
from bridge.etf import Atom, ImproperList
from bridge.service import info, prf
from bridge.service.options.parse import _parse
from bridge.tls import sessions

A = Atom
OK, ERROR = A("ok"), A("error")


class Eng:
    version = "tlsv1.2"

    def cipher_name(self):
        return "ECDHE-RSA-AES128-GCM-SHA256"

    def master_secret(self):
        return b"m" * 48

    def client_random(self):
        return b"c" * 32

    def server_random(self):
        return b"s" * 32


def call(secret, label, seed, length, eng=None):
    return info.prf(eng or Eng(), secret, label, seed, length)


def test_prf_forms():
    got = call(A("master_secret"), b"l", [A("client_random"), b"x", A("server_random")], 20)
    assert got == (OK, prf.tls_prf("tlsv1.2", "sha256", b"m" * 48, b"l" + b"c" * 32 + b"x" + b"s" * 32, 20))
    assert call(b"k", [b"a", [98]], [], 5) == (OK, prf.tls_prf("tlsv1.2", "sha256", b"k", b"ab", 5))


def test_prf_errors_in_ssl_order():
    assert call(A("nope"), 7, A("x"), A("y")) == (ERROR, (A("case_clause"), A("nope")))
    assert call(b"", b"l", [b"x", 3], 4) == (ERROR, A("function_clause"))
    assert call(b"", b"l", A("x"), 4) == (ERROR, (A("case_clause"), A("x")))
    assert call(b"", b"l", ImproperList((b"a",), A("t")), 4) == (ERROR, (A("case_clause"), A("t")))
    assert call(b"", A("label"), [], 4) == (ERROR, A("badarg"))
    assert call(b"", b"l", [], A("n")) == (ERROR, A("badarith"))
    assert call(b"", b"l", [], True) == (ERROR, A("badarith"))
    assert call(b"", b"l", [], 0) == (OK, [])
    assert call(b"", b"l", [], -1.5) == (OK, [])
    assert call(b"", b"l", [], 2.5) == (ERROR, A("badarg"))
    assert call(b"", b"l", [], (1 << 20) + 1) == (ERROR, A("badarg"))


def test_prf_tls1_split_secret():
    class Eng10(Eng):
        version = "tlsv1"
    out = call(b"abcde", b"l", [], 12, Eng10())[1]
    assert out == prf.tls_prf("tlsv1", "default_prf", b"abcde", b"l", 12) and len(out) == 12
    assert call(b"", b"l", [], 0, Eng10()) == (OK, b"")


def _session(*extra: bytes) -> bytes:
    body = b"\x02\x01\x01" + b"\x02\x02\x03\x03" + b"".join(extra)
    return b"\x30" + bytes([len(body)]) + body


def test_max_fragment_len_mode():
    assert sessions.max_fragment_len_mode(_session(b"\xb1\x03\x02\x01\x02")) == 2
    assert sessions.max_fragment_len_mode(_session(b"\xa4\x02\x04\x00")) is None
    assert sessions.max_fragment_len_mode(_session(b"\xb1\x03\x02\x01\x09")) is None
    assert sessions.max_fragment_len_mode(b"") is None
    assert sessions.max_fragment_len_mode(b"\x30\x05\x02") is None       # truncated


def test_option_sources_kept_as_given():
    opts = [(A("verify"), A("verify_none")), A("binary")]
    p = _parse(opts, "client", [108])
    assert p.sources == (("client", opts, [108]),)
