"""bridge.tls.hello: a hello read from handshake records, whatever their cut."""
import pytest

from bridge.tls import hello


def _hello_body(msg_type: int, exts: bytes) -> bytes:
    body = bytes([3, 3]) + bytes(32) + bytes([0])              # version, random, no session id
    if msg_type == hello.CLIENT_HELLO:
        body += b"\x00\x02\x13\x01" + b"\x01\x00"              # one suite, null compression
    else:
        body += b"\x13\x01" + b"\x00"
    body += len(exts).to_bytes(2, "big") + exts
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def _records(payload: bytes, cut: int) -> bytes:
    out = b""
    for i in range(0, len(payload), cut):
        part = payload[i:i + cut]
        out += bytes([22, 3, 1]) + len(part).to_bytes(2, "big") + part
    return out


EXTS = b"\x00\x00\x00\x0e\x00\x0c\x00\x00\x09localhost"


@pytest.mark.parametrize("cut", [1, 7, 4096])
@pytest.mark.parametrize("step", [1, 3, 10000])
def test_a_hello_cut_anywhere(cut, step):
    wire = _records(_hello_body(hello.CLIENT_HELLO, EXTS), cut)
    r = hello.HelloReader(hello.CLIENT_HELLO)
    got = None
    for i in range(0, len(wire), step):
        assert got is None
        got = r.feed(wire[i:i + step])
    assert got is not None
    assert (got.legacy_version, got.extensions, got.raw) == ((3, 3), EXTS, wire)


def test_records_after_the_server_hello_are_not_read():
    ccs = bytes([20, 3, 3, 0, 1, 1])
    wire = _records(_hello_body(hello.SERVER_HELLO, b""), 4096) + ccs + bytes([23, 3, 3, 0, 5]) + b"abcde"
    got = hello.HelloReader(hello.SERVER_HELLO).feed(wire)
    assert got.extensions == b"" and got.raw == wire


@pytest.mark.parametrize("wire", [
    bytes([21, 3, 3, 0, 2, 2, 40]),                                 # an alert
    bytes([22, 2, 0, 0, 1, 1]),                                    # SSL 2-ish version
    _records(_hello_body(hello.SERVER_HELLO, b""), 4096),          # the other hello
])
def test_what_is_not_a_client_hello(wire):
    with pytest.raises(hello.HelloError):
        hello.HelloReader(hello.CLIENT_HELLO).feed(wire)


def test_a_truncated_body_and_an_endless_one():
    bad = bytes([1, 0, 0, 3, 3, 3, 0])
    with pytest.raises(hello.HelloError):
        hello.HelloReader(hello.CLIENT_HELLO).feed(_records(bad, 4096))
    r = hello.HelloReader(hello.CLIENT_HELLO)
    with pytest.raises(hello.HelloError):
        for _ in range(20):
            r.feed(bytes([22, 3, 3, 0x40, 0]) + bytes(0x4000))


def test_a_client_hellos_suites_and_extensions():
    exts = (b"\x00\x0d\x00\x06\x00\x04\x08\x04\x04\x01"        # signature_algorithms
            b"\x00\x2b\x00\x05\x04\x03\x04\x03\x03"            # supported_versions
            + EXTS)
    got = hello.HelloReader(hello.CLIENT_HELLO).feed(_records(_hello_body(hello.CLIENT_HELLO, exts), 4096))
    assert got.suite_codes() == [0x1301]
    m = hello.extension_map(got.extensions)
    assert hello.u16_list(m[hello.SIGNATURE_ALGORITHMS]) == [0x0804, 0x0401]
    assert hello.supported_versions(m[hello.SUPPORTED_VERSIONS]) == [0x0304, 0x0303]
    assert hello.server_name(m[hello.SERVER_NAME]) == b"localhost"


@pytest.mark.parametrize("data", [None, b"", b"\x00", b"\x00\x03\x00\x01\x02", b"\x00\x04\x00\x01"])
def test_malformed_vectors_are_none(data):
    assert hello.u16_list(data) is None


@pytest.mark.parametrize("data", [None, b"", b"\x03\x03\x04\x03", b"\x04\x03\x04"])
def test_malformed_supported_versions_are_none(data):
    assert hello.supported_versions(data) is None


@pytest.mark.parametrize("data", [None, b"\x00", b"\x00\x05\x01\x00\x01x\x00", b"\x00\x0e\x00\x00\x0f"])
def test_malformed_or_other_server_names_are_none(data):
    assert hello.server_name(data) is None


def test_a_truncated_extension_ends_the_map():
    assert hello.extension_map(b"\x00\x00\x00\x01a\x00\x0d\x00\x09\x00") == {0: b"a"}
    assert hello.extension_map(b"\x00\x00\x00\x01a\x00\x00\x00\x01b") == {0: b"a"}   # the first wins
