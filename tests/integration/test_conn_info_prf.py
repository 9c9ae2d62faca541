"""connection_information/1,2 in full, prf/5 and max_fragment_length (issue 10), side
by side with ssl on one real node.

connection_information: the connection's items, then every ssl option of the socket
(ssl_gen_statem:ssl_options_list/1, built by the shim's pyssl_info from ssl's own
handle_options), then the secrets. Funs, session ids and data, randoms and the curve
differ from run to run or between TLS stacks: they are normalised, and the curve is
checked against what the ssl peer of the same connection reports.

prf: both ends of one connection (pyssl on one, ssl on the other) must derive the
same bytes; the errors are ssl's (tls_dtls_connection:handle_call/4's catch). The
PRF itself is also checked against OTP's tls_v1:prf/5 directly.
"""
from pathlib import Path

import pytest
from sslcompare import same

from bridge.etf import Atom
from bridge.service import prf as prf_mod


@pytest.fixture(scope="module")
def env(pyssl_node, pki):
    """A node using the module's bridge (conftest), and the certificates."""
    return pyssl_node, pki


# Run(SM, CM, V, SrvExtra, CliExtra, Q): server module SM, client module CM, version
# V; Q(M, S) on each end; {ServerAnswer, ClientAnswer}
def _helpers(pki) -> str:
    return f"""
    NF = fun NF(F) when is_function(F) -> 'FUN';
             NF(T) when is_tuple(T) -> list_to_tuple(NF(tuple_to_list(T)));
             NF([H | T]) -> [NF(H) | NF(T)];
             NF(M) when is_map(M) -> maps:map(fun(_, V) -> NF(V) end, M);
             NF(X) -> X end,
    Norm = fun({{ok, I}}) -> {{ok, [{{K, case K of
                                       session_id -> is_binary(V); session_data -> is_binary(V);
                                       client_random -> byte_size(V); server_random -> byte_size(V);
                                       master_secret -> byte_size(V); ecc -> ecc;
                                       keylog -> length(V);
                                       _ -> NF(V) end}} || {{K, V}} <- I]}};
              (E) -> E end,
    Run = fun(SM, CM, V, SExtra, CExtra, Q) ->
        {{ok, L}} = SM:listen(0, [{{certfile, "{pki.server.cert_path}"}}, {{keyfile, "{pki.server.key_path}"}},
                                 {{versions, [V]}}, {{active, false}} | SExtra]),
        {{ok, {{_, Port}}}} = SM:sockname(L), Me = self(),
        Srv = spawn(fun() -> {{ok, T}} = SM:transport_accept(L), {{ok, S}} = SM:handshake(T),
                            Me ! {{srv, Q(SM, S)}}, receive stop -> SM:close(S) end end),
        {{ok, C}} = CM:connect("localhost", Port, [{{versions, [V]}}, {{active, false}} | CExtra]),
        SI = receive {{srv, X}} -> X end,
        CI = Q(CM, C),
        Srv ! stop, CM:close(C), SM:close(L),
        {{SI, CI}} end,
"""


@pytest.mark.parametrize("version", ["tlsv1.2", "tlsv1.3"])
def test_connection_information_all_as_ssl(env, version):
    node, pki = env
    body = _helpers(pki) + f"""
    Q = fun(M, S) -> {{Norm(M:connection_information(S)),
                       Norm(M:connection_information(S, [log_level, protocol, verify, ciphers,
                                                         client_random, keylog, nothing, 1]))}} end,
    Run(Mod, Mod, '{version}', [{{log_level, error}}],
        [{{verify, verify_none}}, {{server_name_indication, "localhost"}}], Q)"""
    srv, cli = same(node, body)
    keys = [k for k, _ in srv[0][1]]
    # the connection's items first, then the options, ssl_options_list/1's way
    assert keys[:5] == [Atom("protocol"), Atom("session_id"), Atom("session_data"),
                        Atom("session_resumption"), Atom("selected_cipher_suite")]
    assert (Atom("log_level"), Atom("error")) in srv[0][1]
    assert Atom("protocol") not in keys[5:] and Atom("max_fragment_length") not in keys
    assert any(k == Atom("verify") for k, _ in cli[0][1])


def test_connection_information_handshake_options(env):
    """handshake/2's options are processed over the listen socket's (log_level)."""
    node, pki = env
    body = f"""
    {{ok, L}} = Mod:listen(0, [{{certfile, "{pki.server.cert_path}"}}, {{keyfile, "{pki.server.key_path}"}},
                              {{log_level, warning}}, {{active, false}}]),
    {{ok, {{_, Port}}}} = Mod:sockname(L), Me = self(),
    spawn(fun() -> {{ok, C}} = ssl:connect("localhost", Port, [{{verify, verify_none}}]),
                   receive stop -> ssl:close(C) end end),
    {{ok, T}} = Mod:transport_accept(L),
    {{ok, S}} = Mod:handshake(T, [{{log_level, error}}]),
    R = Mod:connection_information(S, [log_level, keep_secrets]),
    Mod:close(S), Mod:close(L), R"""
    ok, items = same(node, body)
    assert sorted(items) == [(Atom("keep_secrets"), False), (Atom("log_level"), Atom("error"))]


def test_connection_information_items_errors(env):
    node, pki = env
    body = _helpers(pki) + """
    Try = fun(F) -> try F() catch C:R -> {C, R} end end,
    Q = fun(M, S) -> {Try(fun() -> M:connection_information(S, not_a_list) end),
                      Try(fun() -> M:connection_information(S, [a | b]) end),
                      M:connection_information(S, [<<"x">>, 7])} end,
    Run(Mod, Mod, 'tlsv1.2', [], [{verify, verify_none}], Q)"""
    srv, _ = same(node, body)
    assert srv[2] == (Atom("ok"), [])


def test_connection_information_listen_socket(env):
    node, pki = env
    body = f"""
    {{ok, L}} = Mod:listen(0, [{{certfile, "{pki.server.cert_path}"}}, {{keyfile, "{pki.server.key_path}"}}]),
    R = {{Mod:connection_information(L),
          try Mod:connection_information(L, [protocol]) catch C:E -> {{C, E}} end}},
    Mod:close(L), R"""
    assert same(node, body)[0] == (Atom("error"), Atom("enotconn"))


@pytest.mark.parametrize("pyssl_end", ["server", "client"])
def test_ecc_agrees_with_ssl_peer(env, pyssl_end):
    """The curve depends on both stacks: both ends of one connection report it alike."""
    node, pki = env
    sm, cm = ("pyssl", "ssl") if pyssl_end == "server" else ("ssl", "pyssl")
    body = _helpers(pki) + f"""
    Q = fun(M, S) -> M:connection_information(S, [ecc]) end,
    {{A, B}} = Run({sm}, {cm}, 'tlsv1.2', [], [{{verify, verify_none}}], Q), {{A, B, A =:= B}}"""
    a, _b, agree = node.eval("(fun() -> " + body + " end)()")
    assert agree is True
    assert a[1] and a[1][0][0] == Atom("ecc") and a[1][0][1][0] == Atom("named_curve")


PRF_CALLS = """
    Q = fun(M, S) -> [catch M:prf(S, master_secret, <<"key expansion">>, [server_random, client_random], 40),
                      catch M:prf(S, <<"k">>, "iolist label", [<<"seed">>, client_random], 33),
                      catch M:prf(S, <<>>, <<>>, [<<>>], 16),
                      catch M:prf(S, master_secret, <<"l">>, [], 0),
                      catch M:prf(S, master_secret, <<"l">>, [], -3),
                      catch M:prf(S, master_secret, <<"l">>, [bad], 16),
                      catch M:prf(S, nope, <<"l">>, [], 16),
                      catch M:prf(S, master_secret, <<"l">>, nope, 16),
                      catch M:prf(S, master_secret, nope, [], 16),
                      catch M:prf(S, master_secret, <<"l">>, [], nope)] end,
"""


@pytest.mark.parametrize("pyssl_end", ["server", "client", "both"])
@pytest.mark.parametrize("suite", ["default", "sha256", "default_prf"])
def test_prf_both_ends_agree(env, pyssl_end, suite):
    node, pki = env
    sm, cm = {"server": ("pyssl", "ssl"), "client": ("ssl", "pyssl"), "both": ("pyssl", "pyssl")}[pyssl_end]
    ciphers = {"default": "",
               "sha256": ", {ciphers, [#{key_exchange => ecdhe_rsa, cipher => aes_128_gcm, mac => aead, prf => sha256}]}",
               "default_prf": ", {ciphers, [#{key_exchange => ecdhe_rsa, cipher => aes_128_cbc, mac => sha, prf => default_prf}]}"}[suite]
    body = _helpers(pki) + PRF_CALLS + f"""
    Run({sm}, {cm}, 'tlsv1.2', [], [{{verify, verify_none}}{ciphers}], Q)"""
    srv, cli = node.eval("(fun() -> " + body + " end)()")
    assert srv == cli
    assert len(srv[0][1]) == 40 and len(srv[1][1]) == 33
    assert srv[3:] == [(Atom("ok"), []), (Atom("ok"), []),
                       (Atom("error"), Atom("function_clause")),
                       (Atom("error"), (Atom("case_clause"), Atom("nope"))),
                       (Atom("error"), (Atom("case_clause"), Atom("nope"))),
                       (Atom("error"), Atom("badarg")),
                       (Atom("error"), Atom("badarith"))]


def test_prf_errors_as_ssl(env):
    node, pki = env
    body = _helpers(pki) + PRF_CALLS + """
    {A, _} = Run(Mod, Mod, 'tlsv1.2', [], [{verify, verify_none}], Q),
    [case X of {ok, B} when is_binary(B) -> {ok, byte_size(B)}; _ -> X end || X <- A]"""
    same(node, body)


def test_prf_tls13_answers_at_close(env):
    """ssl 10.8.7 postpones the prf call on a TLS 1.3 connection: it is answered,
    {error, closed}, once the connection ends."""
    node, pki = env
    body = _helpers(pki) + """
    Q = fun(M, S) -> Me = self(),
                     spawn(fun() -> Me ! {prf, M:prf(S, master_secret, <<"l">>, [client_random], 8)} end),
                     ok = M:close(S),
                     receive {prf, R} -> R after 20000 -> no_answer end end,
    Run(Mod, Mod, 'tlsv1.3', [], [{verify, verify_none}], Q)"""
    srv, cli = same(node, body)
    assert srv == cli == (Atom("error"), Atom("closed"))


@pytest.mark.parametrize("version", ["tlsv1", "tlsv1.1", "tlsv1.2"])
@pytest.mark.parametrize("name", ["sha256", "sha384", "default_prf"])
def test_prf_function_as_tls_v1(env, version, name):
    """bridge.service.prf against OTP's own tls_v1:prf/5 (odd secret lengths too)."""
    node, _ = env
    secret, text = bytes(range(7, 60)), b"label" + bytes(range(100))
    algo = {"tlsv1": "md5sha", "tlsv1.1": "md5sha"}.get(version, {"default_prf": "sha256"}.get(name, name))
    macro = {"md5sha": 4711, "sha256": 4, "sha384": 5}[algo]   # ?MD5SHA, ?SHA256, ?SHA384
    want = node.eval(f"tls_v1:prf({macro}, <<{','.join(map(str, secret))}>>, <<>>, "
                     f"<<{','.join(map(str, text))}>>, 77)")
    assert prf_mod.tls_prf(version, name, secret, text, 77) == want


def test_max_fragment_length_server(env):
    """An ssl client asks for 1024-byte records: libssl, as the server, answers it and
    pyssl reports it as ssl does; data larger than one record still arrives."""
    node, pki = env
    body = _helpers(pki) + """
    Q = fun(M, S) -> {M:connection_information(S, [max_fragment_length]),
                      case M of ssl -> ok; pyssl -> ok end} end,
    {SI, _} = Run(Mod, ssl, 'tlsv1.2', [], [{verify, verify_none}, {max_fragment_length, 1024}], Q),
    SI"""
    assert same(node, body)[0] == (Atom("ok"), [(Atom("max_fragment_length"), 1024)])


def test_max_fragment_length_client_refused(env):
    node, _ = env
    r = node.eval('pyssl:connect("localhost", 1, [{max_fragment_length, 1024}, {verify, verify_none}])')
    assert r == (Atom("error"), (Atom("options"), (Atom("not_supported_by_pyssl"),
                                                    (Atom("max_fragment_length"), 1024))))
    # a bad value is refused as ssl refuses it
    same(node, 'Mod:connect("localhost", 1, [{max_fragment_length, 100}])')


def test_protocol_version_env_is_the_default(env):
    """ssl's app env protocol_version (on the caller's node) sets the default versions,
    as tls_record:supported_protocol_versions/0 reads it; given versions win."""
    node, pki = env
    body = _helpers(pki) + """
    Q = fun(M, S) -> {ok, [P]} = M:connection_information(S, [protocol]), P end,
    Old = application:get_env(ssl, protocol_version),
    try
        ok = application:set_env(ssl, protocol_version, ['tlsv1.2']),
        A = Run(Mod, Mod, 'tlsv1.2', [], [{verify, verify_none}], Q),
        {ok, L} = Mod:listen(0, [{certfile, "%s"}, {keyfile, "%s"}]),
        {ok, {_, Port}} = Mod:sockname(L),
        Acc = fun() -> {ok, T} = Mod:transport_accept(L), {ok, _} = Mod:handshake(T) end,
        spawn(fun() -> Acc(), Acc(), receive stop -> ok end end),
        {ok, C} = Mod:connect("localhost", Port, [{verify, verify_none}]),
        B = Q(Mod, C),
        {ok, C2} = ssl:connect("localhost", Port, [{verify, verify_none}, {versions, ['tlsv1.3', 'tlsv1.2']}]),
        C3 = Q(ssl, C2),
        Mod:close(C), ssl:close(C2), Mod:close(L),
        {A, B, C3, Mod:listen(0, [])}
    after
        case Old of {ok, V} -> application:set_env(ssl, protocol_version, V);
                    undefined -> application:unset_env(ssl, protocol_version) end
    end""" % (pki.server.cert_path, pki.server.key_path)
    r = same(node, body)
    p12 = (Atom("protocol"), Atom("tlsv1.2"))
    assert r[0] == (p12, p12) and r[1] == r[2] == p12
    assert r[3] == (Atom("error"), Atom("nooptions"))


def test_sni_fun_versions(env):
    """sni_fun's versions choose the version, as in ssl (ssl_gen_statem:handle_sni_extension/2
    runs before the version is chosen; pyssl applies them before OpenSSL reads the hello)."""
    node, pki = env
    body = f"""
    Run = fun(SM, SniV) ->
        Fun = fun("localhost") -> [{{versions, SniV}}]; (_) -> undefined end,
        {{ok, L}} = SM:listen(0, [{{versions, ['tlsv1.3', 'tlsv1.2']}}, {{sni_fun, Fun}},
                                 {{certfile, "{pki.server.cert_path}"}}, {{keyfile, "{pki.server.key_path}"}}]),
        {{ok, {{_, P}}}} = SM:sockname(L), Me = self(),
        %% the server's owner stays until the client has asked (no close racing it)
        Srv = spawn(fun() -> {{ok, T}} = SM:transport_accept(L),
                             Me ! {{srv, case SM:handshake(T, 5000) of
                                           {{ok, S}} -> SM:connection_information(S, [protocol]); E -> E end}},
                             receive stop -> ok end end),
        C = case ssl:connect("localhost", P, [{{verify, verify_none}}, {{versions, ['tlsv1.3', 'tlsv1.2']}}], 5000) of
                {{ok, CS}} -> ssl:connection_information(CS, [protocol]); E -> E end,
        SI = receive {{srv, X}} -> X after 8000 -> srv_timeout end,
        Srv ! stop,
        SM:close(L),
        {{SI, C}} end,
    [{{Run(ssl, V), Run(pyssl, V)}} || V <- [['tlsv1.3'], ['tlsv1.2']]]"""
    (same13, same13b), (ssl12, pyssl12) = node.eval("(fun() -> " + body + " end)()")
    assert same13 == same13b
    assert ssl12[0] == (Atom("ok"), [(Atom("protocol"), Atom("tlsv1.2"))])
    assert pyssl12 == ssl12


@pytest.mark.parametrize("form", ["files", "ders"])
def test_certs_keys_single_pair(env, form):
    """One certs_keys pair is the server's certificate and key, as in ssl (given as
    files or as DER, and winning over certfile/keyfile); several pairs that carry
    their own chain certificates are refused by name (the bindings cannot give a
    pair its own chain)."""
    node, pki = env
    pair = (f'#{{certfile => "{pki.server.cert_path}", keyfile => "{pki.server.key_path}"}}'
            if form == "files" else
            f'(fun() -> {{ok, CP}} = file:read_file("{pki.server.cert_path}"), '
            f'{{ok, KP}} = file:read_file("{pki.server.key_path}"), '
            '[{_, CD, _}] = public_key:pem_decode(CP), [{KT, KD, _}] = public_key:pem_decode(KP), '
            '#{cert => CD, key => {KT, KD}} end)()')
    body = f"""
    {{ok, L}} = Mod:listen(0, [{{certs_keys, [{pair}]}}, {{certfile, "/nonexistent.pem"}}, {{active, false}}]),
    {{ok, {{_, Port}}}} = Mod:sockname(L), Me = self(),
    Srv = spawn(fun() -> {{ok, T}} = Mod:transport_accept(L), Me ! {{srv, Mod:handshake(T, 5000)}},
                         receive stop -> ok end end),
    {{ok, C}} = ssl:connect("localhost", Port, [{{verify, verify_peer}}, {{cacertfile, "{pki.ca.cert_path}"}}], 5000),
    {{ok, Der}} = ssl:peercert(C),
    {{ok, [{{_, Cp, _}}]}} = {{ok, public_key:pem_decode(element(2, file:read_file("{pki.server.cert_path}")))}},
    S = receive {{srv, {{ok, _}}}} -> ok; {{srv, E}} -> E end,
    Srv ! stop, ssl:close(C), Mod:close(L),
    {{S, Der =:= Cp}}"""
    assert same(node, body) == (Atom("ok"), True)
    two = f"""Mod:listen(0, [{{certs_keys, [{pair}, {pair}]}}])"""
    r = node.eval("pyssl:" + two.split("Mod:", 1)[1])
    assert r[0] == Atom("ok")
    node.eval("pyssl:close(element(2, pyssl:" + two.split("Mod:", 1)[1] + "))")


# Chains(KeyConf): a public_key:pkix_test_data/1 server and client chain of one key
# type (root, intermediate, peer), as ssl_api_SUITE's eddsa/ecdsa_cert_chains/0;
# Pair(Conf): its #{cert, key} map and trusted certificates
_CHAINS = """
    Chains = fun(K) -> C = [{key, K}, {digest, sha256}],
                 public_key:pkix_test_data(#{server_chain => #{root => C, intermediates => [C], peer => C},
                                             client_chain => #{root => C, intermediates => [C], peer => C}}) end,
    Pair = fun(Opts) -> {#{cert => proplists:get_value(cert, Opts), key => proplists:get_value(key, Opts)},
                         proplists:get_value(cacerts, Opts)} end,
    Ed = Chains({namedCurve, ed25519}), Ec = Chains({namedCurve, secp256r1}), Rsa = Chains({rsa, 2048, 65537}),
    Sides = fun(Chs) -> lists:unzip([Pair(maps:get(Side, Ch)) || Ch <- Chs, Side <- [server_config]]) end,
    CSides = fun(Chs) -> lists:unzip([Pair(maps:get(Side, Ch)) || Ch <- Chs, Side <- [client_config]]) end,
    Name = fun(Der, Chs) -> hd([N || {N, Ch} <- Chs, Side <- [server_config, client_config],
                                     proplists:get_value(cert, maps:get(Side, Ch)) =:= Der] ++ [other]) end,
"""


def _select_body(role: str, server_chains: str, client_chains: str, versions: str, extra="") -> str:
    """Which certificate each end shows when both hold several certs_keys pairs
    (ssl_api_SUITE's select_best_cert/selected_peer), with ``Mod`` on ``role``'s end
    and ssl on the other: {ServerSaw, ClientSaw, Protocol} by key name."""
    sm, cm = ("Mod", "ssl") if role == "server" else ("ssl", "Mod")
    return _CHAINS + f"""
    All = [{{ed, Ed}}, {{ec, Ec}}, {{rsa, Rsa}}],
    {{SPairs, SCA}} = Sides({server_chains}), {{CPairs, CCA}} = CSides({client_chains}),
    Common = [{{verify, verify_peer}}, {{versions, {versions}}}, {{active, false}}{extra}],
    {{ok, L}} = {sm}:listen(0, [{{certs_keys, SPairs}}, {{cacerts, lists:append(SCA)}},
                               {{fail_if_no_peer_cert, true}} | Common]),
    {{ok, {{_, Port}}}} = {sm}:sockname(L), Me = self(),
    Srv = spawn(fun() -> {{ok, T}} = {sm}:transport_accept(L),
                         Me ! {{srv, case {sm}:handshake(T, 5000) of
                                        {{ok, S}} -> {{ok, P}} = {sm}:peercert(S), Name(P, All);
                                        E -> E end}},
                         receive stop -> ok end end),
    R = case {cm}:connect("localhost", Port, [{{certs_keys, CPairs}}, {{cacerts, lists:append(CCA)}},
                                               {{server_name_indication, disable}} | Common], 5000) of
            {{ok, C}} -> {{ok, P}} = {cm}:peercert(C),
                       {{ok, [{{protocol, V}}]}} = {cm}:connection_information(C, [protocol]),
                       SSaw = receive {{srv, X}} -> X end, {cm}:close(C), {{SSaw, Name(P, All), V}};
            E -> {{receive {{srv, X}} -> X end, E}}
        end,
    Srv ! stop, {sm}:close(L), R"""


@pytest.mark.parametrize("role", ["server", "client"])
@pytest.mark.parametrize("versions,expect", [
    # TLS 1.3 takes an EdDSA pair before an ECDSA one, whatever the list's order
    ("['tlsv1.3', 'tlsv1.2']", (Atom("ed"), Atom("ed"), Atom("tlsv1.3"))),
    # TLS 1.2: ssl uses no EdDSA pair
    ("['tlsv1.2']", (Atom("ec"), Atom("ec"), Atom("tlsv1.2"))),
])
def test_certs_keys_select_best(env, role, versions, expect):
    """Several certs_keys pairs: each end shows the pair ssl would choose for the
    version (ssl_api_SUITE select_best_cert), with pyssl as server and as client."""
    node, _pki = env
    assert same(node, _select_body(role, "[Ec, Ed]", "[Ec, Ed]", versions)) == expect


@pytest.mark.parametrize("role", ["server", "client"])
def test_certs_keys_select_rsa_and_ecdsa_tls12(env, role):
    """TLS 1.2 with RSA and ECDSA pairs: ECDSA goes first, RSA listed first or not."""
    node, _pki = env
    assert same(node, _select_body(role, "[Rsa, Ec]", "[Rsa, Ec]", "['tlsv1.2']")) \
        == (Atom("ec"), Atom("ec"), Atom("tlsv1.2"))


@pytest.mark.parametrize("role", ["server", "client"])
def test_certs_keys_select_by_peer_schemes(env, role):
    """A pair the peer's signature_algs leave out is passed over: a TLS 1.2 server
    takes its RSA pair when the client offers RSA signatures only (no ECDSA suite
    is left for the ECDSA pair)."""
    node, _pki = env
    extra = ", {signature_algs, [{sha256, rsa}]}"
    assert same(node, _select_body(role, "[Ec, Rsa]", "[Rsa]", "['tlsv1.2']", extra)) \
        == (Atom("rsa"), Atom("rsa"), Atom("tlsv1.2"))


def test_certs_keys_pair_with_chain_refused(env):
    """A pair among several that brings its own chain certificates is refused by
    name: the chain could not be sent with that pair alone."""
    node, _pki = env
    body = _CHAINS + """
    {[P1, P2], _} = Sides([Ec, Ed]),
    #{cert := C1} = P1,
    pyssl:listen(0, [{certs_keys, [P1#{cert => [C1, C1]}, P2]}])"""
    r = node.eval("(fun() -> " + body + " end)()")
    assert r[0] == Atom("error") and r[1][1][0] == Atom("not_supported_by_pyssl")
    assert r[1][1][1][0] == Atom("certs_keys")


def test_connection_information_handshake_continue_options(env):
    """handshake_continue/3's options are processed over the paused socket's, in its
    role (here a client), as ssl's connection process does."""
    node, pki = env
    body = f"""
    {{ok, L}} = ssl:listen(0, [{{certfile, "{pki.server.cert_path}"}}, {{keyfile, "{pki.server.key_path}"}}]),
    {{ok, {{_, P}}}} = ssl:sockname(L),
    spawn(fun() -> {{ok, T}} = ssl:transport_accept(L), {{ok, _}} = ssl:handshake(T), receive stop -> ok end end),
    {{ok, S, _}} = Mod:connect("localhost", P, [{{verify, verify_none}}, {{handshake, hello}}, {{log_level, warning}}], 5000),
    {{ok, S2}} = Mod:handshake_continue(S, [{{log_level, error}}], 5000),
    R = Mod:connection_information(S2, [log_level, handshake]),
    Mod:close(S2), ssl:close(L), R"""
    ok, items = same(node, body)
    assert ok == Atom("ok") and (Atom("log_level"), Atom("error")) in items


def test_certs_keys_pair_certfile_with_chain_refused(env, tmp_path):
    """A pair among several whose certfile holds a chain is refused by name once
    the file is read (its chain could not be sent with that pair alone)."""
    node, pki = env
    chain = tmp_path / "chain.pem"
    chain.write_bytes(Path(pki.server.cert_path).read_bytes() + Path(pki.ca.cert_path).read_bytes())
    pair = f'#{{certfile => "{chain}", keyfile => "{pki.server.key_path}"}}'
    r = node.eval(f"""(fun() -> {{ok, L}} = ssl:listen(0, [{{certfile, "{pki.server.cert_path}"}},
                                                       {{keyfile, "{pki.server.key_path}"}}]),
                              {{ok, {{_, P}}}} = ssl:sockname(L),
                              R = pyssl:connect("localhost", P, [{{certs_keys, [{pair}, {pair}]}}], 5000),
                              ssl:close(L), R end)()""")
    assert r[0] == Atom("error") and r[1][1][0] == Atom("not_supported_by_pyssl")
    assert r[1][1][1][0] == Atom("certs_keys")


@pytest.mark.parametrize("role", ["server", "client"])
def test_certs_keys_key_of_other_pair(env, role):
    """A pair whose key is not its certificate's: ssl takes the options and fails
    the handshake; pyssl fails it too (an Erlang error, the bridge goes on)."""
    node, _pki = env
    sm, cm = ("pyssl", "ssl") if role == "server" else ("ssl", "pyssl")
    body = _CHAINS + f"""
    {{[P1, #{{key := K2}} = P2], CA}} = Sides([Ec, Ed]),
    {{_, CCA}} = CSides([Ec, Ed]),
    Bad = [{{certs_keys, [P1#{{key => K2}}, P2]}}],
    Good = [{{certs_keys, [P1, P2]}}],
    {{SOpts, COpts}} = case {role} of server -> {{Bad, Good}}; client -> {{Good, Bad}} end,
    {{ok, L}} = {sm}:listen(0, [{{active, false}}, {{cacerts, lists:append(CA)}}, {{versions, ['tlsv1.2']}},
                               {{verify, verify_peer}}, {{fail_if_no_peer_cert, true}} | SOpts]),
    {{ok, {{_, Port}}}} = {sm}:sockname(L), Me = self(),
    spawn(fun() -> {{ok, T}} = {sm}:transport_accept(L), Me ! {{srv, {sm}:handshake(T, 5000)}} end),
    C = {cm}:connect("localhost", Port, [{{active, false}}, {{verify, verify_none}}, {{versions, ['tlsv1.2']}},
                                         {{cacerts, lists:append(CCA)}} | COpts], 5000),
    S = receive {{srv, X}} -> X after 6000 -> {{error, no_connection}} end,
    {sm}:close(L),
    {{element(1, S), element(1, C)}}"""
    assert Atom("error") in node.eval("(fun() -> " + body + " end)()")


_SHA1_13 = ("[ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, eddsa_ed25519]",
            "[ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, eddsa_ed25519, ecdsa_sha1]")
_SHA1_12 = ("[{sha256, ecdsa}, {sha256, rsa}]", "[{sha256, ecdsa}, {sha256, rsa}, {sha, ecdsa}]")


def _sha1_body(role: str, version: str, client_algs: str, server_algs: str) -> str:
    """A SHA-1-signed ECDSA chain on both ends (ssl_api_SUITE select_sha1_cert):
    {ServerResult, ClientResult} with ``Mod`` on ``role``'s end."""
    sm, cm = ("Mod", "ssl") if role == "server" else ("ssl", "Mod")
    return f"""
    C = [{{digest, sha}}, {{key, {{namedCurve, secp256r1}}}}],
    #{{server_config := SO, client_config := CO}} =
        public_key:pkix_test_data(#{{server_chain => #{{root => C, intermediates => [C], peer => C}},
                                    client_chain => #{{root => C, intermediates => [C], peer => C}}}}),
    {{ok, L}} = {sm}:listen(0, [{{active, false}}, {{versions, ['{version}']}},
                               {{signature_algs, {server_algs}}} | SO]),
    {{ok, {{_, Port}}}} = {sm}:sockname(L), Me = self(),
    spawn(fun() -> {{ok, T}} = {sm}:transport_accept(L), Me ! {{srv, {sm}:handshake(T, 5000)}} end),
    R = {cm}:connect("localhost", Port, [{{active, false}}, {{verify, verify_peer}}, {{versions, ['{version}']}},
                                         {{server_name_indication, disable}},
                                         {{signature_algs, {client_algs}}} | CO], 5000),
    S = receive {{srv, X}} -> X end,
    {sm}:close(L),
    case {{S, R}} of
        {{{{ok, _}}, {{ok, _}}}} -> ok;
        {{{{error, E1}}, {{error, E2}}}} -> {{E1, E2}};
        Other -> Other
    end"""


@pytest.mark.parametrize("role", ["server", "client"])
def test_sha1_cert_tls12(env, role):
    """TLS 1.2, a SHA-1-signed chain, signature_algs naming {sha, ecdsa} on both
    ends: the handshake succeeds as in ssl (OpenSSL at security level 0)."""
    node, _pki = env
    assert same(node, _sha1_body(role, "tlsv1.2", _SHA1_12[1], _SHA1_12[1])) == Atom("ok")


@pytest.mark.parametrize("allowed", [False, True])
def test_sha1_cert_tls13_server(env, allowed):
    """A TLS 1.3 server sends its SHA-1-signed certificate only to a client whose
    schemes allow it, else handshake_failure, as ssl's
    (tls_handshake_1_3:select_server_cert_key_pair/7)."""
    node, _pki = env
    r = same(node, _sha1_body("server", "tlsv1.3", _SHA1_13[allowed], _SHA1_13[1]))
    if allowed:
        assert r == Atom("ok")
    else:
        assert r[0][1][0] == Atom("handshake_failure")
