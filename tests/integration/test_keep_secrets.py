"""keep_secrets and the secrets in connection_information/2 (issue 10), side by side
with ssl on one real node: ``client_random``, ``server_random``, ``master_secret``,
the TLS 1.3 traffic secrets and ``keylog`` (ssl_gen_statem:security_info/1 and
maybe_add_keylog/1), TLS 1.2 and 1.3, keep_secrets true and false, pyssl as the
server, as the client and on both ends.

The secrets differ from run to run, so ssl's and pyssl's answers are compared by
shape (items, their order, sizes, labels, hex widths and case); their values are
checked for consistency instead: the two ends of one connection report the same
key log lines (with ssl on one end, pyssl's lines are checked against the secrets
ssl derived itself), and every secret item appears in the lines.
"""
import pytest
from bridgenode import BridgeThread
from conftest import unique
from erlnode import ErlNode
from sslcompare import same

from bridge.etf import Atom


@pytest.fixture(scope="module")
def env(cookie, pki):
    bridge = BridgeThread(unique("bridge"), cookie)
    node = ErlNode(unique("erl"), cookie)
    node.eval(f"ok = ssl:start(), application:set_env(pyssl, bridge_node, '{bridge.name}'), ok = pyssl:start()")
    yield node, pki
    node.stop()
    bridge.stop()


ALL = ("[keylog, protocol, client_traffic_secret_0, server_traffic_secret_0, client_handshake_traffic_secret, "
       "server_handshake_traffic_secret, client_random, server_random, master_secret]")

# Q(M, S): what one end reports; Shape: the run-independent part; Agree: the secret
# items are the ones in the key log lines
HELPERS = f"""
    Q = fun(M, S) -> {{M:connection_information(S, [keylog]),
                       M:connection_information(S, [client_random, server_random, master_secret]),
                       M:connection_information(S, {ALL}),
                       lists:keymember(keylog, 1, element(2, M:connection_information(S)))}} end,
    Hex = fun(B) -> lists:flatten([io_lib:format("~2.16.0B", [X]) || <<X>> <= B]) end,
    LineShape = fun(Li) -> [Label, R, Sec] = string:lexemes(Li, " "),
                           {{Label, length(R), length(Sec), Li =:= string:uppercase(Li),
                            io_lib:printable_list(Li)}} end,
    VShape = fun(keylog, Lines) -> [LineShape(Li) || Li <- Lines];
                (_, B) when is_binary(B) -> {{bytes, byte_size(B)}};
                (_, V) -> V end,
    IShape = fun({{ok, Items}}) -> {{ok, [{{K, VShape(K, V)}} || {{K, V}} <- Items]}}; (E) -> E end,
    Shape = fun({{A, B, C, D}}) -> {{IShape(A), IShape(B), IShape(C), D}} end,
    Agree = fun({{_, _, {{ok, Items}}, _}}) ->
                case lists:keyfind(keylog, 1, Items) of
                    false -> no_keylog;
                    {{keylog, Lines}} ->
                        lists:all(fun({{server_random, _}}) -> true;
                                     ({{_, B}}) when is_binary(B) ->
                                          lists:any(fun(Li) -> string:find(Li, Hex(B)) =/= nomatch end, Lines);
                                     (_) -> true end, Items)
                end end,
"""


def _body(pki, version, server_mod, client_mod, keep, extra=""):
    return HELPERS + f"""
    SM = {server_mod}, CM = {client_mod},
    {{ok, L}} = SM:listen(0, [{{certfile, "{pki.server.cert_path}"}}, {{keyfile, "{pki.server.key_path}"}},
                             {{versions, ['{version}']}}, {{keep_secrets, {keep}}}, {{active, false}}{extra}]),
    {{ok, {{_, Port}}}} = SM:sockname(L), Me = self(),
    Srv = spawn(fun() -> {{ok, T}} = SM:transport_accept(L), {{ok, S}} = SM:handshake(T),
                        Me ! {{srv, Q(SM, S)}}, receive stop -> SM:close(S) end end),
    {{ok, C}} = CM:connect("localhost", Port, [{{verify, verify_none}}, {{versions, ['{version}']}},
                                              {{keep_secrets, {keep}}}, {{active, false}}]),
    SI = receive {{srv, X}} -> X end,
    CI = Q(CM, C),
    Srv ! stop, CM:close(C), SM:close(L),
    {{Shape(SI), Shape(CI), element(1, SI) =:= element(1, CI), Agree(SI), Agree(CI)}}"""


@pytest.mark.parametrize("version", ["tlsv1.2", "tlsv1.3"])
@pytest.mark.parametrize("keep", ["true", "false"])
@pytest.mark.parametrize("pyssl_on", ["server", "client", "both"])
def test_secrets_and_keylog_same_as_ssl(env, version, keep, pyssl_on):
    node, pki = env
    server_mod = "Mod" if pyssl_on in ("server", "both") else "ssl"
    client_mod = "Mod" if pyssl_on in ("client", "both") else "ssl"
    res = same(node, "(fun() -> " + _body(pki, version, server_mod, client_mod, keep) + " end)()")
    server, client, lines_equal, server_agrees, client_agrees = res
    assert lines_equal is True
    has_keylog = version == "tlsv1.2" or keep == "true"
    assert server_agrees == client_agrees == (True if has_keylog else Atom("no_keylog")), res
    assert bool(server[0][1]) == has_keylog          # connection_information(S, [keylog])
    assert server[3] is False and client[3] is False   # connection_information/1 has no keylog


def test_keylog_lines_are_ssls_for_tls13(env):
    """The TLS 1.3 lines in ssl's order, the secrets as long as the suite's hash: 64 digits
    for SHA-256 (the default suite, SHA-384, makes the 96 digits of the test above)."""
    node, pki = env
    body = f"""(fun() ->
        {{ok, L}} = Mod:listen(0, [{{certfile, "{pki.server.cert_path}"}}, {{keyfile, "{pki.server.key_path}"}},
                                  {{versions, ['tlsv1.3']}}, {{keep_secrets, true}}, {{active, false}}]),
        {{ok, {{_, Port}}}} = Mod:sockname(L), Me = self(),
        spawn(fun() -> {{ok, T}} = Mod:transport_accept(L), {{ok, S}} = Mod:handshake(T),
                      Me ! {{srv, S}}, receive stop -> ok end end),
        {{ok, C}} = ssl:connect("localhost", Port, [{{verify, verify_none}}, {{versions, ['tlsv1.3']}},
            {{keep_secrets, true}}, {{ciphers, [#{{cipher => aes_128_gcm, key_exchange => any, mac => aead,
                                                prf => sha256}}]}}, {{active, false}}]),
        S = receive {{srv, X}} -> X end,
        {{ok, [{{keylog, Lines}}]}} = Mod:connection_information(S, [keylog]),
        ssl:close(C), Mod:close(L),
        [{{hd(string:lexemes(Li, " ")), [length(P) || P <- tl(string:lexemes(Li, " "))]}} || Li <- Lines]
        end)()"""
    res = same(node, body)
    assert [r[0] for r in res] == [list(b"CLIENT_HANDSHAKE_TRAFFIC_SECRET"), list(b"SERVER_HANDSHAKE_TRAFFIC_SECRET"),
                                   list(b"CLIENT_TRAFFIC_SECRET_0"), list(b"SERVER_TRAFFIC_SECRET_0")]
    assert {tuple(r[1]) for r in res} == {(64, 64)}


def test_keylog_after_an_sni_switch_same_as_ssl(env):
    """sni_hosts switches the connection to another OpenSSL context after the
    ClientHello: that context keeps the listen socket's keep_secrets (as ssl merges
    the host's options over the listen socket's), so the secrets are still recorded."""
    node, pki = env
    sni = f', {{sni_hosts, [{{"localhost", [{{certfile, "{pki.ec_server.cert_path}"}}, {{keyfile, "{pki.ec_server.key_path}"}}]}}]}}'
    res = same(node, "(fun() -> " + _body(pki, "tlsv1.3", "Mod", "ssl", "true", sni) + " end)()")
    assert res[2:] == (True, True, True)
    assert len(res[0][0][1][0][1]) == 4          # the four TLS 1.3 lines
