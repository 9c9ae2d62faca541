"""ssl option lists, validated the way OTP 25 (ssl 10.8.7) validates them.

Pure functions, no I/O.  Input is the option list exactly as given to
``ssl:connect/3,4``, ``ssl:listen/2``, ``ssl:handshake/2,3``, ``ssl:setopts/2`` and
``ssl:getopts/2``, as decoded by ``bridge.etf``.  Either a result comes back or one
of two exceptions is raised:

* ``SslOptionError(term)`` — ``term`` is exactly what the OTP call *returns*, e.g.
  ``{error, {options, {verify, foo}}}``, ``{option_not_a_key_value_tuple, foo}``
  (not wrapped in ``error``), ``{error, nooptions}``.
* ``ErlangException(cls, reason)`` — where OTP does not return but raises in the
  caller (``ssl:connect(H, P, foo)`` → ``error:function_clause``;
  ``{ciphers, foo}`` → ``error:function_clause``; ``ssl:listen`` with an unknown
  socket option → ``exit:badarg``).  The shim re-raises it with ``erlang:raise``.

How OTP orders its checks (and so which error wins) is reproduced, not guessed, one
step per module:

* ``expand``: ``proplists:expand`` of ``binary``/``list``; the key/value format
  check; the split into ssl and socket options;
* ``process``: the multi-pass dependency resolution of ``ssl:process_options/3``
  over ``maps:keys(?RULES)`` (``rules``: the defaults, dependencies and the hash
  order of the keys), one rule function per option; ``validate`` holds
  ``validate_option/3``, ``cipher_suites`` the ``ciphers`` option;
* ``sockopts``: the emulated socket options (mode, header, active, packet,
  packet_size, into a ``bridge.service.socket_options.SocketOptions`` record) and
  the gen_tcp ones; for ``connect``, ``gen_tcp``'s own check giving
  ``{error, {options, {socket_options, [...]}}}``;
* ``unsupported``: options the bridge does not implement (below);
* ``parse``: the parse of each call; ``memo``: parse results kept by option list;
* ``tls_config`` and ``pem``: the TLS engine's config, once the files are read.

Options the bridge does not implement are validated as OTP validates them and
then refused, naming the option (a known, documented difference from OTP)::

    {error, {options, {not_supported_by_pyssl, {Name, Value}}}}

This applies to ``partial_chain``, ``customize_hostname_check`` with entries,
``password`` as a fun, SRP (``srp_identity``),
NPN (``next_protocols_advertised``, ``client_preferred_next_protocols``),
``use_ticket`` with other than pyssl's tickets,
``handshake`` = ``hello``, ``protocol`` = ``dtls``, ``sni_hosts`` entries setting
anything but the certificate and key (``certfile``, ``keyfile``, ``cert``, ``key``,
``password``) and ``versions``, CRL checks, OCSP stapling, ``certs_keys``, ``key`` given as an engine
map, ``erl_dist`` = true.  The check runs after OTP's validation succeeded, so an
invalid value still gets OTP's own error.  The callbacks are implemented: the
caller's ``verify_fun`` (``bridge.service.verify``), ``sni_fun``
(``bridge.service.sni``) and PSK with ``user_lookup_fun``/``psk_identity``
(``bridge.service.psk``) run on the caller's node, and so does the transport
module of a ``cb_info`` other than gen_tcp's (``user_transport``,
``bridge.service.cbinfo``).

Other known differences: ``{versions, []}`` makes OTP 25 hang; here it is
``{error, {options, {versions, []}}}``.  ``cacertfile`` is kept as given (OTP makes
it absolute on the calling node and resolves a symlink; the caller's node does the
reading anyway).  The textual cipher parser knows the names OTP prints (OpenSSL
style and RFC) and the EDH-/DHE- and RSA- aliases; odd spellings OTP's grammar
would still accept are rejected.
"""
from __future__ import annotations

from .base import (
                   DEFAULT_PARTIAL_CHAIN,
                   DEFAULT_REUSE_SESSION,
                   DEFAULT_VERIFY_FUN,
                   ErlangException,
                   SslOptionError,
                   _fun_arity,
                   fun_arity,
)
from .memo import (
                   _memo_key,
                   _parse_memo,
                   build_tls_config_shared,
                   parse_connect_options,
                   parse_connect_options_shared,
)
from .parse import (
                   ParsedOptions,
                   parse_getopts,
                   parse_handshake_options,
                   parse_listen_options,
                   parse_setopts,
                   parse_upgrade_server_options,
)
from .rules import _RULES
from .sockopts import EMULATED_OPTIONS, INET_OPTIONS, SOCKET_OPTIONS
from .tls_config import build_tls_config
from .unsupported import user_transport

__all__ = [
                   "DEFAULT_PARTIAL_CHAIN",
                   "DEFAULT_REUSE_SESSION",
                   "DEFAULT_VERIFY_FUN",
                   "EMULATED_OPTIONS",
                   "INET_OPTIONS",
                   "SOCKET_OPTIONS",
                   "ErlangException",
                   "ParsedOptions",
                   "SslOptionError",
                   "build_tls_config",
                   "build_tls_config_shared",
                   "fun_arity",
                   "parse_connect_options",
                   "parse_connect_options_shared",
                   "parse_getopts",
                   "parse_handshake_options",
                   "parse_listen_options",
                   "parse_setopts",
                   "parse_upgrade_server_options",
                   "user_transport",
]
# also for the tests: _RULES, _fun_arity, _memo_key, _parse_memo
_PRIVATE_FOR_TESTS = (_RULES, _fun_arity, _memo_key, _parse_memo)
