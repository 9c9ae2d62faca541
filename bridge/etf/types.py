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

from dataclasses import dataclass, field
from typing import Optional


class Atom:
    """An Erlang atom. Interned: ``Atom('ok') is Atom('ok')``; never equal to a str.

    Because atoms are interned, equality is identity and the hash is the identity
    hash, both inherited from ``object`` (so dict and set look-ups of atoms, which
    the distribution layer does for every message, stay in C)."""

    __slots__ = ("name", "__weakref__")
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
            cls._table[name] = atom
        return atom

    def __setattr__(self, key, value):
        raise AttributeError("Atom is immutable")

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
    # The external form once known (decoded from, or first encoded to), so that
    # control messages, which repeat the same pids, do not re-encode them.
    _ext: Optional[bytes] = field(default=None, init=False, repr=False, compare=False)

    def __repr__(self) -> str:
        return f"<{self.node.name}.{self.id}.{self.serial}>"


@dataclass(frozen=True, slots=True)
class Reference:
    node: Atom
    creation: int
    ids: tuple[int, ...]
    _ext: Optional[bytes] = field(default=None, init=False, repr=False, compare=False)

    def __repr__(self) -> str:
        return f"#Ref<{self.node.name}.{'.'.join(map(str, reversed(self.ids)))}>"


@dataclass(frozen=True, slots=True)
class Port:
    node: Atom
    id: int
    creation: int

    def __repr__(self) -> str:
        return f"#Port<{self.node.name}.{self.id}>"


# The generated ``__init__`` of a frozen dataclass stores each field through
# ``object.__setattr__`` (to get past the frozen ``__setattr__``); storing through
# the slot descriptors does the same in about half the time. Pids and references
# are built for nearly every distribution message, so these are on the hot path.
def _slot_setters(cls, *names):
    return [cls.__dict__[name].__set__ for name in names]


def _pid_init(self, node: Atom, id: int, serial: int, creation: int) -> None:
    _pid_node(self, node)
    _pid_id(self, id)
    _pid_serial(self, serial)
    _pid_creation(self, creation)
    set_pid_ext(self, None)


def _reference_init(self, node: Atom, creation: int, ids: tuple) -> None:
    _ref_node(self, node)
    _ref_creation(self, creation)
    _ref_ids(self, ids)
    set_ref_ext(self, None)


def _port_init(self, node: Atom, id: int, creation: int) -> None:
    _port_node(self, node)
    _port_id(self, id)
    _port_creation(self, creation)


_pid_node, _pid_id, _pid_serial, _pid_creation, set_pid_ext = _slot_setters(
    Pid, "node", "id", "serial", "creation", "_ext")
_ref_node, _ref_creation, _ref_ids, set_ref_ext = _slot_setters(
    Reference, "node", "creation", "ids", "_ext")
_port_node, _port_id, _port_creation = _slot_setters(Port, "node", "id", "creation")


def pid_with_ext(node: Atom, id: int, serial: int, creation: int, ext: Optional[bytes]) -> Pid:
    """For the decoder: ``Pid(node, id, serial, creation)`` that already knows its
    external form ``ext`` (or None), built in one call."""
    pid = _object_new(Pid)
    _pid_node(pid, node)
    _pid_id(pid, id)
    _pid_serial(pid, serial)
    _pid_creation(pid, creation)
    set_pid_ext(pid, ext)
    return pid


def reference_with_ext(node: Atom, creation: int, ids: tuple, ext: Optional[bytes]) -> Reference:
    """For the decoder: ``Reference(node, creation, ids)`` that already knows its
    external form ``ext`` (or None), built in one call."""
    ref = _object_new(Reference)
    _ref_node(ref, node)
    _ref_creation(ref, creation)
    _ref_ids(ref, ids)
    set_ref_ext(ref, ext)
    return ref


_object_new = object.__new__
for _cls, _init in ((Pid, _pid_init), (Reference, _reference_init), (Port, _port_init)):
    _init.__qualname__ = f"{_cls.__qualname__}.__init__"
    _cls.__init__ = _init
del _cls, _init


@dataclass(frozen=True, slots=True)
class ImproperList:
    """``[a, b | Tail]``: ``elements`` are the heads, ``tail`` is not a list."""

    elements: tuple
    tail: object


# Every gen call from OTP 24+ is tagged [alias|Mref]: one ImproperList per call
# decoded, built through the slot descriptors as Pid and Reference are (above).
_il_elements, _il_tail = _slot_setters(ImproperList, "elements", "tail")


def _improper_list_init(self, elements: tuple, tail) -> None:
    _il_elements(self, elements)
    _il_tail(self, tail)


_improper_list_init.__qualname__ = "ImproperList.__init__"
ImproperList.__init__ = _improper_list_init


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
