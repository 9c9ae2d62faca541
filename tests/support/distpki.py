"""Certificates and Erlang nodes for TLS distribution (``-proto_dist inet_tls``).

``DistPKI(dir)``: one CA, node certificates good for both roles (a distribution node
accepts and dials) that name 127.0.0.1 both as an IP and as a DNS name (OTP 25's
client checks the host part of the node name as a dns_id, even for an address),
and a certificate of another CA; ``optfile`` writes an ``ssl_dist_optfile``,
``options`` gives the bridge's ``DistTLSOptions``. ``tls_erl(name, cookie,
optfile)`` starts an ``erl -proto_dist inet_tls`` node.
"""
from __future__ import annotations

import certgen
from bridge.tlsdist import DistTLSOptions
from erlnode import ErlNode


HOST_NAMES = ("localhost", "127.0.0.1")


class DistPKI:
    def __init__(self, d):
        self.ca = certgen.write(certgen.make_ca("dist CA", slot="dist-ca"), d, "dist_ca")
        self.other_ca = certgen.write(certgen.make_ca("other dist CA", slot="dist-other"), d, "dist_other_ca")
        self.bridge = certgen.write(certgen.issue(self.ca, "bridge", server="both", sans=HOST_NAMES,
                                                  slot="dist-bridge"), d, "dist_bridge")
        self.node = certgen.write(certgen.issue(self.ca, "node", server="both", sans=HOST_NAMES,
                                                slot="dist-node"), d, "dist_node")
        self.foreign = certgen.write(certgen.issue(self.other_ca, "foreign", server="both",
                                                   sans=HOST_NAMES, slot="dist-foreign"), d, "dist_foreign")
        self.wrong_host = certgen.write(certgen.issue(self.ca, "elsewhere", server="both",
                                                      sans=("elsewhere.example",), ips=(),
                                                      slot="dist-wrong-host"), d, "dist_wrong_host")
        self.dir = d

    def optfile(self, stem: str, cert, *, ca=None, fail_if_no_peer_cert=True, extra="") -> str:
        """An ssl_dist_optfile for an Erlang node, as OTP 25's ssl_distribution guide shows;
        ``extra``: more options for both roles (Erlang text, with a leading comma)."""
        ca = ca or self.ca
        both = (f'{{certfile, "{cert.cert_path}"}}, {{keyfile, "{cert.key_path}"}}, '
                f'{{cacertfile, "{ca.cert_path}"}}, {{verify, verify_peer}}'
                f'{extra}')
        path = self.dir / f"{stem}.conf"
        path.write_text(f"[{{server, [{both}, {{fail_if_no_peer_cert, {str(fail_if_no_peer_cert).lower()}}}]}},\n"
                        f" {{client, [{both}]}}].\n")
        return str(path)

    def options(self, cert=None, ca=None, **kw) -> DistTLSOptions:
        cert = cert or self.bridge
        return DistTLSOptions(certfile=cert.cert_path, keyfile=cert.key_path,
                              cacertfile=(ca or self.ca).cert_path, **kw)


def tls_erl(name: str, cookie: str, optfile: str) -> ErlNode:
    return ErlNode(name, cookie, args=["-proto_dist", "inet_tls", "-ssl_dist_optfile", optfile])
