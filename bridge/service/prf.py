"""The TLS PRF of RFC 2246/4346 (P_MD5 xor P_SHA-1) and RFC 5246 (P_<hash>), as
``tls_v1:prf/5`` computes it for ``ssl:prf/5``; sans-IO, HMAC from ``cryptography``."""
from __future__ import annotations

from cryptography.hazmat.primitives import hashes, hmac

# ssl_cipher's PRF names -> hashes; TLS 1.2's default_prf is SHA-256 (RFC 5246 5)
_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
           "default_prf": hashes.SHA256, "sha": hashes.SHA1, "md5": hashes.MD5}


def _hmac(alg, key: bytes, data: bytes) -> bytes:
    h = hmac.HMAC(key, alg())
    h.update(data)
    return h.finalize()


def p_hash(alg, secret: bytes, seed: bytes, length: int) -> bytes:
    """tls_v1:p_hash/4: HMAC(secret, A(i) + seed) for i = 1.., A(0) = seed."""
    out = bytearray()
    a = seed
    while len(out) < length:
        a = _hmac(alg, secret, a)
        out += _hmac(alg, secret, a + seed)
    return bytes(out[:length])


def tls_prf(version: str, prf_name: str, secret: bytes, label_seed: bytes, length: int) -> bytes:
    """tls_v1:prf/5 of ``label_seed`` (the label and the seed, joined): TLS 1.0 and 1.1
    XOR P_MD5 on the secret's first half with P_SHA-1 on its second (split_secret/1:
    halves share a byte when the length is odd); TLS 1.2 P_hash with the suite's hash."""
    if version in ("tlsv1", "tlsv1.1"):
        half = len(secret) - len(secret) // 2
        s1, s2 = secret[:half], secret[len(secret) // 2:]
        md5 = p_hash(hashes.MD5, s1, label_seed, length)
        sha = p_hash(hashes.SHA1, s2, label_seed, length)
        return bytes(x ^ y for x, y in zip(md5, sha))
    return p_hash(_HASHES.get(prf_name, hashes.SHA256), secret, label_seed, length)
