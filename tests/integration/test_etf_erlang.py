"""Cross-checks of bridge.etf against a real Erlang runtime.

One escript (one BEAM) runs for the whole module, in two phases:

1. It reads the binaries *we* encoded, decodes each with ``binary_to_term`` and
   compares it ``=:=`` with an Erlang expression (or applies a predicate, for
   pids/refs/ports of a foreign node); it also reports whether its own
   ``term_to_binary(T, [{minor_version, 2}])`` is byte-identical to ours.
   It then writes its own ``term_to_binary`` of a battery of terms and says READY.
2. We decode every battery binary, re-encode it and write the results back; the
   BEAM compares each with the original term using ``=:=`` (funs: we also check
   the re-encoding is byte-exact).

Records in the files are ``<<NameLen:32, Name, BinLen:32, Bin, ExprLen:32, Expr>>``.
"""
from __future__ import annotations

import shutil
import struct
import subprocess
import textwrap

import pytest

from bridge.etf import (Atom, BitString, ErlMap, ImproperList, Opaque, Pid, Port, Reference,
                        binary_to_term, term_to_binary)

A = Atom
NODE = A("pyssl@127.0.0.1")


def _is(kind):
    return f"fun(X) -> is_{kind}(X) andalso node(X) =:= 'pyssl@127.0.0.1' end"


# (name, python term, Erlang expression for the expected term, byte-identical to OTP?)
OURS = [
    ("int_small", 5, "5", True),
    ("ints", [0, 255, 256, -1, -256, 2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**32, -2**63],
     "[0,255,256,-1,-256,2147483647,2147483648,-2147483648,-2147483649,1 bsl 32,-(1 bsl 63)]",
     True),
    ("big_pos64", 2**64, "1 bsl 64", True),
    ("big_neg64", -2**64, "-(1 bsl 64)", True),
    ("big_pos1000", 2**1000, "1 bsl 1000", True),
    ("big_neg1000", -2**1000, "-(1 bsl 1000)", True),
    ("big_large", 3**2000, "lists:foldl(fun(_, A) -> A * 3 end, 1, lists:seq(1, 2000))", True),
    ("floats", [3.141592653589793, -2.5e-300, 1.7976931348623157e308, 5e-324, 0.0, 1e15],
     "[3.141592653589793,-2.5e-300,1.7976931348623157e308,5.0e-324,0.0,1.0e15]", True),
    ("atom", A("ok"), "ok", True),
    ("atom_latin1", A("h\xe9llo"), "list_to_atom([104,233,108,108,111])", True),
    ("atom_utf8", A("\u65e5\u672c\u8a9e"), "list_to_atom([26085,26412,35486])", True),
    ("atom_255", A("a" * 255), "list_to_atom(lists:duplicate(255, $a))", True),
    ("atom_255_utf8", A("\u65e5" * 255), "list_to_atom(lists:duplicate(255, 16#65E5))", True),
    ("atom_empty", A(""), "''", True),
    ("bools_none", [True, False, None], "[true, false, undefined]", True),
    ("str", "hello", "\"hello\"", True),
    ("str_empty", "", "[]", True),
    ("str_unicode", "\u20acuro", "[8364|\"uro\"]", True),
    ("str_70000", "x" * 70000, "lists:duplicate(70000, $x)", True),
    ("str_70000_unicode", "\u20ac" * 70000, "lists:duplicate(70000, 8364)", True),
    ("bytelist_70000", [i % 256 for i in range(70000)],
     "[I rem 256 || I <- lists:seq(0, 69999)]", True),
    ("bytelist_short", [1, 2, 3], "[1,2,3]", True),
    ("list_mixed", [1, A("a"), [2.5, b"x"], ()], "[1, a, [2.5, <<\"x\">>], {}]", True),
    ("binary", b"\x01\x02\x03", "<<1,2,3>>", True),
    ("binary_empty", b"", "<<>>", True),
    ("bytearray", bytearray(b"ab"), "<<\"ab\">>", True),
    ("memoryview", memoryview(b"ab"), "<<\"ab\">>", True),
    ("binary_big", b"xyz" * 40000, "binary:copy(<<\"xyz\">>, 40000)", True),
    ("bits", [BitString(b"\xe0", 3), BitString(b"\xff\x38", 5)], "[<<7:3>>, <<255, 7:5>>]",
     True),
    ("tuple_empty", (), "{}", True),
    ("tuple_300", tuple(range(300)), "list_to_tuple(lists:seq(0, 299))", True),
    ("improper", ImproperList((1, 2), 3), "[1,2|3]", True),
    ("improper_atom", ImproperList((A("a"),), A("b")), "[a|b]", True),
    ("map", {A("a"): 1, 2: [3]}, "#{a => 1, 2 => [3]}", False),
    ("map_empty", {}, "#{}", True),
    ("map_list_keys", ErlMap([([1, 2], A("x")), (1, 2), (1.0, 3)]),
     "#{[1,2] => x, 1 => 2, 1.0 => 3}", False),
    ("map_big", {i: i * i for i in range(100)}, "maps:from_list([{I, I*I} || I <- lists:seq(0, 99)])",
     False),
    ("pid", Pid(NODE, 100, 2, 3), _is("pid"), True),
    ("ref3", Reference(NODE, 3, (1, 2, 3)), _is("reference"), True),
    ("ref5", Reference(NODE, 3, (1, 2, 3, 4, 5)), _is("reference"), True),
    ("port", Port(NODE, 5, 3), _is("port"), True),
    ("port_v4", Port(NODE, 2**40, 3), _is("port"), True),
    ("export", Opaque(113, b"qw\x05listsw\x03mapa\x02"), "fun lists:map/2", True),
    ("ssl_msg", (A("ssl"), (A("sslsocket"), A("pyssl"), Reference(NODE, 9, (1, 2, 3))),
                 bytes(range(256)) * 4),
     "fun({ssl, {sslsocket, pyssl, R}, B}) -> is_reference(R) andalso "
     "B =:= binary:copy(list_to_binary(lists:seq(0, 255)), 4); (_) -> false end", True),
]

EXACT = {name for name, _, _, exact in OURS if exact}

ESCRIPT = textwrap.dedent(r"""
    #!/usr/bin/env escript
    %%! -noshell
    -mode(compile).

    main([Cases, Results, Battery, Back, Verdict]) ->
        {ok, CasesBin} = file:read_file(Cases),
        ok = file:write_file(Results, [check(N, B, E) || {N, B, E} <- records(CasesBin)]),
        Terms = battery(),
        ok = file:write_file(Battery, [record(N, encode(T, O), <<>>) || {N, T, O} <- Terms]),
        io:format("READY~n"),
        _ = io:get_line(""),
        {ok, BackBin} = file:read_file(Back),
        Lines = [compare(N, B, Terms) || {N, B, _} <- records(BackBin)],
        ok = file:write_file(Verdict, Lines),
        io:format("DONE~n"),
        halt(0).

    records(<<NL:32, N:NL/binary, BL:32, B:BL/binary, EL:32, E:EL/binary, Rest/binary>>) ->
        [{N, B, E} | records(Rest)];
    records(<<>>) -> [].

    record(N, B, E) -> [<<(byte_size(N)):32>>, N, <<(byte_size(B)):32>>, B,
                        <<(byte_size(E)):32>>, E].

    encode(T, []) -> term_to_binary(T);
    encode(T, O) -> term_to_binary(T, O).

    eval(S) ->
        {ok, Toks, _} = erl_scan:string(binary_to_list(S) ++ "."),
        {ok, Exprs} = erl_parse:parse_exprs(Toks),
        {value, V, _} = erl_eval:exprs(Exprs, []),
        V.

    check(N, B, E) ->
        Line = try
            Expected = eval(E),
            T = binary_to_term(B),
            Ok = case Expected of
                     F when is_function(F, 1), not is_function(T) -> F(T);
                     _ -> T =:= Expected
                 end,
            Exact = term_to_binary(T, [{minor_version, 2}]) =:= B,
            io_lib:format("~s\t~p\t~p\t~tW", [N, Ok, Exact, T, 12])
        catch C:R -> io_lib:format("~s\terror\tfalse\t~p:~tW", [N, C, R, 12])
        end,
        [unicode:characters_to_binary(Line), $\n].

    compare(N, B, Terms) ->
        {N, T, _} = lists:keyfind(N, 1, Terms),
        Line = try binary_to_term(B) of
                   T -> io_lib:format("~s\ttrue", [N]);
                   Other -> io_lib:format("~s\tfalse\t~tW", [N, Other, 12])
               catch C:R -> io_lib:format("~s\terror\t~p:~p", [N, C, R])
               end,
        [unicode:characters_to_binary(Line), $\n].

    battery() ->
        X = 42,
        Ref = make_ref(),
        Port = hd(erlang:ports()),
        Unicode = list_to_atom([26085, 26412, 35486]),
        Latin = list_to_atom([104, 233, 108, 108, 111]),
        [{<<"big_pos64">>, 1 bsl 64, []},
         {<<"big_neg64">>, -(1 bsl 64), []},
         {<<"big_pos1000">>, 1 bsl 1000, []},
         {<<"big_neg1000">>, -(1 bsl 1000), []},
         {<<"big_large">>, 1 bsl 2100, []},
         {<<"ints">>, [0, 255, 256, -1, -256, 2147483647, 2147483648, -2147483648,
                       -2147483649, 1 bsl 32, -(1 bsl 63)], []},
         {<<"floats">>, [3.141592653589793, -2.5e-300, 1.7976931348623157e308, 5.0e-324,
                         0.0, 1.0e15, -1.5], []},
         {<<"float_old">>, [3.141592653589793, 1.0e-300], [{minor_version, 0}]},
         {<<"atoms_latin1_ext">>, [ok, Latin, Unicode, '', true, false, undefined], []},
         {<<"atoms_utf8">>, [ok, Latin, Unicode, ''], [{minor_version, 2}]},
         {<<"atom255">>, list_to_atom(lists:duplicate(255, $a)), []},
         {<<"atom255_utf8">>, list_to_atom(lists:duplicate(255, 16#65E5)), []},
         {<<"string70000">>, lists:duplicate(70000, $x), []},
         {<<"string_short">>, "hello world", []},
         {<<"unicode_list">>, [8364, 26085, 0, 255, 256], []},
         {<<"improper">>, [1, 2 | 3], []},
         {<<"improper_atom">>, [a | b], []},
         {<<"alias_ref">>, [alias | alias()], [{minor_version, 2}]},
         {<<"alias_make_ref">>, [alias | Ref], []},
         {<<"bits">>, [<<1:3>>, <<255, 7:5>>, <<>>, <<1, 2, 3>>], []},
         {<<"binary_big">>, binary:copy(<<"xyz">>, 40000), []},
         {<<"tuple300">>, list_to_tuple(lists:seq(1, 300)), []},
         {<<"tuple_empty">>, {}, []},
         {<<"map_list_keys">>, #{[1, 2] => a, b => [c], "k" => "v"}, []},
         {<<"map_num_keys">>, #{1 => a, 1.0 => b}, []},
         {<<"map_big">>, maps:from_list([{I, I * I} || I <- lists:seq(1, 100)]), []},
         {<<"map_map_key">>, #{#{a => 1} => 2}, []},
         {<<"pid">>, self(), [{minor_version, 2}]},
         {<<"ref">>, Ref, [{minor_version, 2}]},
         {<<"port">>, Port, [{minor_version, 2}]},
         {<<"ids">>, {self(), make_ref(), Port, alias()}, [{minor_version, 2}]},
         {<<"fun_local">>, fun() -> ok end, []},
         {<<"fun_free">>, fun(Y) -> X + Y end, []},
         {<<"fun_free_many">>, fun() -> {X, "str", self(), Ref, [1 | 2], #{a => X}} end, []},
         {<<"fun_export">>, fun lists:map/2, []},
         {<<"fun_eval">>, eval(<<"Z = 5, fun(A) -> A + Z end">>), []},
         {<<"funs_in_tuple">>, {fun() -> X end, fun erlang:self/0, tail}, [{minor_version, 2}]},
         {<<"compressed">>, lists:seq(1, 1000), [compressed]},
         {<<"compressed9">>, lists:duplicate(1000, <<"abc">>), [{compressed, 9}]},
         {<<"compressed_map">>, #{a => lists:seq(1, 500), b => "text"}, [compressed]},
         {<<"nested">>, {ok, [{a, 1}, #{k => "v"}], <<"bin">>, [[[[[]]]]], true, false,
                         undefined}, []},
         {<<"deep">>, lists:foldl(fun(_, Acc) -> [Acc] end, [], lists:seq(1, 200)), []},
         {<<"ssl_msg">>, {ssl, {sslsocket, pyssl, make_ref()}, binary:copy(<<7>>, 1024)}, [{minor_version, 2}]}].
""").lstrip()


def _record(name: bytes, blob: bytes, expr: bytes = b"") -> bytes:
    return b"".join((struct.pack(">I", len(name)), name, struct.pack(">I", len(blob)), blob,
                     struct.pack(">I", len(expr)), expr))


def _records(data: bytes):
    pos, out = 0, []
    while pos < len(data):
        fields = []
        for _ in range(3):
            n = struct.unpack_from(">I", data, pos)[0]
            fields.append(data[pos + 4:pos + 4 + n])
            pos += 4 + n
        out.append(tuple(fields))
    return out


@pytest.fixture(scope="module")
def erlang(tmp_path_factory):
    if shutil.which("escript") is None:
        pytest.skip("Erlang (escript) is not installed")
    d = tmp_path_factory.mktemp("etf_erlang")
    script = d / "etf_check.escript"
    script.write_text(ESCRIPT)
    files = {k: d / f"{k}.bin" for k in ("cases", "results", "battery", "back", "verdict")}
    files["cases"].write_bytes(b"".join(
        _record(name.encode(), term_to_binary(term), expr.encode())
        for name, term, expr, _ in OURS))
    proc = subprocess.Popen(["escript", str(script)] + [str(files[k]) for k in
                                                       ("cases", "results", "battery", "back",
                                                        "verdict")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = proc.stdout.readline()
        if line.strip() != b"READY":
            proc.kill()
            out, err = proc.communicate(timeout=10)
            pytest.fail(f"escript did not get ready: {line!r} {out!r} {err!r}")
        battery = {}
        back = []
        for name, blob, _ in _records(files["battery"].read_bytes()):
            try:
                term = binary_to_term(blob)
                again = term_to_binary(term)
                battery[name.decode()] = (blob, term, again, None)
                back.append(_record(name, again))
            except Exception as exc:  # reported per test below
                battery[name.decode()] = (blob, None, None, exc)
        files["back"].write_bytes(b"".join(back))
        out, err = proc.communicate(b"go\n", timeout=60)
        assert proc.returncode == 0, err.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    results = {}
    for line in files["results"].read_bytes().decode("utf-8", "replace").splitlines():
        name, ok, exact, shown = line.split("\t", 3)
        results[name] = (ok, exact, shown)
    verdicts = {}
    for line in files["verdict"].read_bytes().decode("utf-8", "replace").splitlines():
        name, ok, *rest = line.split("\t")
        verdicts[name] = (ok, rest)
    return results, battery, verdicts


@pytest.mark.parametrize("name", [c[0] for c in OURS])
def test_erlang_decodes_our_encoding(erlang, name):
    results, _, _ = erlang
    ok, exact, shown = results[name]
    assert ok == "true", f"Erlang decoded {name} as {shown}"
    if name in EXACT:
        assert exact == "true", f"{name}: our bytes differ from OTP's minor_version 2 encoding"


BATTERY_NAMES = [
    "big_pos64", "big_neg64", "big_pos1000", "big_neg1000", "big_large", "ints", "floats",
    "float_old", "atoms_latin1_ext", "atoms_utf8", "atom255", "atom255_utf8", "string70000",
    "string_short", "unicode_list", "improper", "improper_atom", "alias_ref", "alias_make_ref",
    "bits", "binary_big", "tuple300", "tuple_empty", "map_list_keys", "map_num_keys", "map_big",
    "map_map_key", "pid", "ref", "port", "ids", "fun_local", "fun_free", "fun_free_many",
    "fun_export", "fun_eval", "funs_in_tuple", "compressed", "compressed9", "compressed_map",
    "nested", "deep", "ssl_msg",
]


@pytest.mark.parametrize("name", BATTERY_NAMES)
def test_we_decode_and_reencode_erlangs_encoding(erlang, name):
    _, battery, verdicts = erlang
    blob, term, again, exc = battery[name]
    assert exc is None, f"decoding Erlang's {name} failed: {exc!r}"
    assert verdicts[name][0] == "true", f"Erlang: our re-encoding of {name} is not =:= ({verdicts[name]})"
    if name.startswith("fun") or name in ("atoms_utf8", "atom255_utf8", "tuple300", "bits",
                                          "string70000", "pid", "ref", "port", "ids",
                                          "big_large", "ssl_msg", "alias_ref"):
        # no latin-1 atoms, no maps, no compression: our bytes are Erlang's bytes
        assert again == blob


def test_battery_shapes(erlang):
    """A few decoded values, checked on the Python side."""
    _, battery, _ = erlang
    get = lambda n: battery[n][1]  # noqa: E731
    assert get("big_pos1000") == 2**1000 and get("big_neg64") == -2**64
    assert get("float_old") == [3.141592653589793, 1e-300]
    assert get("atoms_latin1_ext") == [A("ok"), A("h\xe9llo"), A("\u65e5\u672c\u8a9e"), A(""),
                                        True, False, A("undefined")]
    assert get("string70000") == [120] * 70000
    assert get("improper") == ImproperList((1, 2), 3)
    alias = get("alias_ref")
    assert isinstance(alias, ImproperList) and alias.elements == (A("alias"),) \
        and isinstance(alias.tail, Reference)
    assert get("bits") == [BitString(b"\x20", 3), BitString(b"\xff\x38", 5), b"", b"\x01\x02\x03"]
    assert get("tuple300") == tuple(range(1, 301))
    m = get("map_list_keys")
    assert isinstance(m, ErlMap) and dict((repr(k), v) for k, v in m.items)["[1, 2]"] == A("a")
    assert isinstance(get("map_num_keys"), ErlMap) and len(get("map_num_keys").items) == 2
    assert get("map_big") == {i: i * i for i in range(1, 101)}
    assert isinstance(get("map_map_key"), ErlMap)
    pid, ref, port, alias_ref = get("ids")
    assert isinstance(pid, Pid) and isinstance(ref, Reference) and isinstance(port, Port)
    assert pid.node == A("nonode@nohost") and isinstance(alias_ref, Reference)
    for n in ("fun_local", "fun_free", "fun_free_many", "fun_eval"):
        assert isinstance(get(n), Opaque) and get(n).tag == 112
    assert get("fun_export") == Opaque(113, battery["fun_export"][0][1:])
    assert get("compressed") == list(range(1, 1001))
    assert get("compressed9") == [b"abc"] * 1000
    assert get("compressed_map") == {A("a"): list(range(1, 501)), A("b"): list(b"text")}
    deep = get("deep")
    for _ in range(200):
        assert len(deep) in (0, 1)
        deep = deep[0] if deep else deep
    assert get("ssl_msg")[2] == b"\x07" * 1024
