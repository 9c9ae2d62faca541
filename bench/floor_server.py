"""The floor of a server handshake in this design: a minimal uvloop + pyOpenSSL
server over memory BIOs, with nothing of the bridge (no distribution, no service,
no options): accept, handshake, close_notify, close.

``python -m bench.floor_server CERT KEY`` prints its port, then serves until killed.
``bench.ssl_bench``'s ``server_floor`` scenario drives it with the same load generator
as ``server_handshakes`` and reads its CPU from /proc, so the bridge's CPU per accepted
handshake is shown against the least any Python process on OpenSSL spends (issue 14's
target: <= 1.2x). Same TLS as the bridge's server scenario: TLS 1.3, RSA-2048, no
tickets, no session cache (ssl's server defaults).

``python -m bench.floor_server CERT KEY 12``: TLS 1.2 with OpenSSL's server session
cache on and no tickets (ssl's TLS 1.2 server defaults), for the floor of a resumed
TLS 1.2 handshake against a full one (issue 11's resumed/full ratio).
"""
from __future__ import annotations

import asyncio
import socket
import sys

from OpenSSL import SSL


def context(cert: str, key: str, tls12: bool = False) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    if tls12:
        ctx.set_max_proto_version(SSL.TLS1_2_VERSION)
        ctx.set_session_cache_mode(SSL.SESS_CACHE_SERVER)
        ctx.set_session_id(b"floor")
    else:
        ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
        ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    ctx.use_certificate_chain_file(cert)
    ctx.use_privatekey_file(key)
    ctx.set_options(SSL.OP_NO_TICKET)
    return ctx


class Handshake(asyncio.Protocol):
    def __init__(self, ctx: SSL.Context):
        self.conn = SSL.Connection(ctx, None)
        self.conn.set_accept_state()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def _flush(self):
        out = []
        while True:
            try:
                out.append(self.conn.bio_read(65536))
            except SSL.WantReadError:
                break
        if out:
            self.transport.write(b"".join(out))

    def data_received(self, data):
        self.conn.bio_write(data)
        try:
            self.conn.do_handshake()
        except SSL.WantReadError:
            self._flush()
            return
        except SSL.Error:
            self.transport.abort()
            return
        self.conn.shutdown()             # close_notify right after the handshake
        self._flush()
        self.transport.close()

    def connection_lost(self, exc):
        self.transport = None


async def serve(cert: str, key: str, tls12: bool = False) -> None:
    ctx = context(cert, key, tls12)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Handshake(ctx), "127.0.0.1", 0, backlog=128,
                                      family=socket.AF_INET)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


def main(argv=None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    cert, key = args[:2]
    import uvloop
    uvloop.run(serve(cert, key, tls12=args[2:3] == ["12"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
