"""NPN (Next Protocol Negotiation) on the tlslite-ng engine, against the openssl command.

OTP 25's ssl has no NPN any more, so the peer is ``openssl s_server -nextprotoneg`` /
``openssl s_client -nextprotoneg`` and the expected values are the seed's text (the
R16B03 ssl man page, ``client_preferred_next_protocols`` and
``next_protocols_advertised``):

* precedence ``server``: the first protocol of the server's list that is on the client's;
  ``client``: the first of the client's list that is on the server's;
* no overlap (or nothing advertised): the client's default if given, else the first
  protocol of its list;
* a server without NPN: the connection is aborted unless a default is given.
"""
import subprocess

import pytest

from bridge.etf import Atom
from ports import free_port, wait_port

A = Atom


@pytest.fixture(scope="module")
def node(pyssl_node):
    return pyssl_node


def s_server(pki, port, npn):
    args = ["openssl", "s_server", "-accept", str(port), "-cert", pki.server.cert_path,
            "-key", pki.server.key_path, "-tls1_2", "-rev"]
    if npn is not None:
        args += ["-nextprotoneg", npn]
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def pyssl_client(node, port, selector):
    return node.eval(f"""(fun() ->
        case pyssl:connect("localhost", {port}, [{{versions, ['tlsv1.2']}}, {{verify, verify_none}}, binary,
                                               {{active, false}}, {{client_preferred_next_protocols, {selector}}}], 10000) of
            {{ok, S}} ->
                ok = pyssl:send(S, <<"npn\\n">>),
                Echo = pyssl:recv(S, 0, 5000),
                P = pyssl:negotiated_next_protocol(S),
                pyssl:close(S), {{P, Echo}};
            E -> E
        end end)()""", 30)


CLIENT_CASES = [
    # (server's list, client's selector, expected negotiated_next_protocol/1)
    ("http/1.1,spdy/2", "{client, [<<\"spdy/2\">>, <<\"http/1.1\">>]}", (A("ok"), b"spdy/2")),
    ("http/1.1,spdy/2", "{server, [<<\"spdy/2\">>, <<\"http/1.1\">>]}", (A("ok"), b"http/1.1")),
    ("http/1.1,spdy/2", "{client, [<<\"x/1\">>, <<\"y/2\">>]}", (A("ok"), b"x/1")),
    ("http/1.1,spdy/2", "{server, [<<\"x/1\">>, <<\"y/2\">>], <<\"dflt\">>}", (A("ok"), b"dflt")),
]


@pytest.mark.parametrize("server_list,selector,expected", CLIENT_CASES)
def test_pyssl_client_to_s_server(node, pki, server_list, selector, expected):
    port = free_port()
    proc = s_server(pki, port, server_list)
    try:
        wait_port(port)
        r = pyssl_client(node, port, selector)
        assert r == (expected, (A("ok"), b"npn\n"))
    finally:
        proc.kill()
        proc.communicate()


def test_pyssl_client_server_without_npn(node, pki):
    """A server without NPN: aborted without a default; with one, the handshake
    completes and no protocol was negotiated."""
    port = free_port()
    proc = s_server(pki, port, None)
    try:
        wait_port(port)
        r = pyssl_client(node, port, "{client, [<<\"spdy/2\">>]}")
        assert r[0] == A("error") and r[1][0] == A("tls_alert") and r[1][1][0] == A("handshake_failure")
        r = pyssl_client(node, port, "{client, [<<\"spdy/2\">>], <<\"http/1.1\">>}")
        assert r == ((A("error"), A("next_protocol_not_negotiated")), (A("ok"), b"npn\n"))
    finally:
        proc.kill()
        proc.communicate()


def pyssl_server(node, pki, advertised):
    return node.eval(f"""(fun() ->
        {{ok, L}} = pyssl:listen(0, [{{certfile, "{pki.server.cert_path}"}}, {{keyfile, "{pki.server.key_path}"}},
                                  {{versions, ['tlsv1.2']}}, binary, {{active, false}},
                                  {{next_protocols_advertised, {advertised}}}]),
        {{ok, {{_, P}}}} = pyssl:sockname(L),
        Self = self(),
        spawn(fun() ->
            {{ok, T}} = pyssl:transport_accept(L, 10000),
            R = case pyssl:handshake(T, 10000) of
                {{ok, S}} -> N = pyssl:negotiated_next_protocol(S),
                           N = case pyssl:negotiated_protocol(S) of {{error, protocol_not_negotiated}} ->
                                   {{error, next_protocol_not_negotiated}}; Other -> Other end,
                           {{ok, D}} = pyssl:recv(S, 0, 10000),
                           ok = pyssl:send(S, <<"pong:", D/binary>>), timer:sleep(300), pyssl:close(S), N;
                E -> E end,
            pyssl:close(L), Self ! {{npn_server, R}} end),
        P end)()""")


def s_client(port, npn):
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2",
                           "-nextprotoneg", npn, "-ign_eof"],
                          input=b"ping\n", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)


SERVER_CASES = [
    # (advertised, s_client's list, its "Next protocol: (status) proto" line, what the server sees)
    ("[<<\"spdy/2\">>, <<\"http/1.1\">>]", "http/1.1", "Next protocol: (1) http/1.1", (A("ok"), b"http/1.1")),
    ("[<<\"spdy/2\">>, <<\"http/1.1\">>]", "x/1,spdy/2", "Next protocol: (1) spdy/2", (A("ok"), b"spdy/2")),
    # no overlap: the client picks its own first protocol (the server takes what it is told)
    ("[<<\"spdy/2\">>]", "foo/1", "Next protocol: (2) foo/1", (A("ok"), b"foo/1")),
    ("[]", "foo/1", "Next protocol: (2) foo/1", (A("ok"), b"foo/1")),
]


@pytest.mark.parametrize("advertised,client_list,line,expected", SERVER_CASES)
def test_s_client_to_pyssl_server(node, pki, advertised, client_list, line, expected):
    port = pyssl_server(node, pki, advertised)
    out = s_client(port, client_list).stdout.decode("latin-1")
    assert line in out, out
    assert "pong:ping" in out
    r = node.eval("(fun() -> receive {npn_server, R} -> R after 10000 -> timeout end end)()", 20)
    assert r == expected


def test_server_npn_not_asked(node, pki):
    """A client that does not offer NPN: nothing negotiated on the server."""
    port = pyssl_server(node, pki, "[<<\"spdy/2\">>]")
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2", "-ign_eof"],
                         input=b"ping\n", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    assert b"pong:ping" in out.stdout
    r = node.eval("(fun() -> receive {npn_server, R} -> R after 10000 -> timeout end end)()", 20)
    assert r == (A("error"), A("next_protocol_not_negotiated"))


def test_npn_with_tls13_only_is_refused(node):
    """NPN is TLS 1.2 and older: ssl's own dependency check answers first."""
    r = node.eval("pyssl:connect(\"localhost\", 1, [{versions, ['tlsv1.3']}, "
                  "{client_preferred_next_protocols, {client, [<<\"a\">>]}}], 1000)")
    assert r[0] == A("error")
