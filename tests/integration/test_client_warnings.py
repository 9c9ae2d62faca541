"""What ssl logs on the caller's node for a client, side by side: a client given no
``verify`` option (verify_none by OTP 25's default) gets ssl's warning, through
ssl_logger with the client's ``log_level``; ``{verify, verify_none}`` given
explicitly, or a log level above warning, silences it (OTP's warn_verify_none and
suppress_warn_verify_none cases)."""
import pytest
from bridgenode import BridgeThread
from conftest import unique
from erlnode import ErlNode


@pytest.fixture(scope="module")
def node(cookie, pki):
    bridge = BridgeThread(unique("bridge"), cookie)
    n = ErlNode(unique("erl"), cookie)
    p = pki
    n.eval(f"""
        ok = ssl:start(), application:set_env(pyssl, bridge_node, '{bridge.name}'), ok = pyssl:start(),
        Srv = [{{certfile, "{p.server.cert_path}"}}, {{keyfile, "{p.server.key_path}"}}],
        EchoPort = pyssl_test_loop:server(Srv, fun pyssl_test_loop:echo/1),
        ok""")
    yield n
    n.stop()
    bridge.stop()


@pytest.mark.parametrize("opts", ["[]", "[{verify, verify_none}]", "[{log_level, error}]",
                                  "[{log_level, debug}]"])
def test_no_verify_warning_like_ssl(node, opts):
    got = node.eval(f"""[(fun() ->
        ok = logger:add_handler(warn_probe, pyssl_test_loop, #{{config => self()}}),
        {{ok, S}} = Mod:connect({{127,0,0,1}}, EchoPort, {opts} ++ [{{active, false}}], 10000),
        Mod:close(S),
        ok = logger:remove_handler(warn_probe),
        R = receive {{logged, L, #{{description := D}}}} -> {{L, D}} after 0 -> none end,
        receive {{logged, _, _}} -> ok after 0 -> ok end,
        R end)() || Mod <- [ssl, pyssl]]""")
    assert got[0] == got[1], got
    if opts in ("[]", "[{log_level, debug}]"):
        assert got[0][0].name == "warning"
    else:
        assert got[0] == "none" or getattr(got[0], "name", None) == "none"
