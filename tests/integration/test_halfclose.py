"""A peer that half-closes TCP without close_notify: ssl reports {ssl_closed, S}; so must pyssl."""
import socket
import ssl
import threading

import pytest

from bridge.etf import Atom

from conftest import unique
from erlnode import ErlNode

A = Atom


def abrupt_server(pki, connections: int):
    """TLS server (stdlib ssl) that sends b'bye' and then shuts TCP down for writing,
    with no close_notify."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.server.cert_path, pki.server.key_path)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    lsock.settimeout(20)

    def one(raw):
        try:
            tls = ctx.wrap_socket(raw, server_side=True)
            tls.sendall(b"bye")
            raw.shutdown(socket.SHUT_WR)          # TCP FIN, no close_notify
            tls.settimeout(5)
            tls.recv(10)
        except (OSError, ssl.SSLError):
            pass
        finally:
            raw.close()

    def serve():
        try:
            for _ in range(connections):
                raw, _ = lsock.accept()
                threading.Thread(target=one, args=(raw,), daemon=True).start()
        except OSError:
            pass
        finally:
            lsock.close()
    threading.Thread(target=serve, daemon=True).start()
    return lsock.getsockname()[1]


@pytest.mark.parametrize("active", ["true", "false"])
def test_tcp_fin_without_close_notify(cookie, bridge, pki, active):
    port = abrupt_server(pki, 2)
    node = ErlNode(unique("erl"), cookie)
    try:
        node.eval(f"ok = ssl:start(), application:set_env(pyssl, bridge_node, '{bridge.name}'), ok = pyssl:start()")
        body = {
            "true": "R1 = receive {ssl, S, D} -> D after 5000 -> timeout end, "
                    "R2 = receive {ssl_closed, S} -> closed; {ssl_error, S, _} -> error after 5000 -> timeout end, [R1, R2]",
            "false": "timer:sleep(300), [Mod:recv(S, 0, 5000), Mod:recv(S, 0, 1000)]",
        }[active]
        res = node.eval(f"[(fun(Mod) -> {{ok, S}} = Mod:connect({{127,0,0,1}}, {port}, [binary, {{active, {active}}}, "
                        f"{{verify, verify_none}}]), R = {body}, Mod:close(S), R end)(M) || M <- [ssl, pyssl]]")
        assert res[0] == res[1], f"ssl {res[0]!r} pyssl {res[1]!r}"
    finally:
        node.stop()
