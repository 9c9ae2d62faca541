"""External Term Format codec (pure; no I/O)."""
from .types import Atom, BitString, ErlMap, ImproperList, Opaque, Pid, Port, Reference, atom

__all__ = ["Atom", "BitString", "ErlMap", "ImproperList", "Opaque", "Pid", "Port", "Reference", "atom"]
