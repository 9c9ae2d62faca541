"""service.errors.failure_reply: the one translation of a failed connect, handshake
or upgrade into ssl's reply, for each kind of failure."""
from __future__ import annotations

import asyncio
import errno

import pytest

from bridge.etf.types import Atom
from bridge.service.errors import failure_reply, tls_alert_parts
from bridge.tls import transport

A = Atom


def test_alert_is_a_tls_alert_reply():
    exc = transport.TLSAlertError(48, sent=True, role="client", cert_failed=True, tls13=True,
                                  reason="unknown_ca")
    reply = failure_reply(exc, "connect", connecting=True)
    name, text = tls_alert_parts(exc)
    assert (name, text) == ("unknown_ca", "TLS client: In state wait_cert_cr at pyssl generated "
                                          "CLIENT ALERT: Fatal - Unknown CA\n")
    assert reply == (A("error"), (A("tls_alert"), (A("unknown_ca"), list(text.encode()))))


def test_alerts_received_and_unknown_codes_are_worded_as_otp():
    got = transport.TLSAlertError(70, level=1, sent=False, role="server")
    assert tls_alert_parts(got) == ("protocol_version", "TLS server: In state hello received CLIENT "
                                                        "ALERT: Warning - Protocol Version\n")
    odd = transport.TLSAlertError(222, sent=False, role="client", handshake_done=True)
    assert tls_alert_parts(odd) == ("unknown_alert_222", "TLS client: In state connection received "
                                                         "SERVER ALERT: Fatal - unsupported/unknown alert: 222\n")
    ours = transport.TLSAlertError(222, sent=True, role="client")
    assert tls_alert_parts(ours)[0] == "internal_error"
    hook = transport.TLSAlertError(40, sent=True, role="client", cert_failed=True, tls13=False,
                                   reason=("my", ["reason"]))
    assert tls_alert_parts(hook)[1] == ("TLS client: In state certify at pyssl generated CLIENT ALERT: "
                                        "Fatal - Handshake Failure\n {my,[reason]}")


@pytest.mark.parametrize("exc, connecting, reply", [
    (transport.TLSClosed("gone"), False, A("closed")),
    (transport.TLSClosed("gone"), True, A("closed")),
    (asyncio.TimeoutError(), True, A("timeout")),
    (TimeoutError(), False, A("timeout")),
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), True, A("econnrefused")),
    (ConnectionResetError(errno.ECONNRESET, "reset"), False, A("closed")),
    (OSError(errno.EHOSTUNREACH, "unreachable"), False, A("closed")),
])
def test_each_failure_has_its_reply(exc, connecting, reply):
    assert failure_reply(exc, "test", connecting=connecting) == (A("error"), reply)


def test_a_refused_context_is_an_options_error_and_logged(caplog):
    reply = failure_reply(transport.ContextError("bad key: nope"), "handshake")
    assert reply == (A("error"), (A("options"), (A("pyssl_context"), "bad key: nope")))
    assert "handshake: bad key: nope" in caplog.text


def test_anything_else_goes_on_up():
    with pytest.raises(asyncio.CancelledError):
        failure_reply(asyncio.CancelledError(), "connect", connecting=True)
    with pytest.raises(KeyError):
        failure_reply(KeyError("bug"), "connect")
