"""The ``ciphers`` option: OTP 25's ``ssl:handle_cipher_option/2`` and
``binary_cipher_suites/2`` (every form a cipher list may take, to suite codes)."""
from __future__ import annotations

from bridge.service import ciphers as _ciphers

from .base import (
    A,
    ErlangException,
    _as_list,
    _chars,
    _is_binary,
    _is_charlist,
    _is_list,
    _opt_error,
)


def _handle_cipher_option(value, versions: list[str]) -> list[int]:
    if not _is_list(value):
        raise ErlangException("error", A("function_clause"))
    try:
        return _binary_cipher_suites(versions, _as_list(value))
    except _CipherError:
        raise _opt_error("ciphers", value) from None


class _CipherError(Exception):
    pass


def _binary_cipher_suites(versions: list[str], cs: list) -> list[int]:
    if not cs:
        return _ciphers.default_binary_suites(versions)
    head = cs[0]
    if isinstance(head, dict):
        codes = []
        for c in cs:
            code = _ciphers.suite_map_to_code(c) if isinstance(c, dict) else None
            if code is None:
                raise _CipherError
            codes.append(code)
        return _filter_codes(versions, codes)
    if isinstance(head, tuple):
        codes = []
        for c in cs:
            try:
                m = _ciphers.tuple_to_map(c)
            except ValueError:
                raise _CipherError from None
            code = _ciphers.suite_map_to_code(m)
            if code is None:
                raise _CipherError
            codes.append(code)
        return _filter_codes(versions, codes)
    if _is_binary(head):
        codes = [int.from_bytes(c, "big") if _is_binary(c) and len(c) == 2 else None for c in cs]
        return _filter_codes(versions, codes)
    if _is_list(head):
        names = []
        for c in cs:
            if not _is_charlist(c):
                raise _CipherError
            names.append(_chars(c))
        return _filter_codes(versions, _names_to_codes(names))
    if not _is_charlist(cs):
        raise _CipherError
    names = [n for n in _chars(cs).split(":") if n]
    if not names:
        return _ciphers.default_binary_suites(versions)
    return _filter_codes(versions, _names_to_codes(names))


def _names_to_codes(names):
    codes = []
    for n in names:
        code = _ciphers.openssl_str_to_code(n)
        if code is None:
            raise _CipherError
        codes.append(code)
    return codes


def _filter_codes(versions, codes):
    all_ = set(_ciphers.all_suites(versions))
    kept = [c for c in codes if c is not None and c in all_]
    return kept if kept else _ciphers.default_binary_suites(versions)

