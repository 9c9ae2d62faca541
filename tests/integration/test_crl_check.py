"""crl_check with ssl's CRL cache (issue 10): CRLs inserted with
ssl_crl_cache:insert/1 on the caller's node; every answer side by side with ssl."""
import pytest
from certgen import crl, issue, write
from cryptography import x509
from sslcompare import same


@pytest.fixture(scope="module")
def env(bridge, pyssl_node, pki):
    """The module's bridge and a node using it (conftest), with this module's bindings."""
    node = pyssl_node
    p = pki
    revoked = write(issue(p.ca, "localhost", slot="revoked"), p.dir, "revoked")
    der = crl(p.ca, [revoked], x509.ReasonFlags.key_compromise)
    node.eval(f"""
        ok = ssl_crl_cache:insert({{der, [<<{",".join(map(str, der))}>>]}}),
        Verify = [{{verify, verify_peer}}, {{cacertfile, "{p.ca.cert_path}"}}],
        EchoPort = pyssl_test_loop:server([{{certfile, "{p.server.cert_path}"}}, {{keyfile, "{p.server.key_path}"}}],
                                          fun pyssl_test_loop:echo/1),
        RevokedPort = pyssl_test_loop:server([{{certfile, "{revoked.cert_path}"}}, {{keyfile, "{revoked.key_path}"}}],
                                             fun pyssl_test_loop:echo/1),
        ChainedPort = pyssl_test_loop:server([{{certfile, "{p.chained_server.cert_path}"}},
                                              {{keyfile, "{p.chained_server.key_path}"}}],
                                             fun pyssl_test_loop:echo/1),
        ok""")
    return bridge, node


def _conn(port: str, opts: str) -> str:
    return (f"case Mod:connect(\"localhost\", {port}, {opts}, 5000) of "
            "{ok, S} -> ok = Mod:send(S, <<\"x\">>), "
            "X = receive {ssl, S, D} -> D after 5000 -> timeout end, Mod:close(S), {ok, X}; "
            "Err -> Err end")


CASES = {
    "revoked_true": _conn("RevokedPort", "Verify ++ [{crl_check, true}]"),
    "revoked_peer": _conn("RevokedPort", "Verify ++ [{crl_check, peer}]"),
    "revoked_best_effort": _conn("RevokedPort", "Verify ++ [{crl_check, best_effort}]"),
    "revoked_tls12": _conn("RevokedPort", "Verify ++ [{crl_check, true}, {versions, ['tlsv1.2']}]"),
    "revoked_unchecked": _conn("RevokedPort", "Verify"),
    "revoked_verify_none": _conn("RevokedPort", "[{verify, verify_none}, {crl_check, true}]"),
    "good_true": _conn("EchoPort", "Verify ++ [{crl_check, true}]"),
    "good_peer": _conn("EchoPort", "Verify ++ [{crl_check, peer}]"),
    # the intermediate has issued no CRL: the leaf's status is undetermined
    "no_crl_true": _conn("ChainedPort", "Verify ++ [{crl_check, true}]"),
    "no_crl_peer": _conn("ChainedPort", "Verify ++ [{crl_check, peer}]"),
    "no_crl_best_effort": _conn("ChainedPort", "Verify ++ [{crl_check, best_effort}]"),
    "explicit_default_cache": _conn("RevokedPort", "Verify ++ [{crl_check, true}, "
                                    "{crl_cache, {ssl_crl_cache, {internal, []}}}]"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_crl_check_same_as_ssl(env, name):
    _, node = env
    same(node, CASES[name])


def test_a_cache_of_the_callers_own_is_refused_by_name(env):
    _, node = env
    r = node.eval("""pyssl:connect("localhost", EchoPort, Verify ++ [{crl_check, true},
                     {crl_cache, {ssl_crl_cache, {internal, [{http, 5000}]}}}], 5000)""")
    assert repr(r).count("not_supported_by_pyssl") == 1
