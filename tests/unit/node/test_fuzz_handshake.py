"""Property tests of the distribution handshake (``bridge.node.handshake``): an
``Initiator`` and an ``Acceptor`` driven against each other in memory, every transfer
cut into arbitrary reads.

What is asserted:

* ``receive`` raises nothing but ``HandshakeError``, whatever the bytes: arbitrary
  streams, 2-byte framed messages of every type letter with junk inside, and a valid
  exchange whose bytes a man in the middle mutates.
* A valid exchange succeeds for any chunking of the bytes in both directions, with
  any node names, creations, flag sets that hold OTP 25's mandatory flags, and the
  statuses ``ok`` / ``ok_simultaneous`` / ``alive``: both sides end ``done`` with the
  same negotiated flags (the AND of both offers), each other's names and creations,
  and the bytes that followed the last handshake message in ``leftover``.
* A wrong cookie always fails: the acceptor refuses the reply, and an acceptor that
  does not know the cookie but answers anyway is refused by the initiator. Changing
  any byte of the challenge reply or the challenge ack never lets both sides finish.
* A refusal status fails on both sides; missing mandatory flags fail the handshake.
"""
from __future__ import annotations

import struct

import pytest
from hypothesis import example, given, settings, strategies as st

from bridge.node import handshake as hs
from bridge.node.handshake import Acceptor, HandshakeError, Initiator

pytestmark = pytest.mark.fuzz

_part = st.text(alphabet=st.characters(blacklist_characters="@", blacklist_categories=("Cs",)),
                min_size=1, max_size=12)
_names = st.tuples(_part, _part).map(lambda t: f"{t[0]}@{t[1]}")
_cookies = st.text(alphabet=st.characters(max_codepoint=255), max_size=24)
_creations = st.integers(0, 0xFFFFFFFF)
_flags = st.integers(0, (1 << 64) - 1).map(lambda f: f | hs.MANDATORY_25)
_ok_status = st.sampled_from(["ok", "ok_simultaneous", "alive"])


def _chunks(data, payload: bytes) -> list[bytes]:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(payload)), max_size=6), label="cuts"))
    bounds = [0] + cuts + [len(payload)]
    return [payload[a:b] for a, b in zip(bounds, bounds[1:])]


class Run:
    """Pumps bytes between the two sides until neither has anything to send.

    A side whose ``receive`` raised gets nothing more (the node closes the
    connection) but what it queued before raising is still delivered (the node
    flushes it first). ``mitm(out, sender)`` may change each transfer."""

    def __init__(self, i: Initiator, a: Acceptor, data, *, mitm=None,
                 extra_to_a: bytes = b"", extra_to_i: bytes = b""):
        self.i, self.a, self.data = i, a, data
        self.mitm = mitm
        self.extra = {id(a): extra_to_a, id(i): extra_to_i}
        self.errors: dict = {"i": None, "a": None}

    def _deliver(self, dst, key, out):
        if self.errors[key] is not None:
            return
        for chunk in _chunks(self.data, out):
            try:
                dst.receive(chunk)
            except HandshakeError as exc:
                self.errors[key] = exc
                return

    def go(self, rounds: int = 12):
        i, a = self.i, self.a
        for _ in range(rounds):
            moved = False
            for src, dst, key in ((i, a, "a"), (a, i, "i")):
                out = src.data_to_send()
                if not out:
                    continue
                moved = True
                # the bytes after each side's last handshake message
                if (src is i and i.state == "ack") or (src is a and a.done):
                    out += self.extra[id(dst)]
                    self.extra[id(dst)] = b""
                if self.mitm is not None:
                    out = self.mitm(out, src)
                self._deliver(dst, key, out)
            if not moved:
                break
        return self


@settings(deadline=None)
@given(ni=_names, na=_names, cookie=_cookies, ci=_creations, ca=_creations, fi=_flags, fa=_flags,
       status=_ok_status, extra_to_a=st.binary(max_size=20), extra_to_i=st.binary(max_size=20),
       data=st.data())
@example(ni="a@h", na="b@h", cookie="", ci=0, ca=0, fi=hs.MANDATORY_25, fa=hs.OUR_FLAGS,
         status="alive", extra_to_a=b"\x00\x00\x00\x00", extra_to_i=b"\x00", data=None)
def test_valid_exchange_succeeds_in_any_chunking(ni, na, cookie, ci, ca, fi, fa, status,
                                                 extra_to_a, extra_to_i, data):
    asked = []

    def decide(name):
        asked.append(name)
        return status

    i = Initiator(ni, cookie, ci, na, flags=fi)
    a = Acceptor(na, cookie, ca, decide, flags=fa)
    if data is None:                      # the @example: whole transfers
        data = _Whole()
    r = Run(i, a, data, extra_to_a=extra_to_a, extra_to_i=extra_to_i).go()
    assert r.errors == {"i": None, "a": None}
    assert i.done and a.done
    assert asked == [ni]
    assert i.peer_name == na and a.peer_name == ni
    assert i.peer_creation == ca and a.peer_creation == ci
    assert i.peer_flags == fa and a.peer_flags == fi
    assert i.flags == a.flags == fi & fa
    assert i.status == status
    assert a.leftover == extra_to_a and i.leftover == extra_to_i
    assert i.data_to_send() == b"" and a.data_to_send() == b""
    # after the handshake, bytes go to leftover (the node hands them to the framer)
    i.receive(b"more")
    assert i.leftover == extra_to_i + b"more"


class _Whole:
    """Stands for ``st.data()`` in an @example: every transfer in one piece."""

    def draw(self, strategy, label=None):
        return []


@settings(deadline=None)
@given(ci_cookie=_cookies, ca_cookie=_cookies, status=_ok_status, data=st.data())
@example(ci_cookie="abc", ca_cookie="abd", status="ok", data=None)
def test_wrong_cookie_always_fails(ci_cookie, ca_cookie, status, data):
    if ci_cookie == ca_cookie:
        ca_cookie += "x"
    data = data or _Whole()
    i = Initiator("a@h", ci_cookie, 1, "b@h")
    a = Acceptor("b@h", ca_cookie, 2, lambda n: status)
    r = Run(i, a, data).go()
    assert isinstance(r.errors["a"], HandshakeError) and "cookie" in str(r.errors["a"])
    assert not a.done and not i.done


class _LyingAcceptor(Acceptor):
    """Does not check the reply's digest and acks with its own (wrong) cookie."""

    def _message(self, msg: bytes) -> None:
        if self.state == "reply":
            their = struct.unpack_from(">I", msg, 1)[0]
            self._send(b"a" + hs.digest(their, self.cookie))
            self.done = True
            self.state = "done"
            return
        super()._message(msg)


@settings(deadline=None)
@given(ci_cookie=_cookies, ca_cookie=_cookies, data=st.data())
def test_initiator_refuses_an_ack_made_with_another_cookie(ci_cookie, ca_cookie, data):
    if ci_cookie == ca_cookie:
        ca_cookie += "x"
    i = Initiator("a@h", ci_cookie, 1, "b@h")
    a = _LyingAcceptor("b@h", ca_cookie, 2, lambda n: "ok")
    r = Run(i, a, data).go()
    assert isinstance(r.errors["i"], HandshakeError) and "cookie" in str(r.errors["i"])
    assert not i.done


def _framed(payloads: list[bytes]) -> bytes:
    return b"".join(struct.pack(">H", len(p)) + p for p in payloads)


_msgs = st.lists(
    st.tuples(st.sampled_from(b"NnsraxN\x00"), st.binary(max_size=30)).map(
        lambda t: bytes([t[0]]) + t[1]),
    max_size=5).map(_framed)


@settings(deadline=None)
@given(stream=st.one_of(st.binary(max_size=80), _msgs,
                        st.tuples(st.binary(max_size=4), _msgs).map(b"".join)),
       side=st.sampled_from(["acceptor", "initiator"]), status=_ok_status, data=st.data())
@example(stream=b"\x00\x00", side="acceptor", status="ok", data=None)
@example(stream=_framed([b"N" + b"\x00" * 14]), side="acceptor", status="ok", data=None)
@example(stream=_framed([b"sok", b"N"]), side="initiator", status="ok", data=None)
@example(stream=_framed([b"salive", b"N" + b"\xff" * 18]), side="initiator", status="ok", data=None)
def test_arbitrary_bytes_raise_only_handshake_error(stream, side, status, data):
    data = data or _Whole()
    if side == "acceptor":
        h = Acceptor("b@h", "c", 2, lambda n: status)
    else:
        h = Initiator("a@h", "c", 1, "b@h")
    for chunk in _chunks(data, stream):
        try:
            h.receive(chunk)
        except HandshakeError:
            return
    # a finished handshake would need the digest of our random challenge
    assert not h.done


def _mutate(data, out: bytes) -> bytes:
    kind = data.draw(st.sampled_from(["keep", "keep", "flip", "cut", "insert", "replace"]),
                     label="mutation")
    if kind == "keep" or not out:
        return out
    k = data.draw(st.integers(0, len(out) - 1), label="at")
    if kind == "flip":
        return out[:k] + bytes([out[k] ^ data.draw(st.integers(1, 255), label="xor")]) + out[k + 1:]
    if kind == "cut":
        return out[:k]
    if kind == "insert":
        return out[:k] + data.draw(st.binary(min_size=1, max_size=8), label="ins") + out[k:]
    return data.draw(st.binary(max_size=40), label="replacement")


@settings(deadline=None)
@given(status=_ok_status, data=st.data())
def test_mitm_mutations_raise_only_handshake_error(status, data):
    """Any mutation of any transfer: only HandshakeError, and a side that finishes
    has a consistent state."""
    i = Initiator("a@h", "c", 1, "b@h")
    a = Acceptor("b@h", "c", 2, lambda n: status)
    Run(i, a, data, mitm=lambda out, src: _mutate(data, out)).go()
    for h in (i, a):
        if h.done:
            assert h.peer_name is not None and "@" in h.peer_name
            assert h.flags == h.peer_flags & h.our_flags
    if i.done:
        assert i.peer_name == "b@h"


@settings(deadline=None)
@given(target=st.sampled_from(["challenge", "reply", "ack"]), data=st.data())
def test_tampered_challenge_reply_or_ack_never_completes(target, data):
    """Flip bits anywhere in the reply or the ack, or in the challenge number of the
    acceptor's challenge message: the two sides never both finish, and where the
    message still frames, a digest check refuses it."""
    i = Initiator("a@h", "c", 1, "b@h")
    a = Acceptor("b@h", "c", 2, lambda n: "ok")
    hit = []

    def mitm(out, src):
        # each message is 2-byte length + type letter + body
        pos = 0
        while pos + 3 <= len(out):
            n = struct.unpack_from(">H", out, pos)[0]
            msg = out[pos + 2:pos + 2 + n]
            lo = hi = None
            if target == "reply" and msg[:1] == b"r":
                lo, hi = pos, pos + 2 + n
            elif target == "ack" and msg[:1] == b"a":
                lo, hi = pos, pos + 2 + n
            elif target == "challenge" and msg[:1] == b"N" and src is a:
                lo, hi = pos + 2 + 9, pos + 2 + 13       # 'N', flags:64, challenge:32
            if lo is not None and not hit:
                k = data.draw(st.integers(lo, hi - 1), label="at")
                x = data.draw(st.integers(1, 255), label="xor")
                hit.append((k, lo))
                return out[:k] + bytes([out[k] ^ x]) + out[k + 1:]
            pos += 2 + n
        return out

    r = Run(i, a, data, mitm=mitm).go()
    assert hit, "the targeted message was never sent"
    assert not (i.done and a.done)
    assert not i.done
    k, lo = hit[0]
    if target == "challenge" or k >= lo + 2:      # the length prefix is intact
        assert r.errors["i"] is not None or r.errors["a"] is not None


@settings(deadline=None)
@given(status=st.text(max_size=12).filter(lambda s: s not in ("ok", "ok_simultaneous", "alive")),
       data=st.data())
@example(status="named:x", data=None)
@example(status="", data=None)
def test_refusal_status_fails_both_sides(status, data):
    data = data or _Whole()
    i = Initiator("a@h", "c", 1, "b@h")
    a = Acceptor("b@h", "c", 2, lambda n: status)
    r = Run(i, a, data).go()
    assert isinstance(r.errors["a"], HandshakeError)
    assert isinstance(r.errors["i"], HandshakeError)
    assert not i.done and not a.done


@settings(deadline=None)
@given(fi=st.integers(0, (1 << 64) - 1), fa=st.integers(0, (1 << 64) - 1), data=st.data())
@example(fi=hs.MANDATORY_25_DIGEST, fa=hs.MANDATORY_25_DIGEST, data=None)
@example(fi=hs.MANDATORY_25 & ~hs.MAP_TAG, fa=hs.OUR_FLAGS, data=None)
def test_flags_decide_success(fi, fa, data):
    data = data or _Whole()

    def acceptable(f):
        return bool(f & hs.MANDATORY_25_DIGEST) or f & hs.MANDATORY_25 == hs.MANDATORY_25

    i = Initiator("a@h", "c", 1, "b@h", flags=fi)
    a = Acceptor("b@h", "c", 2, lambda n: "ok", flags=fa)
    r = Run(i, a, data).go()
    if acceptable(fi) and acceptable(fa):
        assert i.done and a.done and i.flags == a.flags == fi & fa
    else:
        assert not (i.done and a.done)
        assert r.errors["a"] is not None if not acceptable(fi) else r.errors["i"] is not None
