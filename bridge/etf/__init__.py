"""External Term Format codec (pure; no I/O)."""
from .codec import (ETFDecodeError, ETFEncodeError, binary_to_term, decode, encode_into,
                    term_to_binary)
from .types import Atom, BitString, ErlMap, ImproperList, Opaque, Pid, Port, Reference, atom

__all__ = ["Atom", "BitString", "ErlMap", "ImproperList", "Opaque", "Pid", "Port", "Reference",
           "atom", "ETFDecodeError", "ETFEncodeError", "binary_to_term", "decode",
           "encode_into", "term_to_binary"]
