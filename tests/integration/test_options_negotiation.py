"""Options that steer what a handshake negotiates (issue 10): honor_cipher_order,
signature_algs, signature_algs_cert, eccs and supported_groups take effect in
OpenSSL or are refused by name.

Each case runs one handshake with a BEAM ssl peer, once with ``ssl`` and once with
``pyssl`` in the role under test (``Mod``), on one real node, and compares what both
ends saw: the negotiated protocol and suite, or the errors.
"""
import pytest
from bridgenode import BridgeThread
from conftest import unique
from erlnode import ErlNode
from sslcompare import both, same

from bridge.etf import Atom

A = Atom

# Run(ServerMod, ClientMod, ServerOpts, ClientOpts) -> {ClientSaw, ServerSaw}, where
# each saw [protocol, selected_cipher_suite] or its handshake's error.
_RUN = """
    Run = fun(SMod, CMod, SOpts, COpts) ->
        Info = fun(M, S) -> {ok, I} = M:connection_information(S, [protocol, selected_cipher_suite]), I end,
        {ok, L} = SMod:listen(0, Srv ++ [{active, false}, {reuseaddr, true} | SOpts]),
        {ok, {_, P}} = SMod:sockname(L),
        Self = self(),
        Pid = spawn(fun() ->
            {ok, T} = SMod:transport_accept(L),
            Self ! {srv, case SMod:handshake(T, 10000) of {ok, S} -> Info(SMod, S); E -> E end},
            receive stop -> ok end end),
        C = CMod:connect("localhost", P, [{active, false} | COpts], 10000),
        CI = case C of {ok, CS} -> Info(CMod, CS); E2 -> E2 end,
        SI = receive {srv, X} -> X after 20000 -> no_server_result end,
        Pid ! stop,
        case C of {ok, CS2} -> CMod:close(CS2); _ -> ok end,
        SMod:close(L),
        {CI, SI}
    end,"""


@pytest.fixture(scope="module")
def env(cookie, pki):
    bridge = BridgeThread(unique("bridge"), cookie)
    node = ErlNode(unique("erl"), cookie)
    p = pki
    node.eval(f"""
        ok = ssl:start(), application:set_env(pyssl, bridge_node, '{bridge.name}'), ok = pyssl:start(),
        Srv = [{{certfile, "{p.server.cert_path}"}}, {{keyfile, "{p.server.key_path}"}}],
        S12A = #{{key_exchange => ecdhe_rsa, cipher => aes_128_gcm, mac => aead, prf => sha256}},
        S12B = #{{key_exchange => ecdhe_rsa, cipher => aes_256_gcm, mac => aead, prf => sha384}},
        S13A = #{{key_exchange => any, cipher => aes_256_gcm, mac => aead, prf => sha384}},
        S13B = #{{key_exchange => any, cipher => aes_128_gcm, mac => aead, prf => sha256}},
        D128 = #{{key_exchange => dhe_rsa, cipher => aes_128_cbc, mac => sha, prf => default_prf}},
        D256 = #{{key_exchange => dhe_rsa, cipher => aes_256_cbc, mac => sha, prf => default_prf}},
        ok""")
    yield bridge, node
    node.stop()
    bridge.stop()


def _server_side(node, sopts: str, copts: str):
    """pyssl (or ssl) as the server, an ssl client: both results must be ssl's."""
    return same(node, _RUN + f" Run(Mod, ssl, {sopts}, {copts})")


def _client_side(node, sopts: str, copts: str):
    return same(node, _RUN + f" Run(ssl, Mod, {sopts}, {copts})")


def _suite(res):
    (client_saw, server_saw) = res
    assert client_saw == server_saw
    return dict(client_saw)[A("selected_cipher_suite")]


# ---- honor_cipher_order ------------------------------------------------------------------

@pytest.mark.parametrize("honor, expected", [("true", "S12B"), ("false", "S12A"), (None, "S12A")])
def test_honor_cipher_order_tls12(env, honor, expected):
    """ssl_api_SUITE honor_server_cipher_order / honor_client_cipher_order: the client
    offers A then B, the server's ciphers are B then A."""
    _, node = env
    h = f"{{honor_cipher_order, {honor}}}, " if honor else ""
    res = _server_side(node, f"[{h}{{ciphers, [S12B, S12A]}}, {{versions, ['tlsv1.2']}}]",
                       "[{ciphers, [S12A, S12B]}, {versions, ['tlsv1.2']}]")
    want = node.eval(expected)
    assert _suite(res) == want


@pytest.mark.parametrize("honor, expected", [("true", "D256"), ("false", "D128")])
def test_honor_cipher_order_otp_cases(env, honor, expected):
    """ssl_api_SUITE's own suites (DHE, CBC): a server without dh/dhfile uses a
    default DH group, as ssl does (ffdhe2048 here, ssl's built-in group there)."""
    _, node = env
    res = _server_side(node, f"[{{honor_cipher_order, {honor}}}, {{ciphers, [D256, D128]}}, {{versions, ['tlsv1.2']}}]",
                       "[{ciphers, [D128, D256]}, {versions, ['tlsv1.2']}]")
    assert _suite(res) == node.eval(expected)


@pytest.mark.parametrize("honor, expected", [("true", "S13B"), ("false", "S13A")])
def test_honor_cipher_order_tls13(env, honor, expected):
    """ssl_api_SUITE honor_server_cipher_order_tls13 / honor_client_cipher_order_tls13:
    in TLS 1.3 too the server's order wins only with honor_cipher_order."""
    _, node = env
    res = _server_side(node, f"[{{honor_cipher_order, {honor}}}, {{ciphers, [S13B, S13A]}}]",
                       "[{ciphers, [S13A, S13B]}]")
    assert _suite(res) == node.eval(expected)


def test_honor_cipher_order_on_a_client_same_error_as_ssl(env):
    _, node = env
    same(node, """{ok, L} = ssl:listen(0, Srv), {ok, {_, P}} = ssl:sockname(L),
        R = Mod:connect("localhost", P, [{honor_cipher_order, true}], 5000), ssl:close(L), R""")


def test_honor_ecc_order_alone_is_refused_by_name(env):
    """OpenSSL's server curve order comes only with its suite order; with both it is
    what ssl does, and false is the default."""
    _, node = env
    r = node.eval("""[element(1, pyssl:listen(0, Srv ++ O)) || O <- [[{honor_ecc_order, true}],
        [{honor_ecc_order, true}, {honor_cipher_order, true}], [{honor_ecc_order, false}]]]""")
    assert r[1:] == [A("ok"), A("ok")]
    r = node.eval("pyssl:listen(0, Srv ++ [{honor_ecc_order, true}])")
    assert r == (A("error"), (A("options"), (A("not_supported_by_pyssl"), (A("honor_ecc_order"), True))))


# ---- signature_algs ----------------------------------------------------------------------

def _alerts(res):
    """The alert descriptions each end got ((client's, server's)), None where it connected."""
    return tuple(r[1][1][0] if isinstance(r, tuple) and r[0] == A("error") else None for r in res)


@pytest.mark.parametrize("versions", ["['tlsv1.2']", "['tlsv1.3', 'tlsv1.2']"])
@pytest.mark.parametrize("side", ["Run(Mod, ssl, SO, CO)", "Run(ssl, Mod, SO, CO)"])
def test_no_common_signature_algs(env, side, versions):
    """ssl_api_SUITE no_common_signature_algs: the server signs with {sha256, rsa} only,
    the client accepts {sha384, rsa} only: both ends fail with insufficient_security,
    as in ssl (a pyssl server makes OpenSSL send ssl's alert: bridge.tls.alerts)."""
    _, node = env
    body = (_RUN + f" SO = [{{signature_algs, [{{sha256, rsa}}]}}, {{versions, {versions}}}],"
            f" CO = [{{signature_algs, [{{sha384, rsa}}]}}, {{versions, {versions}}}], {side}")
    res = same(node, body)
    insufficient = A("insufficient_security")
    assert _alerts(res) == (insufficient, insufficient)

@pytest.mark.parametrize("side", [_server_side, _client_side])
def test_signature_algs_shared_scheme_connects(env, side):
    """One TLS 1.3 scheme in common (an RSA key signs with PSS): the handshake works."""
    _, node = env
    res = side(node, "[{signature_algs, [rsa_pss_rsae_sha384, rsa_pss_rsae_sha256]}]",
               "[{signature_algs, [rsa_pss_rsae_sha256, ecdsa_secp256r1_sha256]}]")
    assert res[0][0] == (A("protocol"), A("tlsv1.3"))


@pytest.mark.parametrize("side", ["Run(Mod, ssl, SO, CO)", "Run(ssl, Mod, SO, CO)"])
def test_signature_algs_tls13_no_shared_scheme(env, side):
    """As no_common_signature_algs, in TLS 1.3 with PSS schemes."""
    _, node = env
    body = (_RUN + " SO = [{signature_algs, [rsa_pss_rsae_sha384]}, {versions, ['tlsv1.3']}],"
            " CO = [{signature_algs, [rsa_pss_rsae_sha256]}, {versions, ['tlsv1.3']}], " + side)
    res = same(node, body)
    assert _alerts(res) == (A("insufficient_security"),) * 2


_BAD_SIGALGS = ("[[], foo, [foo], [{sha256, foo}], [{foo, rsa}], [{sha256, dsa}], [{md4, ecdsa}], [1],"
                " [{sha, dsa}], [ecdsa_secp256r1_sha256], [eddsa_ed25519, foo], [{a, b, c}]]")


@pytest.mark.parametrize("opt", ["signature_algs", "signature_algs_cert"])
@pytest.mark.parametrize("versions", ["['tlsv1.3', 'tlsv1.2']", "['tlsv1.2']", "['tlsv1.1']"])
def test_signature_algs_checks_same_as_ssl(env, opt, versions):
    """OTP's handle_hashsigns_option / handle_signature_algorithms_option on odd lists:
    the same errors and exceptions (listen/2's result, or the class and reason raised).
    A signature_algs_cert ssl takes is then refused by name (see the next test)."""
    _, node = env
    body = f"""T = fun(V) -> try Mod:listen(0, Srv ++ [{{versions, {versions}}}, {{{opt}, V}}]) of
                {{ok, L}} -> Mod:close(L), ok; E -> E catch C:R -> {{C, R}} end end,
        [T(V) || V <- {_BAD_SIGALGS}]"""
    ssl_res, pyssl_res = both(node, body)
    refused = [(A("error"), (A("options"), (A("not_supported_by_pyssl"), (A(opt), v))))
               for v in node.eval(_BAD_SIGALGS)] if opt == "signature_algs_cert" else []
    fix = [A("ok") if r in refused else r for r in pyssl_res]
    assert fix == list(ssl_res)


def test_signature_algs_cert_refused_by_name(env):
    """libssl parses a peer's signature_algorithms_cert but never sends one."""
    _, node = env
    r = node.eval("pyssl:listen(0, Srv ++ [{signature_algs_cert, [rsa_pss_rsae_sha256]}])")
    assert r == (A("error"), (A("options"), (A("not_supported_by_pyssl"),
                                            (A("signature_algs_cert"), [A("rsa_pss_rsae_sha256")]))))


def test_signature_algs_nothing_libssl_has_is_refused_by_name(env):
    """{md5, rsa} is valid for ssl (TLS 1.2) but libssl has no MD5 signature scheme."""
    _, node = env
    r = node.eval("""pyssl:listen(0, Srv ++ [{versions, ['tlsv1.2']}, {signature_algs, [{md5, rsa}]}])""")
    assert r == (A("error"), (A("options"), (A("not_supported_by_pyssl"),
                                            (A("signature_algs"), [(A("md5"), A("rsa"))]))))


# ---- eccs / supported_groups -------------------------------------------------------------

def _outcome(res):
    """'ok' if both ends connected, else the pair of alert descriptions."""
    if all(isinstance(r, list) for r in res):
        return "ok"
    return _alerts(res)


@pytest.mark.parametrize("sopts, copts", [
    # ssl_api_SUITE supported_groups: a group in common, after a HelloRetryRequest
    ("[{supported_groups, [x448, x25519]}]", "[{supported_groups, [x448]}]"),
    ("[{supported_groups, [x25519]}, {versions, ['tlsv1.3']}]",
     "[{supported_groups, [secp384r1]}, {versions, ['tlsv1.3']}]"),
    ("[{supported_groups, [secp384r1]}]", "[{supported_groups, [x25519, secp384r1]}]"),
    # TLS 1.2: eccs decide the ECDHE curve
    ("[{eccs, [secp384r1]}, {versions, ['tlsv1.2']}, {ciphers, [S12A]}]",
     "[{eccs, [secp256r1]}, {versions, ['tlsv1.2']}, {ciphers, [S12A]}]"),
    ("[{eccs, [secp384r1]}, {versions, ['tlsv1.2']}, {ciphers, [S12A]}]",
     "[{eccs, [secp256r1, secp384r1]}, {versions, ['tlsv1.2']}, {ciphers, [S12A]}]"),
])
@pytest.mark.parametrize("side", ["Run(Mod, ssl, SO, CO)", "Run(ssl, Mod, SO, CO)"])
def test_groups_take_effect(env, side, sopts, copts):
    """With a group in common the handshake works, without one it fails, on both
    ends as with ssl (the alert included)."""
    _, node = env
    ssl_res, pyssl_res = both(node, _RUN + f" SO = {sopts}, CO = {copts}, {side}")
    if _outcome(ssl_res) == "ok":
        assert pyssl_res == ssl_res
    else:
        # without a group in common ssl's TLS 1.3 server sends insufficient_security
        # (tls_handshake_1_3:select_common_groups/2); a pyssl server makes OpenSSL
        # send it too (bridge.tls.alerts)
        assert _outcome(pyssl_res) == _outcome(ssl_res)


@pytest.mark.parametrize("opt", ["eccs", "supported_groups"])
def test_groups_bad_values_same_as_ssl(env, opt):
    _, node = env
    same(node, f"""T = fun(V) -> try Mod:listen(0, Srv ++ [{{{opt}, V}}]) of
                {{ok, L}} -> Mod:close(L), ok; E -> E catch C:R -> {{C, R}} end end,
        [T(V) || V <- [foo, [x25519, 1], [x25519, foo], [x25519]]]""")


def test_groups_libssl_lacks_are_refused_by_name(env):
    """ssl takes an eccs list its crypto lacks entirely (nothing offered); OpenSSL
    cannot have an empty groups list."""
    _, node = env
    r = node.eval("""[pyssl:listen(0, Srv ++ [{versions, ['tlsv1.2']}, {eccs, V}]) || V <- [[], [sect163k1], [1]]]""")
    assert r == [(A("error"), (A("options"), (A("not_supported_by_pyssl"), (A("eccs"), v))))
                 for v in ([], [A("sect163k1")], [1])]


# ---- the caller's own DH parameters ----------------------------------------------------

def _oakley_group_2_pem(tmp_path) -> str:
    """RFC 2409's 1024-bit MODP group (Oakley group 2) as a dhfile: a fixed, well-known
    group, so nothing is generated. ssl takes 1024-bit DH; OpenSSL's default security
    level refuses it ("dh key too small")."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dh
    p = int("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22"
            "514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7E"
            "C6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE6"
            "5381FFFFFFFFFFFFFFFF", 16)
    import warnings
    with warnings.catch_warnings():     # cryptography marks finite-field DH deprecated
        warnings.simplefilter("ignore")
        pem = dh.DHParameterNumbers(p, 2).parameters().parameter_bytes(
            serialization.Encoding.PEM, serialization.ParameterFormat.PKCS3)
    path = tmp_path / "dh1024.pem"
    path.write_bytes(pem)
    return str(path)


def test_a_1024_bit_dhfile_is_used_as_ssl_uses_it(env, tmp_path):
    """ssl_api_SUITE's der_input and dh_params give 1024-bit DH parameters: ssl
    negotiates its DHE suite with them, and so does a pyssl server."""
    _, node = env
    path = _oakley_group_2_pem(tmp_path)
    res = _server_side(node, f"[{{dhfile, \"{path}\"}}, {{ciphers, [D128]}}, {{versions, ['tlsv1.2']}}]",
                       "[{ciphers, [D128]}, {versions, ['tlsv1.2']}]")
    assert _suite(res) == node.eval("D128")


def test_a_client_naming_dhe_takes_a_1024_bit_group_as_ssl(env, tmp_path):
    """ssl_api_SUITE dh_params, client side: a server with a 1024-bit dhfile and a
    client naming a DHE suite; ssl's client takes the group, so does pyssl's."""
    _, node = env
    path = _oakley_group_2_pem(tmp_path)
    res = _client_side(node, f"[{{dhfile, \"{path}\"}}, {{versions, ['tlsv1.2']}}]",
                       "[{ciphers, [D256]}, {verify, verify_none}]")
    assert _suite(res) == node.eval("D256")


# ---- ciphers without a TLS 1.3 suite -------------------------------------------------------

def test_client_ciphers_without_tls13_suites_as_ssl(env):
    """ssl_api_SUITE default_reject_anonymous, client side: a client whose ciphers name
    only an anonymous suite offers no TLS 1.3 suite; ssl's default server refuses with
    insufficient_security. (pyssl's client offered OpenSSL's TLS 1.3 defaults beside it
    and got a TLS 1.3 session; OpenSSL with no TLS 1.3 suite speaks TLS 1.2 at most.)"""
    _, node = env
    res = _client_side(node, "[]", "[{ciphers, [hd([S || S <- ssl:cipher_suites(anonymous, 'tlsv1.2'), "
                                   "maps:get(key_exchange, S) =:= dh_anon])]}, {verify, verify_none}]")
    assert res[0][1][0] == A("tls_alert") and res[0][1][1][0] == A("insufficient_security")


def test_client_ciphers_with_only_tls12_suites_speak_tls12(env):
    """A known difference: with versions [tlsv1.3, tlsv1.2] and only TLS 1.2 suites in
    ciphers, ssl still offers TLS 1.3 (with no TLS 1.3 suite), and an ssl server
    chooses TLS 1.3 and fails the handshake (insufficient_security). OpenSSL sends no
    TLS 1.3 hello without TLS 1.3 suites ("no ciphers available"), so pyssl offers TLS
    1.2 at most, and the handshake succeeds in TLS 1.2 with the suite named."""
    _, node = env
    run = _RUN + " Run(ssl, Mod, [], [{ciphers, [S12A]}, {verify, verify_none}])"
    got = {mod: node.eval(f"(fun() -> Mod = {mod}, {run} end)()", 60) for mod in ("ssl", "pyssl")}
    assert got["ssl"][0][1][1][0] == A("insufficient_security")
    assert dict(got["pyssl"][0])[A("protocol")] == A("tlsv1.2")
    assert dict(got["pyssl"][0])[A("selected_cipher_suite")] == node.eval("S12A")


def test_cacerts_as_cert_records_as_ssl(env, pki):
    """ssl_api_SUITE der_input: cacerts may hold #cert{der, otp} records (public_key.hrl)."""
    _, node = env
    got = _client_side(node, "[]", f"""[{{verify, verify_peer}}, {{server_name_indication, "localhost"}},
        {{cacerts, [{{cert, D, public_key:pkix_decode_cert(D, otp)}} ||
                    {{'Certificate', D, _}} <- public_key:pem_decode(element(2, file:read_file("{pki.ca.cert_path}")))]}}]""")
    assert dict(got[0])[A("protocol")] in (A("tlsv1.3"), A("tlsv1.2"))


# ---- a server's refusals: insufficient_security (bridge.tls.alerts) ------------------------

_ANON = "hd([S || S <- ssl:cipher_suites(anonymous, 'tlsv1.2'), lists:member(maps:get(key_exchange, S), [ecdh_anon, dh_anon])])"


@pytest.mark.parametrize("sopts, copts", [
    # ssl_api_SUITE default_reject_anonymous: the client offers an anonymous suite only
    ("[{versions, ['tlsv1.2']}]", f"[{{ciphers, [{_ANON}]}}, {{versions, ['tlsv1.2']}}]"),
    # no suite the server's RSA key can authenticate (ssl_cipher:filter/3)
    ("[{versions, ['tlsv1.2']}]",
     "[{ciphers, [#{key_exchange => ecdhe_ecdsa, cipher => aes_128_gcm, mac => aead, prf => sha256}]},"
     " {versions, ['tlsv1.2']}]"),
    # no TLS 1.3 suite in common (tls_handshake_1_3:select_cipher_suite/3)
    ("[{ciphers, [S13A]}, {versions, ['tlsv1.3']}]", "[{ciphers, [S13B]}, {versions, ['tlsv1.3']}]"),
    # TLS 1.3: no scheme the server's RSA key signs with (select_sign_algo/5)
    ("[{versions, ['tlsv1.3']}]", "[{signature_algs, [ecdsa_secp256r1_sha256]}, {versions, ['tlsv1.3']}]"),
    # TLS 1.2: no RSA scheme both sides have (filter_hashsigns/5)
    ("[{signature_algs, [{sha256, rsa}, {sha256, ecdsa}]}, {versions, ['tlsv1.2']}]",
     "[{signature_algs, [{sha256, ecdsa}]}, {versions, ['tlsv1.2']}]"),
    # TLS 1.2: a scheme in common, but not the one the server's certificate is signed
    # with (select_hashsign/5; libssl would go on)
    ("[{signature_algs, [{sha384, rsa}]}, {versions, ['tlsv1.2']}]",
     "[{signature_algs, [{sha256, ecdsa}, {sha384, rsa}]}, {versions, ['tlsv1.2']}]"),
    ("[{versions, ['tlsv1.2']}]",
     "[{signature_algs, [{sha384, rsa}]}, {signature_algs_cert, [rsa_pss_rsae_sha256]}, {versions, ['tlsv1.2']}]"),
])
def test_server_refuses_with_insufficient_security_as_ssl(env, sopts, copts):
    """A hello ssl's server finds no parameters for: the ssl client and the pyssl server
    end with what an ssl server gives both ends (insufficient_security)."""
    _, node = env
    res = _server_side(node, sopts, copts + " ++ [{verify, verify_none}]")
    assert _alerts(res) == (A("insufficient_security"),) * 2


@pytest.mark.parametrize("sopts, copts", [
    # an anonymous suite beside one the server has: the server takes the other
    ("[{versions, ['tlsv1.2']}]", f"[{{ciphers, [{_ANON}, S12A]}}, {{versions, ['tlsv1.2']}}]"),
    # one scheme of the server's among others (TLS 1.3 and 1.2)
    ("[{signature_algs, [rsa_pss_rsae_sha256]}, {versions, ['tlsv1.3']}]",
     "[{signature_algs, [ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256]}, {versions, ['tlsv1.3']}]"),
    ("[{signature_algs, [{sha384, rsa}]}, {versions, ['tlsv1.2']}]",
     "[{signature_algs, [{sha256, ecdsa}, {sha384, rsa}, {sha256, rsa}]}, {versions, ['tlsv1.2']}]"),
    # the certificate's sha256WithRSA covered by RSAE-PSS (ssl_cipher:is_supported_sign/2)
    ("[{versions, ['tlsv1.2']}]", "[{signature_algs, [rsa_pss_rsae_sha256]}, {versions, ['tlsv1.2']}]"),
    ("[{versions, ['tlsv1.2']}]",
     "[{signature_algs, [{sha384, rsa}]}, {signature_algs_cert, [rsa_pkcs1_sha256]}, {versions, ['tlsv1.2']}]"),
    # TLS 1.3: the certificate's own signature is not judged (a fallback chain in ssl)
    ("[{versions, ['tlsv1.3']}]", "[{signature_algs, [rsa_pss_rsae_sha384]}, {versions, ['tlsv1.3']}]"),
])
def test_server_takes_what_it_has_in_common(env, sopts, copts):
    _, node = env
    res = _server_side(node, sopts, copts + " ++ [{verify, verify_none}]")
    assert _outcome(res) == "ok"


# ---- the versions of the host the client names (sni_fun, sni_hosts) ----------------------

_SNI_VERSIONS = [("['tlsv1.3', 'tlsv1.2']", "'tlsv1.2'"), ("['tlsv1.2', 'tlsv1.1']", "'tlsv1.1'")]


@pytest.mark.parametrize("versions, version", _SNI_VERSIONS)
@pytest.mark.parametrize("how", ["sni_fun", "sni_hosts"])
def test_versions_option_based_on_sni(env, versions, version, how):
    """ssl_api_SUITE versions_option_based_on_sni: the versions of the host the client
    names replace the listen socket's (ssl_gen_statem:handle_sni_extension/2 runs before
    the version is chosen); a pyssl server applies them before OpenSSL reads the hello."""
    _, node = env
    host = f"[{{versions, [{version}]}}]"
    sni = (f"{{sni_fun, fun(\"localhost\") -> {host} ++ Srv; (_) -> [] end}}" if how == "sni_fun"
           else f"{{sni_hosts, [{{\"localhost\", {host}}}]}}")
    res = _server_side(node, f"[{sni}, {{versions, {versions}}}]",
                       f"[{{server_name_indication, \"localhost\"}}, {{versions, {versions}}}, {{verify, verify_none}}]")
    assert dict(res[0])[A("protocol")] == A(version.strip("'"))
    assert dict(res[1])[A("protocol")] == A(version.strip("'"))


@pytest.mark.parametrize("how", ["sni_fun", "sni_hosts"])
def test_sni_versions_the_client_lacks_as_ssl(env, how):
    """The host's versions leave none of the client's: both ends end as with ssl."""
    _, node = env
    host = "[{versions, ['tlsv1.2']}]"
    sni = (f"{{sni_fun, fun(_) -> {host} ++ Srv end}}" if how == "sni_fun"
           else f"{{sni_hosts, [{{\"localhost\", {host}}}]}}")
    res = _server_side(node, f"[{sni}, {{versions, ['tlsv1.3', 'tlsv1.2']}}]",
                       "[{server_name_indication, \"localhost\"}, {versions, ['tlsv1.3']}, {verify, verify_none}]")
    assert _outcome(res) != "ok"


def test_sni_host_without_versions_keeps_the_listen_sockets(env):
    """A host whose options name no versions: the listen socket's apply (TLS 1.3 here)."""
    _, node = env
    res = _server_side(node, "[{sni_hosts, [{\"localhost\", Srv}]}]",
                       "[{server_name_indication, \"localhost\"}, {verify, verify_none}]")
    assert dict(res[0])[A("protocol")] == A("tlsv1.3")


@pytest.mark.parametrize("versions", ["[foo]", "['tlsv1.3', 'tlsv1.1']", "'tlsv1.2'", "['tlsv1.2', 'tlsv1.1']"])
def test_sni_hosts_versions_checked_as_ssl(env, versions):
    """An sni_hosts entry's versions go through ssl:validate_versions/2 at listen."""
    _, node = env
    same(node, f"""try Mod:listen(0, [{{sni_hosts, [{{"localhost", [{{versions, {versions}}}]}}]}}]) of
                       {{ok, L}} -> Mod:close(L), ok; E -> E
                   catch C:R -> {{C, R}} end""")
