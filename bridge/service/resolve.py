"""Which address a client connect dials, as gen_tcp:connect/4 chooses it.

gen_tcp resolves a host name for the socket's family only: IPv4 unless the
options say ``inet6`` (``inet:getaddrs(Host, inet | inet6)``); an IPv4 socket never
dials ``::1`` for ``"localhost"``. Without a family, getaddrinfo would return both
and the connect would try the IPv6 one first on most hosts: a wasted attempt
against a server on 127.0.0.1, and a connection that ssl would not make to a
server on ::1 only.

Names in the hosts file are answered from it, as inet_db answers its ``file``
lookups (``inet_hosts``): the file is read again when it changes, checked at most
every ``CHECK_INTERVAL`` seconds (inet_db's ``res_hosts_file_tm``). glibc reads
and parses the file on every getaddrinfo, in a thread of the loop's pool: for
``"localhost"`` that was ~0.17 ms of bridge CPU per connect, a sixth of a client
handshake's. Other names go to getaddrinfo, restricted to the family.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import time
from typing import Optional

from bridge.etf.types import Atom
from bridge.tls.hostnames import ip_literal

HOSTS_FILE = "/etc/hosts"
CHECK_INTERVAL = 5.0
_INET6 = Atom("inet6")


def _parse(text: str) -> dict[str, dict[int, list[str]]]:
    """name (lower case) -> family -> addresses, in file order (inet_hosts' table)."""
    table: dict[str, dict[int, list[str]]] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        try:
            ip = ipaddress.ip_address(fields[0].split("%", 1)[0])
        except ValueError:
            continue
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        for name in fields[1:]:
            addrs = table.setdefault(name.lower(), {}).setdefault(family, [])
            if fields[0] not in addrs:
                addrs.append(fields[0])
    return table


class HostsFile:
    def __init__(self, path: str = HOSTS_FILE):
        self.path = path
        self._table: dict[str, dict[int, list[str]]] = {}
        self._stamp: Optional[tuple] = None
        self._checked = float("-inf")

    def lookup(self, name: str, family: int) -> list[str]:
        now = time.monotonic()
        if now - self._checked >= CHECK_INTERVAL:
            self._checked = now
            self._reload()
        return self._table.get(name.lower(), {}).get(family, [])

    def _reload(self) -> None:
        try:
            st = os.stat(self.path)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            if stamp == self._stamp:
                return
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                self._table = _parse(fh.read())
            self._stamp = stamp
        except OSError:
            # no file, or not readable: every name goes to getaddrinfo
            self._table, self._stamp = {}, None


HOSTS = HostsFile()


def connect_host(host, hoststr: str, family: Optional[Atom]) -> Optional[tuple[str, int]]:
    """(what to dial, the address family for getaddrinfo: 0 for any) for ``host``
    (the caller's term; ``hoststr`` its string) on a socket of ``family`` (the
    connect's ``inet``/``inet6`` option; None: inet), or None where gen_tcp says
    ``nxdomain``. An address tuple is dialled as it is (gen_tcp takes the family
    from its size); an address *string* of the other family is no name of this
    one: ``inet:getaddrs("::1", inet)`` is ``{error, nxdomain}``."""
    fam = socket.AF_INET6 if family is _INET6 else socket.AF_INET
    if isinstance(host, tuple):
        return hoststr, 0
    ip = ip_literal(hoststr)
    if ip is not None:
        return (hoststr, fam) if (ip.version == 6) == (fam == socket.AF_INET6) else None
    addrs = HOSTS.lookup(hoststr, fam)
    if len(addrs) == 1:
        return addrs[0], fam
    return hoststr, fam
