"""The Erlang funs a connection's TLS session calls back, gathered in one place.

``verify_fun`` (bridge.service.verify), ``sni_fun`` (bridge.service.sni), the
``user_lookup_fun`` of PSK or SRP (bridge.service.psk), a server's ``reuse_session`` fun
(bridge.service.reuse), ``customize_hostname_check`` and ``partial_chain``
(bridge.service.cert_hooks) are the caller's funs, and ``crl_check`` reads the
caller node's CRL cache (bridge.service.crl); each
becomes a hook in the connection's ``TLSConfig`` that runs the fun on the
caller's node. A listen socket's config is shared by its connections, so the
hooks go on a copy.
"""
from __future__ import annotations

import dataclasses

from bridge.etf.types import Pid
from bridge.tls.config import TLSConfig

from . import cert_hooks, crl, options, psk, reuse, sni, verify


def attach(cfg: TLSConfig, parsed: options.ParsedOptions, service, caller: Pid,
           files: dict) -> TLSConfig:
    """``cfg`` with the hooks of ``parsed``'s funs for ``caller`` (``cfg`` itself if none)."""
    hooks = {}
    v = verify.hook_for(parsed.ssl, service.node, caller, options.fun_arity)
    if v is not None:
        hooks["verify_hook"] = v
    if cfg.role == "server":
        s = sni.hook_for(parsed, service, caller, files)
        if s is not None:
            hooks["sni_hook"] = s
        r = reuse.hook_for(parsed.ssl, service.node, caller, options.fun_arity)
        if r is not None:
            hooks["reuse_hook"] = r
    if cfg.srp_server:
        # SRP runs on the tlslite-ng engine, which asks for a verifier, not a key
        s = psk.srp_hook_for(parsed.ssl, service.node, caller, options.fun_arity)
        if s is not None:
            hooks["srp_hook"] = s
    else:
        p = psk.hook_for(parsed.ssl, service.node, caller, options.fun_arity)
        if p is not None:
            hooks["psk_hook"] = p
    h = cert_hooks.hostname_hook_for(parsed.ssl, cfg.role, service.node, caller)
    if h is not None:
        hooks["hostname_hook"] = h
    c = cert_hooks.partial_chain_hook_for(parsed.ssl, service.node, caller, options.fun_arity)
    if c is not None:
        hooks["partial_chain_hook"] = c
    k = crl.crl_hook_for(parsed.ssl, service.node, caller)
    if k is not None:
        hooks["crl_hook"] = k
    return dataclasses.replace(cfg, **hooks) if hooks else cfg
