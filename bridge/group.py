"""``pyssl-bridge --processes N``: one command, N bridge processes (issue 14).

The process started by the command (the *leader*) is a bridge node like any other;
it also starts N-1 *worker* processes, each a complete bridge and hidden node of its
own (``NAME_w1@HOST`` ...), with the leader's settings. The shim is configured with
the leader's name only: it asks the leader for the group (``'$pyssl_group'``, see
pyssl_bridges.erl) and spreads new sockets over the members round-robin; a socket's
later calls go straight to the node that holds it. Nothing is shared between the
processes, so nothing is locked: each has its own event loop, OpenSSL contexts and
session caches (a TLS 1.2 client session is offered again only by the process that
made it -- as ssl's client cache is per node).

Why processes and not threads: the GIL lets one thread of Python run at a time, and
a connection's work is Python (the node, codec and service) as much as OpenSSL.

Supervision, like a one_for_one supervisor with a restart intensity: a worker that
exits is started again after ``RESTART_DELAY`` seconds, doubling up to
``RESTART_DELAY_MAX`` while it keeps failing within ``STABLE_AFTER`` seconds; it
leaves the group (new sockets stop going to it) as soon as it exits. A worker ends
when its standard input closes, that is when the leader ends however it ends (even
SIGKILL): no orphan keeps a node name registered in EPMD.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from typing import Callable, Optional

log = logging.getLogger("bridge.group")

RESTART_DELAY = 0.5
RESTART_DELAY_MAX = 30.0
STABLE_AFTER = 10.0
STOP_GRACE = 5.0
# the line a bridge prints once its node is registered (bridge.cli.serve)
READY_MARK = "ready (distribution port"

# flags a worker must not inherit from the leader's command line, and whether they
# take a value: the worker gets its own name, port and process count
_OWN_FLAGS = {"--name": True, "--sname": True, "--dist-port": True, "--processes": True,
              "--check-config": False}


def worker_name(leader: str, k: int) -> str:
    """``NAME_wK@HOST`` for the leader ``NAME@HOST``; the short form for an sname."""
    alive, sep, host = leader.partition("@")
    return f"{alive}_w{k}{sep}{host}"


def worker_argv(argv: list[str], name: str, short: bool) -> list[str]:
    """The leader's flags without those a worker sets itself, then the worker's."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        flag, eq, _ = arg.partition("=")
        if flag in _OWN_FLAGS:
            skip = _OWN_FLAGS[flag] and not eq
            continue
        out.append(arg)
    alive = name.partition("@")[0] if short else name
    return out + ["--sname" if short else "--name", alive, "--dist-port", "0",
                  "--processes", "1", "--group-worker"]


class Worker:
    def __init__(self, k: int, name: str, argv: list[str]):
        self.k = k
        self.name = name
        self.argv = argv
        self.proc: Optional[asyncio.subprocess.Process] = None
        self.ready = False
        self.delay = RESTART_DELAY
        self.starts = 0


class WorkerGroup:
    """The leader's workers: started, watched, started again."""

    def __init__(self, leader: str, count: int, argv: list[str], *, short: bool = False,
                 on_change: Optional[Callable[[], None]] = None):
        self.leader = leader
        self.workers = [Worker(k, worker_name(leader, k),
                               worker_argv(argv, worker_name(leader, k), short))
                        for k in range(1, count)]
        self.on_change = on_change
        self._tasks: list[asyncio.Task] = []
        self._stopping = False

    def members(self) -> list[str]:
        """The leader, then the workers that are up, by number."""
        return [self.leader] + [w.name for w in self.workers if w.ready]

    async def start(self, timeout: float = 30.0) -> None:
        """Start every worker; return once each is ready (or ``timeout`` passed: a
        worker that is late joins the group when it is ready)."""
        firsts = []
        for w in self.workers:
            first = asyncio.get_running_loop().create_future()
            firsts.append(first)
            self._tasks.append(asyncio.ensure_future(self._run(w, first)))
        if firsts:
            await asyncio.wait(firsts, timeout=timeout)

    async def _run(self, w: Worker, first: asyncio.Future) -> None:
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._once(w, first)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker %s: cannot run it", w.name)
            if not first.done():
                first.set_result(False)
            if self._stopping:
                return
            if time.monotonic() - started > STABLE_AFTER:
                w.delay = RESTART_DELAY
            log.warning("worker %s ended (exit status %s); starting it again in %.1f s",
                        w.name, w.proc.returncode if w.proc else None, w.delay)
            await asyncio.sleep(w.delay)
            w.delay = min(w.delay * 2, RESTART_DELAY_MAX)

    async def _once(self, w: Worker, first: asyncio.Future) -> None:
        w.starts += 1
        w.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge", *w.argv,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env=os.environ.copy())
        try:
            while True:
                line = await w.proc.stdout.readline()
                if not line:
                    break
                if not w.ready and READY_MARK in line.decode(errors="replace"):
                    w.ready = True
                    log.info("worker %s ready", w.name)
                    if not first.done():
                        first.set_result(True)
                    self._changed()
            await w.proc.wait()
        finally:
            if w.ready:
                w.ready = False
                self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    async def stop(self) -> None:
        """SIGTERM every worker, SIGKILL those still there after STOP_GRACE."""
        self._stopping = True
        procs = [w.proc for w in self.workers if w.proc is not None and w.proc.returncode is None]
        for p in procs:
            try:
                p.terminate()
            except ProcessLookupError:
                pass
        if procs:
            done, pending = await asyncio.wait([asyncio.ensure_future(p.wait()) for p in procs],
                                               timeout=STOP_GRACE)
            for p in procs:
                if p.returncode is None:
                    try:
                        p.kill()
                    except ProcessLookupError:
                        pass
                    await p.wait()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def watch_leader(stop: asyncio.Event) -> None:
    """A worker's end: its standard input is the leader's pipe, which closes when
    the leader ends (however it ends)."""
    loop = asyncio.get_running_loop()

    def readable():
        try:
            data = os.read(0, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(0)
            log.info("the group's leader is gone: stopping")
            stop.set()

    os.set_blocking(0, False)
    loop.add_reader(0, readable)
