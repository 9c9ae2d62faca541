"""bridge.service.resolve: the address a client connect dials (gen_tcp's choice)."""
import os
import socket

import pytest

from bridge.etf.types import Atom
from bridge.service import resolve
from bridge.service.resolve import HostsFile, connect_host

HOSTS = """\
127.0.0.1   localhost
::1         localhost ip6-localhost   # comment
10.0.0.5    Node1.Example node1
10.0.0.6    node1
fe80::1%eth0 linklocal
not-an-ip   broken
# 10.9.9.9 commented
"""


@pytest.fixture
def hosts(tmp_path, monkeypatch):
    path = tmp_path / "hosts"
    path.write_text(HOSTS)
    table = HostsFile(str(path))
    monkeypatch.setattr(resolve, "HOSTS", table)
    return path, table


def test_names_of_the_hosts_file_by_family(hosts):
    _, table = hosts
    assert table.lookup("localhost", socket.AF_INET) == ["127.0.0.1"]
    assert table.lookup("LOCALHOST", socket.AF_INET6) == ["::1"]
    assert table.lookup("ip6-localhost", socket.AF_INET) == []
    assert table.lookup("node1", socket.AF_INET) == ["10.0.0.5", "10.0.0.6"]
    assert table.lookup("node1.example", socket.AF_INET) == ["10.0.0.5"]
    assert table.lookup("linklocal", socket.AF_INET6) == ["fe80::1%eth0"]
    assert table.lookup("broken", socket.AF_INET) == []


def test_connect_host(hosts):
    assert connect_host([], "localhost", None) == ("127.0.0.1", socket.AF_INET)
    assert connect_host([], "localhost", Atom("inet")) == ("127.0.0.1", socket.AF_INET)
    assert connect_host([], "localhost", Atom("inet6")) == ("::1", socket.AF_INET6)
    # several addresses: getaddrinfo (gen_tcp tries each, so does create_connection)
    assert connect_host([], "node1", None) == ("node1", socket.AF_INET)
    assert connect_host([], "elsewhere.example", Atom("inet6")) == ("elsewhere.example", socket.AF_INET6)
    # literals: a tuple sets the family; a string of the other family is nxdomain
    assert connect_host((0, 0, 0, 0, 0, 0, 0, 1), "::1", None) == ("::1", 0)
    assert connect_host([], "::1", None) is None
    assert connect_host([], "127.0.0.1", Atom("inet6")) is None
    assert connect_host([], "127.0.0.1", None) == ("127.0.0.1", socket.AF_INET)
    assert connect_host([], "::1", Atom("inet6")) == ("::1", socket.AF_INET6)


def test_the_file_is_read_again_when_it_changes(hosts, monkeypatch):
    path, table = hosts
    assert table.lookup("newname", socket.AF_INET) == []
    path.write_text(HOSTS + "192.0.2.1 newname\n")
    os.utime(path, ns=(1, 1))                 # a stamp of its own, whatever the clock
    assert table.lookup("newname", socket.AF_INET) == []       # checked every 5 s only
    monkeypatch.setattr(resolve, "CHECK_INTERVAL", 0.0)
    assert table.lookup("newname", socket.AF_INET) == ["192.0.2.1"]


def test_no_hosts_file_means_getaddrinfo(tmp_path, monkeypatch):
    monkeypatch.setattr(resolve, "HOSTS", HostsFile(str(tmp_path / "missing")))
    assert connect_host([], "localhost", None) == ("localhost", socket.AF_INET)
