"""``crl_check`` with ssl's CRL cache (``{crl_cache, {ssl_crl_cache, {internal, []}}}``,
the default): revocation is checked against the CRLs the caller's node holds.

ssl keeps CRLs in its ``ssl_manager``'s tables on each node: ``ssl_crl_cache:insert/1,2``
puts them there, and a connection reads them (``ssl_handshake:crl_check/7``,
``dps_and_crls/5``: those of the certificate's issuer, ``ssl_crl_cache:select/2``).
The bridge asks the caller's node for that table once per handshake, at the first
certificate to check (``ssl_manager:connection_init/3`` gives its handle, then
``ets:tab2list/1`` of the issuer mapping, through the node's ``rex``), and judges
each certificate as ``public_key:pkix_crls_validate/3`` does for a CRL of its issuer:
a CRL whose issuer is the certificate's and whose signature the issuer's key
verifies decides; the serial listed is ``{revoked, Reason}``, none that decides is
``revocation_status_undetermined``. ``peer`` checks the peer's certificate only,
``true`` and ``best_effort`` every certificate but the trust anchor,
``best_effort`` taking an undetermined status as valid (``crl_check_same_issuer/4``).

The engine calls the hook from its verify callback (bridge.tls.engine) after OpenSSL
validated the certificate, with the certificate and its issuer.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Optional

from cryptography import x509

from bridge.etf.types import Atom, Pid

from .blocking import run_on_loop

log = logging.getLogger(__name__)

RPC_TIMEOUT = 30.0
_OK = Atom("ok")

# RFC 5280 CRLReason -> OTP's atom (public_key's 'CRLReason' names)
_REASONS = {
    x509.ReasonFlags.unspecified: "unspecified", x509.ReasonFlags.key_compromise: "keyCompromise",
    x509.ReasonFlags.ca_compromise: "cACompromise", x509.ReasonFlags.affiliation_changed: "affiliationChanged",
    x509.ReasonFlags.superseded: "superseded", x509.ReasonFlags.cessation_of_operation: "cessationOfOperation",
    x509.ReasonFlags.certificate_hold: "certificateHold", x509.ReasonFlags.remove_from_crl: "removeFromCRL",
    x509.ReasonFlags.privilege_withdrawn: "privilegeWithdrawn", x509.ReasonFlags.aa_compromise: "aACompromise",
}


class CrlCheck:
    """``hook(der, issuer_der, depth) -> "valid" | ("revoked", reason) | "undetermined"``."""

    def __init__(self, node, caller: Pid, mode: str, loop: asyncio.AbstractEventLoop):
        self.node = node
        self.where = caller.node
        self.mode = mode                  # "true" | "peer" | "best_effort"
        self.loop = loop
        self._crls: Optional[list] = None

    def __call__(self, der: bytes, issuer_der: Optional[bytes], depth: int):
        if self.mode == "peer" and depth > 0:
            return "valid"                # crl_check(_, peer, ..., valid, _) -> valid
        if self._crls is None:
            self._crls = run_on_loop(self.loop, self._fetch(), 2 * RPC_TIMEOUT + 5)
        status = judge(der, issuer_der, self._crls)
        if status == "undetermined" and self.mode == "best_effort":
            return "valid"
        return status

    async def _fetch(self) -> list:
        """Every CRL in the caller node's ssl CRL cache (DER): the rows of
        ssl_manager's issuer mapping table (``ssl_pkix_db:add_crls/3`` fills it;
        unnamed and protected, so found by its name among ``ets:all()``), read
        there by one ``erl_eval:exprs/2`` of ``_LIST_CRLS``."""
        exprs = _PARSED.get(self.where)
        if exprs is None:
            toks = await self.node.rpc(self.where, Atom("erl_scan"), Atom("string"), [list(_LIST_CRLS.encode())],
                                       timeout=RPC_TIMEOUT)
            parsed = await self.node.rpc(self.where, Atom("erl_parse"), Atom("parse_exprs"), [toks[1]],
                                         timeout=RPC_TIMEOUT) if isinstance(toks, tuple) and toks[0] is _OK \
                else None
            if not (isinstance(parsed, tuple) and parsed[0] is _OK):
                log.warning("CRL cache of %s not readable: %r", self.where, parsed)
                return []
            exprs = _PARSED[self.where] = parsed[1]
        res = await self.node.rpc(self.where, Atom("erl_eval"), Atom("exprs"), [exprs, []], timeout=RPC_TIMEOUT)
        rows = res[1] if isinstance(res, tuple) and len(res) == 3 and res[0] == Atom("value") else []
        out = []
        for der in rows if isinstance(rows, list) else []:
            if isinstance(der, (bytes, bytearray)):
                try:
                    out.append(x509.load_der_x509_crl(bytes(der)))
                except ValueError:
                    continue
        return out


# the CRLs of ssl's cache on a node, as an Erlang expression (parsed there once per node)
_LIST_CRLS = ("[C || T <- ets:all(), ets:info(T, name) =:= ssl_otp_crl_issuer_mapping, "
              "{_, C} <- ets:tab2list(T)].")
_PARSED: dict = {}


def judge(der: bytes, issuer_der: Optional[bytes], crls: list):
    """The revocation status of certificate ``der`` by the CRLs of its issuer."""
    try:
        cert = x509.load_der_x509_certificate(der)
        issuer = x509.load_der_x509_certificate(issuer_der) if issuer_der else None
    except ValueError:
        return "undetermined"
    now = dt.datetime.now(dt.timezone.utc)
    decided = False
    for crl in crls:
        if crl.issuer != cert.issuer or issuer is None:
            continue
        try:
            if not crl.is_signature_valid(issuer.public_key()):
                continue
        except (TypeError, ValueError):
            continue
        if crl.next_update_utc is not None and crl.next_update_utc < now:
            continue                      # too old to decide (dps_and_crls drops it)
        decided = True
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            try:
                reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
            except x509.ExtensionNotFound:
                reason = x509.ReasonFlags.unspecified
            return ("revoked", _REASONS.get(reason, "unspecified"))
    return "valid" if decided else "undetermined"


def crl_hook_for(parsed_ssl: dict, node, caller: Pid) -> Optional[CrlCheck]:
    """The hook of a connection that verifies its peer with ``crl_check`` (under
    ``verify_none`` ssl's default verify_fun accepts a revoked certificate too)."""
    if getattr(parsed_ssl.get("verify"), "name", None) != "verify_peer":
        return None
    check = parsed_ssl.get("crl_check")
    if check is True:
        mode = "true"
    elif isinstance(check, Atom) and check.name in ("peer", "best_effort"):
        mode = check.name
    else:
        return None
    return CrlCheck(node, caller, mode, asyncio.get_running_loop())
