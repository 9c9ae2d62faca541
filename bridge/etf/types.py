"""Python values for Erlang terms that have no exact built-in equivalent.

Mapping used across the bridge (see docs/architecture.md):

    atom            Atom (interned; ``true``/``false`` decode to bool)
    integer         int                 float       float
    tuple           tuple               list        list
    improper list   ImproperList        binary      bytes
    bit string      BitString           map         dict (ErlMap if a key is unhashable)
    pid/ref/port    Pid / Reference / Port
    fun, export     Opaque (byte-exact)
    string (byte list) list of int, unless the decoder is asked for ``str``
"""
from __future__ import annotations

from dataclasses import dataclass


class Atom:
    """An Erlang atom. Interned: ``Atom('ok') is Atom('ok')``; never equal to a str."""

    __slots__ = ("name", "_hash", "__weakref__")
    _table: dict[str, "Atom"] = {}

    def __new__(cls, name: str) -> "Atom":
        atom = cls._table.get(name)
        if atom is None:
            if not isinstance(name, str):
                raise TypeError(f"atom name must be str, not {type(name).__name__}")
            if len(name) > 255:
                raise ValueError("atom name longer than 255 characters")
            atom = object.__new__(cls)
            object.__setattr__(atom, "name", name)
            object.__setattr__(atom, "_hash", hash(("atom", name)))
            cls._table[name] = atom
        return atom

    def __setattr__(self, key, value):
        raise AttributeError("Atom is immutable")

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        return self is other

    def __ne__(self, other) -> bool:
        return self is not other

    def __lt__(self, other: "Atom") -> bool:
        return self.name < other.name

    def __reduce__(self):
        return (Atom, (self.name,))

    def __repr__(self) -> str:
        return f"Atom({self.name!r})"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Pid:
    node: Atom
    id: int
    serial: int
    creation: int

    def __repr__(self) -> str:
        return f"<{self.node.name}.{self.id}.{self.serial}>"


@dataclass(frozen=True, slots=True)
class Reference:
    node: Atom
    creation: int
    ids: tuple[int, ...]

    def __repr__(self) -> str:
        return f"#Ref<{self.node.name}.{'.'.join(map(str, reversed(self.ids)))}>"


@dataclass(frozen=True, slots=True)
class Port:
    node: Atom
    id: int
    creation: int

    def __repr__(self) -> str:
        return f"#Port<{self.node.name}.{self.id}>"


@dataclass(frozen=True, slots=True)
class ImproperList:
    """``[a, b | Tail]``: ``elements`` are the heads, ``tail`` is not a list."""

    elements: tuple
    tail: object


@dataclass(frozen=True, slots=True)
class BitString:
    """A bitstring whose last byte carries ``bits`` (1..7) significant high bits."""

    data: bytes
    bits: int


@dataclass(frozen=True, slots=True)
class Opaque:
    """A term kept byte-exact (funs, exports): ``raw`` is the tag byte plus its payload."""

    tag: int
    raw: bytes


class ErlMap:
    """A map with a key Python cannot hash (a list or a map). Holds its pairs in order."""

    __slots__ = ("items",)

    def __init__(self, items):
        self.items = list(items)

    def __eq__(self, other) -> bool:
        return isinstance(other, ErlMap) and self.items == other.items

    def __repr__(self) -> str:
        return f"ErlMap({self.items!r})"


def atom(name: str) -> Atom:
    return Atom(name)
