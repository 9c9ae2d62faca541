"""The memo of connect option parses and of parsed certificate files: a repeated
parse gives the same result as the first, each caller its own copy, and terms
Python equates but Erlang does not (true/1, 1.0/1) are told apart."""
from __future__ import annotations

import pytest

from bridge.etf.types import Atom as A
from bridge.service import options
from bridge.service.options import SslOptionError, build_tls_config, parse_connect_options

from test_options_build import _cert, s


def _fresh(opts, host=None):
    options._parse_memo.clear()
    return parse_connect_options(opts, host=host)


def test_repeated_parse_equals_first_and_is_a_copy():
    opts = [A("binary"), (A("active"), False), (A("verify"), A("verify_none")), (A("nodelay"), True)]
    first = _fresh(opts, host=s("localhost"))
    again = parse_connect_options(opts, host=s("localhost"))
    assert again == first
    assert again is not first and again.socket is not first.socket and again.inet is not first.inet
    again.socket.active = True           # what setopts does to a socket's copy
    again.inet["nodelay"] = False
    third = parse_connect_options(opts, host=s("localhost"))
    assert third.socket.active is False and third.inet["nodelay"] is True


@pytest.mark.parametrize("a, b", [
    ((A("active"), True), (A("active"), 1)),
    ((A("packet"), 1), (A("packet"), 1.0)),
    ((A("server_name_indication"), s("ab")), (A("server_name_indication"), A("disable"))),
])
def test_terms_python_equates_are_kept_apart(a, b):
    def result(o):
        try:
            p = parse_connect_options([A("binary"), o, (A("verify"), A("verify_none"))])
            return ("ok", p.socket, p.ssl)
        except SslOptionError as exc:
            return ("error", exc.term)
        except options.ErlangException as exc:
            return ("raise", exc.cls, exc.reason)

    options._parse_memo.clear()
    ra_cold = result(a)
    options._parse_memo.clear()
    rb_cold = result(b)
    # warm memo holding `a`: `b` must still give its own (cold) result, and vice versa
    options._parse_memo.clear()
    result(a)
    assert result(b) == rb_cold
    options._parse_memo.clear()
    result(b)
    assert result(a) == ra_cold


def test_errors_are_not_memoized_and_stay_errors():
    bad = [(A("verify"), A("foo"))]
    for _ in range(2):
        with pytest.raises(SslOptionError) as e:
            parse_connect_options(bad)
        assert e.value.term == (A("error"), (A("options"), (A("verify"), A("foo"))))


def test_unhashable_option_terms_are_parsed_without_memo():
    opts = [(A("verify"), A("verify_none")), (A("alpn_advertised_protocols"), [b"h2"]), {1: 2}]
    options._parse_memo.clear()
    with pytest.raises((SslOptionError, options.ErlangException)) as first:
        parse_connect_options(opts)
    with pytest.raises(type(first.value)) as second:
        parse_connect_options(opts)
    assert getattr(first.value, "term", None) == getattr(second.value, "term", None)
    assert options._memo_key("connect", opts, None, None) is None
    assert options._memo_key("connect", opts[:2], None, None) is not None


def test_certificate_file_memo_same_result_and_bad_file_fails_each_time():
    cert_pem, _key, cert_der = _cert()
    p = parse_connect_options([(A("verify"), A("verify_peer")), (A("cacertfile"), s("/ca.pem"))])
    c1 = build_tls_config(p, "client", {"/ca.pem": cert_pem})
    c2 = build_tls_config(p, "client", {"/ca.pem": cert_pem})
    assert c1.cacerts == c2.cacerts == [cert_der]
    c2.cacerts.append(b"x")                # a caller's list is its own
    assert build_tls_config(p, "client", {"/ca.pem": cert_pem}).cacerts == [cert_der]
    junk = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    for _ in range(2):
        with pytest.raises(SslOptionError) as e:
            build_tls_config(p, "client", {"/ca.pem": junk})
        assert e.value.term[1][1][0] == A("cacertfile")


def test_a_common_option_list_is_keyed_by_its_external_form():
    from bridge.etf.codec import FAST_ENCODE, term_to_binary
    opts = [A("binary"), (A("active"), False), (A("verify"), A("verify_none")), (A("packet"), 4)]
    key = options._memo_key("connect", opts, s("localhost"), None)
    if FAST_ENCODE is None:
        pytest.skip("the C codec is not built")
    assert key[1] == term_to_binary(opts)[1:]      # one C call, no walk of the list
    assert options._memo_key("connect", list(opts), s("localhost"), None) == key
    # what C does not write (a float) is keyed as before, apart from the C keys
    with_float = opts[:3] + [(A("packet"), 4.0)]
    other = options._memo_key("connect", with_float, s("localhost"), None)
    assert other is not None and other != key and isinstance(other[1], tuple)


@pytest.mark.parametrize("term, limit, expected", [
    ([1] * 10, 1 << 16, False),
    ([(A("a"), i) for i in range(5000)], 1 << 16, False),   # past C's 4,096: walked
    ([[0] * 40000, [0] * 40000], 1 << 16, True),
    ([1] * 10, 5, True),                                     # a small limit: walked
    ("x" * (1 << 21), 1 << 16, True),                        # a charlist as str
])
def test_heavy_answers_the_same_with_the_c_shortcut(term, limit, expected):
    from bridge.service.terms import heavy
    assert heavy(term, limit) is expected
