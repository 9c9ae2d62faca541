"""External Term Format codec (pure; no I/O): the decoder is in decode.py, the
encoder in encode.py; this module is the one place the rest of the bridge imports
them from."""
from .decode import _CHUNK, _FAST_MAX, FAST_BODY, VERSION, ETFDecodeError, binary_to_term, decode  # noqa: F401
from .encode import FAST_ENCODE, FAST_FRAME, EncodeBudgetExceeded, ETFEncodeError, encode_into, term_to_binary

__all__ = ["ETFDecodeError", "ETFEncodeError", "EncodeBudgetExceeded", "binary_to_term", "decode",
           "encode_into", "term_to_binary", "VERSION", "FAST_BODY", "FAST_ENCODE", "FAST_FRAME"]
