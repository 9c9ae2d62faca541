"""Steps of a call that run in the caller, on its node: the bridge replies
``{'$pyssl_apply', Step, Args}`` and the shim (``pyssl:call/3``) returns the result
of ``pyssl_cb:Step(BridgeNode, Args...)`` instead.

Only a user's transport (``cb_info`` with a module other than gen_tcp) needs them:
OTP 25's ssl calls that module in the caller's process (``tls_socket:connect/4``,
``listen/3``, ``accept/3``), so the shim does the same once the bridge has checked
the options (bridge.service.cbinfo has the rest). A leaf module: the set-up
drivers (setup, listen) name their step without importing the socket kinds.
"""
from __future__ import annotations

from bridge.etf.types import Atom

from .options.sockopts import INTERNAL_INET_VALUES
from .terms import error

LOCAL_STEP = Atom("$pyssl_apply")
_REFUSED = error((Atom("options"), (Atom("not_supported_by_pyssl"), Atom("cb_info"))))
_HELLO = Atom("hello")
_HELLO_REFUSED = error((Atom("options"), (Atom("not_supported_by_pyssl"), (Atom("handshake"), _HELLO))))


def refusal(parsed):
    """What a user's transport does not offer with these options, or None:
    ``{handshake, hello}`` (the pause reads the hello off an OS socket, as for a
    relayed gen_tcp upgrade)."""
    return _HELLO_REFUSED if parsed.ssl.get("handshake") is _HELLO else None


def local_step(step: str, args: list) -> tuple:
    return (LOCAL_STEP, Atom(step), args)


def rpc_reply(value):
    """What an rpc caller gets for a reply: a step cannot run without the shim, so a
    user's transport is refused by name there."""
    if value.__class__ is tuple and len(value) == 3 and value[0] is LOCAL_STEP:
        return _REFUSED
    return value


def connect_step(host, port, cb: tuple, parsed, opts, timeout) -> tuple:
    """``ssl:connect(Host, Port, Opts, Timeout)`` once the options are accepted:
    ``Mod:connect(Host, Port, SockOpts, Timeout)`` in the caller (SockOpts as
    tls_socket:connect/4 gets them), then ``'$pyssl_cb_connect'``."""
    refused = refusal(parsed)
    if refused is not None:
        return refused
    return local_step("connect", [host, port, cb, list(parsed.inet_list), opts, timeout])


def listen_step(port, cb: tuple, parsed, opts) -> tuple:
    """``ssl:listen(Port, Opts)`` once the options are accepted: ``Mod:listen(Port,
    SockOpts ++ internal_inet_values())`` in the caller (tls_socket:listen/3), then
    ``'$pyssl_cb_listen'``."""
    refused = refusal(parsed)
    if refused is not None:
        return refused
    return local_step("listen", [port, cb, list(parsed.inet_list) + list(INTERNAL_INET_VALUES),
                                 opts])
