"""ssl:format_error/1 texts compared with OTP 25's own, reason by reason."""
from __future__ import annotations

import pytest

from bridge.service.errors import format_error, format_term, versions
from erleval import ErlEval, parse_w

REASONS = [
    "closed", "econnrefused", "eaddrinuse", "timeout", "einval", "enotconn", "enoent",
    "no_peercert", "nooptions", "esslaccept", "foo",
    "{tls_alert, {unknown_ca, \"TLS client: In state certify received SERVER ALERT: Fatal - Unknown CA\\n\"}}",
    "{options, {certfile, \"/x.pem\", {error, enoent}}}",
    "{options, {cacertfile, \"/ca.pem\", {error, eacces}}}",
    "{options, {keyfile, \"/k.pem\", {error, foo}}}",
    "{options, {dhfile, \"/d.pem\", decoding_failed}}",
    "{options, {verify, foo}}",
    "{options, {ciphers, \"FOO\"}}",
    "{options, {socket_options, [{foo, bar}]}}",
    "{options, {socket_options, [{foo, bar}], einval}}",
    "{options, incompatible, {verify, verify_none}, {fail_if_no_peer_cert, true}}",
    "{options, dependency, {secure_renegotiate, {versions, [tlsv1]}}}",
    "{error, closed}",
    "\"already a string\"",
    "{invalid_packet, <<\"abc\">>}",
    "<<1,2,3>>",
    "{foo, [1,2,3], 'Quoted Atom', -5}",
    "{options, {not_supported_by_pyssl, {verify_fun, x}}}",
    "system_limit",
]


@pytest.fixture(scope="module")
def erl():
    e = ErlEval()
    yield e
    e.close()


@pytest.mark.parametrize("reason_text", REASONS)
def test_format_error_matches_otp(erl, reason_text):
    otp_text = erl.eval(f"ssl:format_error({reason_text})")
    reason = parse_w(erl.eval(reason_text))
    assert format_term([ord(c) for c in format_error(reason)], pretty=False) == otp_text


def test_versions_shape_matches_otp_keys(erl):
    otp = parse_w(erl.eval("ssl:versions()"))
    ours = versions()
    assert [k for k, _ in ours] == [k for k, _ in otp]
    assert dict(ours)[otp[1][0]] == otp[1][1]        # supported: ['tlsv1.3','tlsv1.2']
