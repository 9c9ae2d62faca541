"""shape(), invalid_packet() and encode_packet() errors against OTP's own ssl.

One ``erl`` runs a loopback ssl pair (certificate made here) and records what
``ssl:recv`` gives for every mode × header × packet length, what an oversized
packet gives, and what ``ssl:send`` says for data too long for its header. The
comparison is on the ETF bytes, so list-vs-string and improper-tail details count.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bridge.etf import binary_to_term, term_to_binary
from bridge.etf.types import Atom
from bridge.service.packet import PacketDecoder, PacketError, PacketTooLarge, encode_packet, \
    invalid_packet, shape

sys.path.insert(0, str(Path(__file__).parent.parent / "support"))
import certgen  # noqa: E402

LENGTHS = range(0, 7)
HEADERS = range(0, 5)
BAD = b"\x05abcde\x01z\x00"  # packet 1, packet_size 2: the first header is too big

ERL_MODULE = r"""
-module(pkt_probe).
-export([main/3]).

main(Cert, Key, Out) ->
    {ok, _} = application:ensure_all_started(ssl),
    {ok, L} = ssl:listen(0, [binary, {certfile, Cert}, {keyfile, Key}, {active, false},
                             {reuseaddr, true}, {ip, {127,0,0,1}}]),
    {ok, {_, Port}} = ssl:sockname(L),
    Pair = fun() ->
                   Self = self(),
                   spawn_link(fun() ->
                                      {ok, T} = ssl:transport_accept(L),
                                      {ok, S} = ssl:handshake(T),
                                      ok = ssl:controlling_process(S, Self),
                                      Self ! {server, S}
                              end),
                   {ok, C} = ssl:connect({127,0,0,1}, Port, [{verify, verify_none}, {active, false}]),
                   receive {server, S} -> {S, C} end
           end,
    {Srv, Cli} = Pair(),
    ok = ssl:setopts(Srv, [{packet, 1}]),
    Shapes = [begin
                  ok = ssl:setopts(Cli, [{packet, 1}, {mode, Mode}, {header, H}]),
                  [begin
                       ok = ssl:send(Srv, binary:copy(<<"Z">>, N)),
                       {ok, Data} = ssl:recv(Cli, 0, 5000),
                       {{Mode, H, N}, term_to_binary(Data)}
                   end || N <- LENGTHS]
              end || Mode <- [binary, list], H <- HEADERS],
    SendErrors = [begin
                      ok = ssl:setopts(Srv, [{packet, P}]),
                      {P, ssl:send(Srv, binary:copy(<<0>>, Len))}
                  end || {P, Len} <- [{1, 256}, {2, 65536}]],
    Invalid = [begin
                   {S2, C2} = Pair(),
                   ok = ssl:setopts(C2, [{packet, 1}, {packet_size, 2}, {mode, Mode}]),
                   ok = ssl:send(S2, BAD),
                   R = ssl:recv(C2, 0, 5000),
                   {Mode, term_to_binary(R)}
               end || Mode <- [binary, list]],
    ok = file:write_file(Out, term_to_binary({lists:append(Shapes), SendErrors, Invalid})).
"""


@pytest.fixture(scope="module")
def ssl_results(tmp_path_factory):
    d = tmp_path_factory.mktemp("pktssl")
    cert = certgen.write(certgen.self_signed("localhost"), d, "server")
    src = ERL_MODULE.replace("LENGTHS", "lists:seq(0, 6)").replace("HEADERS", "lists:seq(0, 4)") \
        .replace("BAD", "<<" + ",".join(str(b) for b in BAD) + ">>")
    (d / "pkt_probe.erl").write_text(src)
    out = d / "out"
    script = (f'{{ok, _}} = compile:file("{d / "pkt_probe.erl"}", [{{outdir, "{d}"}}, report]), '
              f'true = code:add_patha("{d}"), '
              f'pkt_probe:main("{cert.cert_path}", "{cert.key_path}", "{out}"), halt().')
    proc = subprocess.run(["erl", "-noshell", "-noinput", "-eval", script],
                          capture_output=True, timeout=120)
    assert out.exists(), proc.stdout.decode() + proc.stderr.decode()
    return binary_to_term(out.read_bytes())


def test_delivery_shapes_match_ssl(ssl_results):
    shapes, _, _ = ssl_results
    assert len(shapes) == 2 * len(HEADERS) * len(LENGTHS)
    for (mode, header, n), erl_bytes in shapes:
        binary = mode == Atom("binary")
        ours = term_to_binary(shape(b"Z" * n, binary, header))
        assert ours == erl_bytes, (mode, header, n, binary_to_term(erl_bytes))


def test_send_too_large_matches_ssl(ssl_results):
    _, send_errors, _ = ssl_results
    assert len(send_errors) == 2
    for ptype, erl_reply in send_errors:
        with pytest.raises(PacketTooLarge) as ei:
            encode_packet(ptype, b"\x00" * {1: 256, 2: 65536}[ptype])
        assert erl_reply == (Atom("error"), ei.value.reason)


def test_invalid_packet_matches_ssl(ssl_results):
    _, _, invalid = ssl_results
    assert len(invalid) == 2
    for mode, erl_bytes in invalid:
        dec = PacketDecoder(1, 2)
        dec.feed(BAD)
        with pytest.raises(PacketError):
            dec.next_packet()
        ours = (Atom("error"), invalid_packet(dec.take_all(), mode == Atom("binary")))
        # re-encoded by our codec: Erlang writes atoms as ATOM_EXT, we as SMALL_ATOM_UTF8
        assert term_to_binary(ours) == term_to_binary(binary_to_term(erl_bytes))
