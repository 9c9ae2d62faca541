"""bridge.tls.certalts: ssl's order among several certs_keys pairs and its choice
(ssl_config:init_certs_keys/3, ssl_certificate:available_cert_key_pairs/2,
tls_handshake_1_3:select_server_cert_key_pair/7,
ssl_handshake:server_select_cert_key_pair_and_params/6)."""
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from bridge.tls import certalts
from certgen import PKI


def _entry(issued):
    return ((issued.der,), issued.key_der, None, None)


def _pairs(pki, *names):
    return certalts.load_pairs(tuple(_entry(getattr(pki, n)) for n in names))


def test_order_by_key_type_not_list(tmp_path):
    pki = PKI(tmp_path)
    pairs = _pairs(pki, "server", "ec_server")
    assert [p.group for p in certalts.available(pairs, "tlsv1.3")] == ["ecdsa", "rsa"]
    assert [p.group for p in certalts.available(pairs, "tlsv1.2")] == ["ecdsa", "rsa"]


def test_same_type_keeps_list_order_for_rsa(tmp_path):
    pki = PKI(tmp_path)
    pairs = _pairs(pki, "server", "client")
    assert [p.index for p in certalts.available(pairs, "tlsv1.2")] == [0, 1]


def test_same_curve_reversed_for_ecdsa(tmp_path):
    """prio_ecdsa/1 leaves the pairs of one curve in group_pairs/2's reversed order."""
    pki = PKI(tmp_path)
    pairs = _pairs(pki, "ec_server", "ec_client")
    assert [p.index for p in certalts.available(pairs, "tlsv1.3")] == [1, 0]


def test_client_offer_parsing():
    ext = bytes.fromhex("000d" "0006" "0004" "0403" "0807") + bytes.fromhex("0032" "0004" "0002" "0401")
    offer = certalts.client_offer(bytes.fromhex("c02b1301"), ext)
    assert offer.sigalgs == [0x0403, 0x0807]
    assert offer.sigalgs_cert == [0x0401]
    assert offer.suites == [b"\xc0\x2b", b"\x13\x01"]
    assert certalts.client_offer(b"", b"\x00").sigalgs is None       # truncated: nothing


def test_server_choice_tls13_by_certificate_signature(tmp_path):
    pki = PKI(tmp_path)
    pairs = _pairs(pki, "ec_server", "server")       # both SHA-256 signed
    rsa_only = certalts.Offer(sigalgs=[0x0804, 0x0401], suites=[])
    assert certalts.server_choice(pairs, "tlsv1.3", rsa_only, []).group == "rsa"
    both = certalts.Offer(sigalgs=[0x0804, 0x0403], suites=[])
    assert certalts.server_choice(pairs, "tlsv1.3", both, []).group == "ecdsa"
    # signature_algorithms_cert wins over signature_algorithms
    cert_rsa = certalts.Offer(sigalgs=[0x0403], sigalgs_cert=[0x0401], suites=[])
    assert certalts.server_choice(pairs, "tlsv1.3", cert_rsa, []).group == "rsa"
    # none fits, none SHA-1 signed: the first is the fallback
    none = certalts.Offer(sigalgs=[0x0807], suites=[])
    assert certalts.server_choice(pairs, "tlsv1.3", none, []).group == "ecdsa"


def test_server_choice_tls12_by_suites(tmp_path):
    pki = PKI(tmp_path)
    pairs = _pairs(pki, "server", "ec_server")
    offer = certalts.Offer(sigalgs=None, suites=[])
    assert certalts.server_choice(pairs, "tlsv1.2", offer, ["ECDHE-RSA-AES128-GCM-SHA256"]).group == "rsa"
    assert certalts.server_choice(pairs, "tlsv1.2", offer, ["ECDHE-ECDSA-AES128-GCM-SHA256"]).group == "ecdsa"
    # the last pair is taken as it is
    assert certalts.server_choice(pairs, "tlsv1.2", offer, []).group == "rsa"


def test_client_choice_first_usable(tmp_path):
    pki = PKI(tmp_path)
    pairs = _pairs(pki, "server", "ec_server")
    assert certalts.client_choice(pairs, "tlsv1.3").group == "ecdsa"
    assert certalts.client_choice((), "tlsv1.3") is None


def test_suite_auth():
    assert certalts.suite_auth("ECDHE-ECDSA-AES128-SHA") == "ecdsa"
    assert certalts.suite_auth("DHE-DSS-AES128-SHA256") == "dsa"
    assert certalts.suite_auth("AES128-GCM-SHA256") == "rsa"
    assert certalts.suite_auth("PSK-AES128-CBC-SHA") is None
    assert certalts.suite_auth("ECDHE-PSK-AES128-CBC-SHA256") is None


def test_otp_eddsa_key():
    """public_key's ECPrivateKey encoding of an Ed25519 key is read; others are not."""
    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    der = bytes([0x30, 2 + 3 + 2 + 32 + 2 + 5, 0x02, 0x01, 0x01, 0x04, 32]) + raw \
        + bytes([0xA0, 5, 0x06, 0x03, 0x2B, 0x65, 0x70])
    got = certalts.otp_eddsa_key(der)
    assert got.public_key().public_bytes_raw() == key.public_key().public_bytes_raw()
    assert certalts.otp_eddsa_key(b"\x30\x00") is None
    assert certalts.otp_eddsa_key(der[:-1] + b"\x71") is None       # id-Ed448 with a 32-byte seed


def test_bad_pairs_refused(tmp_path):
    pki = PKI(tmp_path)
    with pytest.raises(certalts.CertAltError):
        certalts.load_pair(0, [pki.server.der], pki.ec_server.key_der, None, None)
    with pytest.raises(certalts.CertAltError):
        certalts.load_pair(0, [b"not a cert"], pki.server.key_der, None, None)
    with pytest.raises(certalts.CertAltError):
        certalts.load_pair(0, [pki.server.der], b"not a key", None, None)
