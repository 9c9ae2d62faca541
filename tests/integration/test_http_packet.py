"""decode_http against the real ``erlang:decode_packet/3`` of the installed OTP.

* A corpus (hand-written lines plus seeded random request/response/header lines,
  random bytes, truncations, many ``packet_size`` values) goes to one ``erl`` in one
  file: each case is decoded once (``{ok, T, Rest}`` / ``{more, _}`` / ``{error, _}``)
  and also run the way ssl runs it — ``decode_packet`` on the rest until more/error,
  switching ``http`` -> ``{http, headers}`` -> ``http`` as ``ssl_gen_statem`` does.
  The Python side must give the same terms, consumed bytes and final state.
* Hypothesis draws further inputs and checks them against a live node.
* The real ssl with ``{packet, http_bin}`` and ``{packet, http}`` delivers what our
  ssl-loop emulation predicts (state switch included), and an over-long line gives
  ``{ssl_error, S, {invalid_packet, Buffer}}``.
"""
from __future__ import annotations

import base64
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import erlbatch
from bridge.etf import term_to_binary
from bridge.etf.types import Atom
from bridge.service.http_packet import (
    HEADER_NAMES, PacketError, decode_http, decode_type, ssl_state_after,
)
from conftest import unique
from erlnode import ErlNode

TYPES = ["http", "httph", "http_bin", "httph_bin"]
SIZES = [0, 0, 0, 1, 2, 3, 5, 8, 10, 16, 17, 24, 40, 100, 1000]

ERL_FUNS = r"""
Dec = fun({http, headers}) -> httph; ({http_bin, headers}) -> httph_bin; (T) -> T end,
Next = fun(T, {P, _, _, _}) when (P =:= http_request) or (P =:= http_response),
                                 (T =:= http) or (T =:= http_bin) -> {T, headers};
          ({T1, headers}, http_eoh) -> T1;
          (T, _) -> T
       end,
Loop = fun L(T, B, O, Acc) ->
           case catch erlang:decode_packet(Dec(T), B, O) of
               {ok, P, R} -> L(Next(T, P), R, O, [P | Acc]);
               {more, _} -> {lists:reverse(Acc), more, B};
               {error, E} -> {lists:reverse(Acc), {error, E}, B};
               {'EXIT', {badarg, _}} -> {lists:reverse(Acc), badarg, B}
           end
       end,
One = fun(T, B, O) -> case catch erlang:decode_packet(T, B, O) of
                          {'EXIT', {badarg, _}} -> badarg;
                          Other -> Other
                      end end,
Run = fun(Cases) -> [{One(T, B, O), Loop(T, B, O, [])} || {T, B, O} <- Cases] end,
"""

ERL_FILE = ERL_FUNS + r"""
{ok, In} = file:read_file(InFile),
ok = file:write_file(OutFile, term_to_binary(Run(binary_to_term(In)))),
halt().
"""

# ---- corpus -----------------------------------------------------------------

METHODS = [b"GET", b"get", b"POST", b"PUT", b"DELETE", b"TRACE", b"OPTIONS", b"HEAD", b"FOO",
           b"M-SEARCH", b"G\x7fT", b"", b"GET(", b"Get", b"CONNECT", b"\xc3\xa9", b"GE:T"]
SEPS = [b" ", b"\t", b"  ", b"", b" \t "]
URIS = [b"/", b"*", b"**", b"x", b"", b"/a/b?c=d#e", b"http://h/p", b"HTTP://H:80", b"hTtPs://h:443/a?b",
        b"http://h:0/", b"http://h:8x/", b"http://h:/", b"http://[::1]:80/", b"http://h:65536",
        b"http://h:2147483648/", b"http://h:4294967297/x", b"http://", b"https://", b"http:/",
        b"mailto:x", b"urn:a:b", b"foo", b"\xff\xfe", b"/\r", b":", b"https:/x", b"http://a:b:c/d"]
VERSIONS = [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.", b"HTTP/.1", b"HTTP/11.22x", b"http/1.1", b"HTTP/1",
            b"", b"HTTP/2147483648.4294967297", b"HTTP/1.1 ", b"HTTP/0.9", b"HTTPS/1.1", b"HTTP/1x1",
            b"HTTP/99999999999.1", b"HTTP/12345"]
ENDS = [b"\r\n", b"\n", b"\r\n", b"\n", b"\r", b"", b"\r\r\n", b"\n\r\n", b"\r\n\r\n"]
STATUSES = [b"200", b"404", b"", b"0", b"99999999999", b"2x", b"-1", b"\xff"]
PHRASES = [b"OK", b"Not Found", b"", b" spaced ", b"\tx", b"\x00\x01", b"caf\xe9"]
HEADER_VALUES = [b"x", b"", b" ", b"a, b; c=d", b"\t v \t", b"\xff\x00", b"1" * 60,
                 b"a\r\n b", b"a\n\tb", b"a\r\n\r\n b"]


def _case_name(rng: random.Random, name: str) -> bytes:
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in name).encode()


def _header_name(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.45:
        return _case_name(rng, rng.choice(HEADER_NAMES))
    if r < 0.55:
        return rng.choice(HEADER_NAMES).encode()
    return rng.choice([
        b"x-foo-BAR", b"X-Custom", b"-foo", b"a--b", b"content_type", b"Content-Length2",
        b"", b"a b", b"a@b", b"a\x7fb", b"n\xe9", b"a" * 49, b"B" * 50, b"cC" * 26, b"Z" * 51,
        b"content-md5", b"www-authenticate", b"ETAG", b"set-cookie2", b"x-forwarded-for",
        b"Host ", b"(x)", b"a/b", b"1", b"Proxy-Connection",
    ])


def _start_line(rng: random.Random) -> bytes:
    if rng.random() < 0.35:
        return (b"HTTP/" + rng.choice([b"1.1", b"1.0", b"2.0", b"1", b"1.", b".1", b"10.20x",
                                        b"4294967297.3", b""])
                + rng.choice(SEPS) + rng.choice(STATUSES) + rng.choice(SEPS) + rng.choice(PHRASES)
                + rng.choice(ENDS))
    return (rng.choice(METHODS) + rng.choice(SEPS) + rng.choice(URIS) + rng.choice(SEPS)
            + rng.choice(VERSIONS) + rng.choice(ENDS))


def _header_line(rng: random.Random) -> bytes:
    r = rng.random()
    if r < 0.1:
        return rng.choice([b"\r\n", b"\n", b" \r\n", b"\t\n", b"no colon\r\n", b":\r\n"])
    return (_header_name(rng) + rng.choice([b":", b": ", b":\t ", b" :", b"::"])
            + rng.choice(HEADER_VALUES) + rng.choice(ENDS))


def _message(rng: random.Random) -> bytes:
    parts = []
    for _ in range(rng.randrange(1, 3)):
        parts.append(_start_line(rng))
        for _ in range(rng.randrange(0, 5)):
            parts.append(_header_line(rng))
        if rng.random() < 0.8:
            parts.append(rng.choice([b"\r\n", b"\n"]))
    if rng.random() < 0.15:
        parts.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12))))
    data = b"".join(parts)
    if rng.random() < 0.3:
        data = data[:rng.randrange(len(data) + 1)]
    return data


def _fixed_cases():
    lines = [
        b"", b"\n", b"\r\n", b"\r", b"x", b"\r\n\r\n", b"\n\n", b"\r\nX", b"\n \r\n",
        b"GET / HTTP/1.1\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /\r\n", b"GET\r\n",
        b"GET  mailto:x  \r\n", b"FOO * HTTP/1.0\n", b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 200\r\n",
        b"HTTP/1.1\r\n", b"HTTP/1.1 \r\n", b"HTTP/1.1 abc\r\n", b"HTTP/1.1 200abc\r\n",
        b"HTTP/\r\n", b"HTTP\r\n", b"host: x\r\n", b"host: x\r\n\r\n", b"host: x", b"a: b\r\n c\r\nd",
        b"a: b\n\tc\n\n", b"\n c\r\n", b"\r\n c\r\n", b"a b: c\r\nX", b"a:\r\n\r\n", b":x\r\n\r\n",
        b"x" * 51 + b": y\r\n\r\n", b"x" * 50 + b": y\r\n\r\n", b"Content-Length: 5\r\n\r\nhello",
        b"GET http://h:2147483648/ HTTP/1.1\r\n", b"GET http://h:4294967296/ HTTP/1.1\r\n",
        b"HTTP/99999999999.4294967297 4294967298 OK\r\n", b"GET / HTTP/1" + b"9" * 5000 + b".1\r\n",
        b"G\x7fT / HTTP/1.1\r\n", b"a\x7fb: c\r\n\r\n", b"GET / HTTP/1.1\r", b"GET / HTTP/1.1",
    ]
    cases = []
    for t in TYPES:
        for data in lines:
            for size in (0, 1, 2, 3, 9, 10, 11, 16, 17, 18):
                cases.append((t, data, [(Atom("packet_size"), size)]))
    # line_length only counts when packet_size is 0 (ssl never passes it)
    for t in TYPES:
        for data in (b"GET / HTTP/1.1\r\n", b"host: x\r\n\r\n", b"GET / HTTP", b"abcdefgh"):
            for ll in (0, 3, 8, 16, 100):
                cases.append((t, data, [(Atom("line_length"), ll)]))
                cases.append((t, data, [(Atom("packet_size"), 5), (Atom("line_length"), ll)]))
    return cases


def _random_cases(seed=8080, n=2400):
    rng = random.Random(seed)
    cases = []
    for k in range(n):
        t = TYPES[k % 4]
        if rng.random() < 0.08:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
        elif t.startswith("httph") and rng.random() < 0.6:
            data = b"".join(_header_line(rng) for _ in range(rng.randrange(1, 6)))
            if rng.random() < 0.7:
                data += rng.choice([b"\r\n", b"\n", b"\r\nrest"])
        else:
            data = _message(rng)
        cases.append((t, data, [(Atom("packet_size"), rng.choice(SIZES))]))
    return cases


CASES = _fixed_cases() + _random_cases()


@pytest.fixture(scope="module")
def erlang_results():
    results = erlbatch.run([(Atom(t), b, o) for t, b, o in CASES], ERL_FILE)
    assert len(results) == len(CASES)
    return results


# ---- the Python side, shaped like Erlang's answers ---------------------------

def _opts(opts):
    kw = {}
    for key, value in opts:
        kw[key.name] = value
    return kw


def py_one(t, data: bytes, opts, offset: int = 0):
    kw = _opts(opts)
    try:
        r = decode_http(t, data, offset, kw.get("packet_size", 0), line_length=kw.get("line_length", 0))
    except PacketError:
        return (Atom("error"), Atom("invalid"))
    if r is None:
        return (Atom("more"), Atom("undefined"))
    term, used = r
    return (Atom("ok"), term, data[offset + used:])


def py_ssl_loop(t, data: bytes, opts):
    """Decode as ssl does, by offset into one buffer (the emulation the bridge will use)."""
    kw = _opts(opts)
    state, pos, out = t, 0, []
    while True:
        try:
            r = decode_http(decode_type(state), data, pos, kw.get("packet_size", 0),
                            line_length=kw.get("line_length", 0))
        except PacketError:
            return out, (Atom("error"), Atom("invalid")), data[pos:]
        if r is None:
            return out, Atom("more"), data[pos:]
        term, used = r
        assert used > 0
        out.append(term)
        pos += used
        state = ssl_state_after(state, term)


def _norm_loop(res):
    terms, final, rest = res
    return list(terms), final, bytes(rest)


# ---- corpus tests -------------------------------------------------------------

def test_corpus_is_broad(erlang_results):
    kinds = {}
    for (one, _loop) in erlang_results:
        tag = one[0].name if isinstance(one, tuple) else repr(one)
        if tag == "ok":
            term = one[1]
            tag = term.name if isinstance(term, Atom) else term[0].name
        kinds[tag] = kinds.get(tag, 0) + 1
    # every outcome is exercised, each many times
    for tag in ("http_request", "http_response", "http_header", "http_eoh", "http_error",
                "more", "error"):
        assert kinds.get(tag, 0) >= 40, kinds
    assert len(CASES) > 4000


def test_single_decode_matches_erlang(erlang_results):
    for (t, data, opts), (one, _loop) in zip(CASES, erlang_results):
        assert py_one(t, data, opts) == one, (t, data, opts)


def test_single_decode_at_offset_matches_erlang(erlang_results):
    # The same answers when the packet starts inside a larger buffer.
    for (t, data, opts), (one, _loop) in zip(CASES[::3], erlang_results[::3]):
        got = py_one(t, b"JUNK\r\n\n" + data, opts, offset=7)
        assert got == one, (t, data, opts)


def test_ssl_loop_matches_erlang(erlang_results):
    for (t, data, opts), (_one, loop) in zip(CASES, erlang_results):
        exp = _norm_loop(loop)
        assert py_ssl_loop(t, data, opts) == exp, (t, data, opts)


def test_bytearray_and_memoryview_inputs(erlang_results):
    for (t, data, opts), (one, _loop) in list(zip(CASES, erlang_results))[:300]:
        assert py_one(t, bytearray(data), opts)[:2] == one[:2]
        assert py_one(t, memoryview(data), opts)[:2] == one[:2]


# ---- hypothesis against a live node ---------------------------------------------

@pytest.fixture(scope="module")
def node(cookie):
    n = ErlNode(unique("httpp"), cookie)
    n.eval(ERL_FUNS + "ok.")
    yield n
    n.stop()


_token = st.sampled_from([
    b"GET", b"get", b"HTTP/", b"HTTP/1.1", b"1.0", b" ", b"\t", b"\r\n", b"\n", b"\r", b":", b": ",
    b"/", b"*", b"http://", b"https://", b"host", b"Content-Length", b"x-y", b"200", b"OK",
    b"[::1]", b"8080", b"?", b"\x00", b"\xff", b"\x7f", b"a" * 50, b"-",
])
_chunk = st.one_of(_token, st.binary(max_size=6))
_data = st.lists(_chunk, max_size=14).map(b"".join)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(st.tuples(st.sampled_from(TYPES), _data,
                                st.sampled_from([0, 0, 1, 4, 7, 12, 20, 64])),
                      min_size=1, max_size=8))
def test_hypothesis_against_live_node(node, batch):
    cases = [(Atom(t), d, [(Atom("packet_size"), s)]) for t, d, s in batch]
    enc = base64.b64encode(term_to_binary(cases)).decode()
    res = node.eval(f'Run(binary_to_term(base64:decode("{enc}"))).')
    for (t, d, s), (one, loop) in zip(batch, res):
        opts = [(Atom("packet_size"), s)]
        assert py_one(t, d, opts) == one, (t, d, s)
        assert py_ssl_loop(t, d, opts) == _norm_loop(loop), (t, d, s)


# ---- contract and error paths -------------------------------------------------

def test_empty_buffer_needs_more():
    for t in TYPES:
        assert decode_http(t, b"") is None
        assert decode_http(t, b"abc", 3) is None


def test_atom_type_accepted():
    assert decode_http(Atom("httph"), b"\r\n") == (Atom("http_eoh"), 2)


@pytest.mark.parametrize("bad", ["line", "raw", 0, Atom("http_x"), None, ("http", "headers")])
def test_unknown_type_is_valueerror(bad):
    with pytest.raises(ValueError):
        decode_http(bad, b"GET / HTTP/1.1\r\n")


@pytest.mark.parametrize("size", [-1, 2 ** 32, 1.5, True, "10"])
def test_bad_packet_size_is_valueerror(size):
    with pytest.raises(ValueError):
        decode_http("http", b"GET / HTTP/1.1\r\n", 0, size)
    with pytest.raises(ValueError):
        decode_http("http", b"GET / HTTP/1.1\r\n", 0, 0, line_length=size)


@pytest.mark.parametrize("bad", ["GET / HTTP/1.1\r\n", None, 42, [71, 69, 84]])
def test_non_bytes_data_is_typeerror(bad):
    with pytest.raises(TypeError):
        decode_http("http", bad)


def test_bad_offset_is_valueerror():
    with pytest.raises(ValueError):
        decode_http("http", b"abc", 4)
    with pytest.raises(ValueError):
        decode_http("http", b"abc", -1)


def test_packet_error_on_long_line():
    with pytest.raises(PacketError):
        decode_http("http", b"GET / HTTP/1.1\r\n", 0, 15)
    with pytest.raises(PacketError):
        decode_http("httph_bin", b"Host: abcdef", 0, 12)
    assert decode_http("httph_bin", b"Host: abcdef", 0, 13) is None


def test_decode_type_and_state_switch():
    req = (Atom("http_request"), Atom("GET"), (Atom("abs_path"), b"/"), (1, 1))
    resp = (Atom("http_response"), (1, 1), 200, b"OK")
    hdr = (Atom("http_header"), 14, Atom("Host"), b"host", b"x")
    err = (Atom("http_error"), b"bad\r\n")
    eoh = Atom("http_eoh")
    assert decode_type("http") == "http"
    assert decode_type(Atom("httph_bin")) == "httph_bin"
    assert decode_type(("http", "headers")) == "httph"
    assert decode_type((Atom("http_bin"), Atom("headers"))) == "httph_bin"
    for bad in (("httph", "headers"), ("http", "x"), ("http",), "line"):
        with pytest.raises(ValueError):
            decode_type(bad)
    assert ssl_state_after("http", req) == ("http", "headers")
    assert ssl_state_after("http_bin", resp) == ("http_bin", "headers")
    assert ssl_state_after("http", err) == "http"
    assert ssl_state_after("http", eoh) == "http"
    assert ssl_state_after(("http", "headers"), hdr) == ("http", "headers")
    assert ssl_state_after(("http", "headers"), err) == ("http", "headers")
    assert ssl_state_after(("http", "headers"), eoh) == "http"
    assert ssl_state_after("httph", req) == "httph"
    assert ssl_state_after("httph_bin", eoh) == "httph_bin"


# ---- the real ssl: what it delivers for the HTTP packet types ------------------

SSL_RUN = r"""
(fun() ->
    {ok, _} = application:ensure_all_started(ssl),
    Ko = [{digest, sha256}, {key, {namedCurve, secp256r1}}],
    Chain = #{root => Ko, intermediates => [], peer => Ko},
    #{server_config := SC, client_config := CC} =
        public_key:pkix_test_data(#{server_chain => Chain, client_chain => Chain}),
    Data = base64:decode("%s"),
    Opts = binary_to_term(base64:decode("%s")),
    {ok, L} = ssl:listen(0, [{ip, {127,0,0,1}}, {reuseaddr, true} | Opts ++ SC]),
    {ok, {_, Port}} = ssl:sockname(L),
    spawn(fun() ->
              {ok, C} = ssl:connect({127,0,0,1}, Port, [{verify, verify_none}, {active, false} | CC]),
              ok = ssl:send(C, Data),
              ok = ssl:close(C)
          end),
    {ok, T} = ssl:transport_accept(L),
    {ok, S} = ssl:handshake(T),
    Col = fun F(Acc) ->
              receive
                  {ssl, S, M} -> F([M | Acc]);
                  {ssl_error, S, E} -> {lists:reverse(Acc), {ssl_error, E}};
                  {ssl_closed, S} -> {lists:reverse(Acc), closed}
              end
          end,
    R = Col([]),
    ssl:close(L),
    R
end)().
"""

SSL_DATA = (b"GET / HTTP/1.1\r\nHost: x\r\nfoo: bar\r\n baz\r\n\r\n"
            b"HTTP/1.0 200 OK\nbad line\r\n\r\n"
            b"POST http://h:81/x?y HTTP/1.1\r\ncontent-length: 3\r\nX-Long-Header-Name: 1\r\n\r\nabc")


def _ssl_run(node, data: bytes, opts):
    enc = base64.b64encode(data).decode()
    eopts = base64.b64encode(term_to_binary(opts)).decode()
    return node.eval(SSL_RUN % (enc, eopts), timeout=60)


@pytest.mark.parametrize("ptype,mode", [("http_bin", "binary"), ("http", "list"),
                                        ("httph_bin", "binary"), ("httph", "list")])
def test_real_ssl_delivers_what_the_emulation_predicts(node, ptype, mode):
    opts = [(Atom("mode"), Atom(mode)), (Atom("packet"), Atom(ptype)), (Atom("active"), True)]
    terms, end = _ssl_run(node, SSL_DATA, opts)
    exp_terms, final, rest = py_ssl_loop(ptype, SSL_DATA, [])
    assert final == Atom("more") and rest == b"abc"      # the body waits: it has no line end
    assert terms == exp_terms
    assert end == Atom("closed")
    kinds = [t.name if isinstance(t, Atom) else t[0].name for t in terms]
    if ptype in ("http", "http_bin"):   # ssl switched to headers after each start line
        assert kinds.count("http_request") == 2 and kinds.count("http_response") == 1
    else:                               # httph never switches: start lines are errors
        assert "http_request" not in kinds and kinds.count("http_error") == 4


def test_real_ssl_reports_an_overlong_line_as_invalid_packet(node):
    size = 20
    opts = [(Atom("mode"), Atom("list")), (Atom("packet"), Atom("http")), (Atom("active"), True),
            (Atom("packet_size"), size)]
    terms, end = _ssl_run(node, SSL_DATA, opts)
    exp_terms, final, rest = py_ssl_loop("http", SSL_DATA, [(Atom("packet_size"), size)])
    assert final == (Atom("error"), Atom("invalid"))
    assert terms == exp_terms and len(terms) >= 4
    # {ssl_error, S, {invalid_packet, Buffer}}: the whole buffer, in the socket's mode
    assert end == (Atom("ssl_error"), (Atom("invalid_packet"), list(rest)))
