"""A real ``erl`` that evaluates one Erlang expression per line (no tests here).

``ErlEval().eval(text)`` returns the ``~w`` text of the value.  The node runs
``ssl:start()`` once; the variable ``P`` is bound to a closed port on 127.0.0.1.
An exception comes back as ``{'EXCEPTION',Class,Reason}``; an expression running
longer than 8 s as ``'TIMEOUT'``.
"""
from __future__ import annotations

import shutil
import subprocess

from bridge.service.errors import format_term

_LOOP = r"""
logger:remove_handler(default),
ok = ssl:start(),
{ok, L0} = gen_tcp:listen(0, [{ip,{127,0,0,1}}]), {ok, P0} = inet:port(L0), gen_tcp:close(L0),
Eval = fun(Line) ->
    Self = self(),
    Pid = spawn(fun() ->
        R = try
                {ok, Toks, _} = erl_scan:string(Line),
                {ok, Exprs} = erl_parse:parse_exprs(Toks),
                {value, V, _} = erl_eval:exprs(Exprs, [{'P', P0}]),
                V
            catch C:E -> {'EXCEPTION', C, E} end,
        Self ! {self(), R} end),
    receive {Pid, R} -> R after 8000 -> exit(Pid, kill), 'TIMEOUT' end
end,
Loop = fun Loop() ->
    case io:get_line("") of
        eof -> halt(0);
        Line -> io:format("=> ~w~n", [Eval(Line)]), Loop()
    end
end,
Loop().
"""


class ErlEval:
    def __init__(self):
        erl = shutil.which("erl")
        if erl is None:
            raise RuntimeError("erl not found")
        self.proc = subprocess.Popen(
            [erl, "-noshell", "-eval", " ".join(_LOOP.split())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, bufsize=1)

    def eval(self, expr: str) -> str:
        line = " ".join(expr.split())
        if not line.endswith("."):
            line += "."
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        while True:
            out = self.proc.stdout.readline()
            if not out:
                raise RuntimeError("erl exited")
            if out.startswith("=> "):
                return out[3:].rstrip("\n")

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()


_KEY_ORDER_EXPR = """
begin
  Self = self(),
  dbg:tracer(process, {fun({trace, _, call, {ssl, check_dependencies, [K | _]}}, Acc) ->
                               Self ! {'$key', K}, Acc;
                          (_, Acc) -> Acc end, 0}),
  dbg:p(all, c),
  dbg:tpl(ssl, check_dependencies, 3, []),
  ssl:connect({127,0,0,1}, P, [], 2000),
  timer:sleep(300),
  dbg:stop(),
  Collect = fun C(L) -> receive {'$key', K} -> C([K | L]) after 0 -> lists:reverse(L) end end,
  lists:sublist(Collect([]), 65)
end
"""


def rules_key_order(erl: ErlEval) -> list[str]:
    """maps:keys(?RULES) as ssl in *this* erl iterates it (varies from VM to VM)."""
    first_pass = parse_w(erl.eval(_KEY_ORDER_EXPR))
    names = [k.name for k in first_pass]
    assert len(set(names)) == 65, names
    return list(reversed(names))


def erl_text(term) -> str:
    """Erlang source text of a Python term (``~w`` syntax, which erl_parse reads back)."""
    return format_term(term, pretty=False)


class _Parser:
    """Reads the ``~w`` text erl prints back into bridge.etf Python values."""

    def __init__(self, text: str):
        self.s = text
        self.i = 0

    def parse(self):
        v = self.term()
        if self.i != len(self.s):
            raise ValueError(f"trailing text at {self.i}: {self.s[self.i:self.i + 20]!r}")
        return v

    def peek(self, n=1):
        return self.s[self.i:self.i + n]

    def term(self):
        c = self.peek()
        if c == "{":
            return tuple(self.seq("{", "}"))
        if c == "[":
            return self.seq("[", "]")
        if self.peek(2) == "<<":
            self.i += 2
            out = bytearray()
            while self.peek(2) != ">>":
                out.append(self.int())
                if self.peek() == ",":
                    self.i += 1
            self.i += 2
            return bytes(out)
        if self.peek(2) == "#{":
            self.i += 2
            d = {}
            while self.peek() != "}":
                k = self.term()
                while self.peek() == " ":
                    self.i += 1
                assert self.s[self.i:self.i + 2] == "=>", self.s[self.i:]
                self.i += 2
                while self.peek() == " ":
                    self.i += 1
                d[k] = self.term()
                if self.peek() == ",":
                    self.i += 1
            self.i += 1
            return d
        if c == "-" or c.isdigit():
            return self.int()
        if c == "'":
            j = self.i + 1
            name = []
            while self.s[j] != "'":
                if self.s[j] == "\\":
                    j += 1
                name.append(self.s[j])
                j += 1
            self.i = j + 1
            return self._atom("".join(name))
        j = self.i
        while j < len(self.s) and (self.s[j].isalnum() or self.s[j] in "_@"):
            j += 1
        name = self.s[self.i:j]
        if not name:
            raise ValueError(f"cannot parse at {self.i}: {self.s[self.i:self.i + 30]!r}")
        self.i = j
        return self._atom(name)

    @staticmethod
    def _atom(name):
        from bridge.etf.types import Atom
        return {"true": True, "false": False}.get(name, Atom(name))

    def int(self):
        j = self.i
        if self.s[j] == "-":
            j += 1
        while j < len(self.s) and self.s[j].isdigit():
            j += 1
        v = int(self.s[self.i:j])
        self.i = j
        return v

    def seq(self, open_, close):
        assert self.peek() == open_
        self.i += 1
        out = []
        while self.peek() != close:
            out.append(self.term())
            if self.peek() == ",":
                self.i += 1
            elif self.peek() == "|":
                raise ValueError("improper list")
        self.i += 1
        return out


def parse_w(text: str):
    """Python value of an Erlang ``~w`` text."""
    return _Parser(text).parse()
