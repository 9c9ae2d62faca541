"""The emulated socket options of one ssl socket, and the rules of ``active``.

OTP keeps these in ``#socket_options{}`` (ssl_internal.hrl: mode, packet,
packet_size, header, active) in the connection process; gen_tcp underneath runs
passive in binary mode with no framing. Here one ``SocketOptions`` record is made
by the option parse (``bridge.service.options``), kept by a listen socket for the
sockets it accepts, and owned by a connected socket's ``Delivery``, which reads it
to shape what the owner gets; ``setopts``/``getopts`` change and read that record.

Values are kept as the Erlang terms the caller gave (``Atom('binary')``,
``Atom('once')``, ``{packet, 2}``…), so ``getopts`` returns them as they were set.

Every rule of ``active`` is in this module:

* which values an option list may give (``active_valid_at_open``, the check of
  ``tls_socket:emulated_options/1``; ``active_valid_in_setopts``, the one of
  ``ssl_gen_statem:set_socket_opts/6``; ``active_listen_einval`` for ``ssl:listen``);
* ``{active, N}`` arithmetic on ``setopts`` (``ssl_gen_statem:set_socket_opts/6``
  adds N to a running count; the sum may not leave -32768..32767; a sum of 0 or less
  turns the socket passive and tells the owner ``{ssl_passive, S}``);
* what one delivered packet does (``ssl_gen_statem``'s ``deliver_app_data/6``:
  ``once`` becomes passive, a count goes down by one and at 0 turns passive with
  ``{ssl_passive, S}``, ``true`` stays).
"""
from __future__ import annotations

from bridge.etf.types import Atom

BINARY = Atom("binary")
LIST = Atom("list")
ONCE = Atom("once")
ACTIVE_MIN, ACTIVE_MAX = -32768, 32767

# the fields of OTP's #socket_options{}; other emulated gen_tcp options
# (line_delimiter, deliver, exit_on_close, send_timeout, ...) are stored in ``extra``
FIELDS = ("mode", "packet", "packet_size", "header", "active")


class SocketOptions:
    """One socket's emulated options (OTP's ``#socket_options{}`` plus the gen_tcp
    options the bridge keeps for ``getopts``)."""

    __slots__ = FIELDS + ("extra",)

    def __init__(self, mode=LIST, packet=0, packet_size=0, header=0, active=True, extra=None):
        # the defaults of tls_socket:emulated_options/1
        self.mode = mode
        self.packet = packet
        self.packet_size = packet_size
        self.header = header
        self.active = active
        # None until one is set: most sockets have none (one per connection, and an
        # empty dict costs 64 bytes)
        self.extra: dict | None = extra or None

    def copy(self) -> SocketOptions:
        return SocketOptions(self.mode, self.packet, self.packet_size, self.header, self.active,
                             dict(self.extra) if self.extra else None)

    @property
    def binary(self) -> bool:
        return self.mode is BINARY

    def get(self, name: str, default=None):
        if name in FIELDS:
            return getattr(self, name)
        return self.extra.get(name, default) if self.extra else default

    def set(self, name: str, value) -> None:
        if name in FIELDS:
            setattr(self, name, value)
        elif self.extra is None:
            self.extra = {name: value}
        else:
            self.extra[name] = value

    def update(self, changes: dict) -> None:
        for name, value in changes.items():
            self.set(name, value)

    def as_dict(self) -> dict:
        """Name → Erlang term, for ``getopts`` (``bridge.service.inet.get_options``)."""
        out = {name: getattr(self, name) for name in FIELDS}
        if self.extra:
            out.update(self.extra)
        return out

    def __eq__(self, other):
        return isinstance(other, SocketOptions) and self.as_dict() == other.as_dict()

    __hash__ = None

    def __repr__(self):
        return f"SocketOptions({self.as_dict()!r})"


# ---- the rules of active ----------------------------------------------------------

def is_count(v) -> bool:
    """An ``{active, N}`` value (an integer; ``true``/``false`` are bools, not counts)."""
    return type(v) is int


_is_int = is_count


def active_valid_at_open(v) -> bool:
    """``tls_socket:emulated_options/1``'s check of ``{active, V}`` in connect/listen
    options. It compares with ``>=``/``=<`` in Erlang term order, so a float in range
    passes too (and is kept as given)."""
    if (_is_int(v) or isinstance(v, float)) and ACTIVE_MIN <= v <= ACTIVE_MAX:
        return True
    return v is True or v is False or v is ONCE


def active_valid_in_setopts(v) -> bool:
    """``ssl_gen_statem:set_socket_opts/6``'s check of ``{active, V}``."""
    return v is True or v is False or v is ONCE or (_is_int(v) and ACTIVE_MIN <= v <= ACTIVE_MAX)


def active_listen_einval(v) -> bool:
    """``ssl:listen`` throws ``einval`` for a count outside -32768..32767 (inet's own
    check, after ssl's)."""
    return _is_int(v) and not ACTIVE_MIN <= v <= ACTIVE_MAX


def active_overflows(current, n) -> bool:
    """``setopts(S, [{active, N}])`` on a socket with a running count: refused when
    the sum leaves -32768..32767 (``{error, {options, {socket_options, {active, N}}}}``)."""
    return _is_int(n) and _is_int(current) and not ACTIVE_MIN <= current + n <= ACTIVE_MAX


def active_after_setopts(current, new):
    """``(active, passive)``: the value after ``setopts(S, [{active, New}])``, and
    whether the owner gets ``{ssl_passive, S}``. N is added to a running count
    (a socket not counting counts from 0); a sum of 0 or less is passive."""
    if _is_int(new):
        total = (current if _is_int(current) else 0) + new
        if total <= 0:
            return False, True
        return total, False
    return new, False


def active_after_packet(current):
    """``(active, passive)`` after one packet went to an active owner: ``once`` turns
    passive; a count goes down by one and turns passive at 0, with ``{ssl_passive,
    S}``; ``true`` stays."""
    if current is True:
        return True, False
    if current is ONCE:
        return False, False
    current -= 1
    if current == 0:
        return False, True
    return current, False
