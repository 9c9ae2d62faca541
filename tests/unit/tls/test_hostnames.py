"""bridge/tls/hostnames.py: the cached parses of a host string answer as the
uncached ones they replace, errors included."""
import ipaddress

import pytest

from bridge.tls import hostnames


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "fe80::1", "10.0.0.256", "localhost",
                                  "example.com", "", "1.2.3", "::ffff:1.2.3.4"])
def test_ip_literal_is_ipaddress_or_none(host):
    for _ in range(2):      # first parse and cached answer alike
        try:
            want = ipaddress.ip_address(host)
        except ValueError:
            want = None
        assert hostnames.ip_literal(host) == want


def test_idna_as_the_codec_and_its_error_every_time():
    assert hostnames.idna("b\u00fccher.example") == b"xn--bcher-kva.example"
    assert hostnames.idna("localhost") == b"localhost"
    for _ in range(2):
        with pytest.raises(UnicodeError):
            hostnames.idna("a" * 64 + ".example")
