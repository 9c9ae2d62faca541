"""Certificates, keys and DH parameters out of the PEM (or DER) files options name."""
from __future__ import annotations

import re as _re

_PEM_RE = _re.compile(rb"-----BEGIN ([A-Z0-9 .]+)-----\r?\n(.*?)-----END \1-----", _re.DOTALL)


def _pem_blocks(data: bytes):
    return [(m.group(1).decode(), m.group(0)) for m in _PEM_RE.finditer(data)]


_certs_memo: dict = {}


def _certs_from_file(data: bytes) -> list[bytes]:
    """DER certificates of a PEM (or single DER) file; ValueError if undecodable.
    Kept by file contents (a connect burst reads the same cacertfile each time)."""
    data = bytes(data)
    hit = _certs_memo.get(data)
    if hit is None:
        try:
            hit = tuple(_parse_certs(data))
        except ValueError:
            hit = None
            bad = True
        else:
            bad = False
        if len(_certs_memo) >= 64:
            _certs_memo.clear()
        _certs_memo[data] = (hit, bad)
    else:
        hit, bad = hit
    if bad:
        raise ValueError("bad certificate")
    return list(hit)


def _parse_certs(data: bytes) -> list[bytes]:
    """DER certificates of a PEM (or single DER) file; ValueError if undecodable.

    Parsed by OpenSSL, which (like OTP's public_key) accepts encodings that the
    stricter `cryptography` parser refuses, e.g. ECDSA signature algorithms that
    carry curve parameters, as public_key:pkix_test_data/1 makes them."""
    import base64
    import binascii

    from bridge.tls.ossl import der_certificate_ok

    def check(der: bytes) -> bytes:
        if not der_certificate_ok(der):
            raise ValueError("bad certificate")
        return der

    blocks = _pem_blocks(data)
    if not blocks:
        return [check(data)]
    out = []
    for label, block in blocks:
        if label in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"):
            body = b"".join(line for line in block.splitlines() if not line.startswith(b"-----"))
            try:
                der = base64.b64decode(body, validate=False)
            except (binascii.Error, ValueError):
                raise ValueError("bad certificate") from None
            out.append(check(der))
    return out


def _key_pem_from_file(data: bytes):
    """The first private key PEM block (possibly encrypted), or None."""
    for label, block in _pem_blocks(data):
        if "PRIVATE KEY" in label:
            return block
    return None


def _dh_pem_from_file(data: bytes):
    for label, block in _pem_blocks(data):
        # X9.42 ones (openssl dhparam -dsaparam) too: OTP's public_key decodes them
        # ('DHParameter' from p and g) and libssl's PEM_read_bio_DHparams reads both
        if label in ("DH PARAMETERS", "X9.42 DH PARAMETERS"):
            return block
    return None


def _dh_der_to_pem(der: bytes) -> bytes:
    import base64
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return b"-----BEGIN DH PARAMETERS-----\n" + b"\n".join(lines) + b"\n-----END DH PARAMETERS-----\n"
