"""Distribution over TLS with real ``erl -proto_dist inet_tls -ssl_dist_optfile F`` nodes.

The bridge runs ``bridge.tlsdist.TLSCarrier`` on 127.0.0.1 — the same code path as a
bridge on another host. Certificates are made here (support/distpki.py).
"""
import asyncio
from pathlib import Path

import pytest

from bridge.etf import Atom
from bridge.tlsdist import TLSCarrier

from bridgenode import BridgeThread
from conftest import unique
from distpki import DistPKI, tls_erl
from erlnode import ErlNode
from sslcompare import same
from test_service import SCENARIOS, service_set_up

A = Atom
@pytest.fixture(scope="module")
def dpki(tmp_path_factory):
    return DistPKI(tmp_path_factory.mktemp("distpki"))


@pytest.fixture(scope="module")
def tls_bridge(cookie, dpki):
    b = BridgeThread(unique("tlsbridge"), cookie, carrier=TLSCarrier(dpki.options()))
    yield b
    b.stop()


@pytest.fixture(scope="module")
def tls_node(cookie, dpki, tls_bridge, pki):
    """An inet_tls node with the pyssl shim pointed at the TLS-distribution bridge,
    and the ssl servers test_service's scenarios use (its env fixture's set-up)."""
    n = tls_erl(unique("tlserl"), cookie, dpki.optfile("node", dpki.node))
    n.eval(service_set_up(tls_bridge.name, pki))
    yield n
    n.stop()


def test_erl_tls_node_reaches_the_bridge_and_the_link_is_tls(tls_node, tls_bridge):
    assert tls_node.eval(f"rpc:call('{tls_bridge.name}', pyssl_bridge, echo, [hello])") == A("hello")
    assert A(tls_bridge.name) in tls_node.eval("nodes(hidden)")
    # the Erlang node's kernel holds it as a TLS connection (#net_address{protocol = tls})
    assert tls_node.eval(f"(fun() -> {{ok, I}} = net_kernel:node_info('{tls_bridge.name}'), "
                         f"{{address, Addr}} = lists:keyfind(address, 1, I), element(4, Addr) end)()") == A("tls")
    engine = tls_bridge.call(lambda: tls_bridge.node.connections[A(tls_node.name)]
                             .transport.get_extra_info("tls"))
    assert engine is not None and engine.handshake_done


# The service's core scenarios (test_service), run through the TLS distribution link:
# each is the same body with Mod = ssl and Mod = pyssl, results compared.
# A fixed list (not all of SCENARIOS, which grows with set-up this fixture lacks).
CORE = ["active_list_echo", "active_binary_echo", "passive_exact_length", "passive_recv_timeout",
        "recv_bad_length", "active_once", "active_n_passive_message", "packet_line", "packet_4_big",
        "header_mode", "getopts_defaults", "setopts_bad_value", "calls_after_close",
        "peer_close_active", "peer_close_passive", "peer_close_partial_exact_recv",
        "controlling_process_handover", "peername", "sockname_shape", "peercert",
        "connection_information_tls12", "connection_information_tls13", "ecdsa_server",
        "shutdown_write_keeps_reading", "alpn_negotiated", "unknown_ca", "expired_cert",
        "hostname_mismatch", "unknown_critical_extension", "version_mismatch", "econnrefused",
        "connect_timeout", "server_accept_echo", "transport_accept_timeout",
        "server_requires_client_cert_tls12", "server_client_cert_accepted", "format_error_closed"]


@pytest.mark.parametrize("name", CORE)
def test_core_scenarios_over_tls_dist(tls_node, name):
    same(tls_node, SCENARIOS[name])


def test_wrong_cookie_is_refused_over_tls(cookie, dpki, tls_bridge):
    n = ErlNode(unique("tlsbadcookie"), cookie + "x",
                args=["-proto_dist", "inet_tls", "-ssl_dist_optfile", dpki.optfile("badcookie", dpki.node)])
    try:
        assert n.eval(f"net_adm:ping('{tls_bridge.name}')") == A("pang")
        assert A(tls_bridge.name) not in n.eval("nodes(hidden)")
        assert A(n.name) not in tls_bridge.call(tls_bridge.node.connected_nodes)
    finally:
        n.stop()


def test_untrusted_client_certificate_is_refused(cookie, dpki, tls_bridge):
    # right cookie, but a certificate of a CA the bridge does not trust
    n = tls_erl(unique("tlsforeign"), cookie, dpki.optfile("foreign", dpki.foreign))
    try:
        assert n.eval(f"net_adm:ping('{tls_bridge.name}')") == A("pang")
        assert A(n.name) not in tls_bridge.call(tls_bridge.node.connected_nodes)
    finally:
        n.stop()


def test_plain_tcp_node_cannot_reach_a_tls_bridge(make_erl, tls_bridge):
    n = make_erl()
    assert n.eval(f"net_adm:ping('{tls_bridge.name}')") == A("pang")


def test_bridge_dials_a_tls_node(cookie, dpki, tls_bridge):
    n = tls_erl(unique("tlsdialled"), cookie, dpki.optfile("dialled", dpki.node))
    try:
        async def ask():
            return await tls_bridge.node.rpc(n.name, "erlang", "node", [], timeout=20)
        assert tls_bridge.run(ask()) == A(n.name)
        assert A(tls_bridge.name) in n.eval("nodes(hidden)")
    finally:
        n.stop()


def test_bridge_refuses_a_node_whose_certificate_it_does_not_trust(cookie, dpki):
    # the bridge dials; the node presents a certificate of a CA the bridge does not know
    b = BridgeThread(unique("tlsbridge2"), cookie, carrier=TLSCarrier(dpki.options()))
    n = tls_erl(unique("tlsforeignsrv"), cookie, dpki.optfile("foreign_server", dpki.foreign, ca=dpki.ca))
    try:
        async def ask():
            return await b.node.rpc(n.name, "erlang", "node", [], timeout=20)
        assert b.run(ask()) == (A("badrpc"), A("nodedown"))
        assert A(n.name) not in b.call(b.node.connected_nodes)
    finally:
        n.stop()
        b.stop()


def test_server_without_fail_if_no_peer_cert_takes_a_certless_client(cookie, dpki, tmp_path):
    # verify_peer without fail_if_no_peer_cert (an ssl_dist_optfile may say so): a
    # client without a certificate gets in, and the cookie still decides
    b = BridgeThread(unique("tlsbridge3"), cookie,
                     carrier=TLSCarrier(dpki.options(fail_if_no_peer_cert=False)))
    opt = tmp_path / "nocert.conf"
    opt.write_text(f'[{{server, []}}, {{client, [{{cacertfile, "{dpki.ca.cert_path}"}}, '
                   f'{{verify, verify_peer}}]}}].\n')
    n = tls_erl(unique("tlsnocert"), cookie, str(opt))
    try:
        assert n.eval(f"rpc:call('{b.name}', pyssl_bridge, echo, [ok])") == A("ok")
    finally:
        n.stop()
        b.stop()


def test_big_message_both_ways_over_tls(tls_node, tls_bridge):
    # 8 MiB through the link: the bridge writes it in pieces under TLS flow control
    assert tls_node.true(f"(fun() -> B = crypto:strong_rand_bytes(8 bsl 20), "
                         f"rpc:call('{tls_bridge.name}', pyssl_bridge, echo, [B]) =:= B end)()",
                         timeout=120)


def test_bridge_node_stops_cleanly(cookie, dpki):
    b = BridgeThread(unique("tlsbridge4"), cookie, carrier=TLSCarrier(dpki.options()))
    n = tls_erl(unique("tlsstopper"), cookie, dpki.optfile("stopper", dpki.node))
    try:
        assert n.eval(f"net_adm:ping('{b.name}')") == A("pong")
        b.stop()
        assert n.true(f"(fun W(0) -> false; W(I) -> case lists:member('{b.name}', nodes(hidden)) of "
                      f"false -> true; true -> timer:sleep(100), W(I - 1) end end)(100)")
    finally:
        n.stop()


def test_loop_still_serves_after_failed_handshakes(tls_bridge):
    # a TCP client that speaks no TLS and one that hangs up mid-handshake do not hurt
    async def junk():
        r, w = await asyncio.open_connection("127.0.0.1", tls_bridge.node.port)
        w.write(b"\x00\x00\x00\x05hello not tls")
        await w.drain()
        await r.read()          # the bridge closes it
        w.close()
        r2, w2 = await asyncio.open_connection("127.0.0.1", tls_bridge.node.port)
        w2.close()
        return True
    assert tls_bridge.run(junk())


@pytest.mark.parametrize("version", ["tlsv1.3", "tlsv1.2"])
def test_tls_versions_both_ways(cookie, dpki, tls_bridge, version):
    # OTP nodes default to tlsv1.2 for distribution; one configured for 1.3 works too
    n = tls_erl(unique("tlsver"), cookie,
                dpki.optfile(f"v_{version}", dpki.node, extra=f", {{versions, ['{version}']}}"))
    try:
        assert n.eval(f"rpc:call('{tls_bridge.name}', pyssl_bridge, echo, [v])") == A("v")
        engine = tls_bridge.call(lambda: tls_bridge.node.connections[A(n.name)].transport
                                 .get_extra_info("tls"))
        assert engine.version == version
    finally:
        n.stop()


def test_tcp_client_that_never_starts_tls_is_dropped(cookie, dpki):
    # a port scanner: TCP connected, not a byte sent; dropped at the handshake timeout
    b = BridgeThread(unique("tlsidle"), cookie, carrier=TLSCarrier(dpki.options()))
    b.node.handshake_timeout = 0.5      # read at each accept

    async def idle():
        r, w = await asyncio.open_connection("127.0.0.1", b.node.port)
        data = await asyncio.wait_for(r.read(), 30)      # EOF once the bridge gives up
        w.close()
        return data
    try:
        assert b.run(idle(), timeout=60) == b""
    finally:
        b.stop()


def test_tls_failure_after_the_handshake_closes_only_that_connection(dpki, tls_bridge, tls_node):
    # a peer that completes TLS, then sends a record that does not decrypt
    from bridge.tls.transport import open_client

    class Sink:
        def __init__(self):
            self.events = []

        def data_received(self, data):
            self.events.append(("data", data))

        def eof_received(self):
            self.events.append(("eof",))

        def connection_failed(self, exc):
            self.events.append(("failed", exc))

    cfg = tls_bridge.call(lambda: tls_bridge.node.carrier.client_cfg)

    async def spoil():
        sink = Sink()
        conn = await open_client("127.0.0.1", tls_bridge.node.port, cfg, timeout=30, receiver=sink)
        conn.transport.write(b"\x17\x03\x03\x00\x20" + bytes(32))   # application data, bad MAC
        await asyncio.wait_for(conn.wait_closed(), 30)
        return sink.events
    events = tls_bridge.run(spoil(), timeout=60)
    assert any(e[0] in ("failed", "eof") for e in events)
    # the bridge and its other connection are unaffected
    assert tls_node.eval(f"rpc:call('{tls_bridge.name}', pyssl_bridge, echo, [still])") == A("still")


CONFORMANCE_EBIN = Path(__file__).resolve().parents[2] / "_build" / "default" / "lib" / "pyssl_conformance" / "ebin"


@pytest.mark.skipif(not CONFORMANCE_EBIN.is_dir(), reason="rebar3 compile has not built pyssl_conformance")
def test_conformance_runner_over_tls_dist(tls_node, tls_bridge):
    # the whole differential runner (ssl vs pyssl, every scenario)
    # with every request, reply and active message going through the TLS link
    tls_node.eval(f'code:add_patha("{CONFORMANCE_EBIN}")')
    report = tls_node.eval(
        f"(fun() -> R = pyssl_conformance:run([{{modules, [ssl, pyssl]}}, "
        f"{{bridge_node, '{tls_bridge.name}'}}, "
        f"{{print, false}}]), {{maps:get(total, R), maps:get(unexpected, R), "
        f"[maps:get(name, X) || X <- maps:get(results, R), maps:get(verdict, X) =:= different]}} end)()",
        timeout=600)
    total, unexpected, names = report
    assert total >= 300 and unexpected == 0, names


def test_bridge_checks_the_dialled_nodes_host_unless_told_not_to(cookie, dpki, caplog):
    # the node's certificate is from the right CA but names elsewhere.example only
    n = tls_erl(unique("tlswronghost"), cookie, dpki.optfile("wrong_host", dpki.wrong_host))
    checking = BridgeThread(unique("tlsbridge5"), cookie, carrier=TLSCarrier(dpki.options()))
    trusting = BridgeThread(unique("tlsbridge6"), cookie,
                            carrier=TLSCarrier(dpki.options(hostname_check=False)))
    try:
        async def ask(b):
            return await b.node.rpc(n.name, "erlang", "node", [], timeout=20)
        with caplog.at_level("WARNING", logger="bridge.node"):
            assert checking.run(ask(checking)) == (A("badrpc"), A("nodedown"))
        assert any("hostname_check_failed" in r.getMessage() for r in caplog.records)
        assert trusting.run(ask(trusting)) == A(n.name)
    finally:
        n.stop()
        checking.stop()
        trusting.stop()


def test_bridge_dialling_with_a_wrong_cookie_is_refused(cookie, dpki, tls_bridge):
    # TLS succeeds both ways (trusted certificates); the cookie still decides
    n = tls_erl(unique("tlsothercookie"), cookie + "other", dpki.optfile("othercookie", dpki.node))
    try:
        async def ask():
            return await tls_bridge.node.rpc(n.name, "erlang", "node", [], timeout=20)
        assert tls_bridge.run(ask()) == (A("badrpc"), A("nodedown"))
        assert A(n.name) not in tls_bridge.call(tls_bridge.node.connected_nodes)
        assert A(tls_bridge.name) not in n.eval("nodes(hidden)")
    finally:
        n.stop()
