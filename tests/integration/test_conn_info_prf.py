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
    files or as DER, and winning over certfile/keyfile); several pairs are refused by
    name (ssl chooses the first that fits the peer, libssl by its own rule)."""
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
