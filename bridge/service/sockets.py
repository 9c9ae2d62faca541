"""Where the ssl sockets of the bridge live, by job (this module only names them):

* ``sockbase``: ``SocketBase`` (answers common to every socket),
  option parsing and heavy work off the loop;
* ``listen``: ``ListenSocket``, ``ssl:listen/2`` and ``transport_accept``;
* ``conn``: ``ConnSocket``, a connected TLS socket and its explicit ``SockState``;
  ``conn_info``: its information calls (peername, peercert, prf, renegotiate...);
* ``setup``: ``connect``, the client's set-up driver (the server's handshake is
  ``ConnSocket.handshake``; upgrades of gen_tcp sockets are ``upgrade``);
* ``errors.failure_reply``: a failed connect, handshake or upgrade as ssl's reply.
"""
from __future__ import annotations

from .conn import ConnSocket, SockState
from .errors import failure_reply
from .listen import ListenSocket
from .setup import connect
from .sockbase import SocketBase, off_loop_if_heavy, parse

__all__ = ["ConnSocket", "ListenSocket", "SockState", "SocketBase", "connect",
           "failure_reply", "off_loop_if_heavy", "parse"]
