"""SRP (RFC 5054, TLS 1.2) on the tlslite-ng engine, against OTP 25's own ssl.

Each scenario runs with ``Mod = ssl`` and ``Mod = pyssl`` (``sslcompare.same``); the
peer is always the BEAM's ssl. The server's lookup is ssl's test suite's
(``ssl_test_lib:user_lookup/3``): a fresh salt, ``x = SHA1(Salt | SHA1(User ":" "secret"))``.
"""
import pytest

from bridge.etf import Atom

from sslcompare import same


@pytest.fixture(scope="module")
def node(pyssl_node):
    """A node using the module's bridge (conftest)."""
    return pyssl_node


SRP = ("Self = self(), (fun F() -> receive {looked_up, _, _} -> F() after 0 -> ok end end)(), "
       "Suites = [S || S <- ssl:cipher_suites(anonymous, 'tlsv1.2'), maps:get(key_exchange, S) =:= srp_anon], "
       "Lookup = fun(srp, User, St) -> Self ! {looked_up, User, St}, Salt = crypto:strong_rand_bytes(16), "
       "{ok, {srp_1024, Salt, crypto:hash(sha, [Salt, crypto:hash(sha, [User, <<$:>>, <<\"secret\">>])])}} end, "
       "Seen = fun() -> (fun F(Acc) -> receive {looked_up, U, St} -> F([{U, St} | Acc]) after 300 -> lists:sort(Acc) end end)([]) end, "
       "Base = [{versions, ['tlsv1.2']}, {ciphers, Suites}, {active, false}, binary], ")

# an ssl server answering one connection: the handshake's result to Self, then an echo
SSL_SERVER = ("{ok, L} = ssl:listen(0, Base ++ [{user_lookup_fun, {Lookup, st}}]), {ok, {_, P}} = ssl:sockname(L), "
              "spawn(fun() -> {ok, T} = ssl:transport_accept(L, 5000), R = ssl:handshake(T, 5000), "
              "Self ! {srv, element(1, R)}, "
              "case R of {ok, S} -> {ok, D} = ssl:recv(S, 0, 5000), ok = ssl:send(S, <<D/binary, \"!\">>), "
              "timer:sleep(200), ssl:close(S); _ -> ok end end), "
              "SrvR = fun() -> receive {srv, X} -> X after 5000 -> timeout end end, ")

SCENARIOS = {
    "client_echo": SRP + SSL_SERVER +
        "R = case Mod:connect(\"localhost\", P, Base ++ [{srp_identity, {\"alice\", \"secret\"}}], 5000) of "
        "{ok, C} -> ok = Mod:send(C, <<\"srp\">>), X = Mod:recv(C, 0, 5000), "
        "I = Mod:connection_information(C, [protocol, selected_cipher_suite, srp_username]), Mod:close(C), {X, I}; E -> E end, "
        "ssl:close(L), {R, SrvR(), Seen()}",
    "client_wrong_password": SRP + SSL_SERVER +
        "R = Mod:connect(\"localhost\", P, Base ++ [{srp_identity, {\"alice\", \"guess\"}}], 5000), "
        "ssl:close(L), {R, SrvR()}",
    "client_no_identity": SRP + SSL_SERVER +
        "R = Mod:connect(\"localhost\", P, Base, 5000), ssl:close(L), {R, SrvR()}",
    "server_echo": SRP +
        "{ok, L} = Mod:listen(0, Base ++ [{user_lookup_fun, {Lookup, st}}]), {ok, {_, P}} = Mod:sockname(L), "
        "spawn(fun() -> R = ssl:connect(\"localhost\", P, Base ++ [{srp_identity, {\"bob\", \"secret\"}}], 5000), "
        "case R of {ok, C} -> ok = ssl:send(C, <<\"hi\">>), Self ! {client, ssl:recv(C, 0, 5000)}, ssl:close(C); "
        "E -> Self ! {client, E} end end), "
        "{ok, T} = Mod:transport_accept(L, 5000), R = case Mod:handshake(T, 5000) of "
        "{ok, S} -> {ok, D} = Mod:recv(S, 0, 5000), ok = Mod:send(S, <<D/binary, \"!\">>), "
        "I = Mod:connection_information(S, [protocol, selected_cipher_suite, srp_username]), timer:sleep(200), Mod:close(S), I; "
        "E -> E end, Mod:close(L), {R, receive {client, CR} -> CR after 5000 -> timeout end, Seen()}",
    "server_wrong_password": SRP +
        "{ok, L} = Mod:listen(0, Base ++ [{user_lookup_fun, {Lookup, st}}]), {ok, {_, P}} = Mod:sockname(L), "
        "spawn(fun() -> Self ! {client, ssl:connect(\"localhost\", P, Base ++ [{srp_identity, {\"bob\", \"nope\"}}], 5000)} end), "
        "{ok, T} = Mod:transport_accept(L, 5000), R = Mod:handshake(T, 5000), Mod:close(L), "
        # the ssl client sees {error, closed} from ssl's server and the bad_record_mac
        # alert from pyssl's (docs/conformance.md, known difference srp_server_wrong_password)
        "{R, receive {client, {error, _}} -> error after 5000 -> timeout end}",
    "server_no_identity": SRP +
        "{ok, L} = Mod:listen(0, Base ++ [{user_lookup_fun, {Lookup, st}}]), {ok, {_, P}} = Mod:sockname(L), "
        "spawn(fun() -> Self ! {client, ssl:connect(\"localhost\", P, Base, 5000)} end), "
        "{ok, T} = Mod:transport_accept(L, 5000), R = Mod:handshake(T, 5000), Mod:close(L), "
        "{R, receive {client, CR} -> CR after 5000 -> timeout end}",
    "server_lookup_fails": SRP +
        "{ok, L} = Mod:listen(0, Base ++ [{user_lookup_fun, {fun(srp, _, _) -> error end, st}}]), "
        "{ok, {_, P}} = Mod:sockname(L), "
        "spawn(fun() -> Self ! {client, ssl:connect(\"localhost\", P, Base ++ [{srp_identity, {\"bob\", \"secret\"}}], 5000)} end), "
        "{ok, T} = Mod:transport_accept(L, 5000), R = Mod:handshake(T, 5000), Mod:close(L), "
        "{R, receive {client, CR} -> CR after 5000 -> timeout end}",
    # SRP suites are listed as far as the engine negotiates them (tlslite-ng: no srp_dss)
    "cipher_suites_srp_anon": "[S || S <- Mod:cipher_suites(anonymous, 'tlsv1.2'), "
                              "lists:member(maps:get(key_exchange, S), [srp_anon])]",
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_srp_same_as_ssl(node, name):
    same(node, SCENARIOS[name])


def test_srp_with_verify_peer_is_refused_by_name(node):
    """An option set no engine serves: SRP (tlslite-ng) with certificate verification
    (OpenSSL's) is refused naming the option tlslite-ng cannot serve."""
    r = node.eval("{error, {options, {not_supported_by_pyssl, {verify_fun, {F, []}}}}} = "
                  "pyssl:connect(\"localhost\", 1, [{versions, ['tlsv1.2']}, "
                  "{verify_fun, {F = fun(_, _, S) -> {valid, S} end, []}}, {srp_identity, {\"a\", \"b\"}}], 1000), ok")
    assert r == Atom("ok")
