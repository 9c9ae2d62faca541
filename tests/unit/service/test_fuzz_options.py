"""Property tests of ssl option parsing (``bridge.service.options``): arbitrary
Erlang-term-shaped option lists, as ``bridge.etf`` decodes them, through every entry
point connect / listen / handshake / setopts / getopts use.

What is asserted:

* ``parse_connect_options``, ``parse_connect_options_shared``,
  ``parse_listen_options``, ``parse_upgrade_server_options``,
  ``parse_handshake_options``, ``parse_setopts``, ``parse_getopts`` return their
  result or raise ``SslOptionError`` (``term`` = what the OTP call returns) or
  ``ErlangException`` (``cls`` error/exit/throw) — nothing else.
* ``build_tls_config`` of a successful parse (no files to read) raises at most
  ``SslOptionError``.
* The same input gives the same answer every time, with the memo of connect parses
  cold or warm, and after parsing a twin of the input that Python equates with it but
  Erlang does not (``true``/``1``, ``1.0``/``1`` anywhere in the term): the memo never
  hands one the other's result. Compared type-exactly.
* Nothing is corrupted: the input terms and the listen socket's parse are unchanged,
  and changing the containers of a returned parse does not change later results.
"""
from __future__ import annotations

import copy

import pytest
from hypothesis import example, given, settings, strategies as st

from bridge.etf.types import Atom, ImproperList, Opaque, Pid, Reference
from bridge.service import options as O
from bridge.service.options import ErlangException, ParsedOptions, SslOptionError

pytestmark = pytest.mark.fuzz

A = Atom

# ---- vocabulary ------------------------------------------------------------------

_KEYS = sorted(set(O._RULES) | {"ssl_imp", "cb_info", "client_preferred_next_protocols",
                                 "log_alert"} | set(O.EMULATED_OPTIONS) | set(O.SOCKET_OPTIONS)
               | set(O.INET_OPTIONS) | {"foo", "binary", "list", "raw", "true", "undefined"})
_ATOMS = [
    "verify_none", "verify_peer", "undefined", "once", "binary", "list", "tlsv1.3", "tlsv1.2",
    "tlsv1.1", "tlsv1", "dtlsv1", "dtlsv1.2", "sslv3", "disabled", "stateful", "stateless",
    "manual", "auto", "enabled", "hello", "full", "infinity", "client", "server", "tls", "dtls",
    "save", "best_effort", "peer", "raw", "line", "http", "http_bin", "asn1", "10k", "100k",
    "one_n_minus_one", "zero_n", "gen_tcp", "tcp", "tcp_closed", "tcp_error", "rsa",
    "RSAPrivateKey", "ECPrivateKey", "notice", "none", "debug", "internal", "ssl_crl_cache",
    "port", "term", "inet", "inet6", "local", "foo", "algorithm", "headers", "x25519",
    "secp256r1", "sha256", "rsa_pss_rsae_sha256", "",
]
_NAMES = ["AES128-SHA", "ECDHE-RSA-AES128-GCM-SHA256", "TLS_AES_128_GCM_SHA256",
          "ECDHE-ECDSA-AES256-GCM-SHA384", "FOO", "", "h2", "localhost", "/tmp/x.pem",
          "DHE-RSA-AES256-SHA256:AES128-SHA", "http/1.1"]

_INTS = [-40000, -32769, -32768, -1, 0, 1, 2, 3, 4, 5, 10, 255, 256, 512, 1024, 4096, 32767,
         32768, 40000, 65535, 65536, 0x10FFFF, 0x110000, 8388607, 268435456, 1 << 32, 1 << 64]


def _fun(arity: int, export: bool) -> Opaque:
    if export:
        return Opaque(113, b"qd\x00\x01md\x00\x01fa" + bytes([arity]))
    return Opaque(112, bytes([112, 0, 0, 0, 40, arity]) + b"\x00" * 34)


_charlists = st.one_of(
    st.sampled_from(_NAMES).map(lambda s: [ord(c) for c in s]),
    st.lists(st.sampled_from([0, 32, 58, 65, 97, 255, 256, 0xD800, 0x10FFFF, 0x110000, -1]),
             min_size=1, max_size=4),
)
_scalars = st.one_of(
    st.sampled_from(_ATOMS).map(A), st.booleans(), st.sampled_from(_INTS),
    st.integers(-300, 300),
    st.sampled_from([0.0, 1.0, 2.5, -1.0, 40000.0]),
    st.sampled_from([b"", b"\x00", b"\x00\x2f", b"\x13\x01", b"h2", b"http/1.1", b"x" * 256,
                     b"/tmp/x.pem", b"\xff\xfe"]),
    st.binary(max_size=6),
    _charlists,
    st.builds(_fun, st.integers(0, 4), st.booleans()),
    st.just(Pid(A("x@h"), 1, 0, 3)), st.just(Reference(A("x@h"), 3, (1, 2, 3))),
)
_terms = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.tuples(st.lists(inner, min_size=1, max_size=3).map(tuple), inner).map(
            lambda t: ImproperList(t[0], t[1] if not isinstance(t[1], list) else b"")),
        st.dictionaries(st.sampled_from(["cipher", "key_exchange", "mac", "prf", "algorithm"]).map(A),
                        inner, max_size=3),
    ),
    max_leaves=10,
)


@st.composite
def _value_for(draw, key: str):
    """Mostly values of the right kind for the key, sometimes anything."""
    good = {
        "versions": st.lists(st.sampled_from(["tlsv1.3", "tlsv1.2", "tlsv1.1", "tlsv1",
                                              "dtlsv1", "sslv3"]).map(A), max_size=3),
        "ciphers": st.one_of(_charlists, st.lists(_charlists, max_size=2),
                             st.lists(st.sampled_from([b"\x00\x2f", b"\x13\x01", b"\xc0\x2f"]),
                                      max_size=2)),
        "alpn_advertised_protocols": st.lists(st.sampled_from([b"h2", b"", b"x" * 256]), max_size=2),
        "sni_hosts": st.lists(st.tuples(_charlists, st.lists(st.tuples(
            st.sampled_from(["certfile", "verify", "depth", "sni_hosts", "foo"]).map(A), _terms),
            max_size=2)), max_size=2),
        "verify_fun": st.one_of(st.builds(_fun, st.integers(0, 4), st.booleans()),
                                st.tuples(st.builds(_fun, st.integers(0, 4), st.booleans()), _terms)),
        "user_lookup_fun": st.tuples(st.builds(_fun, st.integers(0, 4), st.booleans()), _terms),
        "cb_info": st.tuples(*[st.sampled_from(["gen_tcp", "tcp", "tcp_closed", "tcp_error",
                                                "tcp_passive", "foo"]).map(A)] * 4),
        "linger": st.tuples(st.booleans(), st.sampled_from(_INTS)),
        "key": st.tuples(st.sampled_from(["rsa", "RSAPrivateKey", "foo"]).map(A), _terms),
        "client_preferred_next_protocols": st.tuples(st.sampled_from(["client", "server", "x"]).map(A),
                                                     st.lists(st.sampled_from([b"h2", b""]), max_size=2)),
    }.get(key)
    if good is not None and draw(st.booleans()):
        return draw(good)
    return draw(_terms)


@st.composite
def _option(draw):
    kind = draw(st.sampled_from(["kv"] * 6 + ["atom", "junk", "nested", "raw", "log_alert"]))
    if kind == "kv":
        key = draw(st.sampled_from(_KEYS))
        return (A(key) if key not in ("true",) else True, draw(_value_for(key)))
    if kind == "atom":
        return A(draw(st.sampled_from(["binary", "list", "inet", "inet6", "local", "foo", "verify"])))
    if kind == "nested":
        return draw(st.lists(st.tuples(st.sampled_from(["mode", "active", "verify"]).map(A),
                                       _terms), max_size=2))
    if kind == "raw":
        return (A("raw"), draw(_terms), draw(_terms), draw(_terms))
    if kind == "log_alert":
        return (A("log_alert"), draw(st.one_of(st.booleans(), _terms)))
    return draw(_terms)


_option_lists = st.one_of(st.lists(_option(), max_size=6), _terms)
_hosts = st.one_of(st.none(), _charlists, st.sampled_from([(127, 0, 0, 1), A("localhost"), b"h"]))


# ---- strict comparison -------------------------------------------------------------

def strict(t):
    """A type-exact form: Python's ``True == 1 == 1.0`` is not Erlang's."""
    if isinstance(t, ParsedOptions):
        return ("P", t.role, strict(t.socket.as_dict()), strict(t.inet), strict(t.ssl), strict(t.files),
                strict(t.given), strict(t.inet_list))
    if isinstance(t, dict):
        return ("D", tuple(sorted(((repr(strict(k)), strict(v)) for k, v in t.items()),
                                  key=lambda kv: kv[0])))
    if isinstance(t, (list, tuple)):
        return (type(t).__name__, tuple(strict(x) for x in t))
    if isinstance(t, ImproperList):
        return ("IL", strict(t.elements), strict(t.tail))
    if isinstance(t, (bool, int, float, str, bytes, bytearray)) or t is None:
        return (type(t).__name__, t)
    return ("obj", type(t).__name__, t if _hashable(t) else id(t))


def _hashable(t) -> bool:
    try:
        hash(t)
    except TypeError:
        return False
    return True


def outcome(fn, *args, **kw):
    try:
        r = fn(*args, **kw)
    except SslOptionError as exc:
        assert exc.term is not None
        return ("error", strict(exc.term))
    except ErlangException as exc:
        assert exc.cls in (A("error"), A("exit"), A("throw")), exc.cls
        return ("raise", strict(exc.cls), strict(exc.reason))
    return ("ok", strict(r), r)


def _same(a, b):
    assert a[:2] == b[:2]


def twin(t, flip):
    """The term with ``true``/``1``, ``false``/``0`` and ``1.0``/``1`` swapped where
    ``flip()`` says so: equal in Python, different in Erlang."""
    if t is True and flip():
        return 1
    if t is False and flip():
        return 0
    if type(t) is int and t in (0, 1) and flip():
        return bool(t)
    if type(t) is int and flip() and abs(t) < 1 << 50:
        return float(t)
    if type(t) is list:
        return [twin(x, flip) for x in t]
    if type(t) is tuple:
        return tuple(twin(x, flip) for x in t)
    if type(t) is ImproperList:
        return ImproperList(tuple(twin(x, flip) for x in t.elements), twin(t.tail, flip))
    return t


# ---- properties --------------------------------------------------------------------

# Regressions (each raised something other than SslOptionError/ErlangException, from
# the parse or from build_tls_config, before the fix that came with this file)
_CONNECT_EXAMPLES = [
    [(A("password"), [-1])],                                  # AttributeError
    [(A("password"), [0xD800])],                              # UnicodeEncodeError
    [(A("psk_identity"), [0xD800])],                          # UnicodeEncodeError
    [(A("cert"), [A("x")])],                                  # TypeError
    [(A("cert"), [1 << 62])],                                 # OverflowError (bytes(N))
    [(A("cacerts"), [1, b"x"])],                              # bytes(1): a NUL byte as a CA
    [(A("certfile"), [97, 0xD800, 98])],                      # UnicodeEncodeError
    [(A("cacertfile"), [0xD800])],
    [(A("raw"), A("foo")), (A("raw"), 1, 2, b"")],            # AttributeError
    [(A("server_name_indication"), [A("x")])],
    [(A("crl_cache"), (A("m"), (ImproperList((True,), b""), [])))],
    [(A("anti_replay"), (1, 2, 3))],
    [True, (A("active"), 1)],
]


@settings(deadline=None)
@given(opts=_option_lists, host=_hosts)
@example(opts=[(A("versions"), [])], host=None)
@example(opts=[A("binary"), (A("verify"), A("verify_none")), (A("ciphers"), "AES128-SHA")], host=None)
def test_connect_parse(opts, host):
    snapshot = copy.deepcopy(opts)
    O._parse_memo.clear()
    cold = outcome(O.parse_connect_options, opts, host=host)
    warm = outcome(O.parse_connect_options, opts, host=host)
    shared = outcome(O.parse_connect_options_shared, opts, host=host)
    _same(cold, warm)
    _same(cold, shared)
    assert strict(opts) == strict(snapshot), "the input was changed"
    if cold[0] == "ok":
        parsed = warm[2]
        assert parsed.role == "client"
        # a socket changes its copy on setopts: later parses must not see it
        parsed.socket.active = A("mutated")
        parsed.inet["mutated"] = True
        parsed.ssl["mutated"] = True
        parsed.files.append(("mutated", "x"))
        _same(outcome(O.parse_connect_options, opts, host=host), cold)
        build = outcome(O.build_tls_config, cold[2], "client", {})
        assert build[0] in ("ok", "error"), build


for _opts in _CONNECT_EXAMPLES:
    test_connect_parse = example(opts=_opts, host=None)(test_connect_parse)


@settings(deadline=None)
@given(opts=st.lists(_option(), max_size=6), host=_hosts, data=st.data())
@example(opts=[(A("crl_cache"), (A("m"), (ImproperList((1,), b""), [])))], host=None,
         data=None)
def test_memo_keeps_erlang_different_twins_apart(opts, host, data):
    """Parse a twin first (it fills the memo), then the original: the same answer as
    the original parsed with a cold memo."""
    if data is None:
        flip = iter([True] * 1000).__next__
    else:
        flip = lambda: data.draw(st.booleans(), label="flip")  # noqa: E731
    other = twin(opts, flip)
    O._parse_memo.clear()
    cold = outcome(O.parse_connect_options, opts, host=host)
    O._parse_memo.clear()
    outcome(O.parse_connect_options, other, host=host)
    outcome(O.parse_connect_options_shared, other, host=host)
    _same(outcome(O.parse_connect_options, opts, host=host), cold)
    _same(outcome(O.parse_connect_options_shared, opts, host=host), cold)


@settings(deadline=None)
@given(opts=_option_lists)
@example(opts=[])
@example(opts=[A("foo")])
@example(opts=[(A("password"), [A("verify_none")])])
@example(opts=[(A("keyfile"), [0xD800]), (A("dhfile"), [0xD800])])
@example(opts=[(A("raw"), A("foo")), (A("raw"), 1, 2, b"")])
@example(opts=[(A("certfile"), b"\xff")])                     # UnicodeEncodeError (enoent)
def test_listen_and_upgrade_parse(opts):
    snapshot = copy.deepcopy(opts)
    for fn in (O.parse_listen_options, O.parse_upgrade_server_options):
        first = outcome(fn, opts)
        _same(outcome(fn, opts), first)
        assert strict(opts) == strict(snapshot)
        if first[0] == "ok":
            assert first[2].role == "server"
            build = outcome(O.build_tls_config, first[2], "server", {})
            assert build[0] in ("ok", "error"), build


_LISTEN_BASES = [
    [A("binary")],
    [(A("active"), False), (A("versions"), [A("tlsv1.2")])],
    [(A("verify"), A("verify_peer")), (A("cacerts"), [b"x"]), (A("fail_if_no_peer_cert"), True)],
    [(A("versions"), [A("tlsv1.3")]), (A("session_tickets"), A("disabled"))],
]


@settings(deadline=None)
@given(opts=_option_lists, base=st.sampled_from(range(len(_LISTEN_BASES))))
def test_handshake_parse_leaves_the_listen_parse_alone(opts, base):
    listen = O.parse_listen_options(_LISTEN_BASES[base])
    before = strict(listen)
    first = outcome(O.parse_handshake_options, opts, listen)
    assert strict(listen) == before, "the listen socket's options were changed"
    _same(outcome(O.parse_handshake_options, opts, listen), first)
    if first[0] == "ok":
        p = first[2]
        assert p.role == "server"
        assert p.socket is not listen.socket and p.ssl is not listen.ssl
        build = outcome(O.build_tls_config, p, "server", {})
        assert build[0] in ("ok", "error"), build
        assert strict(listen) == before


@settings(deadline=None)
@given(opts=_option_lists, current=st.sampled_from([None, {"active": True}, {"active": 5}]))
@example(opts=[(A("active"), 40000)], current=None)
@example(opts=[A("foo")], current=None)
@example(opts=ImproperList((A("binary"),), A("x")), current=None)
def test_setopts_parse(opts, current):
    snapshot = copy.deepcopy(opts)
    first = outcome(O.parse_setopts, opts, current)
    assert first[0] in ("ok", "error"), first
    _same(outcome(O.parse_setopts, opts, current), first)
    assert strict(opts) == strict(snapshot)
    if first[0] == "ok":
        for name, _value in first[2]:
            assert type(name) is str


@settings(deadline=None)
@given(names=st.one_of(st.lists(st.one_of(st.sampled_from(_KEYS).map(A), _terms), max_size=5),
                       _terms))
def test_getopts_parse(names):
    first = outcome(O.parse_getopts, names)
    assert first[0] in ("ok", "error"), first
    _same(outcome(O.parse_getopts, names), first)
    if first[0] == "ok":
        assert all(type(n) is str for n in first[2])


# ---- the fixed cases give what OTP 25 gives (observed on a real node) -------------

def test_fixed_cases_answer_as_otp():
    # ssl:connect(H, P, [{certfile, [$a, 16#D800, $b]}]): the path does not convert
    # (unicode:characters_to_binary answers {error, <<"a">>, [55296, $b]}) and the
    # keyfile, which defaults to the certfile, is refused with it
    with pytest.raises(SslOptionError) as ei:
        O.parse_connect_options([(A("certfile"), [97, 0xD800, 98])])
    assert strict(ei.value.term) == strict(
        (A("error"), (A("options"), (A("keyfile"), (A("error"), b"a", [0xD800, 98])))))
    # {raw, foo} is no gen_tcp option: connect refuses the socket options, listen exits
    with pytest.raises(SslOptionError) as ei:
        O.parse_connect_options([(A("raw"), A("foo"))])
    assert ei.value.term[1][1][0] is A("socket_options")
    assert ei.value.term[1][1][1][0] == (A("raw"), A("foo"))
    with pytest.raises(ErlangException) as ei:
        O.parse_listen_options([(A("raw"), 1, 2, b""), (A("raw"), A("foo"))])
    assert (ei.value.cls, ei.value.reason) == (A("exit"), A("badarg"))
    # a binary file name that is not UTF-8 is reported with its bytes
    p = O.parse_listen_options([(A("certfile"), b"\xff/c.pem")])
    with pytest.raises(SslOptionError) as ei:
        O.build_tls_config(p, "server", {})
    assert strict(ei.value.term) == strict((A("error"), (A("options"), (
        A("certfile"), list(b"\xff/c.pem"), (A("error"), A("enoent"))))))
    # OTP skips CA certificates it cannot decode
    p = O.parse_connect_options([(A("cacerts"), [A("foo"), 5, b"der"])])
    assert O.build_tls_config(p, "client", {}).cacerts == [b"der"]
