"""Real Erlang nodes for tests: an ``erl`` process that evaluates expressions we send.

``ErlNode.eval("Expr.")`` runs the expressions in one long-lived Erlang process
(bindings persist between calls, so ``S`` bound by one call is usable in the
next) and returns the decoded result; an exception in Erlang raises ``ErlRaised``.
Compare terms on the Erlang side with ``=:=`` where exactness matters.

Mind the persistent bindings: a variable bound at top level (also by a
``receive`` or ``catch C:R`` pattern) stays bound, and a later expression that
reuses the name *matches* instead of binding. Wrap one-off work in
``(fun() -> ... end)()``.
"""
from __future__ import annotations

import base64
import queue
import reprlib
import subprocess
import tempfile
import threading
from pathlib import Path

from bridge.etf import binary_to_term

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
SHIM_EBIN = ROOT / "_build" / "default" / "lib" / "pyssl" / "ebin"
_loop_dir = None
_lock = threading.Lock()


class ErlRaised(Exception):
    def __init__(self, cls, reason):
        super().__init__(f"{cls}:{reprlib.repr(reason)}")   # bounded: reasons can be deep
        self.cls = cls
        self.reason = reason


def loop_ebin() -> str:
    global _loop_dir
    with _lock:
        if _loop_dir is None:
            d = tempfile.mkdtemp(prefix="pyssl_loop_")
            # my_tcp, my_tcp_noport: the user transport modules of the cb_info tests
            subprocess.run(["erlc", "-o", d, *(str(HERE / "erl" / m) for m in (
                "pyssl_test_loop.erl", "my_tcp.erl", "my_tcp_noport.erl"))], check=True)
            _loop_dir = d
    return _loop_dir


class ErlNode:
    def __init__(self, name: str | None, cookie: str | None, *, args: list[str] = (),
                 hidden: bool = False, env: dict | None = None):
        """``name`` None: a node without distribution (``nonode@nohost``).
        ``env``: the environment of ``erl`` (default: this process's)."""
        self.name = name or "nonode@nohost"
        self.cookie = cookie
        dist = ["-name", name, "-setcookie", cookie] if name is not None else []
        cmd = ["erl", *dist, "-noshell",
               "-pa", loop_ebin(), "-pa", str(SHIM_EBIN), *args]
        if hidden:
            cmd.append("-hidden")
        cmd += ["-s", "pyssl_test_loop", "main"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, cwd=tempfile.gettempdir(), env=env)
        self._lines: queue.Queue = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._reader, daemon=True).start()
        self._wait_line("@@READY", 30)

    def _reader(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith("@@"):
                self._lines.put(line)
            else:
                self.output.append(line)
        self._lines.put(None)

    def _wait_line(self, prefix, timeout):
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"{self.name}: no answer in {timeout}s; output: {self.output[-20:]}")
        if line is None:
            raise RuntimeError(f"{self.name} exited; output: {self.output[-20:]}")
        if not line.startswith(prefix):
            raise RuntimeError(f"unexpected line {line!r}")
        return line

    def eval(self, expr: str, timeout: float = 30):
        src = expr.strip()
        if not src.endswith("."):
            src += "."
        self.proc.stdin.write(base64.b64encode(src.encode()) + b"\n")
        self.proc.stdin.flush()
        line = self._wait_line("@@R ", timeout)
        result = binary_to_term(base64.b64decode(line[4:]))
        if result[0].name == "ok":
            return result[1]
        raise ErlRaised(result[1], result[2])

    def true(self, expr: str, timeout: float = 30) -> bool:
        """Evaluate a boolean expression, e.g. a ``=:=`` comparison."""
        return self.eval(expr, timeout) is True

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self):
        self.proc.kill()
        self.proc.wait()
